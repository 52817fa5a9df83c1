package notifier

// The firing loop.
//
// A round is one transaction: it claims up to BatchSize pending reminders
// whose fire time has passed (FOR UPDATE SKIP LOCKED, so replicas running
// rounds at once claim different rows), marks them fired (or missed, when
// they fell due longer ago than the grace window) and writes one
// reminder.due event per fired reminder into notifier.outbox. Claim, mark
// and outbox rows commit together: a replica that dies in the middle rolls
// everything back and the reminders are claimed again; a committed round
// has its events, which the relay publishes at least once (consumers drop
// copies by event id).
//
// Between rounds the loop sleeps until the earliest pending fire time (at
// most PollInterval), and is woken early by Wake: the consumer calls it
// after committing a schedule change, and a LISTEN on ScheduleChannel (on
// the direct connection, FirerConfig.ListenConfig) brings the changes other
// replicas commit.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/pgnotify"
)

// FirerConfig configures a Firer.
type FirerConfig struct {
	Grace        time.Duration // reminders due longer ago are missed, not fired (default 24h)
	BatchSize    int           // reminders claimed per transaction (default 1000)
	Workers      int           // rounds run at once while a burst drains (default 2)
	PollInterval time.Duration // longest sleep without a wake-up (default 10s)
	Listen       bool          // LISTEN on ScheduleChannel for other replicas' changes
	// ListenConfig is the connection that LISTENs (see pgnotify). Nil: the
	// pool's. It must reach PostgreSQL directly, never through a
	// transaction-mode pooler; Run gives it DATABASE_DIRECT_URL.
	ListenConfig *pgx.ConnConfig
	Log          *slog.Logger
	Metrics      *Metrics
	// OutboxNotifier is woken after a round wrote events (nil: none).
	OutboxNotifier *pgnotify.Notifier
}

// Firer is one firing loop.
type Firer struct {
	pool *pgxpool.Pool
	cfg  FirerConfig
	log  *slog.Logger
	m    *Metrics
	wake chan struct{}
	now  func() time.Time

	// beforeCommit, when set, runs before a round commits (tests).
	beforeCommit func(ctx context.Context) error
}

// NewFirer returns a firing loop on pool.
func NewFirer(pool *pgxpool.Pool, cfg FirerConfig) *Firer {
	if cfg.Grace <= 0 {
		cfg.Grace = 24 * time.Hour
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &Firer{pool: pool, cfg: cfg, log: cfg.Log.With("component", "firer"), m: cfg.Metrics, wake: make(chan struct{}, 1), now: time.Now}
}

// Wake makes the loop look at the schedule again now; it never blocks.
func (f *Firer) Wake() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run fires reminders until ctx ends; it returns nil then. Database errors
// are logged and retried.
func (f *Firer) Run(ctx context.Context) error {
	f.log.Info("firing loop started", "grace", f.cfg.Grace, "batch", f.cfg.BatchSize, "poll", f.cfg.PollInterval)
	if f.cfg.Listen {
		done := make(chan struct{})
		go func() { defer close(done); f.listen(ctx) }()
		defer func() { <-done }()
	}
	return drainLoop(ctx, f.log, "firing reminders", f.cfg.PollInterval, f.wake, f.now, f.drain)
}

const nextFire = `SELECT min(fire_at) FROM notifier.reminders
	WHERE fired_at IS NULL AND missed_at IS NULL AND canceled_at IS NULL`

// drain runs rounds until one is not full and returns the earliest pending
// fire time (nil when none). When a round is full (a burst), Workers rounds
// run at once: a round spends most of its time waiting for the database,
// and concurrent rounds claim different rows (SKIP LOCKED).
func (f *Firer) drain(ctx context.Context) (*time.Time, error) {
	n, err := f.Round(ctx)
	if err != nil {
		return nil, err
	}
	if n == f.cfg.BatchSize {
		errs := make(chan error, f.cfg.Workers)
		for range f.cfg.Workers {
			go func() {
				for {
					n, err := f.Round(ctx)
					if err != nil || n < f.cfg.BatchSize {
						errs <- err
						return
					}
				}
			}()
		}
		for range f.cfg.Workers {
			if e := <-errs; e != nil {
				err = e
			}
		}
		if err != nil {
			return nil, err
		}
	}
	var next *time.Time
	if err := f.pool.QueryRow(ctx, nextFire).Scan(&next); err != nil {
		return nil, fmt.Errorf("read the next fire time: %w", err)
	}
	return next, nil
}

const claimDue = `WITH due AS (
	SELECT id FROM notifier.reminders
	WHERE fire_at <= $1 AND fired_at IS NULL AND missed_at IS NULL AND canceled_at IS NULL
	ORDER BY fire_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
UPDATE notifier.reminders r SET
	fired_at = CASE WHEN r.fire_at >= $3 THEN clock_timestamp() END,
	missed_at = CASE WHEN r.fire_at < $3 THEN clock_timestamp() END,
	fire_count = r.fire_count + CASE WHEN r.fire_at >= $3 THEN 1 ELSE 0 END,
	updated_at = now()
FROM due WHERE r.id = due.id
RETURNING r.id, r.task_id, r.owner_id, r.title, r.due_at, r.fire_at, r.fired_at, r.missed_at`

var (
	outboxIdent   = pgx.Identifier{"notifier", "outbox"}
	outboxColumns = []string{"topic", "partition_key", "event_id", "event"}
)

// Round runs one round and returns how many reminders it claimed.
func (f *Firer) Round(ctx context.Context) (int, error) {
	now := f.now()
	type claimed struct {
		id            uuid.UUID
		task, owner   string
		title         string
		due           *time.Time
		fireAt        time.Time
		fired, missed *time.Time
	}
	var rows []claimed
	var fired, missed int
	err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		rs, err := tx.Query(ctx, claimDue, now, f.cfg.BatchSize, now.Add(-f.cfg.Grace))
		if err != nil {
			return err
		}
		rows, err = pgx.CollectRows(rs, func(r pgx.CollectableRow) (claimed, error) {
			var c claimed
			err := r.Scan(&c.id, &c.task, &c.owner, &c.title, &c.due, &c.fireAt, &c.fired, &c.missed)
			return c, err
		})
		if err != nil {
			return err
		}
		// The outbox rows (pkg/outbox's shape) go in with COPY: a burst
		// writes a thousand per round.
		var out [][]any
		for _, c := range rows {
			if c.fired == nil {
				continue
			}
			e, err := events.NewReminderDueEvent(Source, events.ReminderDue{
				ReminderID: c.id.String(), TaskID: c.task, OwnerID: c.owner, TaskTitle: c.title,
				DueAt: c.due, FireAt: c.fireAt, FiredAt: *c.fired,
			})
			if err != nil {
				return err
			}
			doc, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("encode event %s: %w", e.ID(), err)
			}
			out = append(out, []any{events.TopicReminders, c.owner, e.ID(), doc})
		}
		if len(out) > 0 {
			if _, err := tx.CopyFrom(ctx, outboxIdent, outboxColumns, pgx.CopyFromRows(out)); err != nil {
				return fmt.Errorf("write outbox rows: %w", err)
			}
		}
		if f.beforeCommit != nil {
			return f.beforeCommit(ctx)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("fire reminders: %w", err)
	}
	for _, c := range rows {
		if c.fired != nil {
			fired++
			f.m.lateness.Observe(c.fired.Sub(c.fireAt).Seconds())
			continue
		}
		missed++
		f.log.Warn("reminder missed: it fell due longer ago than the grace window", "reminder_id", c.id, "task_id", c.task,
			"owner_id", c.owner, "fire_at", c.fireAt, "grace", f.cfg.Grace)
	}
	f.m.fired.Add(float64(fired))
	f.m.missed.Add(float64(missed))
	if fired > 0 {
		f.cfg.OutboxNotifier.Notify()
		f.log.Debug("reminders fired", "fired", fired)
	}
	return len(rows), nil
}

// listen wakes the loop on every notification of ScheduleChannel (see
// pgnotify.Listen) until ctx ends.
func (f *Firer) listen(ctx context.Context) {
	conn := f.cfg.ListenConfig
	if conn == nil {
		conn = f.pool.Config().ConnConfig
	}
	_ = pgnotify.Listen(ctx, pgnotify.ListenConfig{
		Conn: conn, Channel: ScheduleChannel, Name: "notifier schedule listener", Log: f.log,
	}, f.Wake)
}
