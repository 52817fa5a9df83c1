package main

import (
	"context"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// waitShare is how often the database's client sessions were seen in a
// state while a phase ran.
type waitShare struct {
	State   string  `json:"state"`
	Percent float64 `json:"percent"`
}

// waitSampler samples what the database's other client sessions are doing
// (pg_stat_activity) every interval: running on a CPU, waiting on an event
// such as a lock or the WAL flush, or idle in a transaction.
type waitSampler struct {
	counts  map[string]int
	samples int
	queries int64 // its own statements (each a commit)
	stop    context.CancelFunc
	done    chan struct{}
}

const waitsQuery = `SELECT CASE
		WHEN state = 'active' AND wait_event IS NULL THEN 'active: on CPU (or runnable)'
		WHEN state = 'active' THEN 'active: waits ' || wait_event_type || '/' || wait_event
		ELSE state END
	FROM pg_stat_activity
	WHERE backend_type = 'client backend' AND datname = current_database() AND pid <> pg_backend_pid()`

func startWaitSampler(ctx context.Context, pool *pgxpool.Pool, interval time.Duration) *waitSampler {
	ctx, cancel := context.WithCancel(ctx)
	w := &waitSampler{counts: map[string]int{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			w.queries++
			rows, err := pool.Query(ctx, waitsQuery)
			if err != nil {
				continue
			}
			states, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				continue
			}
			for _, s := range states {
				w.counts[s]++
				w.samples++
			}
		}
	}()
	return w
}

// finish stops sampling and returns the shares, largest first.
func (w *waitSampler) finish() []waitShare {
	w.stop()
	<-w.done
	var out []waitShare
	for s, n := range w.counts {
		out = append(out, waitShare{State: s, Percent: 100 * float64(n) / float64(max(w.samples, 1))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Percent > out[j].Percent })
	return out
}

// dbCounters are cumulative counters of the database server.
type dbCounters struct {
	at                 time.Time
	commits, rollbacks int64
	hit, read          int64
	walSyncs, walBytes int64
	checkpoints        int64
	updates, hot       int64 // of the tasks table
}

func readCounters(ctx context.Context, pool *pgxpool.Pool) (dbCounters, error) {
	c := dbCounters{at: time.Now()}
	err := pool.QueryRow(ctx, `SELECT d.xact_commit, d.xact_rollback, d.blks_hit, d.blks_read, w.wal_sync, w.wal_bytes::bigint,
		b.checkpoints_timed + b.checkpoints_req,
		coalesce((SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = 'taskapi.tasks'::regclass), 0),
		coalesce((SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = 'taskapi.tasks'::regclass), 0)
		FROM pg_stat_database d, pg_stat_wal w, pg_stat_bgwriter b WHERE d.datname = current_database()`).
		Scan(&c.commits, &c.rollbacks, &c.hit, &c.read, &c.walSyncs, &c.walBytes, &c.checkpoints, &c.updates, &c.hot)
	return c, err
}

// dbActivity is what the database did during a phase.
type dbActivity struct {
	CommitsPerSecond  float64 `json:"commits_per_second"`
	WALSyncsPerSecond float64 `json:"wal_syncs_per_second"`
	WALMBPerSecond    float64 `json:"wal_mb_per_second"`
	BufferHitPercent  float64 `json:"buffer_hit_percent"`
	Checkpoints       int64   `json:"checkpoints"`
	// Updates of the tasks table, and those that were HOT (no index
	// touched: no indexed column changed and the page had room).
	TaskUpdates    int64 `json:"task_updates"`
	TaskHOTUpdates int64 `json:"task_hot_updates"`
}

// activity is what happened between a and b; own statements (the
// sampler's) are not counted as commits.
func activity(a, b dbCounters, own int64) dbActivity {
	s := b.at.Sub(a.at).Seconds()
	if s <= 0 {
		return dbActivity{}
	}
	act := dbActivity{
		CommitsPerSecond:  float64(b.commits-a.commits-own-1) / s,
		WALSyncsPerSecond: float64(b.walSyncs-a.walSyncs) / s,
		WALMBPerSecond:    float64(b.walBytes-a.walBytes) / s / (1 << 20),
		Checkpoints:       b.checkpoints - a.checkpoints,
		TaskUpdates:       b.updates - a.updates,
		TaskHOTUpdates:    b.hot - a.hot,
	}
	if n := (b.hit - a.hit) + (b.read - a.read); n > 0 {
		act.BufferHitPercent = 100 * float64(b.hit-a.hit) / float64(n)
	}
	return act
}
