package notifier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/outbox"
	"github.com/todo-platform/todo/pkg/pgnotify"
	"github.com/todo-platform/todo/services/notifier"
	"github.com/todo-platform/todo/services/taskapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const (
	wait      = 30 * time.Second // deadline for conditions on this shared, busy machine
	jwtSecret = "notifier-test-secret-0123456789abcdef"
)

// env is the notifier's world: PostgreSQL with taskapi's and the notifier's
// schemas, a Kafka broker, taskapi's store and relay, and a notifier built
// from the same parts as Run: consumer, firing loop, relay, delivery worker
// and HTTP API.
type env struct {
	pool      *pgxpool.Pool
	kcfg      kafka.Config
	pub       *kafka.Producer
	tasks     *taskapi.Store
	reg       *prometheus.Registry
	m         *notifier.Metrics
	firer     *notifier.Firer
	deliverer *notifier.Deliverer
	api       *httptest.Server
}

type options struct {
	grace    time.Duration
	mailer   *notifier.Mailer
	attempts int
	noFirer  bool
	// noDeliverer: the env's delivery worker does not run (the test runs
	// its own).
	noDeliverer bool
	// hostLimits bound the deliveries per webhook host (zero: defaults).
	hostLimits notifier.HostLimits
}

func setup(t *testing.T, o options) *env {
	t.Helper()
	ctx := context.Background()
	// As the services run: a role that owns nothing, with their grants.
	pool := dbtest.RuntimePool(t, taskapi.Migrations, notifier.Migrations)
	_, kcfg := kafkatest.Start(t)
	log := kafkatest.Logger(t)
	pub := kafkatest.Producer(t, kcfg)
	kafkatest.Relay(t, pool, pub, outbox.RelayConfig{Table: taskapi.OutboxTable, Channel: taskapi.OutboxChannel})
	kafkatest.Relay(t, pool, pub, outbox.RelayConfig{Table: notifier.OutboxTable, Channel: notifier.OutboxChannel})

	reg := prometheus.NewRegistry()
	m := notifier.NewMetrics(reg)
	v := &env{pool: pool, kcfg: kcfg, pub: pub, tasks: taskapi.NewStore(pool), reg: reg, m: m}
	v.firer = notifier.NewFirer(pool, notifier.FirerConfig{
		Grace: o.grace, BatchSize: 100, PollInterval: time.Second, Listen: true, Log: log, Metrics: m,
		OutboxNotifier: pgnotify.NewNotifier(pool, notifier.OutboxChannel),
	})
	if !o.noFirer {
		kafkatest.Go(t, v.firer.Run)
	}
	v.deliverer = notifier.NewDeliverer(pool, notifier.DelivererConfig{
		MaxAttempts: o.attempts, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Lease: 5 * time.Second,
		PollInterval: 500 * time.Millisecond, Webhooks: notifier.NewWebhookSender(5*time.Second, true), HostLimits: o.hostLimits, Mailer: o.mailer,
		Log: log, Metrics: m, OutboxNotifier: pgnotify.NewNotifier(pool, notifier.OutboxChannel),
	})
	if !o.noDeliverer {
		kafkatest.Go(t, v.deliverer.Run)
	}
	h := &notifier.Events{Metrics: m, EmailOn: o.mailer != nil}
	c, err := consume.New(pool, h.Handle, consume.Config{
		Name: notifier.Group, Table: notifier.ConsumedTable, Types: notifier.Types, DeadLetters: pub,
		MaxAttempts: 2, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Log: log, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	process := h.Process(c.Process, v.firer.Wake, v.deliverer.Wake)
	kafkatest.Go(t, func(ctx context.Context) error {
		return kafka.Consume(ctx, kcfg, kafka.Group{Group: notifier.Group, Topics: notifier.Topics, Process: process, Log: log})
	})

	verifier, err := auth.NewVerifier(ctx, auth.Config{Secret: jwtSecret})
	if err != nil {
		t.Fatal(err)
	}
	store := notifier.NewStore(pool)
	store.Changed = v.firer.Wake
	v.api = httptest.NewServer(notifier.NewServer(notifier.Deps{
		Store: store, Verifier: verifier, Log: log, Registry: reg, AllowPrivateWebhooks: true,
	}))
	t.Cleanup(v.api.Close)
	return v
}

func (v *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := v.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fired counts reminder.due events written for the reminders of task.
// settled waits until no reminder (of taskIDs; none: of any task) is
// pending whose time has come: the firing loop has dealt with every one.
// A test that checks that something did not fire checks after this, not
// after a fixed sleep: fast, and it fails when a wrong fire is merely slow.
func (v *env) settled(t *testing.T, taskIDs ...string) {
	t.Helper()
	q := `SELECT count(*) FROM notifier.reminders WHERE fire_at <= now()
		AND fired_at IS NULL AND missed_at IS NULL AND canceled_at IS NULL`
	args := []any{}
	if len(taskIDs) > 0 {
		q += ` AND task_id::text = ANY($1)`
		args = append(args, taskIDs)
	}
	eventually(t, "no due reminder left pending", func() bool { return v.count(t, q, args...) == 0 })
}

// deliveriesSettled waits until no delivery is pending: the delivery
// worker has nothing more to send.
func (v *env) deliveriesSettled(t *testing.T) {
	t.Helper()
	eventually(t, "no delivery left pending", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.deliveries WHERE status = 'pending'`) == 0
	})
}

func (v *env) fired(t *testing.T, taskID string) int {
	return v.count(t, `SELECT count(*) FROM notifier.outbox WHERE topic = 'reminders' AND event->>'subject' = $1`, taskID)
}

func (v *env) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := v.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
		}
	}
	return sum
}

// do calls the API as user ("" sends no token) and returns the status and body.
func (v *env) do(t *testing.T, user, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, v.api.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		tok, err := auth.IssueHS256(jwtSecret, user, "", "", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	kafkatest.Eventually(t, wait, what, cond)
}
