package routes

import "testing"

func TestLookup(t *testing.T) {
	t.Parallel()
	table := NewTable(Public)
	for path, want := range map[string]string{
		"/":                                 "taskapi",
		"/app-config.json":                  "taskapi",
		"/_next/static/chunks/a1b2.js":      "taskapi",
		"/api/v1/tasks":                     "taskapi",
		"/api/v1/tasks/0193/complete":       "taskapi",
		"/api/v1/tags":                      "taskapi",
		"/api/v1/openapi.json":              "taskapi",
		"/api/v1/openapi/notifier.json":     "notifier",
		"/api/v1/openapi/audit.json":        "audit",
		"/api/v1/openapi/taskapi.json":      "",
		"/api/v1/notifications/1/read":      "notifier",
		"/api/v1/notification-settings":     "notifier",
		"/api/v1/webhooks":                  "notifier",
		"/api/v1/deliveries":                "notifier",
		"/api/v1/audit":                     "audit",
		"/ws":                               "realtime",
		"/internal/v1/tasks/1/occurrences":  "",
		"/api/v1/tasksx":                    "",
		"/index.html":                       "",
		"/api/v1/notification-settings/x":   "",
		"/metrics":                          "",
		"/api/v1/openapi.json/../internal/": "",
	} {
		r, ok := table.Lookup(path)
		if got := r.Service; got != want || ok != (want != "") {
			t.Errorf("%s routes to %q (%v), want %q", path, got, ok, want)
		}
	}
}

func TestFor(t *testing.T) {
	t.Parallel()
	n := 0
	for _, svc := range []string{"taskapi", "notifier", "audit", "realtime"} {
		n += len(For(svc))
	}
	if n != len(Public) {
		t.Errorf("the services' routes are %d of %d", n, len(Public))
	}
	if len(For("recurring")) != 0 {
		t.Error("recurring has public routes")
	}
}
