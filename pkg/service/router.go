package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/todo-platform/todo/pkg/tracing"
	"github.com/todo-platform/todo/pkg/web"
)

// ErrDatabaseUnreachable is the readiness failure of a service whose
// database does not answer.
var ErrDatabaseUnreachable = errors.New("the database is not reachable")

// Router returns the router every service starts from: request ids, request
// logging and metrics (into reg), panic recovery and problem+json 404/405,
// then
//
//   - GET /healthz: liveness, the process serves HTTP;
//   - GET /readyz: readiness, 200 when ready returns nil within 2 s, else
//     503 with ready's error as the detail;
//   - /dapr/*: dapr, the Dapr subscription handler the sidecar calls, when
//     events come through the sidecar (nil: none).
//
// The service adds its own routes to it.
func Router(log *slog.Logger, reg *prometheus.Registry, ready func(context.Context) error, dapr http.Handler) chi.Router {
	r := chi.NewRouter()
	r.Use(tracing.NameRoute, web.RequestIDs(log), web.Observe(web.RequestDuration(reg)), web.Recover)
	r.NotFound(web.NotFound)
	r.MethodNotAllowed(web.MethodNotAllowed)

	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		web.Encode(w, r, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			web.Logger(r.Context()).Warn("not ready", "err", err, "cause", errors.Unwrap(err))
			web.Fail(w, r, http.StatusServiceUnavailable, err.Error())
			return
		}
		web.Encode(w, r, http.StatusOK, map[string]string{"status": "ready"})
	})
	if dapr != nil {
		r.Handle("/dapr/*", dapr)
	}
	return r
}

// PingReady is a readiness check for Router: ping reaches the database. Its
// failure says ErrDatabaseUnreachable to the caller; the cause is logged.
func PingReady(ping func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := ping(ctx); err != nil {
			return notReady{ErrDatabaseUnreachable, err}
		}
		return nil
	}
}

// notReady is a readiness failure: what the probe's caller reads, and the
// cause, for the log only.
type notReady struct{ public, cause error }

func (e notReady) Error() string        { return e.public.Error() }
func (e notReady) Unwrap() error        { return e.cause }
func (e notReady) Is(target error) bool { return target == e.public }

// Metrics serves reg at GET /metrics on addr (METRICS_ADDR) until ctx ends:
// a background of Serve. The metrics listen apart from the API, so that the
// Ingress and the Services in front of the API never expose them.
func Metrics(addr string, reg *prometheus.Registry, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := web.NewHTTPServer(addr, mux, log.With("server", "metrics"))
		if err := web.Serve(ctx, srv, log.With("server", "metrics"), 5*time.Second); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		return nil
	}
}
