package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/pglocal"
	"github.com/todo-platform/todo/services/taskapi"
	"github.com/todo-platform/todo/tests/toolchain"
)

// benchMigrations are the consumer's: its table of consumed events.
var benchMigrations = database.Migrations{Schema: "eventbench", FS: fstest.MapFS{
	"001_consumed_events.sql": {Data: []byte(consume.TableSQL)},
}}

// env is what every transport's measurement shares: PostgreSQL, the
// broker, taskapi (without its relay: the bench runs the relay itself, to
// stop and start it) and the users' tokens.
type env struct {
	dbURL      string // DATABASE_URL: the pool's (the pooler's with -pgbouncer)
	directURL  string // DATABASE_DIRECT_URL: migrations and LISTEN
	dbSource   string
	bouncer    *pglocal.Bouncer
	bouncerDir string
	cluster    *pglocal.Cluster
	tmpDir     string
	pool       *pgxpool.Pool
	broker     *kfake.Cluster
	brokerDesc string
	kafka      kafka.Config
	taskapiURL string
	stopAPI    context.CancelFunc
	apiDone    chan error
	tokens     []string
	client     *http.Client
	daprd      string // path of daprd, "" when not built
	daprdErr   string
}

func startEnv(ctx context.Context, cfg config, getenv func(string) string, progress func(string, ...any)) (e *env, err error) {
	e = &env{}
	defer func() {
		if err != nil {
			e.close(progress)
		}
	}()
	if u := getenv("BENCH_DATABASE_URL"); u != "" {
		e.dbURL, e.dbSource = u, "BENCH_DATABASE_URL"
		if d := getenv("BENCH_DATABASE_DIRECT_URL"); d != "" {
			e.directURL, e.dbSource = d, "BENCH_DATABASE_URL (migrations and LISTEN: BENCH_DATABASE_DIRECT_URL)"
		}
	} else {
		dir := cfg.pgDir
		if dir == "" {
			if e.tmpDir, err = os.MkdirTemp("", "eventbench-pg-"); err != nil {
				return e, err
			}
			dir = e.tmpDir
		}
		progress("starting a private PostgreSQL in %s (durable: fsync on, synchronous_commit %s)", dir, cfg.syncCommit)
		if e.cluster, err = pglocal.Start(ctx, pglocal.Options{Dir: dir, Durable: true, Memory: pglocal.ThisMachine, Settings: map[string]string{"synchronous_commit": cfg.syncCommit}}); err != nil {
			return e, err
		}
		if err := createDatabase(ctx, e.cluster.URL("postgres"), "eventbench"); err != nil {
			return e, err
		}
		e.dbURL, e.dbSource = e.cluster.URL("eventbench"), "private PostgreSQL 127.0.0.1:"+fmt.Sprint(e.cluster.Port())+" (fsync on, synchronous_commit "+cfg.syncCommit+")"
	}
	if e.directURL == "" {
		e.directURL = e.dbURL
	}
	if cfg.pgbouncer {
		if e.bouncerDir, err = os.MkdirTemp("", "eventbench-pgbouncer-"); err != nil {
			return e, err
		}
		if err := os.Chmod(e.bouncerDir, 0o755); err != nil { //nolint:gosec // as root, PgBouncer runs as the postgres user
			return e, err
		}
		progress("starting PgBouncer (pool_mode = transaction) in front of it: DATABASE_URL goes through it, migrations and LISTEN do not")
		if e.bouncer, err = pglocal.StartBouncer(ctx, pglocal.BouncerOptions{Dir: e.bouncerDir, Server: e.directURL, PoolSize: database.DefaultMaxConns + 4}); err != nil {
			return e, err
		}
		u, err := url.Parse(e.directURL)
		if err != nil {
			return e, err
		}
		e.dbURL = e.bouncer.URL(strings.TrimPrefix(u.Path, "/"))
		e.dbSource += fmt.Sprintf(", through PgBouncer (transaction mode, 127.0.0.1:%d; migrations and LISTEN direct)", e.bouncer.Port())
	}
	for _, m := range []database.Migrations{taskapi.Migrations, benchMigrations} {
		if _, err := database.Migrate(ctx, e.directURL, m, nil); err != nil {
			return e, err
		}
	}
	if e.pool, err = database.Connect(ctx, e.dbURL); err != nil {
		return e, err
	}

	progress("starting the embedded Kafka broker (kfake, %d partitions per topic)", cfg.kafkaPartitns)
	if e.broker, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(cfg.kafkaPartitns), events.Topics()...)); err != nil {
		return e, err
	}
	e.kafka = kafka.Config{Brokers: e.broker.ListenAddrs(), ClientID: "eventbench", SessionTimeout: 6 * time.Second, HeartbeatInterval: 500 * time.Millisecond}
	e.brokerDesc = "kfake (in-process) at " + strings.Join(e.kafka.Brokers, ",")

	var raw [32]byte
	_, _ = rand.Read(raw[:])
	secret := hex.EncodeToString(raw[:])
	for i := range cfg.users {
		tok, err := auth.IssueHS256(secret, fmt.Sprintf("bench-user-%04d", i), "", "", 24*time.Hour)
		if err != nil {
			return e, err
		}
		e.tokens = append(e.tokens, "Bearer "+tok)
	}
	addr, err := freeAddr()
	if err != nil {
		return e, err
	}
	apiCtx, cancel := context.WithCancel(ctx)
	e.stopAPI, e.apiDone = cancel, make(chan error, 1)
	vars := map[string]string{
		"ADDR": addr, "METRICS_ADDR": "127.0.0.1:0", "DATABASE_URL": e.dbURL, "DATABASE_DIRECT_URL": e.directURL, "JWT_SECRET": secret, "OUTBOX_RELAY": "false",
		"MIGRATE_ON_START": "false", "LOG_LEVEL": "warn",
		// The load comes from this machine at hundreds of writes a
		// second: no rate limit in its way.
		"RATE_LIMIT": "off",
	}
	go func() {
		e.apiDone <- taskapi.Run(apiCtx, []string{"taskapi"}, func(k string) string { return vars[k] }, io.Discard, os.Stderr)
	}()
	e.taskapiURL = "http://" + addr
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 1024
	e.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	if err := waitHTTP(ctx, e.client, e.taskapiURL+"/readyz", 30*time.Second); err != nil {
		return e, fmt.Errorf("taskapi: %w", err)
	}

	if p, err := toolchain.Path(toolchain.Daprd); err == nil {
		e.daprd = p
	} else {
		e.daprdErr = err.Error()
	}
	return e, nil
}

func (e *env) close(progress func(string, ...any)) {
	if e.stopAPI != nil {
		e.stopAPI()
		select {
		case <-e.apiDone:
		case <-time.After(20 * time.Second):
		}
	}
	if e.pool != nil {
		e.pool.Close()
	}
	if e.broker != nil {
		e.broker.Close()
	}
	if e.bouncer != nil {
		_ = e.bouncer.Remove()
	} else if e.bouncerDir != "" {
		_ = os.RemoveAll(e.bouncerDir)
	}
	if e.cluster != nil {
		progress("stopping PostgreSQL")
		if e.tmpDir != "" {
			_ = e.cluster.Remove()
		} else {
			_ = e.cluster.Stop()
		}
	}
	if e.tmpDir != "" {
		_ = os.RemoveAll(e.tmpDir)
	}
}

func createDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil || exists {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// waitHTTP polls url until it answers 2xx.
func waitHTTP(ctx context.Context, c *http.Client, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return errors.New(url + " not ready in " + timeout.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
