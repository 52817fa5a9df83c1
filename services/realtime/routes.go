package realtime

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/web"
)

// Deps are what the realtime server needs.
type Deps struct {
	Hub      *Hub
	Verifier *auth.Verifier
	Options  Options
	Log      *slog.Logger
	Registry *prometheus.Registry
	// Dapr, when events come through the Dapr sidecar, is the subscription
	// handler the sidecar calls (transport.SubscribeAll); mounted at /dapr/.
	Dapr http.Handler
}

// NewServer returns realtime's whole HTTP surface: /ws, the probes, the
// metrics and, with Dapr, the subscription handler.
func NewServer(d Deps) http.Handler {
	r := chi.NewRouter()
	r.Use(web.RequestIDs(d.Log), web.Observe(web.RequestDuration(d.Registry)), web.Recover)
	r.NotFound(web.NotFound)
	r.MethodNotAllowed(web.MethodNotAllowed)

	r.Get("/healthz", handleHealth)
	r.Get("/readyz", handleReady(d.Hub))
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{}))
	if d.Dapr != nil {
		r.Handle("/dapr/*", d.Dapr)
	}
	r.Get("/ws", handleWS(d.Hub, d.Verifier, d.Options.withDefaults(), d.Hub.m))
	return r
}

func handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// handleReady answers 200 once events flow in (the broadcast consumer has
// started) and 503 while starting or stopping.
func handleReady(h *Hub) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.Ready() {
			web.Fail(w, r, http.StatusServiceUnavailable, "not receiving events yet (or stopping)")
			return
		}
		handleHealth(w, r)
	}
}
