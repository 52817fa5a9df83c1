package taskapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestServesTheWebApp: taskapi serves the web app at "/", its assets and
// its configuration, with the realtime socket's origin allowed.
func TestServesTheWebApp(t *testing.T) {
	t.Parallel()
	h := NewServer(Deps{Site: siteOptions("ws://127.0.0.1:8084/ws", "", ""), Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	get := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec
	}
	rec := get("/")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "/_next/static/") {
		t.Fatalf("GET / = %d", rec.Code)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' ws://127.0.0.1:8084;") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if rec := get("/app-config.json"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"realtime_url":"ws://127.0.0.1:8084/ws"`) {
		t.Errorf("GET /app-config.json = %d %s", rec.Code, rec.Body)
	}
	if rec := get("/_next/static/nope.js"); rec.Code != http.StatusNotFound {
		t.Errorf("GET a missing asset = %d", rec.Code)
	}
}

func TestValidateRealtimeURL(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"", "ws://127.0.0.1:8084/ws", "wss://todo.example.com/ws"} {
		if err := ValidateRealtimeURL(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://x/ws", "ws:///ws", "wss://u:p@x/ws", "ws://x/ws?token=1", "/ws", "ws://x/ws#a", "ws://x y/ws"} {
		if err := ValidateRealtimeURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
