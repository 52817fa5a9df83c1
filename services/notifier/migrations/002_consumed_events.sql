-- The consumer runtime's record of consumed events (pkg/consume.TableSQL):
-- an effect and its record commit together, so a redelivery adds nothing.
CREATE TABLE consumed_events (
    consumer        text        NOT NULL,
    event_source    text        NOT NULL,
    event_id        text        NOT NULL,
    event_type      text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    consumed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_source, event_id)
);

CREATE INDEX consumed_events_age ON consumed_events (consumer, consumed_at);
