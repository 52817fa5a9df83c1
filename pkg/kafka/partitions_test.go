package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
)

// TestConsumeAllGivesEveryReaderEveryMessage: two broadcast readers of the
// same topics (two replicas) each get every message published after their
// start, whatever its partition; none gets the ones from before.
func TestConsumeAllGivesEveryReaderEveryMessage(t *testing.T) {
	t.Parallel()
	_, cfg := kafkatest.Start(t)
	log := kafkatest.Logger(t)
	prod := kafkatest.Producer(t, cfg)
	publish := func(topic, key string) {
		t.Helper()
		kafkatest.Publish(t, prod, topic, key, []byte(`{"k":"`+key+`"}`))
	}
	publish(events.TopicTaskEvents, "before")

	type reader struct {
		mu      sync.Mutex
		got     map[string]int
		started map[string]int64
	}
	topics := []string{events.TopicTaskEvents, events.TopicReminders}
	readers := []*reader{{got: map[string]int{}, started: map[string]int64{}}, {got: map[string]int{}, started: map[string]int64{}}}
	for _, r := range readers {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- kafka.ConsumeAll(ctx, cfg, kafka.Broadcast{
				Topics: topics, Log: log,
				Process: func(_ context.Context, d broker.Delivery) error {
					r.mu.Lock()
					r.got[d.Topic+"/"+string(d.Key)]++
					r.mu.Unlock()
					return nil
				},
				OnStart: func(topic string, p int32, offset int64) {
					r.mu.Lock()
					r.started[fmt.Sprintf("%s/%d", topic, p)] = offset
					r.mu.Unlock()
				},
			})
		}()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ConsumeAll: %v", err)
			}
		})
	}
	for i, r := range readers {
		kafkatest.Eventually(t, 30*time.Second, fmt.Sprintf("reader %d started on every partition", i), func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return len(r.started) == 2*kafkatest.Partitions
		})
	}
	const n = 20
	for i := 0; i < n; i++ {
		publish(topics[i%2], fmt.Sprintf("user-%d", i))
	}
	for i, r := range readers {
		kafkatest.Eventually(t, 30*time.Second, fmt.Sprintf("reader %d got every message", i), func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return len(r.got) == n
		})
		r.mu.Lock()
		for k, c := range r.got {
			if c != 1 {
				t.Errorf("reader %d: %s %d times", i, k, c)
			}
		}
		if r.got[events.TopicTaskEvents+"/before"] != 0 {
			t.Errorf("reader %d read a message from before its start", i)
		}
		r.mu.Unlock()
	}
}

// TestConsumeAllResumesWhereTold: StartAt makes reading resume at a known
// offset (as after a failure) rather than at the newest.
func TestConsumeAllResumesWhereTold(t *testing.T) {
	t.Parallel()
	_, cfg := kafkatest.Start(t)
	log := kafkatest.Logger(t)
	prod := kafkatest.Producer(t, cfg)
	for i := 0; i < 3; i++ {
		kafkatest.Publish(t, prod, events.TopicTaskEvents, "k", []byte(fmt.Sprint(i)))
	}
	var mu sync.Mutex
	var got []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- kafka.ConsumeAll(ctx, cfg, kafka.Broadcast{
			Topics: []string{events.TopicTaskEvents}, Log: log,
			StartAt: func(string, int32) int64 { return 1 },
			Process: func(_ context.Context, d broker.Delivery) error {
				mu.Lock()
				got = append(got, string(d.Value))
				mu.Unlock()
				return nil
			},
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	kafkatest.Eventually(t, 30*time.Second, "messages from offset 1 on", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if got[0] != "1" || got[1] != "2" {
		t.Fatalf("got %q, want the messages at offsets 1 and 2", got)
	}
}
