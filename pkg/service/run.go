package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/tracing"
	"github.com/todo-platform/todo/pkg/transport"
	"github.com/todo-platform/todo/pkg/web"
)

// RunFunc is a service's Run: it runs the service with these arguments,
// environment and output until ctx ends or the process is told to stop.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Main is a service command's main: it runs run with the process's
// arguments, environment and output, and on failure prints the error after
// the command's name and exits with status 1.
func Main(name string, run RunFunc) {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Parts are what Spec.Build makes a service from: the Service (logger,
// pool, registry) and, when the Spec asks for them, the token verifier and
// the event transport.
type Parts struct {
	*Service
	Verifier *auth.Verifier       // nil unless Spec.JWT is set
	Bus      *transport.Transport // nil unless Spec.Events is set
	// Tracer is the service's tracer provider (see pkg/tracing): a no-op
	// one unless OTEL_EXPORTER_OTLP_ENDPOINT is set. Its HTTP spans are
	// made by Run; relays and consumers take it in their configuration.
	Tracer trace.TracerProvider
}

// Spec describes a service with a database for Run.
type Spec struct {
	Name       string
	Base       Base
	Migrations database.Migrations
	JWT        *auth.Config      // verify users' tokens with it (nil: no verifier)
	Events     *transport.Config // open the event transport (nil: none)
	// Build makes the service's HTTP handler and the work that runs beside
	// it (consumer loops, relays, timers) from its parts.
	Build func(ctx context.Context, p Parts) (http.Handler, []func(context.Context) error, error)
}

// Run runs the service s describes until ctx ends or SIGINT/SIGTERM
// arrives: the command in args[1] and the migrations (see Open), the
// verifier and the transport, then s.Build's handler on s.Base.Addr beside
// its background work and /metrics on s.Base.MetricsAddr (see Serve). It
// closes what it opened on the way out.
func Run(ctx context.Context, args []string, stdout io.Writer, s Spec) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	svc, done, err := Open(ctx, s.Name, args, s.Base, stdout, s.Migrations)
	if err != nil || done {
		return err
	}
	defer svc.Pool.Close()
	tp, err := StartTracing(ctx, s.Base.Server, s.Name, svc.Log)
	if err != nil {
		return err
	}
	defer func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) }() // StartTracing's provider logs a failure
	p := Parts{Service: svc, Tracer: tp}
	if s.JWT != nil {
		if p.Verifier, err = auth.NewVerifier(ctx, *s.JWT); err != nil {
			return err
		}
	}
	if s.Events != nil {
		if p.Bus, err = transport.Open(*s.Events, svc.Log); err != nil {
			return err
		}
		defer func() { _ = p.Bus.Close() }()
	}
	h, background, err := s.Build(ctx, p)
	if err != nil {
		return err
	}
	background = append(background, Metrics(s.Base.MetricsAddr, svc.Registry, svc.Log))
	return Serve(ctx, web.NewHTTPServer(s.Base.Addr, tracing.HTTP(tp, s.Name, h), svc.Log), svc.Log, s.Base.ShutdownGrace, background...)
}

// StartTracing returns the tracer provider of the service name (see
// pkg/tracing) and logs whether traces are exported. Its Shutdown exports
// what is left, within 5 s.
func StartTracing(ctx context.Context, srv Server, name string, log *slog.Logger) (*tracing.Provider, error) {
	tp, err := tracing.New(ctx, srv.Tracing, name)
	if err != nil {
		return nil, err
	}
	if srv.Tracing.On() {
		log.Info("exporting traces", "endpoint", srv.Tracing.Endpoint, "protocol", srv.Tracing.Protocol)
		shutdown := tp.Shutdown
		tp.Shutdown = func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			err := shutdown(ctx)
			if err != nil {
				log.Warn("exporting the last traces failed", "err", err)
			}
			return err
		}
	}
	return tp, nil
}

// stopped reports whether err is only the end of ctx: what a background
// loop returns when Serve stops it.
func stopped(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Canceled)
}
