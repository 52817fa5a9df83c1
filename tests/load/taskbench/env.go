package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/pglocal"
	"github.com/todo-platform/todo/services/taskapi"
)

// benchDB is the database the benchmark runs on.
type benchDB struct {
	url     string
	source  string
	cluster *pglocal.Cluster
	dir     string
	keep    bool
}

// openDB returns BENCH_DATABASE_URL's database, or starts a private durable
// PostgreSQL (fsync on) in pgDir, or in a temporary folder removed by close.
func openDB(ctx context.Context, getenv func(string) string, pgDir, syncCommit, pgConfig string, progress io.Writer) (*benchDB, error) {
	if u := getenv("BENCH_DATABASE_URL"); u != "" {
		return &benchDB{url: u, source: "BENCH_DATABASE_URL"}, nil
	}
	db := &benchDB{dir: pgDir, keep: pgDir != ""}
	if pgDir == "" {
		d, err := os.MkdirTemp("", "taskbench-pg-")
		if err != nil {
			return nil, err
		}
		db.dir = d
	}
	var memory int64
	if pgConfig == "tuned" {
		memory = pglocal.ThisMachine
	}
	fmt.Fprintf(progress, "starting a private PostgreSQL in %s (durable: fsync on, synchronous_commit %s; configuration: %s)\n", db.dir, syncCommit, pgConfig)
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: db.dir, Durable: true, Memory: memory, Settings: map[string]string{
		"synchronous_commit": syncCommit,
		// Where the database's time goes, per statement (see statements.go).
		"shared_preload_libraries": "pg_stat_statements",
		"pg_stat_statements.track": "top",
	}})
	if err != nil {
		if !db.keep {
			_ = os.RemoveAll(db.dir)
		}
		return nil, err
	}
	db.cluster = c
	db.source = "private PostgreSQL (pglocal, durable) in " + db.dir
	if db.keep {
		db.source += " (kept)"
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		_ = db.close()
		return nil, err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = 'taskbench')").Scan(&exists); err != nil {
		_ = db.close()
		return nil, err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE taskbench"); err != nil {
			_ = db.close()
			return nil, err
		}
	}
	db.url = c.URL("taskbench")
	return db, nil
}

// close stops a private cluster and removes it unless it is to be kept.
func (db *benchDB) close() error {
	if db.cluster == nil {
		return nil
	}
	if db.keep {
		return db.cluster.Stop()
	}
	return db.cluster.Remove()
}

// withPoolSize sets pool_max_conns on a URL or key=value connection string.
func withPoolSize(conn string, n int) string {
	if u, err := url.Parse(conn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("pool_max_conns", strconv.Itoa(n))
		u.RawQuery = q.Encode()
		return u.String()
	}
	return conn + " pool_max_conns=" + strconv.Itoa(n)
}

// serverSettings are the PostgreSQL settings that shape the figures.
type serverSettings struct {
	Version           string `json:"version"`
	Fsync             string `json:"fsync"`
	SynchronousCommit string `json:"synchronous_commit"`
	FullPageWrites    string `json:"full_page_writes"`
	SharedBuffers     string `json:"shared_buffers"`
	MaxConnections    string `json:"max_connections"`
	// The configuration's profile (tuned or defaults) and what it sets.
	Profile            string `json:"profile"`
	EffectiveCache     string `json:"effective_cache_size"`
	RandomPageCost     string `json:"random_page_cost"`
	WorkMem            string `json:"work_mem"`
	MaxWALSize         string `json:"max_wal_size"`
	CheckpointTimeout  string `json:"checkpoint_timeout"`
	JIT                string `json:"jit"`
	EffectiveIOConcurr string `json:"effective_io_concurrency"`
}

func readSettings(ctx context.Context, pool *pgxpool.Pool) (serverSettings, error) {
	var s serverSettings
	err := pool.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('fsync'),
		current_setting('synchronous_commit'), current_setting('full_page_writes'),
		current_setting('shared_buffers'), current_setting('max_connections'),
		current_setting('effective_cache_size'), current_setting('random_page_cost'), current_setting('work_mem'),
		current_setting('max_wal_size'), current_setting('checkpoint_timeout'), current_setting('jit'),
		current_setting('effective_io_concurrency')`).
		Scan(&s.Version, &s.Fsync, &s.SynchronousCommit, &s.FullPageWrites, &s.SharedBuffers, &s.MaxConnections,
			&s.EffectiveCache, &s.RandomPageCost, &s.WorkMem, &s.MaxWALSize, &s.CheckpointTimeout, &s.JIT, &s.EffectiveIOConcurr)
	return s, err
}

// relSizes are the on-disk sizes of the tasks table.
type relSizes struct {
	Total   int64            `json:"total_bytes"`
	Heap    int64            `json:"heap_bytes"`
	Indexes int64            `json:"indexes_bytes"`
	Toast   int64            `json:"toast_bytes"`
	Index   map[string]int64 `json:"index_bytes"`
	Outbox  int64            `json:"outbox_total_bytes"`
	Rows    int64            `json:"rows"`
}

func readSizes(ctx context.Context, pool *pgxpool.Pool) (relSizes, error) {
	var s relSizes
	err := pool.QueryRow(ctx, `SELECT pg_total_relation_size('taskapi.tasks'), pg_relation_size('taskapi.tasks'),
		pg_indexes_size('taskapi.tasks'), pg_total_relation_size('taskapi.outbox'),
		(SELECT count(*) FROM taskapi.tasks)`).Scan(&s.Total, &s.Heap, &s.Indexes, &s.Outbox, &s.Rows)
	if err != nil {
		return s, fmt.Errorf("read table sizes: %w", err)
	}
	s.Toast = s.Total - s.Heap - s.Indexes
	rows, err := pool.Query(ctx, `SELECT c.relname, pg_relation_size(i.indexrelid) FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'taskapi.tasks'::regclass`)
	if err != nil {
		return s, fmt.Errorf("read index sizes: %w", err)
	}
	s.Index = map[string]int64{}
	var name string
	var size int64
	_, err = pgx.ForEachRow(rows, []any{&name, &size}, func() error { s.Index[name] = size; return nil })
	return s, err
}

// api is taskapi served in-process on a loopback port.
type api struct {
	base string
	pool *pgxpool.Pool
	srv  *http.Server
}

// startAPI builds the server as taskapi.Run does (its pool, an HS256
// verifier, a Prometheus registry with the same collectors) with a
// discarding logger, behind a real http.Server on 127.0.0.1.
func startAPI(ctx context.Context, dbURL string, poolSize int, secret string) (*api, error) {
	pool, err := database.Connect(ctx, withPoolSize(dbURL, poolSize))
	if err != nil {
		return nil, err
	}
	verifier, err := auth.NewVerifier(ctx, auth.Config{Secret: secret})
	if err != nil {
		pool.Close()
		return nil, err
	}
	log := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), database.NewPoolCollector(pool))
	srv := &http.Server{
		Handler:           taskapi.NewServer(taskapi.Deps{Store: taskapi.NewStore(pool), Verifier: verifier, Log: log, Registry: reg}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		pool.Close()
		return nil, err
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "taskbench: serve:", err)
		}
	}()
	return &api{base: "http://" + ln.Addr().String(), pool: pool, srv: srv}, nil
}

func (a *api) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = a.srv.Shutdown(ctx)
	a.pool.Close()
}
