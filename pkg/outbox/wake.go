package outbox

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Waker tells the relays that new rows were committed: it sends
// NOTIFY <channel> after the writer's commit, in a statement of its own.
//
// Why not NOTIFY inside the writing transaction (an insert trigger)? At
// commit, PostgreSQL takes a database-wide lock for the notification queue
// and holds it through the commit's WAL flush: every writing transaction of
// the database then commits one at a time, and write throughput is capped at
// one commit per disk flush. A NOTIFY in a transaction of its own writes no
// WAL and holds that lock for microseconds.
//
// Wakes are coalesced: while a NOTIFY is in flight, further wakes make one
// more NOTIFY after it, so every commit is followed by a NOTIFY that starts
// after it, and a burst of commits costs a few statements, not one each.
// A lost NOTIFY (the database unreachable for a moment) only delays
// publication until the relay's next poll.
type Waker struct {
	pool    *pgxpool.Pool
	channel string

	mu      sync.Mutex
	running bool
	again   bool
}

// NewWaker returns a waker notifying channel on pool.
func NewWaker(pool *pgxpool.Pool, channel string) *Waker {
	return &Waker{pool: pool, channel: channel}
}

// Wake asks for a NOTIFY after the caller's commit; it never blocks.
func (w *Waker) Wake() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		w.again = true
		return
	}
	w.running = true
	go w.loop()
}

func (w *Waker) loop() {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = w.pool.Exec(ctx, "SELECT pg_notify($1, '')", w.channel)
		cancel()
		w.mu.Lock()
		if !w.again {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.again = false
		w.mu.Unlock()
	}
}
