// Package kafkatest gives tests a real Kafka-protocol broker: kfake
// (github.com/twmb/franz-go/pkg/kfake), in-process, with the platform's
// topics, spoken to through the platform's own sarama-based client.
package kafkatest

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
)

// Partitions is how many partitions the test topics have.
const Partitions = 4

// Options are the kfake options Start uses before the caller's.
func Options() []kfake.Opt {
	return []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(Partitions, events.Topics()...),
		kfake.GroupMinSessionTimeout(500 * time.Millisecond),
	}
}

// Start starts a broker with the platform's topics (Partitions each), stops
// it when the test ends and returns it with a client configuration whose
// consumer groups rebalance fast.
func Start(tb testing.TB, opts ...kfake.Opt) (*kfake.Cluster, kafka.Config) {
	tb.Helper()
	c, err := kfake.NewCluster(append(Options(), opts...)...)
	if err != nil {
		tb.Fatalf("kafkatest: start kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	return c, Config(c.ListenAddrs()...)
}

// Config is a client configuration for brokers, tuned for tests: short
// consumer group sessions, so that a member that leaves is noticed fast.
func Config(brokers ...string) kafka.Config {
	return kafka.Config{
		Brokers:           brokers,
		ClientID:          "kafkatest",
		SessionTimeout:    3 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond,
	}
}

// Message is a stored message, decoded.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Value     []byte
	Headers   map[string]string
}

func (m Message) String() string { return fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset) }

// Messages returns every message now stored in topic, partition by
// partition, each in offset order.
func Messages(tb testing.TB, cfg kafka.Config, topic string) []Message {
	tb.Helper()
	s, err := cfg.Sarama()
	if err != nil {
		tb.Fatalf("kafkatest: %v", err)
	}
	client, err := sarama.NewClient(cfg.Brokers, s)
	if err != nil {
		tb.Fatalf("kafkatest: connect: %v", err)
	}
	defer func() { _ = client.Close() }()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		tb.Fatalf("kafkatest: consumer: %v", err)
	}
	defer func() { _ = consumer.Close() }()
	parts, err := client.Partitions(topic)
	if err != nil {
		tb.Fatalf("kafkatest: partitions of %s: %v", topic, err)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	var out []Message
	for _, p := range parts {
		hw, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			tb.Fatalf("kafkatest: high watermark of %s/%d: %v", topic, p, err)
		}
		if hw == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			tb.Fatalf("kafkatest: read %s/%d: %v", topic, p, err)
		}
		timeout := time.After(30 * time.Second)
	read:
		for {
			select {
			case m := <-pc.Messages():
				h := map[string]string{}
				for _, rh := range m.Headers {
					h[string(rh.Key)] = string(rh.Value)
				}
				out = append(out, Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Value: m.Value, Headers: h})
				if m.Offset >= hw-1 {
					break read
				}
			case err := <-pc.Errors():
				tb.Fatalf("kafkatest: read %s/%d: %v", topic, p, err)
			case <-timeout:
				tb.Fatalf("kafkatest: %s/%d: offsets up to %d not read within 30s", topic, p, hw-1)
			}
		}
		_ = pc.Close()
	}
	return out
}

// Eventually waits until cond holds, checking every 20ms, and fails the
// test if it does not within timeout.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Logger returns a logger that writes to the test's log (shown with -v or
// when the test fails) until the test ends.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(LogWriter(tb), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// LogWriter returns a writer to the test's log, one line per write, until
// the test ends (a service's stdout, say).
func LogWriter(tb testing.TB) io.Writer {
	w := &testWriter{tb: tb}
	tb.Cleanup(w.stop)
	return w
}

type testWriter struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
