package taskapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/services/taskapi"
)

// TestRateLimits runs taskapi as it is deployed (Run, configured by the
// environment) with small limits: a user over RATE_LIMIT_PER_USER gets 429
// with Retry-After and a problem, another user does not; an address whose
// tokens are refused RATE_LIMIT_AUTH_FAILURES times gets 429 even with a
// good token; the internal API and the probes are not limited.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	vars := map[string]string{
		"ADDR": addr, "DATABASE_URL": dbtest.URL(t), "OUTBOX_RELAY": "false", "JWT_SECRET": testSecret,
		"INTERNAL_TOKEN": testInternalToken, "LOG_FORMAT": "text", "LOG_LEVEL": "warn",
		"RATE_LIMIT_PER_USER": "3", "RATE_LIMIT_AUTH_FAILURES": "2",
		"RATE_LIMIT_TRUSTED_PROXIES": "none", // the tests' peer is the client
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- taskapi.Run(ctx, []string{"taskapi"}, func(k string) string { return vars[k] }, io.Discard, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("taskapi: %v", err)
		}
	})
	base := "http://" + addr
	// do answers the status of GET path with the bearer token auth.
	do := func(path, auth string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("taskapi not ready within 30 s")
		}
	}

	alice := token(t, "alice")
	for range 3 {
		if r := do("/api/v1/tasks", alice); r != http.StatusOK {
			t.Fatalf("within the limit: %d", r)
		}
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"/api/v1/tasks", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Status int
		Detail string
	}
	_ = json.NewDecoder(resp.Body).Decode(&p)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(p.Detail, "for this user") {
		t.Fatalf("over the limit: %d, Retry-After %q, %+v", resp.StatusCode, resp.Header.Get("Retry-After"), p)
	}
	if r := do("/api/v1/tasks", token(t, "bob")); r != http.StatusOK {
		t.Fatalf("another user: %d", r)
	}

	for range 2 {
		if r := do("/api/v1/tags", "forged"); r != http.StatusUnauthorized {
			t.Fatalf("a forged token: %d", r)
		}
	}
	if r := do("/api/v1/tags", token(t, "carol")); r != http.StatusTooManyRequests {
		t.Fatalf("after two refused tokens: %d, want 429", r)
	}
	for range 10 {
		if r := do("/readyz", ""); r != http.StatusOK {
			t.Fatalf("readyz: %d", r)
		}
		if r := do("/internal/v1/tasks/00000000-0000-0000-0000-000000000000/occurrences", testInternalToken); r == http.StatusTooManyRequests {
			t.Fatalf("the internal API is limited")
		}
	}
}
