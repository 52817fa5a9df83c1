-- The transactional outbox: every task change writes its event here in the
-- same transaction; the relay publishes the rows in id order.
CREATE TABLE outbox (
    id            bigserial   PRIMARY KEY,
    topic         text        NOT NULL,
    partition_key text        NOT NULL,
    event_id      uuid        NOT NULL,
    event         jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);

CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

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
