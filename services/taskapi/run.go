// Package taskapi is the task service: the REST API users and the other
// services call, owner of the tasks table and of their outbox.
package taskapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/todo-platform/todo/pkg/outbox"
	"github.com/todo-platform/todo/pkg/ratelimit"
	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/pkg/transport"
	webapp "github.com/todo-platform/todo/services/web"
)

// Config is taskapi's configuration, read from the environment.
type Config struct {
	service.Base
	service.API
	InternalToken string // INTERNAL_TOKEN
	// Relay is OUTBOX_RELAY (default true): run the outbox relay in this
	// process. Every replica may run one; an advisory lock lets one publish
	// at a time and another take over when it goes.
	Relay  bool
	Events transport.Config // EVENTS_TRANSPORT and its settings, read when Relay is on
	// RealtimeURL is REALTIME_URL: the realtime socket the web app opens
	// for live updates (default: /ws on the page's host).
	RealtimeURL string
	// OIDCIssuer and OIDCClientID (OIDC_ISSUER, OIDC_CLIENT_ID) are the
	// OpenID provider the web app signs users in with, and the app's public
	// client id there; unset: the app asks for a pasted token.
	OIDCIssuer, OIDCClientID string
}

// ConfigFromEnv reads the configuration, naming the variable of any bad value.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	base, err := service.BaseFromEnv(getenv)
	if err != nil {
		return Config{}, err
	}
	c := Config{
		Base:          base,
		InternalToken: getenv("INTERNAL_TOKEN"),
		RealtimeURL:   getenv("REALTIME_URL"),
		OIDCIssuer:    getenv("OIDC_ISSUER"),
		OIDCClientID:  getenv("OIDC_CLIENT_ID"),
	}
	if c.API, err = service.APIFromEnv(getenv); err != nil {
		return c, err
	}
	if err := ValidateRealtimeURL(c.RealtimeURL); err != nil {
		return c, err
	}
	if c.OIDCIssuer != "" && c.OIDCClientID == "" {
		c.OIDCClientID = "todo-web"
	}
	if _, err := webapp.Handler(siteOptions(c.RealtimeURL, c.OIDCIssuer, c.OIDCClientID)); err != nil {
		return c, fmt.Errorf("OIDC_ISSUER, OIDC_CLIENT_ID: %w", err)
	}
	if c.InternalToken != "" && len(c.InternalToken) < 16 {
		return c, errors.New("INTERNAL_TOKEN must be at least 16 characters long")
	}
	if c.Relay, err = service.EnvBool(getenv, "OUTBOX_RELAY", true); err != nil {
		return c, err
	}
	if c.Relay {
		ev, err := transport.ConfigFromEnv(getenv)
		if err != nil {
			return c, fmt.Errorf("%w (the outbox relay publishes through it; OUTBOX_RELAY=false runs taskapi without one)", err)
		}
		c.Events = ev
	}
	return c, nil
}

// Run runs taskapi until ctx ends or SIGINT/SIGTERM arrives. args[1] may be
// "migrate" (apply the migrations and exit) or "serve" (the default).
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
	spec := service.Spec{Name: "taskapi", Base: cfg.Base, Migrations: Migrations, JWT: &cfg.JWT}
	if cfg.Relay {
		spec.Events = &cfg.Events
	}
	spec.Build = func(_ context.Context, p service.Parts) (http.Handler, []func(context.Context) error, error) {
		h := NewServer(Deps{
			Store: NewStore(p.Pool), Verifier: p.Verifier, InternalToken: cfg.InternalToken, Log: p.Log, Registry: p.Registry,
			Limits: ratelimit.New(cfg.Limits, p.Registry),
			Site:   siteOptions(cfg.RealtimeURL, cfg.OIDCIssuer, cfg.OIDCClientID),
		})
		if p.Bus == nil {
			p.Log.Info("outbox relay off (OUTBOX_RELAY=false): another process must publish the outbox")
			return h, nil, nil
		}
		listen, err := cfg.ListenConfig()
		if err != nil {
			return nil, nil, err
		}
		relay, err := outbox.NewRelay(p.Pool, p.Bus, outbox.RelayConfig{
			Table: OutboxTable, Channel: OutboxChannel, ListenConfig: listen, Log: p.Log.With("component", "relay"), Registerer: p.Registry, Tracer: p.Tracer,
		})
		if err != nil {
			return nil, nil, err
		}
		p.Log.Info("outbox relay on", "transport", p.Bus.Kind())
		return h, []func(context.Context) error{relay.Run}, nil
	}
	return service.Run(ctx, args, stdout, spec)
}
