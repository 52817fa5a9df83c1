package recurring

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/web"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are recurring's schema: its consumed events and series progress.
var Migrations = database.Migrations{Schema: "recurring", FS: mustSub(migrationFiles, "migrations")}

// Deps are what the recurring server needs.
type Deps struct {
	Pool     *pgxpool.Pool
	Log      *slog.Logger
	Registry *prometheus.Registry
	// Dapr, when events come through the Dapr sidecar, is the subscription
	// handler the sidecar calls (transport.Subscribe); mounted at /dapr/.
	Dapr http.Handler
}

// NewServer returns recurring's HTTP surface: probes and metrics.
func NewServer(d Deps) http.Handler {
	r := chi.NewRouter()
	r.Use(web.RequestIDs(d.Log), web.Observe(web.RequestDuration(d.Registry)), web.Recover)
	r.NotFound(web.NotFound)
	r.MethodNotAllowed(web.MethodNotAllowed)

	r.Get("/healthz", handleHealth)
	r.Get("/readyz", handleReady(d.Pool))
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{}))
	if d.Dapr != nil {
		r.Handle("/dapr/*", d.Dapr)
	}
	return r
}

// handleHealth answers liveness: the process serves HTTP.
func handleHealth(w http.ResponseWriter, r *http.Request) {
	web.Encode(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady answers readiness: the database is reachable.
func handleReady(pool *pgxpool.Pool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := pool.Ping(ctx); err != nil {
			web.Logger(r.Context()).Warn("not ready", "err", err)
			web.Fail(w, r, http.StatusServiceUnavailable, "the database is not reachable")
			return
		}
		web.Encode(w, r, http.StatusOK, map[string]string{"status": "ready"})
	}
}

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}
