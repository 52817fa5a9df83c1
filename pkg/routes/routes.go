// Package routes is the platform's public routing table: which service
// answers which path on the platform's one origin. The web app, the APIs
// and the realtime socket share that origin, so the app needs no CORS.
// The Ingress (infra/apps) and the local runner's front (services/local)
// are both made from this table, so `make up` has the shape of production.
package routes

import (
	"sort"
	"strings"
)

// Match is how a route's path matches a request's, as in a Kubernetes
// Ingress: Exact, or Prefix by whole path elements ("/api/v1/tasks"
// matches "/api/v1/tasks" and "/api/v1/tasks/1", not "/api/v1/tasksx").
type Match string

// The kinds of Match.
const (
	Exact  Match = "Exact"
	Prefix Match = "Prefix"
)

// Route sends the requests whose path matches Path to Service.
type Route struct {
	Path    string
	Match   Match
	Service string
}

// Public is the table. "/" is Exact: a Prefix "/" would send every path,
// taskapi's /internal/ too, to taskapi.
var Public = []Route{
	// The web app (services/web, served by taskapi).
	{"/", Exact, "taskapi"},
	{"/_next/static", Prefix, "taskapi"},
	{"/app-config.json", Exact, "taskapi"},
	// The APIs.
	{"/api/v1/tasks", Prefix, "taskapi"},
	{"/api/v1/tags", Prefix, "taskapi"},
	{"/api/v1/openapi.json", Exact, "taskapi"},
	{"/api/v1/openapi/notifier.json", Exact, "notifier"},
	{"/api/v1/openapi/audit.json", Exact, "audit"},
	{"/api/v1/notifications", Prefix, "notifier"},
	{"/api/v1/notification-settings", Exact, "notifier"},
	{"/api/v1/webhooks", Prefix, "notifier"},
	{"/api/v1/deliveries", Exact, "notifier"},
	{"/api/v1/audit", Prefix, "audit"},
	// Live updates (WebSocket).
	{"/ws", Prefix, "realtime"},
}

// For returns the routes of service, in table order.
func For(service string) []Route {
	var out []Route
	for _, r := range Public {
		if r.Service == service {
			out = append(out, r)
		}
	}
	return out
}

// Matches says whether the request path p matches r.
func (r Route) Matches(p string) bool {
	if r.Match == Exact {
		return p == r.Path
	}
	prefix := strings.TrimSuffix(r.Path, "/")
	return prefix == "" || p == prefix || strings.HasPrefix(p, prefix+"/")
}

// Table finds the route of a path as an Ingress does: an Exact route
// first, then the longest matching Prefix.
type Table struct {
	exact  map[string]Route
	prefix []Route // longest first
}

// NewTable makes the lookup table of rs.
func NewTable(rs []Route) *Table {
	t := &Table{exact: map[string]Route{}}
	for _, r := range rs {
		if r.Match == Exact {
			t.exact[r.Path] = r
		} else {
			t.prefix = append(t.prefix, r)
		}
	}
	sort.SliceStable(t.prefix, func(i, j int) bool {
		return len(strings.TrimSuffix(t.prefix[i].Path, "/")) > len(strings.TrimSuffix(t.prefix[j].Path, "/"))
	})
	return t
}

// Lookup returns the route of path p, if any.
func (t *Table) Lookup(p string) (Route, bool) {
	if r, ok := t.exact[p]; ok {
		return r, true
	}
	for _, r := range t.prefix {
		if r.Matches(p) {
			return r, true
		}
	}
	return Route{}, false
}
