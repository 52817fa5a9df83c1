package realtime

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/service"
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
	r := service.Router(d.Log, d.Registry, d.Hub.readiness, d.Dapr)
	o := d.Options.withDefaults()
	r.With(o.Limits.PerAddress).Get("/ws", handleWS(d.Hub, d.Verifier, o, d.Hub.m))
	return r
}

// readiness is the service's readiness for service.Router: events flow in
// (the broadcast consumer has read the topics' positions), and it is not
// stopping.
func (h *Hub) readiness(context.Context) error {
	if !h.Ready() {
		return errNotReceiving
	}
	return nil
}

var errNotReceiving = errors.New("not receiving events yet (or stopping)")
