package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/recurrence"
	"github.com/todo-platform/todo/tests/load/loadstat"
)

// seedSpec describes the seeded data set.
type seedSpec struct {
	users, perUser int
	sample         int // task ids kept per user for the load
	workers        int // parallel COPY streams
	seed           uint64
	now            time.Time
}

// taskRef is a task the load knows: its id, the version it last saw and
// whether it is done. Its fields are guarded by the owner's mutex.
type taskRef struct {
	id      string
	version int64
	done    bool
}

// user is a seeded user with the sample of its tasks the load works on.
type user struct {
	id   string
	auth string // "Bearer <jwt>"
	zone string

	mu    sync.Mutex
	tasks []*taskRef
}

func userID(i int) string { return fmt.Sprintf("bench-user-%03d", i+1) }

// copyColumns are the columns the seed writes; the generated ones (due_key,
// title_key, search) fill themselves and previous_id stays NULL.
var copyColumns = []string{
	"id", "owner_id", "title", "description", "status", "priority", "tags", "due_at", "time_zone",
	"reminders", "recurrence_rule", "recurrence_anchor", "series_id", "occurrence_at",
	"created_at", "updated_at", "completed_at", "version",
}

// chunkRows is the size of one COPY (one transaction).
const chunkRows = 20_000

// rowGen generates the seeded rows. Row i belongs to user i % users and was
// created at start + i·step, so that ids (UUID v7, which lead with their
// creation time) grow with i and every user's tasks span the whole year.
type rowGen struct {
	spec    seedSpec
	start   time.Time
	step    time.Duration
	owners  []string         // by user
	zones   []string         // by user
	locs    []*time.Location // by user
	rules   []string         // canonical
	before1 [][]byte         // reminders: one "before"
	before2 [][]byte         // reminders: two "before"
}

func newRowGen(spec seedSpec, users []*user) (*rowGen, error) {
	total := spec.users * spec.perUser
	span := 365 * 24 * time.Hour
	g := &rowGen{spec: spec, start: spec.now.Add(-span - time.Hour), step: span / time.Duration(max(total, 1))}
	for _, u := range users {
		g.owners = append(g.owners, u.id)
		g.zones = append(g.zones, u.zone)
		loc, err := recurrence.LoadZone(u.zone)
		if err != nil {
			return nil, err
		}
		g.locs = append(g.locs, loc)
	}
	for _, r := range rules {
		c, err := recurrence.NormalizeRule(r)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r, err)
		}
		if _, err := recurrence.New(c, spec.now, time.UTC); err != nil {
			return nil, fmt.Errorf("rule %s: %w", r, err)
		}
		g.rules = append(g.rules, c)
	}
	for i, b := range reminderBefore {
		g.before1 = append(g.before1, []byte(`[{"before":"`+b+`"}]`))
		if i > 0 {
			g.before2 = append(g.before2, []byte(`[{"before":"`+b+`"},{"before":"`+reminderBefore[i-1]+`"}]`))
		}
	}
	return g, nil
}

var emptyJSONArray = []byte("[]")

// uuidV7 makes a version 7 UUID for the instant t.
func uuidV7(t time.Time, r *rand.Rand) [16]byte {
	var u [16]byte
	binary.BigEndian.PutUint64(u[0:8], uint64(t.UnixMilli())<<16|uint64(r.Uint32()&0xffff))
	binary.BigEndian.PutUint64(u[8:16], r.Uint64())
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	return u
}

// row fills vals (len(copyColumns)) with row i and returns its id.
func (g *rowGen) row(r *rand.Rand, i int, vals []any) [16]byte {
	const day = 24 * time.Hour
	now := g.spec.now
	owner := i % g.spec.users
	created := g.start.Add(time.Duration(i)*g.step + time.Duration(r.Int64N(int64(max(g.step, 1))))).Truncate(time.Microsecond)
	id := uuidV7(created, r)
	loc := g.locs[owner]

	title := phrase(r, 2+r.IntN(6), true)
	description := ""
	if r.IntN(100) < 60 {
		description = phrase(r, 5+r.IntN(36), true) + "."
	}

	var due *time.Time
	if r.IntN(100) < 70 {
		// ±60 days around now, at a whole or half hour of the working day
		// in the user's zone.
		d := now.Add(time.Duration(r.IntN(121)-60) * day).In(loc)
		t := time.Date(d.Year(), d.Month(), d.Day(), 8+r.IntN(12), 30*r.IntN(2), 0, 0, loc).UTC()
		due = &t
	}

	reminders := emptyJSONArray
	if r.IntN(100) < 10 {
		switch {
		case due != nil && r.IntN(4) == 0:
			reminders = g.before2[r.IntN(len(g.before2))]
		case due != nil:
			reminders = g.before1[r.IntN(len(g.before1))]
		default:
			at := now.Add(time.Duration(r.IntN(60*24)-30*24) * time.Hour).UTC()
			reminders = []byte(`[{"at":"` + at.Format(time.RFC3339) + `"}]`)
		}
	}

	var rule, anchor, series, occurrence any
	if due != nil && r.IntN(1000) < 72 { // 5 % of all tasks: 7.2 % of those with a due date
		rule = g.rules[r.IntN(len(g.rules))]
		anchor = "due"
		if r.IntN(5) == 0 {
			anchor = "completion"
		}
		// The first occurrence of its own series, as startSeries makes it.
		series = pgtype.UUID{Bytes: id, Valid: true}
		occurrence = *due
	}

	status, updated := "open", created
	var completed any
	if r.IntN(100) < 30 {
		c := created.Add(time.Duration(r.Int64N(int64(now.Sub(created))))).Truncate(time.Microsecond)
		status, updated, completed = "done", c, c
	} else if r.IntN(2) == 0 {
		updated = created.Add(time.Duration(r.Int64N(int64(min(now.Sub(created), 30*day))))).Truncate(time.Microsecond)
	}
	var dueVal any
	if due != nil {
		dueVal = *due
	}

	vals[0] = pgtype.UUID{Bytes: id, Valid: true}
	vals[1] = g.owners[owner]
	vals[2] = title
	vals[3] = description
	vals[4] = status
	vals[5] = pickPriority(r)
	vals[6] = pickTags(r)
	vals[7] = dueVal
	vals[8] = g.zones[owner]
	vals[9] = reminders
	vals[10] = rule
	vals[11] = anchor
	vals[12] = series
	vals[13] = occurrence
	vals[14] = created
	vals[15] = updated
	vals[16] = completed
	vals[17] = int64(1)
	return id
}

// seedStats are the figures of a seed.
type seedStats struct {
	Rows          int64   `json:"rows"`
	Workers       int     `json:"copy_streams"`
	CopySeconds   float64 `json:"copy_seconds"`
	RowsPerSecond float64 `json:"rows_per_second"`
	IndexSeconds  float64 `json:"index_build_seconds"`
	IndexesHeld   bool    `json:"indexes_dropped_during_copy"`
	VacuumSeconds float64 `json:"vacuum_analyze_seconds"`
	CheckpointSec float64 `json:"checkpoint_seconds"`
	Reused        bool    `json:"reused"`
}

// seedTasks writes spec.users × spec.perUser tasks with COPY and keeps a
// sample of every user's task ids in users[i].tasks.
func seedTasks(ctx context.Context, pool *pgxpool.Pool, spec seedSpec, users []*user, progress io.Writer) (seedStats, error) {
	g, err := newRowGen(spec, users)
	if err != nil {
		return seedStats{}, err
	}
	total := spec.users * spec.perUser
	stride := max(1, spec.perUser/max(spec.sample, 1))
	chunks := (total + chunkRows - 1) / chunkRows
	next := make(chan int, chunks)
	for c := range chunks {
		next <- c
	}
	close(next)

	var done atomic.Int64
	var sampleMu sync.Mutex
	start := time.Now()
	stop := make(chan struct{})
	var ticker sync.WaitGroup
	ticker.Add(1)
	go func() {
		defer ticker.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n := done.Load()
				el := time.Since(start).Seconds()
				fmt.Fprintf(progress, "  seeded %s / %s rows  (%s rows/s)\n", loadstat.Thousands(n), loadstat.Thousands(int64(total)), loadstat.Thousands(int64(float64(n)/el)))
			}
		}
	}()

	errc := make(chan error, spec.workers)
	var wg sync.WaitGroup
	for range spec.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals := make([]any, len(copyColumns))
			for c := range next {
				if ctx.Err() != nil {
					return
				}
				lo, hi := c*chunkRows, min((c+1)*chunkRows, total)
				r := rand.New(rand.NewPCG(spec.seed, uint64(c)))
				type kept struct {
					owner int
					ref   *taskRef
				}
				var sample []kept
				i := lo
				src := pgx.CopyFromFunc(func() ([]any, error) {
					if i >= hi {
						return nil, nil
					}
					id := g.row(r, i, vals)
					if (i/spec.users)%stride == 0 {
						sample = append(sample, kept{i % spec.users, &taskRef{id: uuid.UUID(id).String(), version: 1, done: vals[4] == "done"}})
					}
					i++
					return vals, nil
				})
				n, err := pool.CopyFrom(ctx, pgx.Identifier{"taskapi", "tasks"}, copyColumns, src)
				if err != nil {
					errc <- fmt.Errorf("copy rows %d–%d: %w", lo, hi, err)
					return
				}
				done.Add(n)
				sampleMu.Lock()
				for _, k := range sample {
					users[k.owner].tasks = append(users[k.owner].tasks, k.ref)
				}
				sampleMu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	ticker.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return seedStats{}, err
	}
	if err := ctx.Err(); err != nil {
		return seedStats{}, err
	}
	st := seedStats{Rows: done.Load(), Workers: spec.workers, CopySeconds: time.Since(start).Seconds()}
	st.RowsPerSecond = float64(st.Rows) / st.CopySeconds
	fmt.Fprintf(progress, "  copied %s rows in %.1f s (%s rows/s)\n", loadstat.Thousands(st.Rows), st.CopySeconds, loadstat.Thousands(int64(st.RowsPerSecond)))
	return st, nil
}

// finishSeed builds the indexes dropped for the seed (defs), on workers
// connections, then runs VACUUM (ANALYZE) and a CHECKPOINT.
func finishSeed(ctx context.Context, pool *pgxpool.Pool, defs []indexDef, workers int, st *seedStats, progress io.Writer) error {
	if len(defs) > 0 {
		t := time.Now()
		if err := rebuildIndexes(ctx, pool, defs, workers); err != nil {
			return err
		}
		st.IndexSeconds, st.IndexesHeld = time.Since(t).Seconds(), true
		fmt.Fprintf(progress, "  built %d indexes in %.1f s\n", len(defs), st.IndexSeconds)
	}

	// VACUUM ANALYZE rather than ANALYZE alone: it also sets the hint bits
	// and the visibility map and empties the GIN pending lists, as
	// autovacuum would have done long before a real table reached this size;
	// otherwise the first reads of the load would pay for it.
	t := time.Now()
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) taskapi.tasks"); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	st.VacuumSeconds = time.Since(t).Seconds()
	t = time.Now()
	if _, err := pool.Exec(ctx, "CHECKPOINT"); err != nil {
		fmt.Fprintf(progress, "  (no CHECKPOINT: %v)\n", err)
	}
	st.CheckpointSec = time.Since(t).Seconds()
	fmt.Fprintf(progress, "  VACUUM (ANALYZE) %.1f s, CHECKPOINT %.1f s\n", st.VacuumSeconds, st.CheckpointSec)
	return nil
}

// indexDef is a secondary index of the tasks table, as pg_indexes shows it.
type indexDef struct{ name, def string }

// dropIndexes drops the secondary indexes (those of no constraint) of the
// tasks table and returns their definitions, so that the seed can COPY into
// the bare table and build each index once, sorted, afterwards: the usual
// bulk load, many times faster than maintaining ten indexes row by row.
func dropIndexes(ctx context.Context, pool *pgxpool.Pool) ([]indexDef, error) {
	rows, err := pool.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = 'taskapi' AND tablename = 'tasks'
		AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'taskapi.tasks'::regclass)
		ORDER BY pg_relation_size(format('taskapi.%I', indexname)::regclass) DESC, indexname`)
	if err != nil {
		return nil, fmt.Errorf("read index definitions: %w", err)
	}
	var defs []indexDef
	var d indexDef
	if _, err := pgx.ForEachRow(rows, []any{&d.name, &d.def}, func() error { defs = append(defs, d); return nil }); err != nil {
		return nil, fmt.Errorf("read index definitions: %w", err)
	}
	for _, d := range defs {
		if _, err := pool.Exec(ctx, "DROP INDEX taskapi."+pgx.Identifier{d.name}.Sanitize()); err != nil {
			return defs, fmt.Errorf("drop index %s: %w", d.name, err)
		}
	}
	return defs, nil
}

// rebuildIndexes creates the dropped indexes again from their definitions,
// on workers connections at once, the GIN indexes first.
func rebuildIndexes(ctx context.Context, pool *pgxpool.Pool, defs []indexDef, workers int) error {
	sort.SliceStable(defs, func(i, j int) bool {
		return strings.Contains(defs[i].def, "USING gin") && !strings.Contains(defs[j].def, "USING gin")
	})
	next := make(chan indexDef, len(defs))
	for _, d := range defs {
		next <- d
	}
	close(next)
	errc := make(chan error, len(defs))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
				if _, err := c.Exec(ctx, "SET maintenance_work_mem = '256MB'"); err != nil {
					return err
				}
				defer c.Exec(context.WithoutCancel(ctx), "RESET maintenance_work_mem") //nolint:errcheck // best effort
				for d := range next {
					stmt := strings.Replace(d.def, " INDEX ", " INDEX IF NOT EXISTS ", 1)
					if _, err := c.Exec(ctx, stmt); err != nil {
						return fmt.Errorf("%s: %w", stmt, err)
					}
				}
				return nil
			})
			if err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// loadSample fills users[i].tasks from an already seeded database.
func loadSample(ctx context.Context, pool *pgxpool.Pool, users []*user, sample int) error {
	for _, u := range users {
		rows, err := pool.Query(ctx, `SELECT id::text, version, status = 'done' FROM taskapi.tasks
			WHERE owner_id = $1 ORDER BY random() LIMIT $2`, u.id, sample)
		if err != nil {
			return fmt.Errorf("sample tasks of %s: %w", u.id, err)
		}
		var ref taskRef
		_, err = pgx.ForEachRow(rows, []any{&ref.id, &ref.version, &ref.done}, func() error {
			c := ref
			u.tasks = append(u.tasks, &c)
			return nil
		})
		if err != nil {
			return fmt.Errorf("sample tasks of %s: %w", u.id, err)
		}
	}
	return nil
}
