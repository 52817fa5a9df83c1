// Package notifier is the notifier service: it keeps the reminder schedule
// from task-events, fires due reminders as reminder.due events on the
// reminders topic (through its own outbox), and delivers them: to the
// owner's in-app inbox, to their webhooks (signed) and by email (SMTP).
package notifier

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/outbox"
	"github.com/todo-platform/todo/pkg/pgnotify"
	"github.com/todo-platform/todo/pkg/ratelimit"
	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/pkg/transport"
)

// ConsumedRetention is how long the record of a consumed event is kept:
// longer than the topics keep a message (7 days).
const ConsumedRetention = 8 * 24 * time.Hour

// Config is the notifier's configuration, read from the environment.
type Config struct {
	service.Base
	service.API
	Events transport.Config

	Grace        time.Duration // REMINDER_GRACE (24h): older due reminders are missed
	Poll         time.Duration // REMINDER_POLL (10s): longest sleep of the firing loop
	Batch        int           // REMINDER_BATCH (1000): reminders fired per transaction
	AllowPrivate bool          // WEBHOOK_ALLOW_PRIVATE (false)
	MaxWebhooks  int           // WEBHOOK_MAX_PER_USER (10)
	HostLimits   HostLimits    // WEBHOOK_HOST_RATE (5/s), WEBHOOK_HOST_BURST (10), WEBHOOK_HOST_CONCURRENCY (2)
	Timeout      time.Duration // DELIVERY_TIMEOUT (10s): per webhook request
	MaxAttempts  int           // DELIVERY_MAX_ATTEMPTS (8)
	MinBackoff   time.Duration // DELIVERY_MIN_BACKOFF (1s)
	MaxBackoff   time.Duration // DELIVERY_MAX_BACKOFF (10m)
	SMTP         SMTPConfig    // SMTP_*; email is off when SMTP_ADDR is empty
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
	for _, d := range []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{"REMINDER_GRACE", &c.Grace, 24 * time.Hour},
		{"REMINDER_POLL", &c.Poll, 10 * time.Second},
		{"DELIVERY_TIMEOUT", &c.Timeout, 10 * time.Second},
		{"DELIVERY_MIN_BACKOFF", &c.MinBackoff, time.Second},
		{"DELIVERY_MAX_BACKOFF", &c.MaxBackoff, 10 * time.Minute},
	} {
		if *d.dst, err = service.EnvDuration(getenv, d.name, d.def); err != nil {
			return c, err
		}
	}
	if c.Batch, err = service.EnvInt(getenv, "REMINDER_BATCH", 1000, 1); err != nil {
		return c, err
	}
	if c.MaxAttempts, err = service.EnvInt(getenv, "DELIVERY_MAX_ATTEMPTS", 8, 1); err != nil {
		return c, err
	}
	if c.AllowPrivate, err = service.EnvBool(getenv, "WEBHOOK_ALLOW_PRIVATE", false); err != nil {
		return c, err
	}
	if c.MaxWebhooks, err = service.EnvInt(getenv, "WEBHOOK_MAX_PER_USER", MaxWebhooks, 1); err != nil {
		return c, err
	}
	h := HostLimits{}.withDefaults()
	if c.HostLimits.Concurrency, err = service.EnvInt(getenv, "WEBHOOK_HOST_CONCURRENCY", h.Concurrency, 1); err != nil {
		return c, err
	}
	if c.HostLimits.Burst, err = service.EnvInt(getenv, "WEBHOOK_HOST_BURST", h.Burst, 1); err != nil {
		return c, err
	}
	c.HostLimits.Rate = h.Rate
	if v := strings.TrimSpace(getenv("WEBHOOK_HOST_RATE")); v != "" {
		if c.HostLimits.Rate, err = strconv.ParseFloat(v, 64); err != nil || c.HostLimits.Rate <= 0 || c.HostLimits.Rate > 1e6 {
			return c, fmt.Errorf("WEBHOOK_HOST_RATE=%q: want deliveries a second to one host, such as 5 or 0.5", v)
		}
	}
	c.SMTP = SMTPConfig{
		Addr: getenv("SMTP_ADDR"), Username: getenv("SMTP_USERNAME"), Password: getenv("SMTP_PASSWORD"), From: getenv("SMTP_FROM"),
	}
	if c.SMTP.StartTLS, err = service.EnvBool(getenv, "SMTP_STARTTLS", c.SMTP.Username != ""); err != nil {
		return c, err
	}
	if f := getenv("SMTP_CA_FILE"); f != "" {
		pem, err := os.ReadFile(f) //nolint:gosec // the operator names the file
		if err != nil {
			return c, fmt.Errorf("SMTP_CA_FILE=%q: %w", f, err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return c, fmt.Errorf("SMTP_CA_FILE=%q: no PEM certificate in it", f)
		}
		host := c.SMTP.Addr
		if i := strings.LastIndexByte(host, ':'); i >= 0 {
			host = host[:i]
		}
		c.SMTP.TLS = &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12}
	}
	if c.SMTP.Addr != "" {
		if _, err := NewMailer(c.SMTP); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Run runs the notifier until ctx ends or SIGINT/SIGTERM arrives: the HTTP
// API, the consumer of task-events and reminders, the firing loop, the
// outbox relay and the delivery worker. args[1] may be "migrate" (apply the
// migrations and exit) or "serve" (the default).
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
		Name: "notifier", Base: cfg.Base, Migrations: Migrations, JWT: &cfg.JWT, Events: &cfg.Events,
		Build: func(_ context.Context, p service.Parts) (http.Handler, []func(context.Context) error, error) {
			return build(cfg, p)
		},
	})
}

// build makes the notifier from its parts: the relay, the firing loop, the
// delivery worker, the consumer, the pruning and the HTTP API.
func build(cfg Config, p service.Parts) (http.Handler, []func(context.Context) error, error) {
	log, pool, reg := p.Log, p.Pool, p.Registry
	m := NewMetrics(reg)
	outboxNotifier := pgnotify.NewNotifier(pool, OutboxChannel)
	scheduleNotifier := pgnotify.NewNotifier(pool, ScheduleChannel)

	// The relay and the firing loop LISTEN on the direct URL: through a
	// transaction-mode pooler (DATABASE_URL in production) no
	// notification would arrive.
	listen, err := cfg.ListenConfig()
	if err != nil {
		return nil, nil, err
	}
	relay, err := outbox.NewRelay(pool, p.Bus, outbox.RelayConfig{
		Table: OutboxTable, Channel: OutboxChannel, ListenConfig: listen, Log: log.With("component", "relay"), Registerer: reg, Tracer: p.Tracer,
	})
	if err != nil {
		return nil, nil, err
	}
	firer := NewFirer(pool, FirerConfig{
		Grace: cfg.Grace, BatchSize: cfg.Batch, PollInterval: cfg.Poll, Listen: true, ListenConfig: listen,
		Log: log, Metrics: m, OutboxNotifier: outboxNotifier,
	})
	var mailer *Mailer
	if cfg.SMTP.Addr != "" {
		if mailer, err = NewMailer(cfg.SMTP); err != nil {
			return nil, nil, err
		}
	} else {
		log.Info("email is off: SMTP_ADDR is not set")
	}
	deliverer := NewDeliverer(pool, DelivererConfig{
		MaxAttempts: cfg.MaxAttempts, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff,
		Webhooks: NewWebhookSender(cfg.Timeout, cfg.AllowPrivate), HostLimits: cfg.HostLimits, Mailer: mailer,
		Log: log, Metrics: m, OutboxNotifier: outboxNotifier,
	})
	h := &Events{Metrics: m, EmailOn: mailer != nil}
	wakeSchedule := func() { firer.Wake(); scheduleNotifier.Notify() }
	consumer, err := consume.Start(pool, p.Bus, consume.Spec{
		Config: consume.Config{Name: Group, Table: ConsumedTable, Types: Types, Log: log, Registerer: reg, Tracer: p.Tracer},
		Topics: Topics, Handler: h.Handle, Retention: ConsumedRetention,
		Wrap: func(p consume.Process, b consume.ProcessBatch) (consume.Process, consume.ProcessBatch) {
			return h.Process(p, wakeSchedule, deliverer.Wake), h.ProcessBatch(b, wakeSchedule, deliverer.Wake)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	store := NewStore(pool)
	store.Changed = wakeSchedule
	store.MaxWebhooks = cfg.MaxWebhooks
	if cfg.AllowPrivate {
		log.Warn("webhooks may target private and loopback addresses (WEBHOOK_ALLOW_PRIVATE=true)")
	}
	api := NewServer(Deps{
		Store: store, Verifier: p.Verifier, Log: log, Registry: reg, Limits: ratelimit.New(cfg.Limits, reg), AllowPrivateWebhooks: cfg.AllowPrivate, Dapr: consumer.Dapr,
	})
	return api, append(consumer.Loops,
		relay.Run, firer.Run, deliverer.Run,
		func(ctx context.Context) error { return store.PruneEvery(ctx, time.Hour, log) },
	), nil
}
