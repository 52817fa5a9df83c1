package recurring

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/service"
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
	return service.Router(d.Log, d.Registry, service.PingReady(d.Pool.Ping), d.Dapr)
}

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}
