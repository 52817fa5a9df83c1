package taskapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPageRealtimeURL(t *testing.T) {
	t.Parallel()
	get := func(realtime string) (*httptest.ResponseRecorder, string) {
		rec := httptest.NewRecorder()
		newPage(realtime)(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec, rec.Body.String()
	}

	// Behind the platform's Ingress: /ws on the page's own host.
	rec, body := get("")
	if !strings.Contains(body, `<meta name="todo-realtime" content="">`) {
		t.Error("the page names a realtime URL when none is set")
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self';") {
		t.Errorf("CSP %q", csp)
	}

	// make up: the socket is on another port, which the CSP must allow.
	rec, body = get("ws://127.0.0.1:8084/ws")
	if !strings.Contains(body, `<meta name="todo-realtime" content="ws://127.0.0.1:8084/ws">`) {
		t.Error("the page does not name the realtime URL")
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' ws://127.0.0.1:8084;") {
		t.Errorf("CSP %q does not allow the socket's origin", csp)
	}
	// The scripts' hashes still match: the URL is outside them.
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, strings.Split(strings.Split(pageCSP, "script-src")[1], ";")[0]) {
		t.Error("script hashes changed with the realtime URL")
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
	// A URL that is valid but carries markup stays an attribute value.
	rec := httptest.NewRecorder()
	newPage(`ws://x/"><script>alert(1)</script>`)(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if strings.Contains(rec.Body.String(), `"><script>alert`) {
		t.Error("the realtime URL is not escaped in the page")
	}
}
