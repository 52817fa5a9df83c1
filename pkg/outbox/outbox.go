package outbox

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/tracing"
)

// Message is one event bound for a topic.
type Message struct {
	Topic string
	Event events.Event
}

// Insert writes msgs into table (schema-qualified, e.g. "taskapi.outbox")
// within tx.
func Insert(ctx context.Context, tx pgx.Tx, table string, msgs ...Message) error {
	batch := &pgx.Batch{}
	if err := Queue(ctx, batch, table, msgs...); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("write outbox rows: %w", err)
	}
	return nil
}

// Queue adds the inserts of msgs into table to batch, so that they travel in
// one round trip with the change they describe (and, outside an explicit
// transaction, commit or fail with it: a batch runs as one implicit
// transaction). When ctx carries a span (tracing is on), each event carries
// its trace context (see tracing.WithEventTrace), so that the relay and the
// consumers continue the trace.
func Queue(ctx context.Context, batch *pgx.Batch, table string, msgs ...Message) error {
	q := "INSERT INTO " + table + " (" + Columns + ") VALUES ($1, $2, $3, $4)"
	for _, m := range msgs {
		vals, err := Values(ctx, m)
		if err != nil {
			return err
		}
		batch.Queue(q, vals...)
	}
	return nil
}

// Columns are an outbox row's columns that a writer sets, in the order of
// Values.
const Columns = "topic, partition_key, event_id, event"

// Values are the values of m's outbox row (Columns), for a writer that
// builds its own statement around the insert (e.g. inserting only when its
// change took place). With a span in ctx, the event carries its trace
// context, as with Queue.
func Values(ctx context.Context, m Message) ([]any, error) {
	tracing.WithEventTrace(ctx, &m.Event)
	b, err := json.Marshal(m.Event)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", m.Event.ID(), err)
	}
	return []any{m.Topic, events.PartitionKey(m.Event), m.Event.ID(), b}, nil
}
