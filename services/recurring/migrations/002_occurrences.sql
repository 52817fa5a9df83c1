-- Series progress. recurring keeps no copy of the tasks: it knows a series
-- only from task-events. A rule with COUNT ends after COUNT occurrences, so
-- it remembers, per task it has seen or created, which occurrence of its
-- series that task is (1 = the task that started the series). When it sees
-- the completion of a task it has no row for (a series from before recurring
-- ran, or rows pruned), it takes the series' first task as occurrence 1 and
-- any other as one after the latest it knows of (max + 1, or 2).
CREATE TABLE occurrences (
    task_id     text        PRIMARY KEY,
    series_id   text        NOT NULL,
    ordinal     integer     NOT NULL CHECK (ordinal >= 1),
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX occurrences_series ON occurrences (series_id, ordinal DESC);
