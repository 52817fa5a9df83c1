package consume

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TableSQL creates the table of consumed events. A consuming service owns
// it: one of its migrations, which run with the service's schema first on
// the search path, says {{ .ConsumedEventsTable }}, and its Migrations give
// this as that value (database.Migrations.With); Config.Table is then the
// schema-qualified name ("<service>.consumed_events").
//
// One row per event and consumer: the primary key is what makes a second
// delivery of an event a no-op. CloudEvents ids are unique per source, hence
// the source in the key. Consumer.Prune deletes rows older than the topics'
// retention, after which no copy of the event can arrive any more.
const TableSQL = `CREATE TABLE consumed_events (
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
`

// Execer is what CreateTable needs: a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// CreateTable creates table ("schema.name", the schema too if missing) as
// TableSQL does; for tests and tools, where no migration made it.
func CreateTable(ctx context.Context, db Execer, table string) error {
	if !tableName.MatchString(table) {
		return fmt.Errorf("consumed events table %q: want schema.table", table)
	}
	parts := strings.Split(table, ".")
	ddl := "CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{parts[0]}.Sanitize() + ";\n" +
		strings.NewReplacer(
			"CREATE TABLE consumed_events", "CREATE TABLE "+pgx.Identifier(parts).Sanitize(),
			"consumed_events_age ON consumed_events", pgx.Identifier{parts[1] + "_age"}.Sanitize()+" ON "+pgx.Identifier(parts).Sanitize(),
		).Replace(TableSQL)
	if _, err := db.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("create %s: %w", table, err)
	}
	return nil
}
