package notifier

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

// Deps are what the notifier server needs.
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
	// AllowPrivateWebhooks lets webhooks target loopback and private
	// addresses (WEBHOOK_ALLOW_PRIVATE; local development and tests).
	AllowPrivateWebhooks bool
	// Dapr, when events come through the Dapr sidecar, is the subscription
	// handler the sidecar calls (transport.Subscribe); mounted at /dapr/.
	Dapr http.Handler
}

// NewServer returns the notifier's whole HTTP API.
func NewServer(d Deps) http.Handler {
	r := service.Router(d.Log, d.Registry, service.PingReady(d.Store.Ping), d.Dapr)
	r.Get(OpenAPIPath, web.Document(openAPI))

	r.Route("/api/v1", func(r chi.Router) {
		r.Use(d.Limits.Authenticated(d.Verifier))
		r.Route("/notifications", func(r chi.Router) {
			r.Get("/", handleList(d.Store))
			r.Post("/{id}/read", handleRead(d.Store))
			r.Post("/{id}/snooze", handleSnooze(d.Store))
		})
		r.Route("/webhooks", func(r chi.Router) {
			r.Post("/", handleAddWebhook(d.Store, d.AllowPrivateWebhooks))
			r.Get("/", handleListWebhooks(d.Store))
			r.Delete("/{id}", handleDeleteWebhook(d.Store))
		})
		r.Get("/deliveries", handleListDeliveries(d.Store))
		r.Get("/notification-settings", handleGetSettings(d.Store))
		r.Put("/notification-settings", handlePutSettings(d.Store))
	})
	return r
}
