package notifier_test

import (
	"net/http"
	"testing"

	"github.com/todo-platform/todo/pkg/ratelimit"
	"github.com/todo-platform/todo/services/notifier"
)

// TestRateLimits: the notifier's API under the limits its configuration
// reads (RATE_LIMIT_PER_USER=2): a user's third request within the window
// is a 429 problem, another user's is not.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	v := setup(t, options{})
	cfg := config(t, "RATE_LIMIT_PER_USER", "2")
	lv := v.withServer(t, notifier.Deps{Limits: ratelimit.New(cfg.Limits, nil)})
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
