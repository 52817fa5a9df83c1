package local

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestFrontRoutesByTheTable: one origin sends each path to the service the
// routing table names, WebSockets included, and nothing else.
func TestFrontRoutesByTheTable(t *testing.T) {
	t.Parallel()
	targets := map[string]string{}
	for _, name := range []string{"taskapi", "notifier", "audit"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s %s", name, r.URL.Path, r.Host)
		}))
		t.Cleanup(srv.Close)
		targets[name] = srv.URL
	}
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil) // same-origin check: the front keeps the Host
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		_ = c.Write(r.Context(), websocket.MessageText, append([]byte("realtime: "), msg...))
	}))
	t.Cleanup(ws.Close)
	targets["realtime"] = ws.URL
	front, err := newFront(targets, map[string]http.Handler{
		"/oidc": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "oidc "+r.URL.Path) }),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)

	for path, want := range map[string]string{
		"/":                                    "taskapi / ",
		"/_next/static/chunks/x.js":            "taskapi /_next/static/chunks/x.js",
		"/api/v1/tasks?status=open":            "taskapi /api/v1/tasks",
		"/api/v1/notifications/1/read":         "notifier /api/v1/notifications/1/read",
		"/api/v1/audit":                        "audit /api/v1/audit",
		"/oidc/.well-known/jwks.json":          "oidc /oidc/.well-known/jwks.json",
		"/internal/v1/tasks/1/occurrences":     "404",
		"/api/v1/tasks/../../../internal/v1/x": "400",
		"/metrics":                             "404",
	} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		switch want {
		case "404", "400":
			if fmt.Sprint(resp.StatusCode) != want || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
				t.Errorf("GET %s = %d %s, want a %s problem", path, resp.StatusCode, b, want)
			}
		default:
			if !strings.HasPrefix(string(b), want) {
				t.Errorf("GET %s = %q, want %q…", path, b, want)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {srv.URL}},
	})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("WebSocket through the front: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "realtime: hi" {
		t.Fatalf("read %q, %v", msg, err)
	}

	if _, err := newFront(map[string]string{"taskapi": "http://x"}, nil); err == nil {
		t.Error("a front without every service's address was made")
	}
}
