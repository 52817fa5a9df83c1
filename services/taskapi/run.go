// Package taskapi is the task service: the REST API users and the other
// services call, owner of the tasks table and of their outbox.
package taskapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/outbox"
	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/pkg/transport"
	"github.com/todo-platform/todo/pkg/web"
	webapp "github.com/todo-platform/todo/services/web"
)

// Config is taskapi's configuration, read from the environment.
type Config struct {
	service.Base
	JWT           auth.Config
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
		JWT:           auth.ConfigFromEnv(getenv),
		InternalToken: getenv("INTERNAL_TOKEN"),
		RealtimeURL:   getenv("REALTIME_URL"),
		OIDCIssuer:    getenv("OIDC_ISSUER"),
		OIDCClientID:  getenv("OIDC_CLIENT_ID"),
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
	if c.JWT.Secret == "" && c.JWT.JWKSURL == "" {
		return c, auth.ErrNotConfigured
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
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	svc, done, err := service.Open(ctx, "taskapi", args, cfg.Base, stdout, Migrations)
	if err != nil || done {
		return err
	}
	defer svc.Pool.Close()
	log, pool, reg := svc.Log, svc.Pool, svc.Registry
	verifier, err := auth.NewVerifier(ctx, cfg.JWT)
	if err != nil {
		return err
	}

	srv := web.NewHTTPServer(cfg.Addr, NewServer(Deps{
		Store: NewStore(pool), Verifier: verifier, InternalToken: cfg.InternalToken, Log: log, Registry: reg,
		Site: siteOptions(cfg.RealtimeURL, cfg.OIDCIssuer, cfg.OIDCClientID),
	}), log)
	if !cfg.Relay {
		log.Info("outbox relay off (OUTBOX_RELAY=false): another process must publish the outbox")
		return web.Serve(ctx, srv, log, cfg.ShutdownGrace)
	}
	bus, err := transport.Open(cfg.Events, log.With("component", "relay"))
	if err != nil {
		return err
	}
	defer func() { _ = bus.Close() }()
	listen, err := cfg.ListenConfig()
	if err != nil {
		return err
	}
	relay, err := outbox.NewRelay(pool, bus, outbox.RelayConfig{
		Table: OutboxTable, Channel: OutboxChannel, ListenConfig: listen, Log: log.With("component", "relay"), Registerer: reg,
	})
	if err != nil {
		return err
	}
	log.Info("outbox relay on", "transport", bus.Kind())
	return service.Serve(ctx, srv, log, cfg.ShutdownGrace, relay.Run)
}
