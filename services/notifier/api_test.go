package notifier_test

import (
	"net/http"
	"testing"
)

// TestProbesAndAuth: the probes answer without a token; every /api/v1
// endpoint refuses a request without one.
func TestProbesAndAuth(t *testing.T) {
	t.Parallel()
	v := setup(t, options{})
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if status, b := v.do(t, "", http.MethodGet, p, nil); status != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, status, b)
		}
	}
	id := "0190f1a2-0000-7000-8000-000000000001"
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/notifications"},
		{http.MethodPost, "/api/v1/notifications/" + id + "/read"},
		{http.MethodPost, "/api/v1/notifications/" + id + "/snooze"},
		{http.MethodGet, "/api/v1/webhooks"},
		{http.MethodPost, "/api/v1/webhooks"},
		{http.MethodDelete, "/api/v1/webhooks/" + id},
		{http.MethodGet, "/api/v1/notification-settings"},
		{http.MethodPut, "/api/v1/notification-settings"},
	} {
		if status, _ := v.do(t, "", c.method, c.path, nil); status != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", c.method, c.path, status)
		}
	}
}
