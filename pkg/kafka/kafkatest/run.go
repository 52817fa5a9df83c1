package kafkatest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/outbox"
)

// Go runs fn until the test ends, or until the returned stop is called, and
// fails the test when fn returns an error. A consumer's loop or a relay's
// Run fits.
func Go(tb testing.TB, fn func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := fn(ctx); err != nil {
			tb.Errorf("stopped with %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	tb.Cleanup(stop)
	return stop
}

// Producer returns a producer to cfg's brokers, closed when the test ends.
func Producer(tb testing.TB, cfg kafka.Config) *kafka.Producer {
	tb.Helper()
	p, err := kafka.NewProducer(cfg, Logger(tb))
	if err != nil {
		tb.Fatalf("kafkatest: producer: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// Publish publishes value under key to topic with p, and fails the test if
// the broker does not acknowledge it within 30 seconds.
func Publish(tb testing.TB, p broker.Publisher, topic, key string, value []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Publish(ctx, broker.Publication{Topic: topic, Key: key, Value: value}); err != nil {
		tb.Fatalf("kafkatest: publish to %s: %v", topic, err)
	}
}

// Relay runs an outbox relay of rc.Table on pool, publishing with pub, until
// the test ends. Unset backoffs and poll take test-fast values (50–500 ms
// backoff, 200 ms poll); the log is the test's.
func Relay(tb testing.TB, pool *pgxpool.Pool, pub broker.Publisher, rc outbox.RelayConfig) {
	tb.Helper()
	if rc.Log == nil {
		rc.Log = Logger(tb)
	}
	if rc.MinBackoff == 0 {
		rc.MinBackoff = 50 * time.Millisecond
	}
	if rc.MaxBackoff == 0 {
		rc.MaxBackoff = 500 * time.Millisecond
	}
	if rc.PollInterval == 0 {
		rc.PollInterval = 200 * time.Millisecond
	}
	relay, err := outbox.NewRelay(pool, pub, rc)
	if err != nil {
		tb.Fatalf("kafkatest: relay: %v", err)
	}
	Go(tb, relay.Run)
}
