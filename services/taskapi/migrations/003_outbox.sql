-- The transactional outbox (pkg/outbox.TableSQL): every task change writes
-- its event here in the same transaction; the relay publishes the rows in id
-- order.
{{ .OutboxTable }}

-- Wake the relay at commit; it also polls, in case a notification is missed.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- The task that an occurrence follows: a completed occurrence has at most one
-- successor, however often it is completed, reopened and completed again.
ALTER TABLE tasks ADD COLUMN previous_id uuid;
CREATE UNIQUE INDEX tasks_previous ON tasks (previous_id) WHERE previous_id IS NOT NULL;
