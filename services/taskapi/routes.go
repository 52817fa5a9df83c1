package taskapi

import (
	"crypto/subtle"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/ratelimit"
	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/pkg/web"
	webapp "github.com/todo-platform/todo/services/web"
)

// Deps are what the taskapi server needs.
type Deps struct {
	Store    *Store
	Verifier *auth.Verifier
	// InternalToken guards /internal/ (the recurring service's calls); empty
	// turns the internal API off.
	InternalToken string
	// Limits are the request rate limits of the public API (nil: none).
	Limits   *ratelimit.Limiter
	Log      *slog.Logger
	Registry *prometheus.Registry
	// Site configures the web app served at "/" (services/web): its
	// realtime socket and OpenID provider.
	Site webapp.Options
}

// NewServer returns taskapi's whole HTTP API.
func NewServer(d Deps) http.Handler {
	r := service.Router(d.Log, d.Registry, service.PingReady(d.Store.Ping), nil)
	r.Get("/api/v1/openapi.json", web.Document(openAPI))
	site := newSite(d.Site)
	r.Get("/", site.ServeHTTP)
	r.Get("/_next/static/*", site.ServeHTTP)
	r.Get(webapp.ConfigPath, site.ServeHTTP)

	r.Route("/api/v1", func(r chi.Router) {
		r.Use(d.Limits.Authenticated(d.Verifier))
		r.Route("/tasks", func(r chi.Router) {
			r.Get("/", handleListTasks(d.Store))
			r.Post("/", handleCreateTask(d.Store))
			r.Route("/{taskID}", func(r chi.Router) {
				r.Get("/", handleGetTask(d.Store))
				r.Patch("/", handlePatchTask(d.Store))
				r.Delete("/", handleDeleteTask(d.Store))
				r.Post("/complete", handleCommand(func(r *http.Request, owner, id string, v int64) (*task.Task, error) {
					return d.Store.Complete(r.Context(), owner, id, v)
				}))
				r.Post("/reopen", handleCommand(func(r *http.Request, owner, id string, v int64) (*task.Task, error) {
					return d.Store.Reopen(r.Context(), owner, id, v)
				}))
			})
		})
		r.Get("/tags", handleListTags(d.Store))
	})

	r.Route("/internal/v1", func(r chi.Router) {
		r.Use(internalAuth(d.InternalToken))
		r.Post("/tasks/{taskID}/occurrences", handleCreateOccurrence(d.Store))
	})
	return r
}

// internalAuth admits calls bearing the internal token.
func internalAuth(token string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if token == "" {
				web.Fail(w, r, http.StatusForbidden, "the internal API is off: INTERNAL_TOKEN is not set")
				return
			}
			got, err := auth.BearerToken(r)
			if err != nil || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="todo-internal"`)
				web.Fail(w, r, http.StatusUnauthorized, "the internal API needs the internal token")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
