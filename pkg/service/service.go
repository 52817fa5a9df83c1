// Package service holds what every service's Run shares: the base settings
// read from the environment, and the steps before serving (the command, the
// logger, the migrations).
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/tracing"
	"github.com/todo-platform/todo/pkg/web"
)

// DefaultMetricsAddr is where a service serves /metrics unless METRICS_ADDR
// says otherwise: not 9090, which a Dapr sidecar in the same pod takes for
// its own metrics.
const DefaultMetricsAddr = ":9091"

// Server is what every service reads to serve: its address, logging and
// shutdown.
type Server struct {
	Addr string // ADDR, default ":8080": the API, /healthz and /readyz
	// MetricsAddr is METRICS_ADDR, default DefaultMetricsAddr: /metrics, on
	// a port of its own that no public route (Ingress, Service) reaches.
	MetricsAddr   string
	LogLevel      slog.Level     // LOG_LEVEL, default info
	LogFormat     string         // LOG_FORMAT: json (default) or text
	ShutdownGrace time.Duration  // SHUTDOWN_GRACE, default 15s: how long work in flight may finish at shutdown
	Tracing       tracing.Config // OTEL_*: traces exported over OTLP when an endpoint is set
}

// ServerFromEnv reads the server configuration, naming the variable of any
// bad value.
func ServerFromEnv(getenv func(string) string) (Server, error) {
	s := Server{Addr: getenv("ADDR"), MetricsAddr: getenv("METRICS_ADDR"), LogFormat: getenv("LOG_FORMAT")}
	if s.Addr == "" {
		s.Addr = ":8080"
	}
	if s.MetricsAddr == "" {
		s.MetricsAddr = DefaultMetricsAddr
	}
	if s.MetricsAddr == s.Addr {
		return s, fmt.Errorf("METRICS_ADDR=%q is ADDR's: the metrics need a port of their own", s.MetricsAddr)
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := s.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return s, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", v)
		}
	}
	switch s.LogFormat {
	case "", "json", "text":
	default:
		return s, fmt.Errorf("LOG_FORMAT=%q: want json or text", s.LogFormat)
	}
	var err error
	if s.ShutdownGrace, err = EnvDuration(getenv, "SHUTDOWN_GRACE", 15*time.Second); err != nil {
		return s, err
	}
	s.Tracing, err = tracing.ConfigFromEnv(getenv)
	return s, err
}

// Base is the configuration every service with a database reads.
type Base struct {
	Server
	DatabaseURL string // DATABASE_URL (the pooled one in production)
	// DirectURL is DATABASE_DIRECT_URL (default DATABASE_URL): a URL that
	// reaches PostgreSQL directly, or through a session-mode pooler. The
	// migrations run on it and the LISTENing connections use it: a
	// transaction-mode pooler refuses the migrations' startup parameters
	// and never delivers a notification.
	DirectURL      string
	MigrateOnStart bool // MIGRATE_ON_START, default true
	// RuntimeRole is DATABASE_RUNTIME_ROLE: when set, the migrating role
	// (the owner of the schema) grants this role, the one the service
	// runs as, what the service needs and nothing more, after each
	// migration (database.GrantRuntime).
	RuntimeRole string
}

// BaseFromEnv reads the base configuration, naming the variable of any bad
// value.
func BaseFromEnv(getenv func(string) string) (Base, error) {
	srv, err := ServerFromEnv(getenv)
	if err != nil {
		return Base{}, err
	}
	b := Base{Server: srv, DatabaseURL: getenv("DATABASE_URL"), DirectURL: getenv("DATABASE_DIRECT_URL"), RuntimeRole: getenv("DATABASE_RUNTIME_ROLE")}
	if b.DatabaseURL == "" {
		return b, errors.New("DATABASE_URL is not set: point it at the PostgreSQL database (or run `make up`, which starts one)")
	}
	if b.DirectURL == "" {
		b.DirectURL = b.DatabaseURL
	}
	b.MigrateOnStart, err = EnvBool(getenv, "MIGRATE_ON_START", true)
	return b, err
}

// ListenConfig is the configuration of the connections that LISTEN (see
// pgnotify): DirectURL's.
func (b Base) ListenConfig() (*pgx.ConnConfig, error) {
	return database.ConnConfig(b.DirectURL)
}

// Start does what comes before serving: it reads the command in args[1]
// ("serve", the default, or "migrate"), makes the service's logger, and
// applies the migrations for "migrate" or when MIGRATE_ON_START says so. done
// is true when the command is complete (after "migrate").
func Start(ctx context.Context, name string, args []string, b Base, stdout io.Writer, m database.Migrations) (log *slog.Logger, done bool, err error) {
	cmd := "serve"
	if len(args) > 1 {
		cmd = args[1]
	}
	if cmd != "serve" && cmd != "migrate" {
		return nil, false, fmt.Errorf("unknown command %q: usage: %s [serve|migrate]", cmd, name)
	}
	log, err = web.NewLogger(stdout, b.LogFormat, b.LogLevel, name)
	if err != nil {
		return nil, false, err
	}
	if cmd == "migrate" || b.MigrateOnStart {
		v, err := database.Migrate(ctx, b.DirectURL, m, log)
		if err != nil {
			return nil, false, err
		}
		log.Info("schema up to date", "schema", m.Schema, "version", v)
		if b.RuntimeRole != "" {
			if err := database.GrantRuntime(ctx, b.DirectURL, m, b.RuntimeRole); err != nil {
				return nil, false, err
			}
			log.Info("runtime role granted", "schema", m.Schema, "role", b.RuntimeRole)
		}
	}
	return log, cmd == "migrate", nil
}

// Service is what a service with a database runs on: its logger, its pool
// (DatabaseURL) and its metrics registry.
type Service struct {
	Log      *slog.Logger
	Pool     *pgxpool.Pool
	Registry *prometheus.Registry
}

// Open does Start and then, unless done, connects the pool and makes the
// registry (see Registry). The caller closes the pool.
func Open(ctx context.Context, name string, args []string, b Base, stdout io.Writer, m database.Migrations) (s *Service, done bool, err error) {
	log, done, err := Start(ctx, name, args, b, stdout, m)
	if err != nil || done {
		return nil, done, err
	}
	pool, err := database.Connect(ctx, b.DatabaseURL)
	if err != nil {
		return nil, false, err
	}
	return &Service{Log: log, Pool: pool, Registry: Registry(pool)}, false, nil
}

// Registry returns a service's metrics registry with the Go runtime, process
// and database pool collectors registered.
func Registry(pool *pgxpool.Pool) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), database.NewPoolCollector(pool))
	return reg
}

// Serve runs srv (see web.Serve) and, beside it, each of background until
// ctx ends. When any of them returns, the others are stopped too; Serve
// waits for all and returns their errors joined, leaving out a background
// loop's context.Canceled once it has been stopped.
func Serve(ctx context.Context, srv *http.Server, log *slog.Logger, grace time.Duration, background ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(background)+1)
	var wg sync.WaitGroup
	for i, run := range background {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			if err := run(ctx); !stopped(ctx, err) {
				errs[i+1] = err
			}
		}()
	}
	errs[0] = web.Serve(ctx, srv, log, grace)
	cancel()
	wg.Wait()
	return errors.Join(errs...)
}
