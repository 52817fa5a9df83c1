package outbox

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/events"
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
	if err := Queue(batch, table, msgs...); err != nil {
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
// transaction).
func Queue(batch *pgx.Batch, table string, msgs ...Message) error {
	q := "INSERT INTO " + table + " (topic, partition_key, event_id, event) VALUES ($1, $2, $3, $4)"
	for _, m := range msgs {
		b, err := json.Marshal(m.Event)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", m.Event.ID(), err)
		}
		batch.Queue(q, m.Topic, events.PartitionKey(m.Event), m.Event.ID(), b)
	}
	return nil
}
