// Package audit is the audit service: it appends every task and reminder
// event to an append-only log (schema audit) and lets each user read their
// own part of it.
package audit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/pkg/web"
)

// ConsumedRetention is how long the record of a consumed event is kept: longer
// than the topics keep a message (7 days), after which it cannot come again.
const ConsumedRetention = 8 * 24 * time.Hour

// Config is audit's configuration, read from the environment.
type Config struct {
	service.Base
	JWT   auth.Config
	Kafka kafka.Config
}

// ConfigFromEnv reads the configuration, naming the variable of any bad value.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	base, err := service.BaseFromEnv(getenv)
	if err != nil {
		return Config{}, err
	}
	c := Config{
		Base: base,
		JWT:  auth.ConfigFromEnv(getenv),
	}
	if c.JWT.Secret == "" && c.JWT.JWKSURL == "" {
		return c, auth.ErrNotConfigured
	}
	k, err := kafka.ConfigFromEnv(getenv)
	if err != nil {
		return c, err
	}
	c.Kafka = k
	return c, nil
}

// Run runs audit until ctx ends or SIGINT/SIGTERM arrives: the HTTP API and
// the consumer of task-events and reminders. args[1] may be "migrate" (apply
// the migrations and exit) or "serve" (the default).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	log, done, err := service.Start(ctx, "audit", args, cfg.Base, stdout, Migrations)
	if err != nil || done {
		return err
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
	pub, err := kafka.NewProducer(cfg.Kafka, log)
	if err != nil {
		return err
	}
	defer func() { _ = pub.Close() }()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), database.NewPoolCollector(pool))
	consumer, err := consume.New(pool, Handle, consume.Config{
		Name: Group, Table: ConsumedTable, Types: Types, DeadLetters: pub, Log: log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	store := NewStore(pool)
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           NewServer(Deps{Store: store, Verifier: verifier, Log: log, Registry: reg}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var consumeErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer cancel()
		consumeErr = kafka.Consume(ctx, cfg.Kafka, kafka.Group{Group: Group, Topics: Topics, Process: consumer.Process, Log: log})
	}()
	go func() {
		defer wg.Done()
		prune(ctx, consumer, log)
	}()
	err = web.Serve(ctx, srv, log, cfg.ShutdownGrace)
	cancel()
	wg.Wait()
	return errors.Join(err, consumeErr)
}

// prune deletes old records of consumed events once an hour.
func prune(ctx context.Context, c *consume.Consumer, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := c.Prune(ctx, ConsumedRetention); err != nil {
				log.Warn("prune consumed events", "err", err)
			} else if n > 0 {
				log.Info("pruned consumed events", "count", n)
			}
		}
	}
}
