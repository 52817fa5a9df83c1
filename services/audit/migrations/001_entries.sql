-- The audit log: one row per event seen on task-events and reminders,
-- appended once (the event id is unique) and never changed.
CREATE TABLE entries (
    seq          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     text        NOT NULL UNIQUE,
    event_source text        NOT NULL,
    event_type   text        NOT NULL,
    task_id      text        NOT NULL,
    owner_id     text        NOT NULL,
    event_time   timestamptz NOT NULL,
    event        jsonb       NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- The list reads one owner's entries newest first, optionally of one task.
CREATE INDEX entries_owner_time ON entries (owner_id, event_time DESC, seq DESC);
CREATE INDEX entries_owner_task_time ON entries (owner_id, task_id, event_time DESC, seq DESC);

-- Append-only: the log is evidence, so no role that writes it may rewrite it.
CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.entries is append-only: % is not allowed', TG_OP;
END;
$$;

CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();
