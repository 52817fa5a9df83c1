-- The tasks of every user. Sort keys that can be NULL or need folding are
-- stored as generated columns so that keyset pagination compares plain values.
CREATE TABLE tasks (
    id                uuid        PRIMARY KEY,
    owner_id          text        NOT NULL,
    title             text        NOT NULL,
    description       text        NOT NULL DEFAULT '',
    status            text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
    priority          smallint    NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 4),
    tags              text[]      NOT NULL DEFAULT '{}',
    due_at            timestamptz,
    time_zone         text        NOT NULL DEFAULT 'UTC',
    reminders         jsonb       NOT NULL DEFAULT '[]',
    recurrence_rule   text,
    recurrence_anchor text        CHECK (recurrence_anchor IN ('due', 'completion')),
    series_id         uuid,
    occurrence_at     timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    completed_at      timestamptz,
    version           bigint      NOT NULL DEFAULT 1,
    -- Tasks without a due date sort after all others (as if due at infinity).
    due_key           timestamptz GENERATED ALWAYS AS (coalesce(due_at, 'infinity')) STORED,
    title_key         text        GENERATED ALWAYS AS (lower(title)) STORED,
    CHECK ((recurrence_rule IS NULL) = (recurrence_anchor IS NULL))
);

-- One index per sort order, each led by the owner and ended by the id (the
-- tie-break), so that a page is an index range scan.
CREATE INDEX tasks_owner_created ON tasks (owner_id, created_at, id);
CREATE INDEX tasks_owner_updated ON tasks (owner_id, updated_at, id);
CREATE INDEX tasks_owner_due ON tasks (owner_id, due_key, id);
CREATE INDEX tasks_owner_priority ON tasks (owner_id, priority, id);
CREATE INDEX tasks_owner_title ON tasks (owner_id, title_key, id);
-- The most common view: a user's open tasks by due date (also "overdue").
CREATE INDEX tasks_owner_open_due ON tasks (owner_id, due_key, id) WHERE status = 'open';

-- A series never has two tasks for one occurrence.
CREATE UNIQUE INDEX tasks_series_occurrence ON tasks (series_id, occurrence_at) WHERE series_id IS NOT NULL;
