-- The in-app inbox: one notification per reminder.due event (event_id is
-- unique, so a redelivered event adds none).
CREATE TABLE notifications (
    id          uuid        PRIMARY KEY,
    owner_id    text        NOT NULL,
    event_id    text        NOT NULL UNIQUE,
    reminder_id uuid        NOT NULL,
    task_id     text        NOT NULL,
    title       text        NOT NULL,
    due_at      timestamptz,
    fire_at     timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz
);

-- The inbox lists unread first, then newest.
CREATE INDEX notifications_owner ON notifications (owner_id, (read_at IS NOT NULL), created_at DESC, id DESC);

-- Per-user settings: the email address and the channels that are on.
CREATE TABLE settings (
    owner_id   text        PRIMARY KEY,
    email      text,
    channels   text[]      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Per-user webhook endpoints. The secret signs every delivery.
CREATE TABLE webhooks (
    id         uuid        PRIMARY KEY,
    owner_id   text        NOT NULL,
    url        text        NOT NULL,
    secret     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhooks_owner ON webhooks (owner_id, created_at);

-- The outgoing deliveries: one per reminder.due event, channel and target
-- (the UNIQUE makes a second one impossible). A worker claims due rows with
-- FOR UPDATE SKIP LOCKED, leasing them by moving next_attempt_at ahead.
CREATE TABLE deliveries (
    id              uuid        PRIMARY KEY,
    event_id        text        NOT NULL,
    owner_id        text        NOT NULL,
    channel         text        NOT NULL,
    target          text        NOT NULL,
    webhook_id      uuid,
    event           jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz,
    UNIQUE (event_id, channel, target)
);

CREATE INDEX deliveries_pending ON deliveries (next_attempt_at) WHERE status = 'pending';
