package taskapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/services/taskapi"
)

// TestRateLimits runs taskapi as it is deployed (Run, configured by the
// environment) with small limits: a user over RATE_LIMIT_PER_USER gets 429
// with Retry-After and a problem, another user does not; an address whose
// tokens are refused RATE_LIMIT_AUTH_FAILURES times gets 429 even with a
// good token; the internal API and the probes are not limited.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	addr := servicetest.FreeAddr(t)
	vars := map[string]string{
		"ADDR": addr, "DATABASE_URL": dbtest.URL(t), "OUTBOX_RELAY": "false", "JWT_SECRET": testSecret,
		"INTERNAL_TOKEN": testInternalToken, "LOG_FORMAT": "text", "LOG_LEVEL": "warn",
		"RATE_LIMIT_PER_USER": "3", "RATE_LIMIT_AUTH_FAILURES": "2",
		"RATE_LIMIT_TRUSTED_PROXIES": "none", // the tests' peer is the client
	}
	servicetest.Start(t, taskapi.Run, []string{"taskapi"}, vars, addr, 30*time.Second)
	base := "http://" + addr
	// do answers the status of GET path with the bearer token auth.
	do := func(path, auth string) int {
		t.Helper()
		status, _ := servicetest.Call(t, http.MethodGet, base+path, auth, nil)
		return status
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
