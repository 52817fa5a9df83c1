package notifier_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/recurrence"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/notifier"
)

// TestRunServesAndStops: Run serves the probes and the API on ADDR and
// returns nil when its context ends.
func TestRunServesAndStops(t *testing.T) {
	t.Parallel()
	_, kcfg := kafkatest.Start(t)
	addr, metricsAddr := servicetest.FreeAddr(t), servicetest.FreeAddr(t)
	env := map[string]string{
		"DATABASE_URL": dbtest.URL(t), "JWT_SECRET": jwtSecret, "KAFKA_BROKERS": strings.Join(kcfg.Brokers, ","),
		"ADDR": addr, "METRICS_ADDR": metricsAddr, "WEBHOOK_ALLOW_PRIVATE": "true", "REMINDER_GRACE": "1h", "LOG_LEVEL": "warn",
	}
	svc := servicetest.Start(t, notifier.Run, []string{"notifier"}, env, addr, wait)
	if status, _ := servicetest.Call(t, http.MethodGet, "http://"+addr+"/api/v1/notifications", "", nil); status != http.StatusUnauthorized {
		t.Errorf("API without a token: %d", status)
	}
	// The metrics are on METRICS_ADDR, and only there.
	for _, c := range []struct {
		addr string
		want int
	}{{metricsAddr, http.StatusOK}, {addr, http.StatusNotFound}} {
		status, b := servicetest.Call(t, http.MethodGet, "http://"+c.addr+"/metrics", "", nil)
		if status != c.want || (c.want == http.StatusOK && !strings.Contains(string(b), "go_goroutines")) {
			t.Errorf("GET %s/metrics: %d, want %d (with the metrics)", c.addr, status, c.want)
		}
	}
	if err := svc.Stop(); err != nil {
		t.Errorf("Run returned %v", err)
	}
}

// TestConfigErrors: a bad setting stops Run with the variable's name.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ key, value, want string }{
		{"REMINDER_GRACE", "soon", "REMINDER_GRACE"},
		{"REMINDER_BATCH", "0", "REMINDER_BATCH"},
		{"DELIVERY_MAX_ATTEMPTS", "-1", "DELIVERY_MAX_ATTEMPTS"},
		{"WEBHOOK_ALLOW_PRIVATE", "perhaps", "WEBHOOK_ALLOW_PRIVATE"},
		{"SMTP_ADDR", "no-port", "SMTP_ADDR"},
		{"SMTP_STARTTLS", "false", "SMTP_STARTTLS"},
		{"SMTP_CA_FILE", "/nonexistent.pem", "SMTP_CA_FILE"},
	} {
		env := map[string]string{
			"DATABASE_URL": "postgres://127.0.0.1:1/x", "JWT_SECRET": jwtSecret, "KAFKA_BROKERS": "127.0.0.1:1",
			"SMTP_ADDR": "smtp.example.com:587", "SMTP_FROM": "r@example.com", "SMTP_USERNAME": "u", c.key: c.value,
		}
		_, err := notifier.ConfigFromEnv(func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%q: error %v, want one naming %s", c.key, c.value, err, c.want)
		}
	}
}

// TestDeliveryRefusesPrivateAddresses: without WEBHOOK_ALLOW_PRIVATE the
// sender's dialer refuses a loopback target even when registration was
// passed (DNS may change after it).
func TestDeliveryRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	h := newHook(t, 0)
	s := notifier.NewWebhookSender(5*time.Second, false)
	err := s.Send(context.Background(), "d1", h.srv.URL, "secret", []byte(`{}`))
	if !errors.Is(err, notifier.ErrPrivateTarget) {
		t.Errorf("send to %s: %v, want ErrPrivateTarget", h.srv.URL, err)
	}
	if all, _ := h.counts(); all != 0 {
		t.Errorf("%d requests reached the loopback target", all)
	}
	if err := notifier.NewWebhookSender(5*time.Second, true).Send(context.Background(), "d2", h.srv.URL, "secret", []byte(`{}`)); err != nil {
		t.Errorf("allowed: %v", err)
	}
	// Addresses that embed an IPv4 one, or are routed only inside a site,
	// are refused at connect time too, before any packet leaves.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(h.srv.URL, "http://"))
	for _, host := range []string{"::127.0.0.1", "fec0::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2"} {
		target := "http://" + net.JoinHostPort(host, port) + "/"
		if err := s.Send(context.Background(), "d3", target, "secret", []byte(`{}`)); !errors.Is(err, notifier.ErrPrivateTarget) {
			t.Errorf("send to %s: %v, want ErrPrivateTarget", target, err)
		}
	}
}

// TestNextOccurrenceBringsItsReminders: the next occurrence of a recurring
// task (a new task) gets its own reminder, relative to its own due time.
func TestNextOccurrenceBringsItsReminders(t *testing.T) {
	t.Parallel()
	v := setup(t, options{})
	ctx := context.Background()
	due := time.Now().Add(time.Hour).Truncate(time.Second)
	first, err := v.tasks.Create(ctx, "alice", task.Fields{
		Title: "stand-up", Due: &due, TimeZone: "UTC", Reminders: []task.Reminder{{Before: 10 * time.Minute}},
		Recurrence: &task.Recurrence{Rule: "FREQ=DAILY", Anchor: recurrence.AnchorDue},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.tasks.Complete(ctx, "alice", first.ID, 0); err != nil {
		t.Fatal(err)
	}
	nextDue := due.Add(24 * time.Hour)
	next, created, err := v.tasks.CreateOccurrence(ctx, first.ID, nextDue)
	if err != nil || !created {
		t.Fatalf("next occurrence: %v %v", created, err)
	}
	eventually(t, "the occurrence's reminder scheduled", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.reminders WHERE task_id = $1 AND fire_at = $2 AND canceled_at IS NULL`,
			next.ID, nextDue.Add(-10*time.Minute)) == 1
	})
	eventually(t, "the completed one's canceled", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.reminders WHERE task_id = $1 AND canceled_at IS NOT NULL`, first.ID) == 1
	})
	if got := v.count(t, `SELECT count(*) FROM notifier.reminders`); got != 2 {
		t.Errorf("%d reminders, want 2", got)
	}
}

// TestPrune: finished deliveries and deleted tasks go after their
// retention; pending deliveries, live tasks and recent deletions stay.
func TestPrune(t *testing.T) {
	t.Parallel()
	v := setup(t, options{noFirer: true})
	ctx := context.Background()
	live := "0190f1a2-0000-7000-8000-0000000fa001"
	gone := "0190f1a2-0000-7000-8000-0000000fa002"
	recent := "0190f1a2-0000-7000-8000-0000000fa003"
	later := time.Now().Add(time.Hour)
	apply(t, v, snapshot(live, 1, "t", nil, at(later)), false)
	for _, id := range []string{gone, recent} {
		apply(t, v, snapshot(id, 1, "t", nil, at(later)), false)
		apply(t, v, snapshot(id, 1, "t", nil, at(later)), true)
	}
	if _, err := v.pool.Exec(ctx, `UPDATE notifier.tasks SET updated_at = now() - interval '9 days' WHERE task_id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := v.pool.Exec(ctx, `INSERT INTO notifier.deliveries (id, event_id, owner_id, channel, target, event, status, done_at, next_attempt_at) VALUES
		(gen_random_uuid(), 'e1', 'alice', 'email', 'a@x', '{}', 'sent', now() - interval '31 days', now()),
		(gen_random_uuid(), 'e2', 'alice', 'email', 'a@x', '{}', 'failed', now() - interval '1 day', now()),
		(gen_random_uuid(), 'e3', 'alice', 'email', 'a@x', '{}', 'pending', NULL, now() + interval '1 day')`); err != nil {
		t.Fatal(err)
	}
	n, err := notifier.NewStore(v.pool).Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("pruned %d rows, want 3 (a delivery, a reminder, a task)", n)
	}
	if got := v.count(t, `SELECT count(*) FROM notifier.tasks`); got != 2 {
		t.Errorf("%d tasks left, want 2", got)
	}
	if got := v.count(t, `SELECT count(*) FROM notifier.reminders WHERE task_id = $1`, gone); got != 0 {
		t.Errorf("%d reminders of the pruned task left", got)
	}
	if got := v.count(t, `SELECT count(*) FROM notifier.deliveries`); got != 2 {
		t.Errorf("%d deliveries left, want 2", got)
	}
}
