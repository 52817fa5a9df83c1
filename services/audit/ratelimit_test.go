package audit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/ratelimit"
	"github.com/todo-platform/todo/services/audit"
)

// TestRateLimits: the audit API under the limits its configuration reads
// (RATE_LIMIT_PER_USER=2): a user's third request within the window is a
// 429 with Retry-After, another user's is not.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	u := dbtest.URL(t, audit.Migrations)
	cfg, err := audit.ConfigFromEnv(func(k string) string {
		return map[string]string{"DATABASE_URL": u, "JWT_SECRET": jwtSecret, "KAFKA_BROKERS": "127.0.0.1:1", "RATE_LIMIT_PER_USER": "2"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auth.NewVerifier(context.Background(), cfg.JWT)
	if err != nil {
		t.Fatal(err)
	}
	pool := dbtest.Pool(t, audit.Migrations)
	api := httptest.NewServer(audit.NewServer(audit.Deps{
		Store: audit.NewStore(pool), Verifier: verifier, Log: kafkatest.Logger(t), Registry: prometheus.NewRegistry(),
		Limits: ratelimit.New(cfg.Limits, nil),
	}))
	t.Cleanup(api.Close)
	v := &env{api: api}
	for range 2 {
		if status, b := v.get(t, "alice", ""); status != http.StatusOK {
			t.Fatalf("within the limit: %d %s", status, b)
		}
	}
	if status, b := v.get(t, "alice", ""); status != http.StatusTooManyRequests {
		t.Fatalf("over the limit: %d %s", status, b)
	}
	if status, b := v.get(t, "bob", ""); status != http.StatusOK {
		t.Fatalf("another user: %d %s", status, b)
	}
}
