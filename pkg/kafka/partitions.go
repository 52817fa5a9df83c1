package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/todo-platform/todo/pkg/backoff"
	"github.com/todo-platform/todo/pkg/broker"
)

// Broadcast reads every partition of its topics itself, without a consumer
// group: each process that runs one sees every message. It is for consumers
// whose state is per process (the realtime service's WebSocket connections),
// where a shared group would split the messages between the replicas. There
// is no group coordination, no committed offset and so no stale group to
// clean up: a Broadcast starts at the newest offset of each partition
// (messages published before it started are not read) and keeps its position
// in memory only.
//
// Partitions added to a topic after the start are not followed until the
// process restarts.
type Broadcast struct {
	Topics []string
	// Process handles one message. It is called on the partition's own
	// goroutine, in offset order; its error is logged and the message is
	// not delivered again (there is no group to leave it unmarked in).
	Process func(ctx context.Context, d broker.Delivery) error
	// OnStart, if set, is told where reading a partition starts (the
	// offset of the first message it will deliver), before that message.
	// It is called again when reading restarts elsewhere after a gap.
	OnStart func(topic string, partition int32, offset int64)
	// StartAt, if set, says where to resume a partition when reading
	// starts again after a failure: the next offset the caller has not
	// seen, or -1 for the newest. An offset the broker no longer (or not
	// yet) has is replaced by the newest.
	StartAt func(topic string, partition int32) int64
	Log     *slog.Logger
	// MaxWait is how long a fetch waits at the broker for new messages
	// (default 100ms; a new message ends the wait at once).
	MaxWait time.Duration
}

// ConsumeAll runs b until ctx ends (it returns nil then). Brokers that cannot
// be reached, at start or later, are retried with backoff.
func ConsumeAll(ctx context.Context, cfg Config, b Broadcast) error {
	if len(b.Topics) == 0 || b.Process == nil {
		return errors.New("kafka broadcast: needs topics and a Process function")
	}
	log := b.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := cfg.Sarama()
	if err != nil {
		return err
	}
	s.Consumer.MaxWaitTime = b.MaxWait
	if s.Consumer.MaxWaitTime <= 0 {
		s.Consumer.MaxWaitTime = 100 * time.Millisecond
	}
	for attempt := 1; ; attempt++ {
		err := consumeAll(ctx, cfg, s, b, log)
		if ctx.Err() != nil {
			return nil
		}
		d := groupBackoff(attempt)
		log.Warn("kafka broadcast consumer stopped; starting again", "brokers", cfg.Brokers, "retry_in", d.Round(time.Millisecond), "err", err)
		if !backoff.Sleep(ctx, d) {
			return nil
		}
	}
}

// consumeAll is one run: one client, one partition consumer per partition,
// until ctx ends or a partition consumer fails for good.
func consumeAll(ctx context.Context, cfg Config, s *sarama.Config, b Broadcast, log *slog.Logger) error {
	client, err := sarama.NewClient(cfg.Brokers, s)
	if err != nil {
		return fmt.Errorf("connect to %v: %w", cfg.Brokers, err)
	}
	defer func() { _ = client.Close() }()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer func() { _ = consumer.Close() }()

	type start struct {
		topic     string
		partition int32
		offset    int64
	}
	var starts []start
	for _, t := range b.Topics {
		parts, err := client.Partitions(t)
		if err != nil {
			return fmt.Errorf("partitions of %s: %w", t, err)
		}
		for _, p := range parts {
			off, err := client.GetOffset(t, p, sarama.OffsetNewest)
			if err != nil {
				return fmt.Errorf("newest offset of %s/%d: %w", t, p, err)
			}
			if b.StartAt != nil {
				if at := b.StartAt(t, p); at >= 0 && at < off {
					oldest, err := client.GetOffset(t, p, sarama.OffsetOldest)
					if err == nil && at >= oldest {
						off = at
					}
				}
			}
			starts = append(starts, start{t, p, off})
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(starts))
	for _, st := range starts {
		pc, err := consumer.ConsumePartition(st.topic, st.partition, st.offset)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("consume %s/%d from %d: %w", st.topic, st.partition, st.offset, err)
		}
		if b.OnStart != nil {
			b.OnStart(st.topic, st.partition, st.offset)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _ = pc.Close() }()
			errc <- readPartition(ctx, pc, b, log.With("topic", st.topic, "partition", st.partition))
		}()
	}
	log.Info("kafka broadcast consumer started: every partition, no group", "topics", b.Topics, "partitions", len(starts))
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	cancel()
	wg.Wait()
	return first
}

// readPartition hands one partition's messages to Process in order until ctx
// ends (nil) or the partition consumer stops (an error).
func readPartition(ctx context.Context, pc sarama.PartitionConsumer, b Broadcast, log *slog.Logger) error {
	errs := pc.Errors()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			log.Warn("kafka broadcast partition error", "err", err)
		case m, ok := <-pc.Messages():
			if !ok {
				return errors.New("partition consumer stopped")
			}
			d := delivery(m)
			if err := b.Process(ctx, d); err != nil && ctx.Err() == nil {
				log.Warn("kafka broadcast message not processed", "message", d.String(), "err", err)
			}
		}
	}
}
