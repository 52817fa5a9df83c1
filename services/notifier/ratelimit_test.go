package notifier_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/ratelimit"
	"github.com/todo-platform/todo/services/notifier"
)

// TestRateLimits: the notifier's API under the limits its configuration
// reads (RATE_LIMIT_PER_USER=2): a user's third request within the window
// is a 429 problem, another user's is not.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	v := setup(t, options{})
	cfg, err := notifier.ConfigFromEnv(func(k string) string {
		return map[string]string{"DATABASE_URL": "postgres://unused", "JWT_SECRET": jwtSecret, "KAFKA_BROKERS": "127.0.0.1:1", "RATE_LIMIT_PER_USER": "2"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auth.NewVerifier(context.Background(), cfg.JWT)
	if err != nil {
		t.Fatal(err)
	}
	limited := httptest.NewServer(notifier.NewServer(notifier.Deps{
		Store: notifier.NewStore(v.pool), Verifier: verifier, Log: kafkatest.Logger(t), Registry: prometheus.NewRegistry(),
		Limits: ratelimit.New(cfg.Limits, nil),
	}))
	t.Cleanup(limited.Close)
	lv := *v
	lv.api = limited
	for range 2 {
		if status, b := lv.do(t, "alice", http.MethodGet, "/api/v1/notifications", nil); status != http.StatusOK {
			t.Fatalf("within the limit: %d %s", status, b)
		}
	}
	status, b := lv.do(t, "alice", http.MethodGet, "/api/v1/webhooks", nil)
	isProblem(t, status, b, http.StatusTooManyRequests)
	if status, b := lv.do(t, "bob", http.MethodGet, "/api/v1/notifications", nil); status != http.StatusOK {
		t.Fatalf("another user: %d %s", status, b)
	}
}
