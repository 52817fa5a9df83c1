package notifier_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/todo-platform/todo/services/notifier"
)

// TestWebhooksPerUserAreLimited: WEBHOOK_MAX_PER_USER bounds a user's
// webhooks; one more is a 409 problem saying the limit, another user is not
// affected, and deleting one makes room.
func TestWebhooksPerUserAreLimited(t *testing.T) {
	t.Parallel()
	v := setup(t, options{noFirer: true})
	store := notifier.NewStore(v.pool)
	store.MaxWebhooks = config(t, "WEBHOOK_MAX_PER_USER", "2").MaxWebhooks
	lv := v.withServer(t, notifier.Deps{Store: store, AllowPrivateWebhooks: true})
	for i := range 2 {
		lv.register(t, "alice", fmt.Sprintf("http://127.0.0.1:9/h%d", i))
	}
	status, b := lv.do(t, "alice", http.MethodPost, "/api/v1/webhooks", map[string]string{"url": "http://127.0.0.1:9/h3"})
	isProblem(t, status, b, http.StatusConflict)
	if !strings.Contains(string(b), "at most 2 webhooks") {
		t.Errorf("the problem does not say the limit: %s", b)
	}
	lv.register(t, "bob", "http://127.0.0.1:9/bob")
	var id string
	if err := v.pool.QueryRow(context.Background(), `SELECT id::text FROM notifier.webhooks WHERE owner_id = 'alice' LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if status, b := lv.do(t, "alice", http.MethodDelete, "/api/v1/webhooks/"+id, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, b)
	}
	lv.register(t, "alice", "http://127.0.0.1:9/h3")
}

// TestDeliveriesPerHostAreLimited: one reminder fanned out to six webhooks
// on one host reaches it one request at a time (concurrency 1) and no
// faster than the rate (2 a second after a burst of 1); every delivery
// still arrives, once, and putting one off costs it no attempt.
func TestDeliveriesPerHostAreLimited(t *testing.T) {
	t.Parallel()
	v := setup(t, options{hostLimits: notifier.HostLimits{Rate: 2, Burst: 1, Concurrency: 1}})
	var (
		mu                  sync.Mutex
		inFlight, most, got int
		first, last         time.Time
	)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		// Long enough for a second request to overlap if one were sent.
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		inFlight--
		got++
		if first.IsZero() {
			first = time.Now()
		}
		last = time.Now()
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(target.Close)
	const hooks = 6
	for i := range hooks {
		v.register(t, "alice", fmt.Sprintf("%s/h%d", target.URL, i))
	}
	apply(t, v, snapshot("0190f1a2-0000-7000-8000-00000000ff01", 1, "call the bank", nil, at(time.Now().Add(200*time.Millisecond))), false)
	eventually(t, "every webhook delivered", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.deliveries WHERE channel = 'webhook' AND status = 'sent'`) == hooks
	})
	mu.Lock()
	defer mu.Unlock()
	if got != hooks {
		t.Errorf("%d requests for %d deliveries", got, hooks)
	}
	if most != 1 {
		t.Errorf("%d requests at once to one host, want 1", most)
	}
	// A burst of 1 and 2 a second: the sixth request starts at least 2.5 s
	// after the first; the bound holds however slow the machine is.
	if span := last.Sub(first); span < 2*time.Second {
		t.Errorf("six requests to one host within %s: faster than 2 a second", span)
	}
	if n := v.count(t, `SELECT count(*) FROM notifier.deliveries WHERE channel = 'webhook' AND attempts <> 1`); n != 0 {
		t.Errorf("%d deliveries used more than one attempt", n)
	}
	if v.metric(t, "notifier_webhook_deliveries_put_off_total") == 0 {
		t.Error("no delivery was put off")
	}
}
