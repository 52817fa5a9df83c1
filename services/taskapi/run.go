// Package taskapi is the task service: the REST API users and the other
// services call, owner of the tasks table and of their outbox.
package taskapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/web"
)

// Config is taskapi's configuration, read from the environment.
type Config struct {
	Addr           string // ADDR, default ":8080"
	DatabaseURL    string // DATABASE_URL (pooled)
	MigrationURL   string // DATABASE_DIRECT_URL, default DATABASE_URL
	MigrateOnStart bool   // MIGRATE_ON_START, default true
	LogLevel       slog.Level
	LogFormat      string // LOG_FORMAT: json (default) or text
	JWT            auth.Config
	InternalToken  string // INTERNAL_TOKEN
	ShutdownGrace  time.Duration
}

// ConfigFromEnv reads the configuration, naming the variable of any bad value.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Addr:           getenv("ADDR"),
		DatabaseURL:    getenv("DATABASE_URL"),
		MigrationURL:   getenv("DATABASE_DIRECT_URL"),
		MigrateOnStart: true,
		JWT:            auth.ConfigFromEnv(getenv),
		InternalToken:  getenv("INTERNAL_TOKEN"),
		LogFormat:      getenv("LOG_FORMAT"),
		ShutdownGrace:  15 * time.Second,
	}
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	if c.MigrationURL == "" {
		c.MigrationURL = c.DatabaseURL
	}
	if c.DatabaseURL == "" {
		return c, errors.New("DATABASE_URL is not set: point it at the PostgreSQL database (or run `make up`, which starts one)")
	}
	if v := getenv("MIGRATE_ON_START"); v != "" {
		switch strings.ToLower(v) {
		case "true", "1", "yes":
		case "false", "0", "no":
			c.MigrateOnStart = false
		default:
			return c, fmt.Errorf("MIGRATE_ON_START=%q: want true or false", v)
		}
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return c, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", v)
		}
	}
	if c.JWT.Secret == "" && c.JWT.JWKSURL == "" {
		return c, auth.ErrNotConfigured
	}
	if c.InternalToken != "" && len(c.InternalToken) < 16 {
		return c, errors.New("INTERNAL_TOKEN must be at least 16 characters long")
	}
	return c, nil
}

// Run runs taskapi until ctx ends or SIGINT/SIGTERM arrives. args[1] may be
// "migrate" (apply the migrations and exit) or "serve" (the default).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cmd := "serve"
	if len(args) > 1 {
		cmd = args[1]
	}
	if cmd != "serve" && cmd != "migrate" {
		return fmt.Errorf("unknown command %q: usage: taskapi [serve|migrate]", cmd)
	}
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	log, err := web.NewLogger(stdout, cfg.LogFormat, cfg.LogLevel, "taskapi")
	if err != nil {
		return err
	}

	if cmd == "migrate" || cfg.MigrateOnStart {
		v, err := database.Migrate(ctx, cfg.MigrationURL, Migrations, log)
		if err != nil {
			return err
		}
		log.Info("schema up to date", "schema", Migrations.Schema, "version", v)
		if cmd == "migrate" {
			return nil
		}
	}

	pool, err := database.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	verifier, err := auth.NewVerifier(ctx, cfg.JWT)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), database.NewPoolCollector(pool))
	srv := &http.Server{
		Addr: cfg.Addr,
		Handler: NewServer(Deps{
			Store: NewStore(pool), Verifier: verifier, InternalToken: cfg.InternalToken, Log: log, Registry: reg,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return web.Serve(ctx, srv, log, cfg.ShutdownGrace)
}

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}
