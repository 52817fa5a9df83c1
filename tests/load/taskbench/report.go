package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/todo-platform/todo/tests/load/loadstat"
)

// print writes the report as readable tables.
func (rep *report) print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	line := strings.Repeat("─", 96)

	p("\n%s\ntaskbench: the task API under an open-loop mixed load (%s)\n%s\n", line, rep.Started, line)
	m := rep.Machine
	p("machine    GOMAXPROCS %d, nproc %d, %s; load average %s at the start, %s at the end\n", m.GOMAXPROCS, m.NumCPU, m.GoVersion, m.LoadStart, m.LoadEnd)
	p("           generator, taskapi and PostgreSQL share these CPUs\n")
	d := rep.Database
	s := d.Settings
	p("database   %s\n", d.Source)
	p("           PostgreSQL %s: fsync=%s, synchronous_commit=%s, full_page_writes=%s\n", s.Version, s.Fsync, s.SynchronousCommit, s.FullPageWrites)
	p("           configuration %s: shared_buffers=%s effective_cache_size=%s random_page_cost=%s effective_io_concurrency=%s\n", s.Profile, s.SharedBuffers, s.EffectiveCache, s.RandomPageCost, s.EffectiveIOConcurr)
	p("           work_mem=%s max_wal_size=%s checkpoint_timeout=%s jit=%s\n", s.WorkMem, s.MaxWALSize, s.CheckpointTimeout, s.JIT)
	p("pool       pool_max_conns=%d: %s\n", d.PoolMaxConns, d.PoolWhy)
	dt := rep.Data
	p("data       %d users × %s tasks = %s rows", dt.Users, loadstat.Thousands(int64(dt.TasksPerUser)), loadstat.Thousands(int64(dt.Users*dt.TasksPerUser)))
	if rep.Seed.Reused {
		p(" (reused: %s tasks of bench users found)\n", loadstat.Thousands(rep.Seed.Rows))
	} else {
		p("\n           seed: COPY %.1f s (%s rows/s, %d streams)", rep.Seed.CopySeconds, loadstat.Thousands(int64(rep.Seed.RowsPerSecond)), rep.Seed.Workers)
		if rep.Seed.IndexesHeld {
			p(" into the bare table, then the secondary indexes built in %.1f s", rep.Seed.IndexSeconds)
		}
		p(", VACUUM (ANALYZE) %.1f s, CHECKPOINT %.1f s\n", rep.Seed.VacuumSeconds, rep.Seed.CheckpointSec)
	}
	p("seed check %s\n", rep.SeedCheck)
	p("load       %d virtual users over %d users, each with its own token; %d task ids per user\n", dt.VUs, dt.Users, dt.Sample)
	p("           mix: %s; next page followed %.0f%% of the time\n", dt.Mix, dt.Follow*100)
	p("           in-flight cap %s (a request due beyond it is dropped); latency counts from the scheduled send time\n", loadstat.Thousands(int64(dt.InflightCap)))

	ph := rep.Phase1
	p("\nPhase 1: %.0f ops/s for %.0f s after a %.0f s warm-up (the last answer came %.1f s after the first request)\n", ph.Rate, ph.Duration, ph.Warmup, ph.Seconds)
	goalOf := map[string]goal{}
	for _, g := range rep.Goals {
		goalOf[strings.Fields(g.Goal)[2]] = g
	}
	p("%-15s %9s %7s %6s %9s %9s %9s %9s %9s   %s\n", "operation", "count", "errors", "412", "p50 ms", "p95 ms", "p99 ms", "max ms", "ops/s", "goal (p95)")
	rows := append(append([]opStats(nil), ph.Ops...), ph.Overall)
	for _, o := range rows {
		g := ""
		if gl, ok := goalOf[o.Op]; ok && strings.HasPrefix(gl.Goal, "p95 of "+o.Op+" ") {
			g = fmt.Sprintf("≤ %2.0f ms  %s", gl.Target, passMiss(gl.Pass))
		}
		if o.Op == "all" {
			p("%s\n", strings.Repeat("-", 96))
		}
		p("%-15s %9s %7s %6s %9.2f %9.2f %9.2f %9.1f %9.1f   %s\n", o.Op, loadstat.Thousands(o.Count), loadstat.Thousands(o.Errors), loadstat.Thousands(o.Conflicts),
			o.P50, o.P95, o.P99, o.Max, o.Throughput, g)
	}
	p("scheduled %s, dropped %s, sent late (> %s behind schedule) %s; send lag p50 %.2f ms, p99 %.2f ms, max %.1f ms\n",
		loadstat.Thousands(ph.Scheduled), loadstat.Thousands(ph.Dropped), lateAfter, loadstat.Thousands(ph.Late), ph.SendLag.P50, ph.SendLag.P99, ph.SendLag.Max)
	printSamples(w, ph.ErrorSamples)
	if len(ph.Waits) > 0 {
		var parts []string
		for _, x := range ph.Waits[:min(len(ph.Waits), 6)] {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", x.State, x.Percent))
		}
		p("PostgreSQL sessions during phase 1 (pg_stat_activity every 50 ms): %s\n", strings.Join(parts, ", "))
	}
	da := ph.Database
	p("PostgreSQL during phase 1: %.0f commits/s, %.0f WAL flushes/s, %.1f MB/s of WAL, buffer cache hits %.2f%%, %d checkpoints\n",
		da.CommitsPerSecond, da.WALSyncsPerSecond, da.WALMBPerSecond, da.BufferHitPercent, da.Checkpoints)
	if da.TaskUpdates > 0 {
		p("           task updates: %s, of which HOT (no index touched) %s = %.1f%%\n", loadstat.Thousands(da.TaskUpdates), loadstat.Thousands(da.TaskHOTUpdates),
			100*float64(da.TaskHOTUpdates)/float64(da.TaskUpdates))
	}
	printStatements(w, ph.Statements, ph.StatementsWhy)
	if len(rep.Plans) > 0 {
		printPlans(w, rep.Plans, userID(0), rep.Data.TasksPerUser)
	}

	if len(rep.Phase2.Steps) > 0 {
		p("\nPhase 2: step the rate; %s\n", rep.Phase2.Criterion)
		p("%9s %10s %10s %-10s %9s %9s %8s %8s %8s %6s   %s\n", "rate", "achieved", "worst p95", "(op)", "p99 all", "errors", "dropped", "late", "flush/s", "ckpt", "result")
		for _, st := range rep.Phase2.Steps {
			p("%9s %10.1f %10.1f %-10s %9.1f %9s %8s %8s %8.0f %6d   %s\n", loadstat.Thousands(int64(st.Rate)), st.Achieved, st.WorstP95, st.WorstOp, st.Overall.P99,
				loadstat.Thousands(st.Overall.Errors), loadstat.Thousands(st.Dropped), loadstat.Thousands(st.Late), st.Database.WALSyncsPerSecond, st.Database.Checkpoints, st.verdict())
		}
		p("(flush/s: WAL flushes per second; ckpt: checkpoints that began during the step)\n")
		var last stepStats
		for _, st := range rep.Phase2.Steps {
			if !st.OK && (last.Rate == 0 || st.Rate < last.Rate) {
				last = st // the lowest failing rate
			}
		}
		if last.Rate > 0 {
			p("lowest failing step (%s ops/s), per operation:\n", loadstat.Thousands(int64(last.Rate)))
			for _, o := range last.Ops {
				p("  %-15s count %7s  errors %5s  412 %4s  p50 %7.1f  p95 %7.1f  p99 %7.1f ms\n", o.Op, loadstat.Thousands(o.Count), loadstat.Thousands(o.Errors), loadstat.Thousands(o.Conflicts), o.P50, o.P95, o.P99)
			}
			printSamples(w, last.ErrorSamples)
		}
		switch {
		case rep.Phase2.MaxSustainable > 0 && rep.Phase2.Below:
			p("highest sustainable rate: %s ops/s (below the first step: found by halving, then narrowing)\n", loadstat.Thousands(int64(rep.Phase2.MaxSustainable)))
		case rep.Phase2.MaxSustainable > 0:
			p("highest sustainable rate: %s ops/s\n", loadstat.Thousands(int64(rep.Phase2.MaxSustainable)))
		default:
			p("highest sustainable rate: below %d ops/s\n", minStepRate)
		}
	}

	f := rep.Floor
	if f.Samples > 0 {
		p("\nFloor: pgx straight to PostgreSQL, %s statements each, open-loop at %.0f/s (latency from the scheduled time)\n", loadstat.Thousands(int64(f.Samples)), f.Rate)
		p("%-36s %9s %9s %9s %9s\n", "statement", "p50 ms", "p95 ms", "p99 ms", "max ms")
		p("%-36s %9.2f %9.2f %9.2f %9.1f\n", "INSERT one task row (autocommit)", f.Insert.P50, f.Insert.P95, f.Insert.P99, f.Insert.Max)
		p("%-36s %9.2f %9.2f %9.2f %9.1f\n", "SELECT a task by primary key", f.SelectPK.P50, f.SelectPK.P95, f.SelectPK.P99, f.SelectPK.Max)
		if f.Errors > 0 {
			p("floor errors: %d\n", f.Errors)
		}
	}

	mem := rep.Memory
	p("\nMemory\n")
	p("Go heap in use (generator + taskapi)   %s after seeding, %s at the end\n", loadstat.MiB(mem.HeapAfterSeed), loadstat.MiB(mem.HeapEnd))
	for _, x := range []struct {
		when string
		s    relSizes
	}{{"after seeding", mem.TablesAfterSeed}, {"at the end", mem.TablesEnd}} {
		p("taskapi.tasks %-14s %s rows: total %s = heap %s + indexes %s + TOAST/FSM/VM %s; outbox %s\n", x.when, loadstat.Thousands(x.s.Rows),
			loadstat.MiB(x.s.Total), loadstat.MiB(x.s.Heap), loadstat.MiB(x.s.Indexes), loadstat.MiB(x.s.Toast), loadstat.MiB(x.s.Outbox))
	}
	idx := mem.TablesEnd.Index
	names := make([]string, 0, len(idx))
	for n := range idx {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return idx[names[i]] > idx[names[j]] })
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %s", n, loadstat.MiB(idx[n])))
	}
	p("indexes at the end: %s\n", strings.Join(parts, ", "))

	p("\nGoals\n")
	for _, g := range rep.Goals {
		cmp := "≤"
		if g.Unit == "ops/s" {
			cmp = "≥"
		}
		p("  %s  %-34s %s %6.0f %-5s  measured %8.2f %s\n", passMiss(g.Pass), g.Goal, cmp, g.Target, g.Unit, g.Value, g.Unit)
	}
	p("\nseeding took %s; the whole run %s\n", seconds(rep.Timing.SeedSeconds), seconds(rep.Timing.TotalSeconds))
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func printSamples(w io.Writer, samples []string) {
	for _, s := range samples {
		fmt.Fprintf(w, "  error: %s\n", s)
	}
}

func seconds(s float64) string {
	return (time.Duration(s*10) * time.Second / 10).String()
}
