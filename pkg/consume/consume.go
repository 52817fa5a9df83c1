// Package consume runs event handlers at least once and with effect exactly
// once: a Consumer takes a message from a transport (a Kafka consumer group,
// a Dapr subscription), decodes the CloudEvent and calls its handler in a
// PostgreSQL transaction that also records the event id in the consumer's
// table of consumed events. The handler's effect and the record commit
// together, so a redelivered event (after a crash, a rebalance, or the
// relay's at-least-once publishing) is recognised and skipped.
//
// A handler that fails is retried with backoff a bounded number of times;
// then the message goes to the topic's dead-letter topic (<topic>.dlq) with
// the error in its headers and the consumer moves on. Messages that can never
// succeed — not JSON, not a CloudEvent, a type or version the consumer does
// not know — go there at once: no message stops a partition.
package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/todo-platform/todo/pkg/backoff"
	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/tracing"
)

// Handler applies an event within tx. It returns nil when the event is
// handled (or deliberately ignored); tx then commits with the record that the
// event was consumed. An error rolls tx back; the event is retried, unless the
// error is Permanent (or wraps events.ErrMalformed), which sends it to the
// dead-letter topic at once, or Transient, which retries it without limit.
type Handler func(ctx context.Context, tx pgx.Tx, e events.Event) error

// Prepare is a handler in two steps, for work that must not hold a
// transaction open, such as a call to another service: it runs outside any
// transaction and returns the Handler to run in the event's transaction
// (nil: only the record that the event was consumed). Its errors count as
// the Handler's. An event already recorded is not prepared; but a
// redelivery racing the first delivery, or a transaction that fails after
// it, prepares an event again, so the work it does must be idempotent (the
// record still makes the effect in the consumer's own tables happen once).
type Prepare func(ctx context.Context, e events.Event) (Handler, error)

// Permanent marks err as one that retrying cannot cure: the event goes to the
// dead-letter topic at once.
func Permanent(err error) error { return &permanentError{err} }

// Transient marks err as one that will pass (a dependency is down): the event
// is retried with backoff until it succeeds, holding its partition back, and
// never goes to the dead-letter topic for it.
func Transient(err error) error { return &transientError{err} }

type permanentError struct{ error }

func (e *permanentError) Unwrap() error { return e.error }

type transientError struct{ error }

func (e *transientError) Unwrap() error { return e.error }

// Dead-letter headers: why a message is in <topic>.dlq and where it came from.
const (
	HeaderReason    = "dlq_reason" // one of the Reason… values
	HeaderError     = "dlq_error"
	HeaderConsumer  = "dlq_consumer"
	HeaderTopic     = "dlq_original_topic"
	HeaderPartition = "dlq_original_partition"
	HeaderOffset    = "dlq_original_offset"
	HeaderAttempts  = "dlq_attempts"
	HeaderTime      = "dlq_time"
)

// Dead-letter reasons.
const (
	ReasonMalformed   = "malformed"    // not a valid CloudEvent of the schema
	ReasonUnknownType = "unknown-type" // a type or version the consumer does not know
	ReasonRejected    = "rejected"     // the handler said retrying cannot help
	ReasonFailed      = "failed"       // the handler failed every attempt
)

// Config configures a Consumer. Name, Table, Types and DeadLetters are
// required.
type Config struct {
	// Name identifies the consumer in its table, metrics and dead letters,
	// e.g. "audit". Consumers that share a table need different names.
	Name string
	// Table is the schema-qualified table of consumed events, e.g.
	// "audit.consumed_events" (see TableSQL).
	Table string
	// Types are the event types, with their version, that the handler
	// understands; it may still ignore some. Others are dead-lettered.
	Types []string
	// DeadLetters publishes to <topic>.dlq.
	DeadLetters broker.Publisher

	MaxAttempts int           // handler attempts before the dead-letter topic (default 5)
	MinBackoff  time.Duration // wait after the first failure (default 100ms)
	MaxBackoff  time.Duration // longest wait (default 5s)

	Log        *slog.Logger          // default: discard
	Registerer prometheus.Registerer // default: a private registry
	// Tracer, when it records (see pkg/tracing), makes a consumer span of
	// each message handled, continuing the trace its headers or its
	// event's traceparent carry.
	Tracer trace.TracerProvider
}

// Consumer processes deliveries with a handler.
type Consumer struct {
	pool     *pgxpool.Pool
	prepare  Prepare
	prepared bool // prepare is the caller's: check for duplicates before it
	cfg      Config
	types    map[string]bool
	log      *slog.Logger
	m        *consumerMetrics
	record   string
	seen     string
	prune    string
	tracing  bool // cfg.Tracer records spans
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$`)

// New returns a consumer that runs h on pool.
func New(pool *pgxpool.Pool, h Handler, cfg Config) (*Consumer, error) {
	if h == nil {
		return nil, fmt.Errorf("consumer %s: needs a pool and a handler", cfg.Name)
	}
	return newConsumer(pool, func(context.Context, events.Event) (Handler, error) { return h, nil }, false, cfg)
}

// NewPrepared returns a consumer whose handler runs in two steps (see
// Prepare).
func NewPrepared(pool *pgxpool.Pool, p Prepare, cfg Config) (*Consumer, error) {
	if p == nil {
		return nil, fmt.Errorf("consumer %s: needs a pool and a handler", cfg.Name)
	}
	return newConsumer(pool, p, true, cfg)
}

func newConsumer(pool *pgxpool.Pool, p Prepare, prepared bool, cfg Config) (*Consumer, error) {
	switch {
	case cfg.Name == "":
		return nil, errors.New("consumer: no name")
	case !tableName.MatchString(cfg.Table):
		return nil, fmt.Errorf("consumer %s: table %q: want schema.table", cfg.Name, cfg.Table)
	case len(cfg.Types) == 0:
		return nil, fmt.Errorf("consumer %s: no event types", cfg.Name)
	case cfg.DeadLetters == nil:
		return nil, fmt.Errorf("consumer %s: no dead-letter publisher", cfg.Name)
	case pool == nil:
		return nil, fmt.Errorf("consumer %s: needs a pool and a handler", cfg.Name)
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	types := map[string]bool{}
	for _, t := range cfg.Types {
		types[t] = true
	}
	t := pgx.Identifier(strings.Split(cfg.Table, ".")).Sanitize()
	return &Consumer{
		pool: pool, prepare: p, prepared: prepared, cfg: cfg, types: types,
		log: cfg.Log.With("consumer", cfg.Name),
		m:   newMetrics(cfg.Registerer), tracing: tracing.On(cfg.Tracer),
		record: `INSERT INTO ` + t + ` (consumer, event_source, event_id, event_type, topic, kafka_partition, kafka_offset)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		seen:  `SELECT EXISTS (SELECT FROM ` + t + ` WHERE consumer = $1 AND event_source = $2 AND event_id = $3)`,
		prune: `DELETE FROM ` + t + ` WHERE consumer = $1 AND consumed_at < now() - make_interval(secs => $2)`,
	}, nil
}

// Process handles d. It returns nil when the transport may acknowledge d:
// it was handled, it was a duplicate, or it went to the dead-letter topic.
// It returns an error only when ctx ended first; d must then be delivered
// again (it is not acknowledged).
func (c *Consumer) Process(ctx context.Context, d broker.Delivery) (err error) {
	e, err := events.Parse(d.Value)
	if err != nil {
		return c.deadLetter(ctx, d, "", ReasonMalformed, err, 0)
	}
	if c.tracing {
		var span trace.Span
		ctx, span = c.span(ctx, d, e)
		defer func() { tracing.End(span, err) }()
	}
	if !c.types[e.Type()] {
		return c.deadLetter(ctx, d, e.ID(), ReasonUnknownType, fmt.Errorf("event type %q is not one this consumer knows", e.Type()), 0)
	}
	log := c.log.With("message", d.String(), "event_id", e.ID())
	attempts, waits := 0, 0
	for {
		dup, err := c.once(ctx, d, e)
		if err == nil {
			if dup {
				c.m.duplicates.WithLabelValues(c.cfg.Name, d.Topic).Inc()
				log.Debug("duplicate event skipped", "type", e.Type())
			} else {
				c.m.handled.WithLabelValues(c.cfg.Name, d.Topic).Inc()
				log.Debug("event handled", "type", e.Type())
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s not processed: %w", d, ctx.Err())
		}
		var perm *permanentError
		if errors.As(err, &perm) || errors.Is(err, events.ErrMalformed) {
			return c.deadLetter(ctx, d, e.ID(), ReasonRejected, err, attempts+1)
		}
		if !isTransient(err) {
			attempts++
			if attempts >= c.cfg.MaxAttempts {
				return c.deadLetter(ctx, d, e.ID(), ReasonFailed, err, attempts)
			}
		}
		waits++
		wait := backoff.Delay(waits, c.cfg.MinBackoff, c.cfg.MaxBackoff)
		c.m.retries.WithLabelValues(c.cfg.Name, d.Topic).Inc()
		log.Warn("event handling failed; retrying", "type", e.Type(), "attempt", attempts, "retry_in", wait.Round(time.Millisecond), "err", err)
		if !backoff.Sleep(ctx, wait) {
			return fmt.Errorf("%s not processed: %w", d, ctx.Err())
		}
	}
}

// ProcessBatch processes ds, consecutive messages of one partition, as
// Process does each, in order, and returns how many it finished (all of
// them unless ctx ended). When every message parses and the handler
// succeeds on each, the run goes in one transaction: one commit, one disk
// flush for the lot, which is what lets a partition's backlog drain fast.
// Otherwise nothing of the batch is kept, and the messages go one by one
// through Process, with its retries and dead letters.
func (c *Consumer) ProcessBatch(ctx context.Context, ds []broker.Delivery) (int, error) {
	if len(ds) == 1 {
		if err := c.Process(ctx, ds[0]); err != nil {
			return 0, err
		}
		return 1, nil
	}
	evs := make([]events.Event, len(ds))
	whole := true
	for i, d := range ds {
		e, err := events.Parse(d.Value)
		if err != nil || !c.types[e.Type()] {
			whole = false
			break
		}
		evs[i] = e
	}
	if whole {
		var spans []trace.Span
		if c.tracing {
			spans = make([]trace.Span, len(ds))
			for i := range ds {
				_, spans[i] = c.span(ctx, ds[i], evs[i])
			}
		}
		dups, err := c.batchOnce(ctx, ds, evs)
		for _, span := range spans {
			if err != nil {
				span.SetAttributes(attribute.Bool("consumer.batch_failed", true))
			}
			tracing.End(span, err)
		}
		if err == nil {
			for i, d := range ds {
				if dups[i] {
					c.m.duplicates.WithLabelValues(c.cfg.Name, d.Topic).Inc()
				} else {
					c.m.handled.WithLabelValues(c.cfg.Name, d.Topic).Inc()
				}
			}
			c.m.batches.WithLabelValues(c.cfg.Name, ds[0].Topic).Observe(float64(len(ds)))
			return len(ds), nil
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("%s… (%d messages) not processed: %w", ds[0], len(ds), ctx.Err())
		}
		c.log.Debug("batch failed; processing its messages one by one", "first", ds[0].String(), "messages", len(ds), "err", err)
	}
	for i, d := range ds {
		if err := c.Process(ctx, d); err != nil {
			return i, err
		}
	}
	return len(ds), nil
}

// span starts the consumer span of d, continuing the trace of its headers
// or of its event's extensions.
func (c *Consumer) span(ctx context.Context, d broker.Delivery, e events.Event) (context.Context, trace.Span) {
	parent := tracing.Extract(ctx, tracing.EventHeaders(d.Headers, e))
	return tracing.Tracer(c.cfg.Tracer).Start(parent, "process "+d.Topic, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", d.Topic),
			attribute.String("messaging.consumer.group.name", c.cfg.Name),
			attribute.String("messaging.message.id", e.ID()),
			attribute.String("cloudevents.event_type", e.Type()),
		))
}

// batchOnce runs the handler on each event in one transaction that records
// them all; dups[i] says event i had been recorded before (or earlier in
// the batch).
func (c *Consumer) batchOnce(ctx context.Context, ds []broker.Delivery, evs []events.Event) (dups []bool, err error) {
	hs := make([]Handler, len(ds))
	for i := range ds {
		if hs[i], err = c.prepareOnce(ctx, evs[i]); err != nil {
			return nil, err
		}
	}
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return nil, Transient(fmt.Errorf("begin: %w", err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	dups = make([]bool, len(ds))
	for i, d := range ds {
		e := evs[i]
		tag, err := tx.Exec(ctx, c.record, c.cfg.Name, e.Source(), e.ID(), e.Type(), d.Topic, d.Partition, d.Offset)
		if err != nil {
			return nil, Transient(fmt.Errorf("record event: %w", err))
		}
		if tag.RowsAffected() == 0 {
			dups[i] = true
			continue
		}
		start := time.Now()
		err = c.call(ctx, tx, hs[i], e)
		c.m.duration.WithLabelValues(c.cfg.Name, d.Topic).Observe(time.Since(start).Seconds())
		if err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return dups, nil
}

// prepareOnce runs the preparation of e, outside any transaction; an event
// already recorded as consumed is not prepared (nil, as a duplicate, it
// runs nothing).
func (c *Consumer) prepareOnce(ctx context.Context, e events.Event) (h Handler, err error) {
	if c.prepared {
		var seen bool
		if err := c.pool.QueryRow(ctx, c.seen, c.cfg.Name, e.Source(), e.ID()).Scan(&seen); err != nil {
			return nil, Transient(fmt.Errorf("look up event: %w", err))
		}
		if seen {
			return nil, nil
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return c.prepare(ctx, e)
}

// once runs the handler in a transaction that records the event; it reports
// a duplicate when the event was recorded before.
func (c *Consumer) once(ctx context.Context, d broker.Delivery, e events.Event) (dup bool, err error) {
	h, err := c.prepareOnce(ctx, e)
	if err != nil {
		return false, err
	}
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return false, Transient(fmt.Errorf("begin: %w", err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// A concurrent transaction recording the same event (its partition's
	// previous owner, still finishing during a rebalance) makes this insert
	// wait for it, and then conflict if it committed.
	tag, err := tx.Exec(ctx, c.record, c.cfg.Name, e.Source(), e.ID(), e.Type(), d.Topic, d.Partition, d.Offset)
	if err != nil {
		return false, Transient(fmt.Errorf("record event: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return true, nil
	}
	start := time.Now()
	err = c.call(ctx, tx, h, e)
	c.m.duration.WithLabelValues(c.cfg.Name, d.Topic).Observe(time.Since(start).Seconds())
	if err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	return false, nil
}

// call runs h (nil: nothing); a panic is its failure, not the consumer's
// end.
func (c *Consumer) call(ctx context.Context, tx pgx.Tx, h Handler, e events.Event) (err error) {
	if h == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ctx, tx, e)
}

// deadLetter publishes d to its topic's dead-letter topic, retrying until the
// broker has it or ctx ends.
func (c *Consumer) deadLetter(ctx context.Context, d broker.Delivery, eventID, reason string, cause error, attempts int) error {
	msg := cause.Error()
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	h := make(map[string]string, len(d.Headers)+8)
	for k, v := range d.Headers {
		h[k] = v
	}
	h[HeaderReason] = reason
	h[HeaderError] = msg
	h[HeaderConsumer] = c.cfg.Name
	h[HeaderTopic] = d.Topic
	h[HeaderPartition] = strconv.Itoa(int(d.Partition))
	h[HeaderOffset] = strconv.FormatInt(d.Offset, 10)
	h[HeaderAttempts] = strconv.Itoa(attempts)
	h[HeaderTime] = time.Now().UTC().Format(time.RFC3339Nano)
	p := broker.Publication{Topic: events.DeadLetterTopic(d.Topic), Key: string(d.Key), Value: d.Value, EventID: eventID, Headers: h}
	for n := 1; ; n++ {
		err := c.cfg.DeadLetters.Publish(ctx, p)
		if err == nil {
			c.m.deadLettered.WithLabelValues(c.cfg.Name, d.Topic, reason).Inc()
			c.log.Warn("message dead-lettered", "message", d.String(), "event_id", eventID, "to", p.Topic, "reason", reason, "attempts", attempts, "err", msg)
			return nil
		}
		wait := backoff.Delay(n, c.cfg.MinBackoff, c.cfg.MaxBackoff)
		c.log.Error("dead-letter publish failed; retrying", "message", d.String(), "event_id", eventID, "to", p.Topic, "retry_in", wait.Round(time.Millisecond), "err", err)
		if !backoff.Sleep(ctx, wait) {
			return fmt.Errorf("%s not dead-lettered: %w", d, ctx.Err())
		}
	}
}

// Prune deletes the records of events consumed more than olderThan ago. Keep
// them longer than a message can be redelivered: the topic's retention.
func (c *Consumer) Prune(ctx context.Context, olderThan time.Duration) (int64, error) {
	tag, err := c.pool.Exec(ctx, c.prune, c.cfg.Name, olderThan.Seconds())
	if err != nil {
		return 0, fmt.Errorf("prune consumed events of %s: %w", c.cfg.Name, err)
	}
	return tag.RowsAffected(), nil
}

// PruneEvery runs Prune once every interval until ctx ends, logging what
// it did; it returns nil when ctx ends.
func (c *Consumer) PruneEvery(ctx context.Context, interval, olderThan time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if n, err := c.Prune(ctx, olderThan); err != nil {
				c.log.Warn("prune consumed events", "err", err)
			} else if n > 0 {
				c.log.Info("pruned consumed events", "count", n)
			}
		}
	}
}

// isTransient reports whether err says the database (or another dependency)
// is unreachable, rather than that this event failed: such errors are retried
// without counting against the event.
func isTransient(err error) bool {
	var te *transientError
	if errors.As(err, &te) {
		return true
	}
	return database.Unavailable(err)
}
