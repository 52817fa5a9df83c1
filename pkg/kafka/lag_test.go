package kafka_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
)

// TestConsumerLag: a member that has handled the first of ten waiting
// messages of a partition reports the nine behind it; once it has handled
// them all, none.
func TestConsumerLag(t *testing.T) {
	t.Parallel()
	_, cfg := kafkatest.Start(t)
	prod := kafkatest.Producer(t, cfg)
	for i := range 10 {
		kafkatest.Publish(t, prod, events.TopicReminders, "alice", fmt.Appendf(nil, `{"n":%d}`, i))
	}

	reg := prometheus.NewRegistry()
	var partition atomic.Int32
	partition.Store(-1)
	seen := make(chan float64, 10)
	lag := func() float64 {
		return gauge(t, reg, "kafka_consumer_lag", partition.Load())
	}
	kafkatest.Go(t, func(ctx context.Context) error {
		return kafka.Consume(ctx, cfg, kafka.Group{
			Group: "lag-test", Topics: []string{events.TopicReminders}, Log: kafkatest.Logger(t), Registerer: reg,
			Process: func(_ context.Context, d broker.Delivery) error {
				partition.Store(d.Partition)
				if d.Offset == 1 { // the first is marked and measured by now
					seen <- lag()
				}
				return nil
			},
		})
	})
	select {
	case got := <-seen:
		if got != 8 && got != 9 {
			t.Errorf("lag after the first of ten = %v, want 9 (8 once the second is counted)", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("the second message did not arrive within a minute")
	}
	kafkatest.Eventually(t, time.Minute, "lag 0 once every message is handled", func() bool { return lag() == 0 })
}

// gauge returns the value of the lag-test group's gauge name of partition
// (-1 when there is none yet).
func gauge(t *testing.T, reg *prometheus.Registry, name string, partition int32) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["group"] == "lag-test" && labels["topic"] == events.TopicReminders && labels["partition"] == fmt.Sprint(partition) {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}
