package audit

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/ratelimit"
	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/pkg/web"
)

// Deps are what the audit server needs.
//
// Each service's Deps names, field by field, what its server uses
// (NewServer(deps)); the fields it has in common with the other services'
// are written again on purpose, so that no server takes a part it does not
// use and a service's API changes without touching another's.
type Deps struct {
	Store    *Store
	Verifier *auth.Verifier
	Log      *slog.Logger
	// Limits are the request rate limits of the public API (nil: none).
	Limits   *ratelimit.Limiter
	Registry *prometheus.Registry
	// Dapr, when events come through the Dapr sidecar, is the subscription
	// handler the sidecar calls (transport.Subscribe); mounted at /dapr/.
	Dapr http.Handler
}

// NewServer returns audit's whole HTTP API.
func NewServer(d Deps) http.Handler {
	r := service.Router(d.Log, d.Registry, service.PingReady(d.Store.Ping), d.Dapr)
	r.Get(OpenAPIPath, web.Document(openAPI))

	r.Route("/api/v1", func(r chi.Router) {
		r.Use(d.Limits.Authenticated(d.Verifier))
		r.Get("/audit", handleList(d.Store))
	})
	return r
}
