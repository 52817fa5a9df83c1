// Package pgnotify wakes processes through PostgreSQL's LISTEN/NOTIFY: a
// Notifier sends NOTIFY after a writer's commit, and Listen keeps a
// connection LISTENing, reconnecting when it drops, and calls back on every
// notification. The outbox relays and the notifier's firing loop are woken
// this way; each also polls, so a lost notification only delays it.
//
// # The listening connection must be direct
//
// A transaction-mode pooler (PgBouncer with pool_mode = transaction, as
// Neon's pooled URL is) hands the server connection that ran LISTEN to other
// clients after the statement, so the listener never receives a
// notification, and nothing reports it: the connection answers its pings.
// Listen therefore takes a connection configuration of its own: the
// services give it DATABASE_DIRECT_URL (the server itself, or a
// session-mode pooler), falling back to DATABASE_URL. NOTIFY itself may go
// through any pooler: it is an ordinary statement.
package pgnotify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/backoff"
)

// Notifier sends NOTIFY <channel> after the writer's commit, in a statement
// of its own.
//
// Why not NOTIFY inside the writing transaction (an insert trigger)? At
// commit, PostgreSQL takes a database-wide lock for the notification queue
// and holds it through the commit's WAL flush: every writing transaction of
// the database then commits one at a time, and write throughput is capped at
// one commit per disk flush. A NOTIFY in a transaction of its own writes no
// WAL and holds that lock for microseconds.
//
// Notifications are coalesced: while a NOTIFY is in flight, further calls
// make one more NOTIFY after it, so every commit is followed by a NOTIFY
// that starts after it, and a burst of commits costs a few statements, not
// one each. A lost NOTIFY (the database unreachable for a moment) only
// delays the listeners until their next poll.
type Notifier struct {
	pool    *pgxpool.Pool
	channel string

	mu      sync.Mutex
	running bool
	again   bool
}

// NewNotifier returns a notifier of channel on pool (the pooled URL is fine).
func NewNotifier(pool *pgxpool.Pool, channel string) *Notifier {
	return &Notifier{pool: pool, channel: channel}
}

// Notify asks for a NOTIFY after the caller's commit; it never blocks. A nil
// Notifier does nothing.
func (n *Notifier) Notify() {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		n.again = true
		return
	}
	n.running = true
	go n.loop()
}

func (n *Notifier) loop() {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = n.pool.Exec(ctx, "SELECT pg_notify($1, '')", n.channel)
		cancel()
		n.mu.Lock()
		if !n.again {
			n.running = false
			n.mu.Unlock()
			return
		}
		n.again = false
		n.mu.Unlock()
	}
}

// ListenConfig configures Listen. Conn and Channel are required.
type ListenConfig struct {
	// Conn is the connection to LISTEN on: direct to the server, or through
	// a session-mode pooler (see the package comment). It is copied.
	Conn    *pgx.ConnConfig
	Channel string
	// Name is the connection's application_name and the listener's name in
	// the logs, e.g. "outbox-relay taskapi.outbox".
	Name string

	Check      time.Duration // ping the connection when silent this long (default 30s)
	MinBackoff time.Duration // first wait before reconnecting (default 100ms)
	MaxBackoff time.Duration // longest wait (default 30s)
	Log        *slog.Logger  // default: discard
}

// Listen LISTENs on cfg.Channel and calls wake after every notification,
// and after every (re)connection (changes may have come while nobody
// listened), until ctx ends. When the connection drops, or stops answering
// the ping it gets after cfg.Check of silence, it reconnects with backoff;
// the caller's poll covers the gap. wake must not block.
func Listen(ctx context.Context, cfg ListenConfig, wake func()) error {
	if cfg.Conn == nil || cfg.Channel == "" {
		return errors.New("pgnotify: Listen needs a connection and a channel")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Check, 30*time.Second)
	def(&cfg.MinBackoff, 100*time.Millisecond)
	def(&cfg.MaxBackoff, 30*time.Second)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name = "listener " + cfg.Channel
	}
	failures := 0
	for {
		err := listenOnce(ctx, cfg, wake, &failures)
		if ctx.Err() != nil {
			return nil
		}
		failures++
		d := backoff.Delay(failures, cfg.MinBackoff, cfg.MaxBackoff)
		cfg.Log.Warn(cfg.Name+" lost its connection; polling until it reconnects", "channel", cfg.Channel,
			"retry_in", d.Round(time.Millisecond), "err", err)
		if !backoff.Sleep(ctx, d) {
			return nil
		}
	}
}

func listenOnce(ctx context.Context, lc ListenConfig, wake func(), failures *int) error {
	cfg := lc.Conn.Copy()
	cfg.RuntimeParams["application_name"] = lc.Name
	// A wait that times out only interrupts the read (no cancel request to
	// the server), and the connection stays usable.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{lc.Channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if *failures > 0 {
		lc.Log.Info(lc.Name+" reconnected", "channel", lc.Channel)
	}
	*failures = 0
	wake() // changes may have come while nobody listened
	for {
		// A connection that went silently dead (a NAT or load balancer
		// dropped it) delivers nothing and reports nothing: when no
		// notification came for a while, ping it. The ping also keeps such
		// middleboxes from dropping an idle connection.
		wctx, cancel := context.WithTimeout(ctx, lc.Check)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			wake()
			continue
		}
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("wait for notification: %w", err)
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return fmt.Errorf("listening connection does not answer: %w", err)
		}
	}
}
