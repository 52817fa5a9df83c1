package consume_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/metrics/metricstest"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/taskapi"
)

func delivery(t *testing.T, offset int64, title string) broker.Delivery {
	t.Helper()
	id := fmt.Sprintf("01900000-0000-7000-8000-%012d", offset)
	e, err := events.NewTaskEvent(taskapi.EventSource, events.TypeTaskCreated, task.Snapshot{ID: id, OwnerID: "bob", Title: title}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.MarshalJSON()
	return broker.Delivery{Topic: events.TopicTaskEvents, Partition: 0, Offset: offset, Key: []byte("bob"), Value: b}
}

// TestProcessBatch: a run of good messages is handled in one go, a
// duplicate within it (the same event published twice) has no second
// effect; a batch with a poison message or a rejected event falls back to
// one by one: the others are handled, the two are dead-lettered.
func TestProcessBatch(t *testing.T) {
	t.Parallel()
	v := setup(t)
	h := func(ctx context.Context, tx pgx.Tx, e events.Event) error {
		s, err := events.TaskData(e)
		if err != nil {
			return err
		}
		if s.Title == "reject me" {
			return consume.Permanent(errors.New("this cannot work"))
		}
		return recordEffect("m1")(ctx, tx, e)
	}
	c, reg := v.consumer(t, h, nil)

	var ds []broker.Delivery
	for i := range 5 {
		ds = append(ds, delivery(t, int64(i), "fine"))
	}
	ds = append(ds, ds[2]) // published twice
	n, err := c.ProcessBatch(context.Background(), ds)
	if err != nil || n != len(ds) {
		t.Fatalf("ProcessBatch: %d of %d, %v", n, len(ds), err)
	}
	if got := v.effects(t); got != 5 {
		t.Errorf("%d effects, want 5", got)
	}
	if got := metricstest.Sum(t, reg, "consumer_events_duplicate_total"); got != 1 {
		t.Errorf("duplicates %v, want 1", got)
	}
	if got := metricstest.Sum(t, reg, "consumer_batch_messages"); got != 1 {
		t.Errorf("%v batches observed, want 1", got)
	}

	poison := broker.Delivery{Topic: events.TopicTaskEvents, Partition: 0, Offset: 11, Key: []byte("bob"), Value: []byte("{not json")}
	ds = []broker.Delivery{delivery(t, 10, "fine"), poison, delivery(t, 12, "reject me"), delivery(t, 13, "fine")}
	n, err = c.ProcessBatch(context.Background(), ds)
	if err != nil || n != len(ds) {
		t.Fatalf("ProcessBatch with poison: %d of %d, %v", n, len(ds), err)
	}
	if got := v.effects(t); got != 7 {
		t.Errorf("%d effects, want 7 (the two good messages of the second batch)", got)
	}
	kafkatest.Eventually(t, wait, "the poison and the rejected event dead-lettered", func() bool {
		return len(kafkatest.Messages(t, v.kcfg, events.DeadLetterTopic(events.TopicTaskEvents))) == 2
	})

	// A cancelled context: nothing is finished, nothing is kept.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := c.ProcessBatch(ctx, []broker.Delivery{delivery(t, 20, "fine"), delivery(t, 21, "fine")}); err == nil || n != 0 {
		t.Errorf("cancelled batch: %d, %v", n, err)
	}
	if got := v.effects(t); got != 7 {
		t.Errorf("%d effects after a cancelled batch, want 7", got)
	}
}

// TestGroupDrainsABacklogInBatches: a member with ProcessBatch that starts
// behind a backlog handles it in batches, every event once and in order.
func TestGroupDrainsABacklogInBatches(t *testing.T) {
	t.Parallel()
	v := setup(t)
	v.createTasks(t, "alice", 150)
	v.createTasks(t, "bob", 150)
	kafkatest.Eventually(t, wait, "the backlog published", func() bool {
		return v.count(t, `SELECT count(*) FROM taskapi.outbox WHERE published_at IS NULL`) == 0
	})
	c, reg := v.consumer(t, recordEffect("m1"), nil)
	log := kafkatest.Logger(t)
	kafkatest.Go(t, func(ctx context.Context) error {
		return kafka.Consume(ctx, v.kcfg, kafka.Group{
			Group: "svc", Topics: []string{events.TopicTaskEvents}, ProcessBatch: c.ProcessBatch, MaxBatch: 50, Log: log,
		})
	})
	kafkatest.Eventually(t, wait, "the backlog handled", func() bool { return v.effects(t) == 300 })
	v.checkEffects(t)
	if got := metricstest.Sum(t, reg, "consumer_batch_messages"); got == 0 {
		t.Error("no batch of two or more: the backlog went one message per transaction")
	}
}
