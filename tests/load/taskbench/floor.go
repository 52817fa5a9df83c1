package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/tests/load/loadstat"
)

// floorStats are the database's own latencies, without the API: what no
// request of the API can beat.
type floorStats struct {
	Rate     float64          `json:"rate"`
	Samples  int              `json:"samples"`
	Insert   loadstat.Latency `json:"insert_task_row"`
	SelectPK loadstat.Latency `json:"select_by_primary_key"`
	Errors   int64            `json:"errors"`
}

// floorOwner owns the rows the floor inserts; they are deleted afterwards.
const floorOwner = "bench-floor"

const floorInsert = `INSERT INTO taskapi.tasks (id, owner_id, title, description, status, priority, tags,
	due_at, time_zone, reminders, created_at, updated_at, version)
	VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, '[]', $9, $9, 1)`

const floorSelect = `SELECT id, owner_id, title, description, status, priority, tags, due_at, time_zone,
	reminders, recurrence_rule, recurrence_anchor, series_id, occurrence_at,
	created_at, updated_at, completed_at, version FROM taskapi.tasks WHERE id = $1`

// measureFloor times single-row INSERTs of task rows (autocommit, so each
// one waits for its commit like the API's create) and primary-key SELECTs on
// pool, both open-loop at rate like the API load: latency counts from the
// scheduled time.
func measureFloor(ctx context.Context, pool *pgxpool.Pool, samples int, rate float64, ids []string, seed uint64) (floorStats, error) {
	st := floorStats{Rate: rate, Samples: samples}
	r := rand.New(rand.NewPCG(seed, 7))
	type row struct {
		id    pgtype.UUID
		title string
		desc  string
		prio  int16
		tags  []string
		due   *time.Time
		zone  string
	}
	rows := make([]row, samples)
	for i := range rows {
		now := time.Now()
		rows[i] = row{id: pgtype.UUID{Bytes: uuidV7(now, r), Valid: true}, title: phrase(r, 2+r.IntN(6), true),
			desc: phrase(r, 5+r.IntN(36), true), prio: pickPriority(r), tags: pickTags(r), zone: zones[r.IntN(len(zones))]}
		if r.IntN(100) < 70 {
			d := now.Add(time.Duration(r.IntN(121)-60) * 24 * time.Hour).Truncate(time.Hour)
			rows[i].due = &d
		}
	}
	h, errs := openLoop(ctx, samples, rate, func(ctx context.Context, i int) error {
		w := rows[i]
		_, err := pool.Exec(ctx, floorInsert, w.id, floorOwner, w.title, w.desc, w.prio, w.tags, w.due, w.zone, time.Now().UTC())
		return err
	})
	st.Insert, st.Errors = h.Summary(), errs
	if _, err := pool.Exec(ctx, "DELETE FROM taskapi.tasks WHERE owner_id = $1", floorOwner); err != nil {
		return st, fmt.Errorf("delete the floor's rows: %w", err)
	}
	if len(ids) == 0 {
		return st, nil
	}
	h, errs = openLoop(ctx, samples, rate, func(ctx context.Context, i int) error {
		rs, err := pool.Query(ctx, floorSelect, ids[(i*7919)%len(ids)])
		if err != nil {
			return err
		}
		n := 0
		for rs.Next() {
			n++
		}
		if rs.Err() == nil && n != 1 {
			return fmt.Errorf("select by id: %d rows", n)
		}
		return rs.Err()
	})
	st.SelectPK, st.Errors = h.Summary(), st.Errors+errs
	return st, ctx.Err()
}

// openLoop runs n calls of fn scheduled at rate per second, each in its own
// goroutine, and returns their latencies from their scheduled times.
func openLoop(ctx context.Context, n int, rate float64, fn func(ctx context.Context, i int) error) (*loadstat.Histogram, int64) {
	h := loadstat.NewHistogram()
	var mu sync.Mutex
	var errs int64
	var wg sync.WaitGroup
	start := time.Now()
	interval := float64(time.Second) / rate
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(float64(i) * interval))
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn(ctx, i)
			d := time.Since(at)
			mu.Lock()
			h.Record(d)
			if err != nil {
				errs++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return h, errs
}
