package outbox

// TableSQL creates an outbox table and the index of its pending rows. A
// service owns its outbox: one of its migrations, which run with the
// service's schema first on the search path, says {{ .OutboxTable }}, and
// its Migrations give this as that value (database.Migrations.With).
const TableSQL = `CREATE TABLE outbox (
    id            bigserial   PRIMARY KEY,
    topic         text        NOT NULL,
    partition_key text        NOT NULL,
    event_id      uuid        NOT NULL,
    event         jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);

CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
`
