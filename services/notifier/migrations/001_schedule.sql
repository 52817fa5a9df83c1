-- What the notifier knows of each task: the version of the newest snapshot
-- applied, so that an older event arriving late changes nothing, and whether
-- the task is deleted (for good: nothing after that revives it).
CREATE TABLE tasks (
    task_id    text        PRIMARY KEY,
    owner_id   text        NOT NULL,
    version    bigint      NOT NULL,
    deleted    boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The reminder schedule: one row per reminder of a task (slot = its position
-- in the task's list). base_fire_at is the time the task asks for; fire_at the
-- time it fires (a snooze moves it). A row fires when fire_at has passed and
-- it is neither fired, missed nor canceled.
CREATE TABLE reminders (
    id           uuid        PRIMARY KEY,
    task_id      text        NOT NULL,
    owner_id     text        NOT NULL,
    slot         integer     NOT NULL,
    title        text        NOT NULL,
    due_at       timestamptz,
    base_fire_at timestamptz NOT NULL,
    fire_at      timestamptz NOT NULL,
    fired_at     timestamptz,
    missed_at    timestamptz,
    canceled_at  timestamptz,
    fire_count   integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task_id, slot)
);

-- The firing loop's claim: pending rows by fire time. The id makes every
-- key unique: with equal keys (a burst of reminders due at one instant) the
-- B-tree would merge them into posting lists, whose fired (dead) entries
-- index scans cannot mark as dead one by one, and every claim would walk
-- through all the rows fired before it.
CREATE INDEX reminders_pending ON reminders (fire_at, id)
    WHERE fired_at IS NULL AND missed_at IS NULL AND canceled_at IS NULL;

-- The notifier's transactional outbox (pkg/outbox.TableSQL): reminder.due
-- events and delivery dead letters, written in the transaction that fires or
-- gives up.
{{ .OutboxTable }}
