// Package audit is the audit service: it appends every task and reminder
// event to an append-only log (schema audit) and lets each user read their
// own part of it.
package audit

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/ratelimit"
	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/pkg/transport"
)

// ConsumedRetention is how long the record of a consumed event is kept: longer
// than the topics keep a message (7 days), after which it cannot come again.
const ConsumedRetention = 8 * 24 * time.Hour

// Config is audit's configuration, read from the environment.
type Config struct {
	service.Base
	service.API
	Events transport.Config
}

// ConfigFromEnv reads the configuration, naming the variable of any bad value.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	base, err := service.BaseFromEnv(getenv)
	if err != nil {
		return Config{}, err
	}
	c := Config{Base: base}
	if c.API, err = service.APIFromEnv(getenv); err != nil {
		return c, err
	}
	if c.Events, err = transport.ConfigFromEnv(getenv); err != nil {
		return c, err
	}
	return c, nil
}

// Run runs audit until ctx ends or SIGINT/SIGTERM arrives: the HTTP API and
// the consumer of task-events and reminders. args[1] may be "migrate" (apply
// the migrations and exit) or "serve" (the default).
//
// Every service's Run has this shape (its configuration, then service.Run
// with the service's own Build), so the lines look alike across services;
// the shared steps are in service.Run, and what is left is what this
// service builds, kept here so that the service reads whole in its package.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	return service.Run(ctx, args, stdout, service.Spec{
		Name: "audit", Base: cfg.Base, Migrations: Migrations, JWT: &cfg.JWT, Events: &cfg.Events,
		Build: func(_ context.Context, p service.Parts) (http.Handler, []func(context.Context) error, error) {
			consumer, err := consume.Start(p.Pool, p.Bus, consume.Spec{
				Config: consume.Config{Name: Group, Table: ConsumedTable, Types: Types, Log: p.Log, Registerer: p.Registry, Tracer: p.Tracer},
				Topics: Topics, Handler: Handle, Retention: ConsumedRetention,
			})
			if err != nil {
				return nil, nil, err
			}
			return NewServer(Deps{Store: NewStore(p.Pool), Verifier: p.Verifier, Log: p.Log, Registry: p.Registry,
				Limits: ratelimit.New(cfg.Limits, p.Registry), Dapr: consumer.Dapr}), consumer.Loops, nil
		},
	})
}
