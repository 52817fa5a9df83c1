// Command reminderbench is the reminder firing benchmark: it seeds a burst
// of reminders straight into the notifier's schedule (COPY), runs several
// notifier firing loops in-process on the same database (replicas), and
// prints the fire lateness (fired_at - fire_at) percentiles, the time to
// drain the burst, missed and duplicate counts (reminder.due events per
// reminder in notifier.outbox) and the events per second.
//
// The database is BENCH_DATABASE_URL's (its notifier schema is migrated and
// its reminders and outbox TRUNCATED first: never point it at a database
// whose notifier data matters), or a private durable PostgreSQL started from
// the machine's binaries and removed at the end. Like taskbench, it does not
// read DATABASE_URL, so that a shell set up for `make up` is not emptied.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/backoff"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/pglocal"
	"github.com/todo-platform/todo/pkg/pgnotify"
	"github.com/todo-platform/todo/services/notifier"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "reminderbench:", err)
		os.Exit(1)
	}
}

type config struct {
	count    int
	window   time.Duration
	lead     time.Duration
	replicas int
	batch    int
	workers  int
	timeout  time.Duration
	pool     int
	pgDir    string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.count, "reminders", 100_000, "reminders seeded")
	fs.DurationVar(&c.window, "window", time.Minute, "their fire times are spread evenly over this window (0: all at one instant)")
	fs.DurationVar(&c.lead, "lead", 5*time.Second, "the window starts this long after the seed")
	fs.IntVar(&c.replicas, "replicas", 2, "firing loops (notifier replicas), each with its own pool")
	fs.IntVar(&c.batch, "batch", 1000, "reminders claimed per transaction (REMINDER_BATCH)")
	fs.IntVar(&c.workers, "workers", 2, "rounds each replica runs at once while a burst drains")
	fs.IntVar(&c.pool, "pool", 4, "pool_max_conns of each replica")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "give up when the burst is not drained by then")
	fs.StringVar(&c.pgDir, "pgdir", "", "run the private PostgreSQL in this folder and keep it (default: a temporary folder, removed)")
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	if c.count < 1 || c.replicas < 1 || c.batch < 1 || c.workers < 1 || c.pool < 2 || c.window < 0 || c.lead < 0 {
		return c, errors.New("-reminders, -replicas, -batch, -workers must be at least 1, -pool at least 2, -window and -lead not negative")
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	url, source, cleanup, err := openDB(ctx, getenv, c.pgDir, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if _, err := database.Migrate(ctx, url, notifier.Migrations, log); err != nil {
		return err
	}
	admin, err := database.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.Exec(ctx, `TRUNCATE notifier.reminders, notifier.outbox`); err != nil {
		return err
	}

	// Seed.
	fmt.Fprintf(stderr, "seeding %d reminders\n", c.count)
	seedStart := time.Now()
	first := seedStart.Add(c.lead + c.seedEstimate())
	step := time.Duration(0)
	if c.count > 1 {
		step = c.window / time.Duration(c.count-1)
	}
	_, err = admin.CopyFrom(ctx, pgx.Identifier{"notifier", "reminders"},
		[]string{"id", "task_id", "owner_id", "slot", "title", "base_fire_at", "fire_at"},
		pgx.CopyFromSlice(c.count, func(i int) ([]any, error) {
			at := first.Add(time.Duration(i) * step)
			return []any{uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7()).String(), fmt.Sprintf("user-%d", i%1000), 0, fmt.Sprintf("task %d", i), at, at}, nil
		}))
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if _, err := admin.Exec(ctx, `VACUUM ANALYZE notifier.reminders`); err != nil {
		return err
	}
	seedTook := time.Since(seedStart)
	if time.Now().After(first) {
		fmt.Fprintf(stderr, "warning: the seed took %v, past the first fire time; raise -lead\n", seedTook.Round(time.Millisecond))
	}

	// Replicas.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{}, c.replicas)
	for r := range c.replicas {
		pool, err := pgxpool.New(ctx, withPoolSize(url, c.pool))
		if err != nil {
			return err
		}
		defer pool.Close()
		f := notifier.NewFirer(pool, notifier.FirerConfig{
			BatchSize: c.batch, Workers: c.workers, PollInterval: 10 * time.Second, Listen: true, Log: log.With("replica", r),
			OutboxNotifier: pgnotify.NewNotifier(pool, notifier.OutboxChannel),
		})
		go func() { _ = f.Run(runCtx); done <- struct{}{} }()
	}

	last := first.Add(c.window)
	fmt.Fprintf(stderr, "%d replicas firing; the last reminder is due at %s (in %v)\n", c.replicas, last.Format("15:04:05.000"), time.Until(last).Round(time.Millisecond))
	deadline := time.Now().Add(time.Until(last) + c.timeout)
	var drainedAt time.Time
	for {
		var pending int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM notifier.reminders WHERE fired_at IS NULL AND missed_at IS NULL`).Scan(&pending); err != nil {
			return err
		}
		if pending == 0 {
			drainedAt = time.Now()
			break
		}
		if time.Now().After(deadline) {
			cancel()
			return fmt.Errorf("%d reminders still pending %v after the last fire time", pending, c.timeout)
		}
		if !backoff.Sleep(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
	cancel()
	for range c.replicas {
		<-done
	}
	return report(ctx, admin, c, source, first, last, drainedAt, seedTook, stdout)
}

// seedEstimate leaves time for the COPY itself: ~200,000 rows a second.
func (c config) seedEstimate() time.Duration {
	return time.Duration(c.count) * 5 * time.Microsecond
}

func report(ctx context.Context, db *pgxpool.Pool, c config, source string, first, last, drainedAt time.Time, seedTook time.Duration, w io.Writer) error {
	var p50, p99, pmax, mean float64
	var fired, missed int64
	var firstFired, lastFired time.Time
	err := db.QueryRow(ctx, `SELECT
		coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM fired_at - fire_at)), 0),
		coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM fired_at - fire_at)), 0),
		coalesce(max(extract(epoch FROM fired_at - fire_at)), 0)::float8,
		coalesce(avg(extract(epoch FROM fired_at - fire_at)), 0)::float8,
		count(fired_at), count(missed_at), coalesce(min(fired_at), now()), coalesce(max(fired_at), now())
		FROM notifier.reminders`).Scan(&p50, &p99, &pmax, &mean, &fired, &missed, &firstFired, &lastFired)
	if err != nil {
		return err
	}
	var events, distinct, dups int64
	err = db.QueryRow(ctx, `SELECT count(*), count(DISTINCT event->'data'->>'reminder_id'),
		(SELECT count(*) FROM (SELECT 1 FROM notifier.outbox GROUP BY event->'data'->>'reminder_id' HAVING count(*) > 1) d)
		FROM notifier.outbox WHERE topic = 'reminders'`).Scan(&events, &distinct, &dups)
	if err != nil {
		return err
	}
	var version string
	_ = db.QueryRow(ctx, `SELECT current_setting('server_version') || ', fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit')`).Scan(&version)
	drain := drainedAt.Sub(last)
	span := lastFired.Sub(firstFired).Seconds()
	rate := 0.0
	if span > 0 {
		rate = float64(fired) / span
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("reminderbench: %d reminders due over %v, %d firing replicas, batch %d, %d workers and pool %d each\n", c.count, c.window, c.replicas, c.batch, c.workers, c.pool)
	p("machine      GOMAXPROCS %d, %s; the loops and PostgreSQL share these CPUs\n", runtime.GOMAXPROCS(0), runtime.Version())
	p("database     %s (PostgreSQL %s)\n", source, version)
	p("seed         COPY of %d rows + VACUUM ANALYZE in %.2f s\n", c.count, seedTook.Seconds())
	p("lateness     p50 %.1f ms  p99 %.1f ms  max %.1f ms  mean %.1f ms   (fired_at - fire_at)\n", p50*1000, p99*1000, pmax*1000, mean*1000)
	p("drain        all fired %.2f s after the last fire time (%s .. %s)\n", drain.Seconds(), first.Format("15:04:05.000"), last.Format("15:04:05.000"))
	p("throughput   %.0f events/s (fired / time between first and last fire)\n", rate)
	p("counts       fired %d, missed %d, events %d for %d reminders, duplicates %d\n", fired, missed, events, distinct, dups)
	goal := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	p("goals        p99 lateness ≤ 1 s: %s; drained ≤ 10 s: %s; zero missed: %s; zero duplicates: %s\n",
		goal(p99 <= 1), goal(drain <= 10*time.Second), goal(missed == 0 && fired == int64(c.count)), goal(dups == 0 && events == fired))
	return nil
}

// openDB returns BENCH_DATABASE_URL, or starts a private durable PostgreSQL.
func openDB(ctx context.Context, getenv func(string) string, pgDir string, progress io.Writer) (url, source string, cleanup func(), err error) {
	if u := getenv("BENCH_DATABASE_URL"); u != "" {
		return u, "BENCH_DATABASE_URL", func() {}, nil
	}
	dir, keep := pgDir, pgDir != ""
	if dir == "" {
		if dir, err = os.MkdirTemp("", "reminderbench-pg-"); err != nil {
			return "", "", nil, err
		}
	}
	fmt.Fprintf(progress, "starting a private PostgreSQL in %s (durable: fsync on)\n", dir)
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Durable: true, Memory: pglocal.ThisMachine})
	if err != nil {
		if !keep {
			_ = os.RemoveAll(dir)
		}
		return "", "", nil, err
	}
	cleanup = func() {
		if keep {
			_ = c.Stop()
			return
		}
		_ = c.Remove()
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		cleanup()
		return "", "", nil, err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = 'reminderbench')").Scan(&exists); err != nil {
		cleanup()
		return "", "", nil, err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE reminderbench"); err != nil {
			cleanup()
			return "", "", nil, err
		}
	}
	return c.URL("reminderbench"), "private PostgreSQL (pglocal, durable) in " + dir, cleanup, nil
}

// withPoolSize sets pool_max_conns on a URL connection string.
func withPoolSize(conn string, n int) string {
	sep := "?"
	for _, r := range conn {
		if r == '?' {
			sep = "&"
		}
	}
	return fmt.Sprintf("%s%spool_max_conns=%d", conn, sep, n)
}
