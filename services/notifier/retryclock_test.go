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

// clock is a delivery worker's clock that the test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// TestWebhookDownForTwoMinutes: a webhook target that answers 503 for two
// minutes of the delivery worker's clock, then recovers, gets each reminder
// exactly once, on the first attempt after it recovered; the attempts
// before follow the backoff schedule (each wait within [d/2, d] of the
// exponential delay d, as pkg/backoff jitters it), and nothing is given
// up. The clock is moved a step at a time and the worker's rounds are run
// in between: no real waiting.
func TestWebhookDownForTwoMinutes(t *testing.T) {
	t.Parallel()
	const (
		outage     = 2 * time.Minute
		minBackoff = time.Second
		maxBackoff = 30 * time.Second
		step       = 250 * time.Millisecond
		reminders  = 3
	)
	v := setup(t, options{noDeliverer: true})
	clk := &clock{}
	var recoverAt time.Time // set before the first attempt, read by the hook

	type attempt struct {
		at time.Time
		ok bool
	}
	var mu sync.Mutex
	attempts := map[string][]attempt{} // Webhook-Id -> its attempts, in order
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := clk.Now()
		mu.Lock()
		ok := !now.Before(recoverAt)
		id := r.Header.Get("Webhook-Id")
		attempts[id] = append(attempts[id], attempt{at: now, ok: ok})
		mu.Unlock()
		if !ok {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	v.register(t, "alice", hook.URL)

	for i := range reminders {
		id := fmt.Sprintf("0190f1a2-0000-7000-8000-00000000ff%02d", i)
		apply(t, v, snapshot(id, 1, "t", nil, at(time.Now().Add(200*time.Millisecond))), false)
	}
	eventually(t, "the webhook deliveries queued", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.deliveries WHERE channel = 'webhook'`) == reminders
	})
	var queued time.Time
	if err := v.pool.QueryRow(context.Background(), `SELECT max(next_attempt_at) FROM notifier.deliveries`).Scan(&queued); err != nil {
		t.Fatal(err)
	}
	start := queued.Add(step)
	clk.set(start)
	mu.Lock()
	recoverAt = start.Add(outage)
	mu.Unlock()

	d := notifier.NewDeliverer(v.pool, notifier.DelivererConfig{
		MaxAttempts: 20, MinBackoff: minBackoff, MaxBackoff: maxBackoff, Lease: time.Minute,
		Webhooks:   notifier.NewWebhookSender(5*time.Second, true),
		HostLimits: notifier.HostLimits{Rate: 1000, Burst: 1000, Concurrency: reminders},
		Now:        clk.Now,
	})
	began := time.Now()
	end := recoverAt.Add(2 * maxBackoff)
	for now := start; now.Before(end); now = now.Add(step) {
		clk.set(now)
		if _, err := d.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s of the worker's clock in %s", end.Sub(start), time.Since(began).Round(time.Millisecond))

	if n := v.count(t, `SELECT count(*) FROM notifier.deliveries WHERE status = 'sent'`); n != reminders {
		t.Errorf("%d deliveries sent, want %d", n, reminders)
	}
	if n := v.count(t, `SELECT count(*) FROM notifier.deliveries WHERE status <> 'sent'`); n != 0 {
		t.Errorf("%d deliveries not sent (failed, pending or canceled), want 0", n)
	}
	if n := v.count(t, `SELECT count(*) FROM notifier.outbox WHERE topic = 'reminders.dlq'`); n != 0 {
		t.Errorf("%d dead letters, want 0: nothing was given up", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != reminders {
		t.Fatalf("attempts for %d Webhook-Ids, want %d", len(attempts), reminders)
	}
	for id, as := range attempts {
		var oks int
		for n, a := range as {
			if a.ok {
				oks++
				if n != len(as)-1 {
					t.Errorf("%s: attempt %d succeeded, then %d more", id, n+1, len(as)-1-n)
				}
			}
			if n == 0 {
				if a.at.After(start.Add(step)) {
					t.Errorf("%s: first attempt at +%s, want at once", id, a.at.Sub(start))
				}
				continue
			}
			// The wait after failed attempt n: pkg/backoff's Delay(n),
			// within [d/2, d], seen through the clock's steps.
			d := min(minBackoff<<(n-1), maxBackoff)
			if gap := a.at.Sub(as[n-1].at); gap < d/2 || gap >= d+step {
				t.Errorf("%s: attempt %d came %s after attempt %d, want within [%s, %s]", id, n+1, gap, n, d/2, d)
			}
		}
		offsets := make([]string, len(as))
		for n, a := range as {
			offsets[n] = a.at.Sub(start).Round(time.Millisecond).String()
		}
		t.Logf("%s: attempts at +%s", id, strings.Join(offsets, ", +"))
		last := as[len(as)-1]
		switch {
		case oks != 1:
			t.Errorf("%s: %d successful deliveries, want 1", id, oks)
		case last.at.Before(recoverAt) || last.at.Sub(recoverAt) >= maxBackoff+step:
			t.Errorf("%s: delivered at +%s, want within %s of the recovery at +%s", id, last.at.Sub(start), maxBackoff, outage)
		}
		var dbAttempts int
		if err := v.pool.QueryRow(context.Background(), `SELECT attempts FROM notifier.deliveries WHERE id::text = $1`, id).Scan(&dbAttempts); err != nil {
			t.Fatal(err)
		}
		if dbAttempts != len(as) {
			t.Errorf("%s: %d attempts recorded, the target saw %d", id, dbAttempts, len(as))
		}
	}
}
