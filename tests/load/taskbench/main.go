// Command taskbench is the task API benchmark (`make bench`). It seeds a
// PostgreSQL database with users' tasks, serves taskapi in-process on a
// loopback port, and drives it over real HTTP with an open-loop mixed load:
// requests are scheduled on a clock and their latency counts from the
// scheduled time, so a slow server cannot hide its queue. It prints latency
// percentiles per operation at a fixed rate, the highest sustainable rate,
// the database's own floor, memory figures, and the goals met or missed.
//
// The database is BENCH_DATABASE_URL's, or a private durable PostgreSQL
// started from the machine's binaries and removed at the end.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // the seed's time zones on machines without zoneinfo

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/services/taskapi"
	"github.com/todo-platform/todo/tests/load/loadstat"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "taskbench:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	users, perUser int
	vus            int
	rate           float64
	warmup         time.Duration
	duration       time.Duration
	stepStart      float64
	stepSize       float64
	stepDuration   time.Duration
	maxRate        float64
	p95Limit       time.Duration
	errLimit       float64
	pool           int
	inflight       int
	timeout        time.Duration
	mix            mix
	sample         int
	follow         float64
	seedWorkers    int
	floorSamples   int
	floorRate      float64
	jsonPath       string
	pgDir          string
	reuse          bool
	seed           uint64
	syncCommit     string
	pgConfig       string
	scale          bool
	scaleRate      float64
	scaleSamples   int
	scaleSizes     string
	scaleTotals    string
	cpuProfile     string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.users, "users", 100, "seeded users")
	fs.IntVar(&c.perUser, "tasks", 10_000, "seeded tasks per user")
	fs.IntVar(&c.vus, "vus", 200, "virtual users; virtual user i acts as seeded user i mod -users, with its own token")
	fs.Float64Var(&c.rate, "rate", 1000, "phase 1 arrival rate, requests per second")
	fs.DurationVar(&c.warmup, "warmup", 5*time.Second, "warm-up at -rate before phase 1 (not measured)")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "phase 1 duration")
	fs.Float64Var(&c.stepStart, "step-start", 1000, "phase 2: first rate")
	fs.Float64Var(&c.stepSize, "step", 500, "phase 2: rate added per step")
	fs.DurationVar(&c.stepDuration, "step-duration", 10*time.Second, "phase 2: duration of a step")
	fs.Float64Var(&c.maxRate, "max-rate", 20_000, "phase 2: stop after this rate (0 skips phase 2)")
	fs.DurationVar(&c.p95Limit, "p95-limit", 50*time.Millisecond, "phase 2: a step fails when any operation's p95 passes this")
	fs.Float64Var(&c.errLimit, "error-limit", 0.01, "phase 2: a step fails when errors plus dropped requests pass this fraction")
	fs.IntVar(&c.pool, "pool", 16, "taskapi's pool_max_conns (see the report for why 16)")
	fs.IntVar(&c.inflight, "inflight", 2000, "cap of requests in flight; a request due beyond it is dropped, not delayed")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "request timeout (a timed-out request is an error)")
	mixFlag := fs.String("mix", defaultMix, "operation mix in percent")
	fs.IntVar(&c.sample, "sample", 1000, "task ids of each user the load works on (seeded ones, then created ones replace them)")
	fs.Float64Var(&c.follow, "follow", 0.3, "chance that a virtual user fetches the next page of a list or search")
	fs.IntVar(&c.seedWorkers, "seed-workers", 2, "parallel COPY streams of the seed")
	fs.IntVar(&c.floorSamples, "floor-samples", 2000, "floor: statements of each kind")
	fs.Float64Var(&c.floorRate, "floor-rate", 500, "floor: statements per second")
	fs.StringVar(&c.jsonPath, "json", "", "also write the figures as JSON to this file")
	fs.StringVar(&c.pgDir, "pgdir", "", "run the private PostgreSQL in this folder and keep it (default: a temporary folder, removed)")
	fs.BoolVar(&c.reuse, "reuse", false, "reuse tasks already seeded for the bench users instead of seeding again")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the generated data")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of phase 1 (generator and taskapi) to this file")
	fs.StringVar(&c.syncCommit, "synchronous-commit", "on", "synchronous_commit of the private PostgreSQL: on (each commit waits for its WAL flush) or off (flushed within 200 ms; a crash loses at most that, never consistency)")
	fs.StringVar(&c.pgConfig, "pg-config", "tuned", "configuration of the private PostgreSQL: tuned (sized to this machine's memory, for SSDs: see the README) or defaults (PostgreSQL's own)")
	fs.BoolVar(&c.scale, "scale", false, "measure instead how a page's cost grows with the user's and the database's tasks (make bench-scale)")
	fs.Float64Var(&c.scaleRate, "scale-rate", 50, "-scale: requests per second of each shape")
	fs.IntVar(&c.scaleSamples, "scale-samples", 300, "-scale: requests of each shape, user and database size")
	fs.StringVar(&c.scaleSizes, "scale-sizes", "1000,10000,100000", "-scale: tasks of each measured user")
	fs.StringVar(&c.scaleTotals, "scale-totals", "1000000,5000000", "-scale: tasks in the whole database, grown step by step")
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	m, err := parseMix(*mixFlag)
	if err != nil {
		return c, err
	}
	c.mix = m
	switch {
	case c.users < 1 || c.perUser < 1 || c.vus < 1:
		return c, errors.New("-users, -tasks and -vus must be at least 1")
	case c.rate <= 0 || c.duration <= 0:
		return c, errors.New("-rate and -duration must be positive")
	case c.pool < 1 || c.inflight < 1 || c.seedWorkers < 1:
		return c, errors.New("-pool, -inflight and -seed-workers must be at least 1")
	case c.maxRate > 0 && (c.stepStart <= 0 || c.stepSize <= 0 || c.stepDuration <= 0):
		return c, errors.New("-step-start, -step and -step-duration must be positive")
	}
	return c, nil
}

// poolWhy explains the default pool size in the report.
const poolWhy = "pgxpool's default would be max(4, NumCPU) = 4 here. Every write holds its connection through " +
	"a durable commit (a WAL flush; the outbox trigger's NOTIFY even serializes those commits), so with 4 " +
	"connections a few writes waiting on the disk would leave the reads none. 16 keeps reads flowing past " +
	"waiting writes and lets commits share flushes once they can, while PostgreSQL stays at a few busy " +
	"processes per core; more would only add context switches on 2 cores"

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	progress := stderr
	rep := &report{Started: began.UTC().Format(time.RFC3339)}
	rep.Machine = machine{GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadstat.LoadAverage()}
	fmt.Fprintf(progress, "taskbench: GOMAXPROCS %d, nproc %d, load average %s\n", rep.Machine.GOMAXPROCS, rep.Machine.NumCPU, rep.Machine.LoadStart)

	if cfg.syncCommit != "on" && cfg.syncCommit != "off" {
		return fmt.Errorf("-synchronous-commit=%q: want on or off", cfg.syncCommit)
	}
	if cfg.pgConfig != "tuned" && cfg.pgConfig != "defaults" {
		return fmt.Errorf("-pg-config=%q: want tuned or defaults", cfg.pgConfig)
	}
	db, err := openDB(ctx, getenv, cfg.pgDir, cfg.syncCommit, cfg.pgConfig, progress)
	if err != nil {
		return err
	}
	defer func() {
		if err := db.close(); err != nil {
			fmt.Fprintln(stderr, "taskbench: stop PostgreSQL:", err)
		}
	}()
	if _, err := database.Migrate(ctx, db.url, taskapi.Migrations, nil); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, withPoolSize(db.url, max(cfg.seedWorkers+2, 8)))
	if err != nil {
		return err
	}
	defer pool.Close()
	settings, err := readSettings(ctx, pool)
	if err != nil {
		return err
	}
	settings.Profile = cfg.pgConfig
	if db.cluster == nil {
		settings.Profile = "as BENCH_DATABASE_URL's server is configured"
	}
	rep.Database = dbInfo{Source: db.source, Settings: settings, PoolMaxConns: cfg.pool, PoolWhy: poolWhy}
	if cfg.pool != 16 {
		rep.Database.PoolWhy = "set by -pool"
	}
	if cfg.scale {
		if err := runScale(ctx, cfg, db.url, pool, rep, progress, stdout); err != nil {
			return err
		}
		return writeJSON(cfg.jsonPath, rep, progress)
	}

	// Users and their tokens.
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	secretText := hex.EncodeToString(secret)
	users := make([]*user, cfg.users)
	for i := range users {
		u := &user{id: userID(i), zone: zones[i%len(zones)]}
		tok, err := auth.IssueHS256(secretText, u.id, "", "", 24*time.Hour)
		if err != nil {
			return err
		}
		u.auth = "Bearer " + tok
		users[i] = u
	}
	rep.Data = dataInfo{Users: cfg.users, TasksPerUser: cfg.perUser, VUs: cfg.vus, Mix: cfg.mix.String(), Sample: cfg.sample,
		InflightCap: cfg.inflight, Follow: cfg.follow}

	b := &bench{cfg: cfg, pool: pool, rep: rep, users: users, progress: progress}
	seedStart := time.Now()
	if err := b.seed(ctx); err != nil {
		return err
	}
	rep.Timing.SeedSeconds = time.Since(seedStart).Seconds()
	rep.Memory.HeapAfterSeed = heapInUse()
	if rep.Memory.TablesAfterSeed, err = readSizes(ctx, pool); err != nil {
		return err
	}
	if err := b.floor(ctx, db.url); err != nil {
		return err
	}
	fmt.Fprintln(progress, "explaining each list and search shape")
	if rep.Plans, err = explainLists(ctx, pool, users[0].id); err != nil {
		return err
	}

	// The API.
	a, err := startAPI(ctx, db.url, cfg.pool, secretText)
	if err != nil {
		return err
	}
	defer a.close()
	b.rn = &runner{
		base:    a.base,
		client:  &http.Client{Transport: newTransport(cfg.inflight)},
		mix:     cfg.mix,
		sem:     make(chan struct{}, cfg.inflight),
		timeout: cfg.timeout,
		follow:  cfg.follow,
		sampleN: cfg.sample,
	}
	for i := range cfg.vus {
		b.rn.vus = append(b.rn.vus, &vu{user: users[i%len(users)]})
	}
	if err := b.rn.buildBodies(mrand.New(mrand.NewPCG(cfg.seed, 99)), time.Now()); err != nil {
		return err
	}
	n, err := checkSeed(ctx, b.rn, pool, users)
	if err != nil {
		return err
	}
	rep.SeedCheck = fmt.Sprintf("%d seeded tasks (recurring, with reminders, done, undated, tagged) read back through the API; an empty merge patch re-validated each and kept its version", n)
	fmt.Fprintln(progress, "seed check:", rep.SeedCheck)

	if err := b.phase1(ctx); err != nil {
		return err
	}
	if cfg.maxRate > 0 {
		if err := b.phase2(ctx); err != nil {
			return err
		}
	}

	rep.Memory.HeapEnd = heapInUse()
	if rep.Memory.TablesEnd, err = readSizes(ctx, pool); err != nil {
		return err
	}
	rep.Machine.LoadEnd = loadstat.LoadAverage()
	rep.Timing.TotalSeconds = time.Since(began).Seconds()
	rep.Goals = goals(rep, cfg)
	rep.print(stdout)
	return writeJSON(cfg.jsonPath, rep, progress)
}

// writeJSON writes the report to path ("" writes nothing).
func writeJSON(path string, rep *report, progress io.Writer) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(progress, "wrote", path)
	return nil
}

// startCPUProfile profiles the process into path ("" does nothing).
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() error { pprof.StopCPUProfile(); return f.Close() }, nil
}

func heapInUse() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// report is everything the benchmark prints.
type report struct {
	Started   string     `json:"started"`
	Machine   machine    `json:"machine"`
	Database  dbInfo     `json:"database"`
	Data      dataInfo   `json:"data"`
	Seed      seedStats  `json:"seed"`
	SeedCheck string     `json:"seed_check"`
	Floor     floorStats `json:"floor"`
	Phase1    phase1     `json:"phase1"`
	Phase2    struct {
		Criterion      string      `json:"criterion"`
		Steps          []stepStats `json:"steps"`
		MaxSustainable float64     `json:"max_sustainable_rate"`
		Below          bool        `json:"searched_below_first_step"`
	} `json:"phase2"`
	Memory struct {
		HeapAfterSeed   int64    `json:"go_heap_inuse_after_seed_bytes"`
		HeapEnd         int64    `json:"go_heap_inuse_end_bytes"`
		TablesAfterSeed relSizes `json:"tasks_after_seed"`
		TablesEnd       relSizes `json:"tasks_end"`
	} `json:"memory"`
	// Plans are EXPLAIN (ANALYZE, BUFFERS) of each list and search shape,
	// for the first user, after the seed.
	Plans []plan `json:"plans"`
	// Scale is the scale bench's table (-scale).
	Scale  *scaleReport `json:"scale,omitempty"`
	Goals  []goal       `json:"goals"`
	Timing struct {
		SeedSeconds  float64 `json:"seed_seconds"`
		TotalSeconds float64 `json:"total_seconds"`
	} `json:"timing"`
}

type machine struct {
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"nproc"`
	GoVersion  string `json:"go_version"`
	LoadStart  string `json:"load_average_start"`
	LoadEnd    string `json:"load_average_end"`
}

type dbInfo struct {
	Source       string         `json:"source"`
	Settings     serverSettings `json:"settings"`
	PoolMaxConns int            `json:"pool_max_conns"`
	PoolWhy      string         `json:"pool_why"`
}

type dataInfo struct {
	Users        int     `json:"users"`
	TasksPerUser int     `json:"tasks_per_user"`
	VUs          int     `json:"virtual_users"`
	Mix          string  `json:"mix"`
	Sample       int     `json:"sample_per_user"`
	InflightCap  int     `json:"inflight_cap"`
	Follow       float64 `json:"follow_cursor_chance"`
}

type phase1 struct {
	Warmup   float64 `json:"warmup_seconds"`
	Duration float64 `json:"duration_seconds"`
	phaseStats
	Waits    []waitShare `json:"database_sessions"`
	Database dbActivity  `json:"database_activity"`
	// Statements are the top statements by total execution time (none,
	// with StatementsWhy, where pg_stat_statements is unavailable).
	Statements    []statement `json:"top_statements"`
	StatementsWhy string      `json:"top_statements_missing,omitempty"`
}

// stepStats are a phase 2 step and its verdict.
type stepStats struct {
	phaseStats
	WorstOp  string     `json:"worst_op"`
	WorstP95 float64    `json:"worst_p95_ms"`
	FailRate float64    `json:"errors_and_dropped_fraction"`
	Database dbActivity `json:"database_activity"`
	OK       bool       `json:"ok"`
	Reason   string     `json:"reason,omitempty"`
}

func (s stepStats) verdict() string {
	if s.OK {
		return "ok"
	}
	return "FAIL (" + s.Reason + ")"
}

// minStepRate is the lowest rate phase 2 tries.
const minStepRate = 25

// roundRate rounds a rate down to a multiple of 25 requests per second.
func roundRate(r float64) float64 { return float64(int(r/25) * 25) }

// minSamples is the fewest answers an operation needs for its p95 to judge
// a step.
const minSamples = 20

func evaluate(p phaseStats, limit time.Duration, errLimit float64) stepStats {
	s := stepStats{phaseStats: p}
	for _, o := range p.Ops {
		if o.Op == opNames[opReread] || o.Count < minSamples {
			continue
		}
		if o.P95 > s.WorstP95 {
			s.WorstP95, s.WorstOp = o.P95, o.Op
		}
	}
	_, errs := p.scheduledOps()
	if p.Scheduled > 0 {
		s.FailRate = float64(errs+p.Dropped) / float64(p.Scheduled)
	}
	limitMS := float64(limit) / float64(time.Millisecond)
	var why []string
	if s.WorstP95 > limitMS {
		why = append(why, fmt.Sprintf("p95 of %s %.1f ms > %.0f ms", s.WorstOp, s.WorstP95, limitMS))
	}
	if s.FailRate > errLimit {
		why = append(why, fmt.Sprintf("errors+dropped %.2f%% > %.1f%%", s.FailRate*100, errLimit*100))
	}
	s.OK = len(why) == 0
	s.Reason = strings.Join(why, "; ")
	return s
}

// goal is a target and whether the run met it.
type goal struct {
	Goal   string  `json:"goal"`
	Target float64 `json:"target"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Pass   bool    `json:"pass"`
}

func goals(rep *report, cfg config) []goal {
	var gs []goal
	at := fmt.Sprintf("at %.0f ops/s", cfg.rate)
	for _, o := range rep.Phase1.Ops {
		var target float64
		switch o.Op {
		case "create", "patch", "complete", "reopen", "get":
			target = 5
		case "list", "search":
			target = 15
		default:
			continue
		}
		gs = append(gs, goal{Goal: fmt.Sprintf("p95 of %s %s", o.Op, at), Target: target, Value: o.P95, Unit: "ms", Pass: o.Count > 0 && o.P95 <= target})
	}
	if cfg.maxRate > 0 {
		gs = append(gs, goal{Goal: "highest sustainable rate", Target: 3000, Value: rep.Phase2.MaxSustainable, Unit: "ops/s", Pass: rep.Phase2.MaxSustainable >= 3000})
	}
	return gs
}
