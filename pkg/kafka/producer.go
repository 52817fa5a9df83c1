package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/todo-platform/todo/pkg/broker"
)

// ContentType is the content-type header of a structured-mode CloudEvent.
const ContentType = "application/cloudevents+json"

// Header names set on every published message.
const (
	HeaderContentType = "content-type"
	HeaderEventID     = "ce_id"
)

// resetAfter is how many publishes in a row may fail before the producer is
// rebuilt (a new connection and a new producer id): it recovers a producer
// whose idempotence state the brokers no longer accept, e.g. after a
// cluster was restarted without its state.
const resetAfter = 8

// Producer is an idempotent Kafka producer (acks=all, one request in flight
// per broker, retries with backoff): the broker stores each message once
// however often the client retries it, and a partition's messages in the
// order they were sent. It implements broker.Publisher. It connects on first
// use, so it can be made while the brokers are down.
type Producer struct {
	brokers []string
	conf    *sarama.Config
	log     *slog.Logger

	mu       sync.RWMutex
	sp       sarama.SyncProducer // nil until connected
	closed   bool
	failures atomic.Int64
}

var _ broker.Publisher = (*Producer)(nil)

// NewProducer returns a producer for cfg's brokers.
func NewProducer(cfg Config, log *slog.Logger) (*Producer, error) {
	s, err := cfg.Sarama()
	if err != nil {
		return nil, err
	}
	s.Producer.Idempotent = true
	s.Producer.RequiredAcks = sarama.WaitForAll
	s.Net.MaxOpenRequests = 1 // sarama's idempotent producer needs it; it also keeps retries in order
	s.Producer.Return.Successes = true
	s.Producer.Return.Errors = true
	s.Producer.Timeout = 10 * time.Second
	s.Producer.Retry.Max = 5
	s.Producer.Retry.BackoffFunc = func(retries, _ int) time.Duration {
		d := 100 * time.Millisecond << min(retries, 5)
		return min(d, 2*time.Second)
	}
	s.Producer.Partitioner = sarama.NewHashPartitioner // key → partition
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("kafka producer configuration: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Producer{brokers: cfg.Brokers, conf: s, log: log}, nil
}

// Publish sends m and waits for all in-sync replicas to store it. The key
// chooses the partition. A send in progress is not interrupted by ctx; it
// ends within the producer's timeouts.
func (p *Producer) Publish(ctx context.Context, m broker.Publication) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	msg := &sarama.ProducerMessage{Topic: m.Topic, Value: sarama.ByteEncoder(m.Value)}
	if m.Key != "" {
		msg.Key = sarama.StringEncoder(m.Key)
	}
	msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(HeaderContentType), Value: []byte(ContentType)})
	if m.EventID != "" {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(HeaderEventID), Value: []byte(m.EventID)})
	}
	for k, v := range m.Headers {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}

	sp, err := p.acquire()
	if err != nil {
		p.failed(nil)
		return err
	}
	_, _, err = sp.SendMessage(msg)
	p.mu.RUnlock()
	if err != nil {
		p.failed(sp)
		return fmt.Errorf("kafka: send to %s: %w", m.Topic, err)
	}
	p.failures.Store(0)
	p.log.Debug("published", "message", fmt.Sprintf("%s/%d/%d", msg.Topic, msg.Partition, msg.Offset), "event_id", m.EventID)
	return nil
}

// acquire returns the producer, connecting it if needed, with p.mu read-locked.
func (p *Producer) acquire() (sarama.SyncProducer, error) {
	p.mu.RLock()
	if p.sp != nil {
		return p.sp, nil
	}
	p.mu.RUnlock()

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("kafka: producer closed")
	}
	if p.sp == nil {
		sp, err := sarama.NewSyncProducer(p.brokers, p.conf)
		if err != nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("kafka: connect producer to %v: %w", p.brokers, err)
		}
		p.sp = sp
		p.log.Info("kafka producer connected", "brokers", p.brokers)
	}
	p.mu.Unlock()
	return p.acquire()
}

// failed counts a failed publish and rebuilds sp after too many in a row.
func (p *Producer) failed(sp sarama.SyncProducer) {
	if p.failures.Add(1) < resetAfter || sp == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sp != sp {
		return // already rebuilt
	}
	p.failures.Store(0)
	p.sp = nil
	if err := sp.Close(); err != nil {
		p.log.Debug("kafka producer closed with errors", "err", err)
	}
	p.log.Warn("kafka producer rebuilt after repeated failures")
}

// Close flushes and closes the producer.
func (p *Producer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.sp == nil {
		return nil
	}
	err := p.sp.Close()
	p.sp = nil
	return err
}
