package recurring

import (
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/service"
)

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
