package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/backoff"
	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/metrics"
)

// Group is one member of a consumer group.
type Group struct {
	Group  string   // consumer group id, e.g. "audit"
	Topics []string // topics to consume
	// Process handles one message; nil means done with it, and only then is
	// it marked (its offset committed). consume.Consumer.Process fits.
	Process func(ctx context.Context, d broker.Delivery) error
	// ProcessBatch, if set, is used instead of Process: it gets the
	// messages of a partition that are already waiting (up to MaxBatch; one
	// when there is no backlog) and returns how many it finished, which are
	// marked. consume.Consumer.ProcessBatch fits.
	ProcessBatch func(ctx context.Context, ds []broker.Delivery) (int, error)
	// MaxBatch bounds ProcessBatch's batches (default 100).
	MaxBatch int
	Log      *slog.Logger
	// OnAssign, if set, is told the partitions this member got at the start
	// of each session (after each rebalance).
	OnAssign func(claims map[string][]int32)
	// Registerer, if set, gets the kafka_consumer_lag gauge: per group,
	// topic and partition, the messages behind the partition's newest one
	// after each message (or batch) this member finished.
	Registerer prometheus.Registerer
}

// Consume runs the member until ctx ends (it returns nil then) or the group
// is closed. It calls sarama's Consume in a loop, as sarama's consumer group
// example does: each call is one session, which ends at a rebalance; the
// next call joins again and gets the new assignment. A broker that cannot be
// reached, at start or later, is retried with backoff.
func Consume(ctx context.Context, cfg Config, g Group) error {
	if g.Group == "" || len(g.Topics) == 0 || (g.Process == nil && g.ProcessBatch == nil) {
		return errors.New("kafka consumer: needs a group, topics and a Process or ProcessBatch function")
	}
	if g.MaxBatch <= 0 {
		g.MaxBatch = 100
	}
	log := g.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("group", g.Group)
	s, err := cfg.Sarama()
	if err != nil {
		return err
	}

	var group sarama.ConsumerGroup
	for attempt := 1; ; attempt++ {
		group, err = sarama.NewConsumerGroup(cfg.Brokers, g.Group, s)
		if err == nil {
			break
		}
		d := groupBackoff(attempt)
		log.Warn("kafka consumer cannot reach the brokers; retrying", "brokers", cfg.Brokers, "retry_in", d.Round(time.Millisecond), "err", err)
		if !backoff.Sleep(ctx, d) {
			return nil
		}
	}
	defer func() {
		if err := group.Close(); err != nil {
			log.Warn("kafka consumer closed with errors", "err", err)
		}
	}()
	go func() {
		for err := range group.Errors() {
			log.Warn("kafka consumer error", "err", err)
		}
	}()

	h := &groupHandler{process: g.Process, processBatch: g.ProcessBatch, maxBatch: g.MaxBatch, onAssign: g.OnAssign, log: log}
	if g.Registerer != nil {
		h.lag = metrics.Register(g.Registerer, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kafka_consumer_lag",
			Help: "Messages of a partition not yet handled by this member's group, after its last handled one.",
		}, []string{"group", "topic", "partition"})).MustCurryWith(prometheus.Labels{"group": g.Group})
	}
	log.Info("kafka consumer started", "topics", g.Topics)
	failures := 0
	for {
		// Consume returns at the end of each session (a rebalance, ctx).
		if err := group.Consume(ctx, g.Topics, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				return nil
			}
			if ctx.Err() != nil {
				break
			}
			failures++
			d := groupBackoff(failures)
			log.Warn("kafka consumer session failed; joining again", "retry_in", d.Round(time.Millisecond), "err", err)
			backoff.Sleep(ctx, d)
		} else {
			failures = 0
		}
		if ctx.Err() != nil {
			break
		}
	}
	log.Info("kafka consumer stopped")
	return nil
}

type groupHandler struct {
	process      func(context.Context, broker.Delivery) error
	processBatch func(context.Context, []broker.Delivery) (int, error)
	maxBatch     int
	onAssign     func(map[string][]int32)
	log          *slog.Logger
	lag          *prometheus.GaugeVec // curried with the group; nil: not measured
}

// measure records the lag of claim after msg was handled.
func (h *groupHandler) measure(claim sarama.ConsumerGroupClaim, msg *sarama.ConsumerMessage) {
	if h.lag == nil {
		return
	}
	h.lag.WithLabelValues(msg.Topic, strconv.Itoa(int(msg.Partition))).Set(float64(max(claim.HighWaterMarkOffset()-msg.Offset-1, 0)))
}

func (h *groupHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.log.Info("kafka partitions assigned", "member", s.MemberID(), "generation", s.GenerationID(), "claims", s.Claims())
	if h.onAssign != nil {
		h.onAssign(s.Claims())
	}
	return nil
}

func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim handles one partition's messages in order, on the goroutine
// sarama calls it on, and returns when the session ends.
func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	if h.processBatch != nil {
		return h.consumeBatches(s, claim)
	}
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			d := delivery(msg)
			if err := h.process(s.Context(), d); err != nil {
				// Not done with it: leave it unmarked, so that it is delivered
				// again, here or to the partition's next owner. Returning ends
				// this session (sarama cancels it when a claim returns); the
				// Consume loop joins again.
				if s.Context().Err() != nil {
					return nil
				}
				return fmt.Errorf("%s not processed: %w", d, err)
			}
			s.MarkMessage(msg, "")
			h.measure(claim, msg)
		case <-s.Context().Done():
			return nil
		}
	}
}

// consumeBatches is ConsumeClaim with ProcessBatch: each turn takes the
// next message and those already waiting behind it (never waiting for
// more), so a quiet partition handles each message at once and a backlog
// goes in batches.
func (h *groupHandler) consumeBatches(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	msgs := make([]*sarama.ConsumerMessage, 0, h.maxBatch)
	ds := make([]broker.Delivery, 0, h.maxBatch)
	for {
		msgs, ds = msgs[:0], ds[:0]
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			msgs = append(msgs, msg)
		case <-s.Context().Done():
			return nil
		}
	more:
		for len(msgs) < h.maxBatch {
			select {
			case msg, ok := <-claim.Messages():
				if !ok {
					break more
				}
				msgs = append(msgs, msg)
			default:
				break more
			}
		}
		for _, m := range msgs {
			ds = append(ds, delivery(m))
		}
		n, err := h.processBatch(s.Context(), ds)
		for _, m := range msgs[:n] {
			s.MarkMessage(m, "")
		}
		if n > 0 {
			h.measure(claim, msgs[n-1])
		}
		if err != nil {
			// As in ConsumeClaim: what is not done is delivered again.
			if s.Context().Err() != nil {
				return nil
			}
			return fmt.Errorf("%s not processed: %w", ds[min(n, len(ds)-1)], err)
		}
	}
}

func delivery(m *sarama.ConsumerMessage) broker.Delivery {
	d := broker.Delivery{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Timestamp}
	if len(m.Headers) > 0 {
		d.Headers = make(map[string]string, len(m.Headers))
		for _, h := range m.Headers {
			if h != nil {
				d.Headers[string(h.Key)] = string(h.Value)
			}
		}
	}
	return d
}

// groupBackoff is the wait before joining again: at most 2 s, which is the
// most a repaired broker waits for the consumer to come back.
func groupBackoff(n int) time.Duration { return backoff.Delay(n, 250*time.Millisecond, 2*time.Second) }
