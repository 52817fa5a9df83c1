package notifier

// The delivery worker.
//
// The reminders consumer queues one deliveries row per reminder.due event,
// channel and target (UNIQUE: a redelivered event queues nothing). The
// worker claims due rows with FOR UPDATE SKIP LOCKED and leases them by
// moving next_attempt_at a Lease ahead and counting the attempt, in a short
// transaction; it sends outside any transaction, then marks the row sent,
// schedules the retry (exponential backoff with jitter), or, after the last
// attempt, marks it failed and writes a dead letter for reminders.dlq into
// the outbox in the same transaction. A worker that dies after sending and
// before marking leaves the lease to expire and the row is sent again, with
// the same Webhook-Id / Message-ID, which lets the receiver drop the copy.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/backoff"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/outbox"
	"github.com/todo-platform/todo/pkg/pgnotify"
)

// DelivererConfig configures a Deliverer.
type DelivererConfig struct {
	MaxAttempts  int           // attempts before a delivery fails (default 8)
	MinBackoff   time.Duration // wait after the first failure (default 1s)
	MaxBackoff   time.Duration // longest wait (default 10m)
	Lease        time.Duration // a claimed delivery is retried after this if not marked (default 2m)
	BatchSize    int           // deliveries claimed at once (default 100)
	Concurrency  int           // deliveries sent at once (default 16)
	PollInterval time.Duration // longest sleep without a wake-up (default 5s)

	Webhooks *WebhookSender // nil: webhook deliveries fail
	// HostLimits bound the deliveries to one webhook host.
	HostLimits HostLimits
	Mailer     *Mailer // nil: email deliveries fail
	Log        *slog.Logger
	Metrics    *Metrics
	// OutboxNotifier is woken after a dead letter is written (nil: none).
	OutboxNotifier *pgnotify.Notifier
	// Now is the clock that attempts are scheduled and claimed by (nil:
	// time.Now), as the firing loop's is; tests pass one they advance.
	Now func() time.Time
}

// Deliverer sends the queued deliveries.
type Deliverer struct {
	pool  *pgxpool.Pool
	cfg   DelivererConfig
	log   *slog.Logger
	m     *Metrics
	wake  chan struct{}
	hosts *hostLimiter
}

// NewDeliverer returns a delivery worker on pool.
func NewDeliverer(pool *pgxpool.Pool, cfg DelivererConfig) *Deliverer {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	def(&cfg.MinBackoff, time.Second)
	def(&cfg.MaxBackoff, 10*time.Minute)
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	def(&cfg.Lease, 2*time.Minute)
	def(&cfg.PollInterval, 5*time.Second)
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Deliverer{pool: pool, cfg: cfg, log: cfg.Log.With("component", "deliverer"), m: cfg.Metrics, wake: make(chan struct{}, 1),
		hosts: newHostLimiter(cfg.HostLimits)}
}

// Wake makes the worker look for due deliveries now; it never blocks.
func (w *Deliverer) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends; it returns nil then.
func (w *Deliverer) Run(ctx context.Context) error {
	w.log.Info("delivery worker started", "max_attempts", w.cfg.MaxAttempts, "min_backoff", w.cfg.MinBackoff, "max_backoff", w.cfg.MaxBackoff)
	return drainLoop(ctx, w.log, "delivering", w.cfg.PollInterval, w.wake, w.cfg.Now, w.drain)
}

const nextDelivery = `SELECT min(next_attempt_at) FROM notifier.deliveries WHERE status = 'pending'`

func (w *Deliverer) drain(ctx context.Context) (*time.Time, error) {
	for {
		n, err := w.Round(ctx)
		if err != nil {
			return nil, err
		}
		if n < w.cfg.BatchSize {
			break
		}
	}
	var next *time.Time
	if err := w.pool.QueryRow(ctx, nextDelivery).Scan(&next); err != nil {
		return nil, fmt.Errorf("read the next delivery time: %w", err)
	}
	return next, nil
}

// claimed is a leased delivery.
type claimed struct {
	ID        uuid.UUID
	Channel   string
	Target    string
	WebhookID *uuid.UUID
	Event     []byte
	Attempts  int
}

const (
	claimDeliveries = `UPDATE notifier.deliveries d SET attempts = d.attempts + 1,
	next_attempt_at = $3::timestamptz + make_interval(secs => $2)
FROM (SELECT id FROM notifier.deliveries WHERE status = 'pending' AND next_attempt_at <= $3
	ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) c
WHERE d.id = c.id
RETURNING d.id, d.channel, d.target, d.webhook_id, d.event::text, d.attempts`
	markSent    = `UPDATE notifier.deliveries SET status = 'sent', done_at = now(), last_error = NULL WHERE id = $1`
	markRetry   = `UPDATE notifier.deliveries SET next_attempt_at = $4::timestamptz + make_interval(secs => $2), last_error = $3 WHERE id = $1`
	markFailed  = `UPDATE notifier.deliveries SET status = 'failed', done_at = now(), last_error = $2 WHERE id = $1`
	markDropped = `UPDATE notifier.deliveries SET status = 'canceled', done_at = now(), last_error = $2 WHERE id = $1`
	// markPutOff gives back the attempt the claim counted.
	markPutOff  = `UPDATE notifier.deliveries SET attempts = attempts - 1, next_attempt_at = $3::timestamptz + make_interval(secs => $2) WHERE id = $1`
	readWebhook = `SELECT url, secret FROM notifier.webhooks WHERE id = $1`
)

// errWebhookGone says the webhook of a delivery was deleted.
var errWebhookGone = errors.New("the webhook was deleted")

// Round claims one batch of due deliveries, sends them and records the
// outcome; it returns how many it claimed.
func (w *Deliverer) Round(ctx context.Context) (int, error) {
	rows, err := w.pool.Query(ctx, claimDeliveries, w.cfg.BatchSize, w.cfg.Lease.Seconds(), w.cfg.Now())
	if err != nil {
		return 0, fmt.Errorf("claim deliveries: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
		var c claimed
		var ev string
		err := r.Scan(&c.ID, &c.Channel, &c.Target, &c.WebhookID, &ev, &c.Attempts)
		c.Event = []byte(ev)
		return c, err
	})
	if err != nil {
		return 0, fmt.Errorf("claim deliveries: %w", err)
	}
	sem := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, d := range ds {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			w.deliver(ctx, d)
		}()
	}
	wg.Wait()
	return len(ds), nil
}

// deliver sends d and records the outcome. A failure to record is logged:
// the lease runs out and d is sent again with the same id.
func (w *Deliverer) deliver(ctx context.Context, d claimed) {
	log := w.log.With("delivery_id", d.ID, "channel", d.Channel, "attempt", d.Attempts)
	sendErr := w.send(ctx, d)
	if ctx.Err() != nil {
		return // shutting down: the lease expires and another attempt follows
	}
	var err error
	var te *throttledError
	switch {
	case errors.As(sendErr, &te):
		_, err = w.pool.Exec(ctx, markPutOff, d.ID, te.retryIn.Seconds(), w.cfg.Now())
		if err == nil {
			w.m.throttled.WithLabelValues(te.reason).Inc()
			log.Debug("delivery put off", "reason", sendErr)
		}
	case sendErr == nil:
		_, err = w.pool.Exec(ctx, markSent, d.ID)
		if err == nil {
			w.m.sent.WithLabelValues(d.Channel).Inc()
			log.Debug("delivered")
		}
	case errors.Is(sendErr, errWebhookGone):
		_, err = w.pool.Exec(ctx, markDropped, d.ID, sendErr.Error())
	case d.Attempts < w.cfg.MaxAttempts && !isPermanent(sendErr):
		wait := backoff.Delay(d.Attempts, w.cfg.MinBackoff, w.cfg.MaxBackoff)
		_, err = w.pool.Exec(ctx, markRetry, d.ID, wait.Seconds(), sendErr.Error(), w.cfg.Now())
		if err == nil {
			w.m.retried.WithLabelValues(d.Channel).Inc()
			log.Info("delivery failed; retrying", "retry_in", wait.Round(time.Millisecond), "err", sendErr)
		}
	default:
		err = w.fail(ctx, d, sendErr)
		if err == nil {
			w.m.failed.WithLabelValues(d.Channel).Inc()
			log.Warn("delivery failed for good; dead-lettered to "+events.DeadLetterTopic(events.TopicReminders), "err", sendErr)
		}
	}
	if err != nil {
		log.Warn("could not record a delivery's outcome; it is retried when its lease ends", "err", err)
	}
}

func (w *Deliverer) send(ctx context.Context, d claimed) error {
	e, err := events.Parse(d.Event)
	if err != nil {
		return permanent(err)
	}
	switch d.Channel {
	case ChannelWebhook:
		if w.cfg.Webhooks == nil || d.WebhookID == nil {
			return permanent(errors.New("webhooks are not configured"))
		}
		var target, secret string
		err := w.pool.QueryRow(ctx, readWebhook, *d.WebhookID).Scan(&target, &secret)
		if errors.Is(err, pgx.ErrNoRows) {
			return errWebhookGone
		}
		if err != nil {
			return fmt.Errorf("read webhook: %w", err)
		}
		release, err := w.hosts.acquire(targetHost(target), w.cfg.Now())
		if err != nil {
			return err
		}
		defer release()
		return w.cfg.Webhooks.Send(ctx, d.ID.String(), target, secret, d.Event)
	case ChannelEmail:
		if w.cfg.Mailer == nil {
			return permanent(errors.New("email is not configured (SMTP_ADDR)"))
		}
		data, err := events.ReminderData(e)
		if err != nil {
			return permanent(err)
		}
		return w.cfg.Mailer.Send(ctx, d.ID.String(), d.Target, data)
	default:
		return permanent(fmt.Errorf("unknown channel %q", d.Channel))
	}
}

// fail marks d failed and writes its dead letter in one transaction: the
// reminder.due event with the delivery's channel, id, attempts and error as
// extension attributes, under a new event id.
func (w *Deliverer) fail(ctx context.Context, d claimed, cause error) error {
	e, err := events.Parse(d.Event)
	if err != nil {
		return pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, markFailed, d.ID, cause.Error())
			return err
		})
	}
	dl := e.Clone()
	dl.SetID(uuid.Must(uuid.NewV7()).String())
	dl.SetExtension("originaleventid", e.ID())
	dl.SetExtension("deliveryid", d.ID.String())
	dl.SetExtension("deliverychannel", d.Channel)
	dl.SetExtension("deliveryattempts", strconv.Itoa(d.Attempts))
	dl.SetExtension("deliveryerror", cause.Error())
	err = pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, markFailed, d.ID, cause.Error()); err != nil {
			return err
		}
		return outbox.Insert(ctx, tx, OutboxTable, outbox.Message{Topic: events.DeadLetterTopic(events.TopicReminders), Event: dl})
	})
	if err == nil {
		w.cfg.OutboxNotifier.Notify()
	}
	return err
}

func isPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
