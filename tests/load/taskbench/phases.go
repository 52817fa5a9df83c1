package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/tests/load/loadstat"
)

// bench carries what the steps of a run share.
type bench struct {
	cfg      config
	pool     *pgxpool.Pool // the benchmark's own, not taskapi's
	rep      *report
	users    []*user
	rn       *runner
	progress io.Writer
}

// seed fills the database (or reuses an earlier seed with -reuse) and
// samples every user's task ids.
func (b *bench) seed(ctx context.Context) error {
	cfg, pool, progress := b.cfg, b.pool, b.progress
	var have int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM taskapi.tasks WHERE owner_id LIKE 'bench-user-%'").Scan(&have); err != nil {
		return err
	}
	if cfg.reuse && have >= int64(cfg.users*cfg.perUser) {
		fmt.Fprintf(progress, "reusing %s seeded tasks\n", loadstat.Thousands(have))
		b.rep.Seed = seedStats{Rows: have, Reused: true}
		return loadSample(ctx, pool, b.users, cfg.sample)
	}
	if have > 0 {
		fmt.Fprintf(progress, "deleting %s tasks of an earlier run\n", loadstat.Thousands(have))
		if _, err := pool.Exec(ctx, "DELETE FROM taskapi.tasks WHERE owner_id LIKE 'bench-user-%'"); err != nil {
			return err
		}
	}
	var total int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM taskapi.tasks").Scan(&total); err != nil {
		return err
	}
	var defs []indexDef
	if total == 0 {
		// An empty table: load it bare and build its indexes after.
		var err error
		if defs, err = dropIndexes(ctx, pool); err != nil {
			return err
		}
		defer func() {
			// Put back whatever a failed seed left dropped (a no-op after
			// a good one).
			_ = rebuildIndexes(context.WithoutCancel(ctx), pool, defs, 1)
		}()
	}
	fmt.Fprintf(progress, "seeding %d users × %s tasks with %d COPY streams", cfg.users, loadstat.Thousands(int64(cfg.perUser)), cfg.seedWorkers)
	if len(defs) > 0 {
		fmt.Fprintf(progress, " into the bare table (%d secondary indexes built afterwards)", len(defs))
	}
	fmt.Fprintln(progress)
	spec := seedSpec{users: cfg.users, perUser: cfg.perUser, sample: cfg.sample, workers: cfg.seedWorkers, seed: cfg.seed, now: time.Now()}
	st, err := seedTasks(ctx, pool, spec, b.users, progress)
	if err != nil {
		return err
	}
	if err := finishSeed(ctx, pool, defs, cfg.seedWorkers, &st, progress); err != nil {
		return err
	}
	b.rep.Seed = st
	return nil
}

// floor measures the database alone, on a pool the size of taskapi's.
func (b *bench) floor(ctx context.Context, dbURL string) error {
	cfg := b.cfg
	if cfg.floorSamples <= 0 {
		return nil
	}
	var ids []string
	for _, u := range b.users {
		for _, t := range u.tasks {
			ids = append(ids, t.id)
		}
	}
	fmt.Fprintf(b.progress, "floor: %s INSERTs and %s primary-key SELECTs at %.0f/s\n",
		loadstat.Thousands(int64(cfg.floorSamples)), loadstat.Thousands(int64(cfg.floorSamples)), cfg.floorRate)
	fp, err := pgxpool.New(ctx, withPoolSize(dbURL, cfg.pool))
	if err != nil {
		return err
	}
	defer fp.Close()
	b.rep.Floor, err = measureFloor(ctx, fp, cfg.floorSamples, cfg.floorRate, ids, cfg.seed)
	return err
}

// phase1 runs the warm-up and then the fixed rate, watching the database.
func (b *bench) phase1(ctx context.Context) error {
	cfg := b.cfg
	fmt.Fprintf(b.progress, "warm-up: %.0f ops/s for %s\n", cfg.rate, cfg.warmup)
	b.rn.run(ctx, cfg.rate, cfg.warmup, newRecorder())
	fmt.Fprintf(b.progress, "phase 1: %.0f ops/s for %s\n", cfg.rate, cfg.duration)
	rec := newRecorder()
	before, err := readCounters(ctx, b.pool)
	if err != nil {
		return err
	}
	statements, why := resetStatements(ctx, b.pool)
	waits := startWaitSampler(ctx, b.pool, 50*time.Millisecond)
	stopProfile, err := startCPUProfile(cfg.cpuProfile)
	if err != nil {
		return err
	}
	b.rn.run(ctx, cfg.rate, cfg.duration, rec)
	rec.wg.Wait()
	profErr := stopProfile()
	shares := waits.finish()
	if err := ctx.Err(); err != nil {
		return err
	}
	if profErr != nil {
		return fmt.Errorf("write the CPU profile: %w", profErr)
	}
	after, err := readCounters(ctx, b.pool)
	if err != nil {
		return err
	}
	b.rep.Phase1 = phase1{Warmup: cfg.warmup.Seconds(), Duration: cfg.duration.Seconds(), phaseStats: rec.stats(cfg.rate),
		Waits: shares, Database: activity(before, after, waits.queries), StatementsWhy: why}
	if statements {
		if b.rep.Phase1.Statements, err = topStatements(ctx, b.pool, 12); err != nil {
			return err
		}
	}
	return nil
}

// phase2 steps the rate up until a step fails. When even the first step
// fails it halves the rate until one passes and then narrows the gap twice,
// so that the report still says what this machine sustains.
func (b *bench) phase2(ctx context.Context) error {
	cfg, p2 := b.cfg, &b.rep.Phase2
	p2.Criterion = fmt.Sprintf("a step passes while every operation's p95 ≤ %s and errors + dropped ≤ %.1f%% of its scheduled requests", cfg.p95Limit, cfg.errLimit*100)
	fmt.Fprintf(b.progress, "phase 2: from %.0f ops/s, +%.0f every %s until a step fails; %s\n", cfg.stepStart, cfg.stepSize, cfg.stepDuration, p2.Criterion)
	failed := 0.0
	for r := cfg.stepStart; r <= cfg.maxRate && ctx.Err() == nil; r += cfg.stepSize {
		if !b.step(ctx, r) {
			failed = r
			break
		}
		p2.MaxSustainable = r
	}
	if p2.MaxSustainable == 0 && failed > 0 {
		p2.Below = true
		for r := roundRate(failed / 2); r >= minStepRate && ctx.Err() == nil; r = roundRate(r / 2) {
			if b.step(ctx, r) {
				p2.MaxSustainable = r
				break
			}
			failed = r
		}
		for range 2 {
			lo := p2.MaxSustainable
			mid := roundRate((lo + failed) / 2)
			if lo == 0 || mid <= lo || mid >= failed || ctx.Err() != nil {
				break
			}
			if b.step(ctx, mid) {
				p2.MaxSustainable = mid
			} else {
				failed = mid
			}
		}
	}
	return ctx.Err()
}

// step runs one phase 2 step at rate r and reports whether it passed.
func (b *bench) step(ctx context.Context, r float64) bool {
	rec := newRecorder()
	before, _ := readCounters(ctx, b.pool)
	b.rn.run(ctx, r, b.cfg.stepDuration, rec)
	rec.wg.Wait()
	after, _ := readCounters(ctx, b.pool)
	s := evaluate(rec.stats(r), b.cfg.p95Limit, b.cfg.errLimit)
	s.Database = activity(before, after, 0)
	b.rep.Phase2.Steps = append(b.rep.Phase2.Steps, s)
	fmt.Fprintf(b.progress, "  %6.0f ops/s: achieved %7.1f, worst p95 %6.1f ms (%s), errors+dropped %.2f%%: %s\n",
		r, s.Achieved, s.WorstP95, s.WorstOp, s.FailRate*100, s.verdict())
	if !s.OK {
		time.Sleep(2 * time.Second) // let the queues of a failed step drain
	}
	return s.OK
}
