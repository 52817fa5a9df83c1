// Package recurring is the recurring-task service: when a task with a
// recurrence is completed it computes the series' next occurrence (RFC 5545
// RRULE in the task's time zone, pkg/recurrence) and has taskapi create it,
// through taskapi's internal API; it owns no task rows. Its schema recurring
// holds its consumed events and each series' progress (for COUNT).
package recurring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/pkg/transport"
)

// ConsumedRetention is how long the record of a consumed event is kept: longer
// than the topics keep a message (7 days), after which it cannot come again.
const ConsumedRetention = 8 * 24 * time.Hour

// Config is recurring's configuration, read from the environment.
type Config struct {
	service.Base
	TaskAPIURL    string // TASKAPI_URL, e.g. http://taskapi:8080
	InternalToken string // INTERNAL_TOKEN, taskapi's
	Events        transport.Config
	// EventBudget is RECURRING_EVENT_BUDGET (default DefaultEventBudget):
	// how long one event's next occurrence may take to compute before the
	// event is dead-lettered.
	EventBudget time.Duration
}

// ConfigFromEnv reads the configuration, naming the variable of any bad value.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	base, err := service.BaseFromEnv(getenv)
	if err != nil {
		return Config{}, err
	}
	c := Config{
		Base:          base,
		TaskAPIURL:    getenv("TASKAPI_URL"),
		InternalToken: getenv("INTERNAL_TOKEN"),
	}
	if u, err := url.Parse(c.TaskAPIURL); c.TaskAPIURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("TASKAPI_URL=%q: want taskapi's base URL, e.g. http://taskapi:8080", c.TaskAPIURL)
	}
	if len(c.InternalToken) < 16 {
		return c, errors.New("INTERNAL_TOKEN must be set to taskapi's internal token (at least 16 characters)")
	}
	if c.EventBudget, err = service.EnvDuration(getenv, "RECURRING_EVENT_BUDGET", DefaultEventBudget); err != nil {
		return c, err
	}
	if c.Events, err = transport.ConfigFromEnv(getenv); err != nil {
		return c, err
	}
	return c, nil
}

// Run runs recurring until ctx ends or SIGINT/SIGTERM arrives: the consumer
// of task-events and the probes and metrics. args[1] may be "migrate" (apply
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
		Name: "recurring", Base: cfg.Base, Migrations: Migrations, Events: &cfg.Events,
		Build: func(_ context.Context, p service.Parts) (http.Handler, []func(context.Context) error, error) {
			consumer, err := consume.Start(p.Pool, p.Bus, consume.Spec{
				Config: consume.Config{Name: Group, Table: ConsumedTable, Types: Types, Log: p.Log, Registerer: p.Registry, Tracer: p.Tracer},
				Topics: Topics, Prepare: NewPrepare(NewTaskAPI(cfg.TaskAPIURL, cfg.InternalToken, nil), p.Pool, p.Log, cfg.EventBudget), Retention: ConsumedRetention,
			})
			if err != nil {
				return nil, nil, err
			}
			return NewServer(Deps{Pool: p.Pool, Log: p.Log, Registry: p.Registry, Dapr: consumer.Dapr}), consumer.Loops, nil
		},
	})
}
