//go:build e2e && linux

package dapr

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/dapr"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
)

// TestDaprBulkDelivery: with ProcessBatch and Bulk, the real sidecar
// delivers a partition's messages in batches (bulk subscribe); every event
// has its effect once, each key's events in the order they were published;
// a batch cut short (the consumer finished part of it) has the rest
// delivered again, with no second effect.
func TestDaprBulkDelivery(t *testing.T) {
	pool := dbtest.Pool(t, svcMigrations)
	_, kcfg := kafkatest.Start(t)
	topic := events.TopicTaskEvents

	var (
		mu       sync.Mutex
		consumer *consume.Consumer
		batches  []int // the sizes of the batches delivered
		cutShort = true
	)
	process := func(context.Context, broker.Delivery) error { return errors.New("bulk delivery expected") }
	sub := &dapr.Subscriber{Topics: []string{topic}, AppToken: appToken, Log: kafkatest.Logger(t), Process: process,
		Bulk: dapr.Bulk{MaxMessages: 50, MaxAwait: 20 * time.Millisecond},
		ProcessBatch: func(ctx context.Context, ds []broker.Delivery) (int, error) {
			mu.Lock()
			c, cut := consumer, cutShort && len(ds) >= 4
			batches = append(batches, len(ds))
			if cut {
				cutShort = false
			}
			mu.Unlock()
			if c == nil {
				return 0, errors.New("consumer not ready")
			}
			for _, d := range ds {
				if d.Partition < 0 || d.Offset < 0 || len(d.Key) == 0 {
					return 0, fmt.Errorf("delivery %s without its position or key", d)
				}
			}
			if cut {
				n, err := c.ProcessBatch(ctx, ds[:len(ds)/2])
				if err != nil {
					return n, err
				}
				return n, errors.New("cut short")
			}
			return c.ProcessBatch(ctx, ds)
		}}
	pub, _ := serveBeside(t, "bulk", sub, kcfg.Brokers)
	c := effectsConsumer(t, pool, consume.Config{DeadLetters: pub})
	mu.Lock()
	consumer = c
	mu.Unlock()

	// 4 users × 50 events, published concurrently per user, in order
	// within each user.
	const users, each = 4, 50
	ctx := context.Background()
	var wg sync.WaitGroup
	for u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("user-%d", u)
			for i := range each {
				id := fmt.Sprintf("bulk-%d-%03d", u, i)
				if err := pub.Publish(ctx, broker.Publication{Topic: topic, Key: user, Value: event(id, events.TypeTaskCreated, user), EventID: id}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	count := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(DISTINCT event_id) FROM svc.effects WHERE event_id LIKE 'bulk-%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	kafkatest.Eventually(t, wait, "every event's effect", func() bool { return count() == users*each })

	var total, dups int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) - count(DISTINCT event_id) FROM svc.effects WHERE event_id LIKE 'bulk-%'`).Scan(&total, &dups); err != nil {
		t.Fatal(err)
	}
	if dups != 0 {
		t.Errorf("%d effects repeated", dups)
	}
	for u := range users {
		rows, err := pool.Query(ctx, `SELECT event_id FROM svc.effects WHERE event_id LIKE $1 ORDER BY seq`, fmt.Sprintf("bulk-%d-%%", u))
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if want := fmt.Sprintf("bulk-%d-%03d", u, i); id != want {
				t.Errorf("user %d: effect %d is %s, want %s (out of order)", u, i, id, want)
				break
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	largest := 0
	for _, n := range batches {
		largest = max(largest, n)
	}
	if largest < 2 || cutShort {
		t.Errorf("batches %v: want some of more than one message, and one cut short", batches)
	}
	t.Logf("%d batches, the largest of %d messages", len(batches), largest)
}
