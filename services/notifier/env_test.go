package notifier_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/outbox"
	"github.com/todo-platform/todo/pkg/pgnotify"
	"github.com/todo-platform/todo/pkg/servicetest"
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
	// As the services run: a role that owns nothing, with their grants.
	pool := dbtest.RuntimePool(t, taskapi.Migrations, notifier.Migrations)
	b := servicetest.StartBroker(t, pool,
		outbox.RelayConfig{Table: taskapi.OutboxTable, Channel: taskapi.OutboxChannel},
		outbox.RelayConfig{Table: notifier.OutboxTable, Channel: notifier.OutboxChannel})
	kcfg, log, pub := b.Config, b.Log, b.Pub

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
	b.Consume(t, kafka.Group{Group: notifier.Group, Topics: notifier.Topics, Process: process})

	store := notifier.NewStore(pool)
	store.Changed = v.firer.Wake
	v.api = httptest.NewServer(notifier.NewServer(notifier.Deps{
		Store: store, Verifier: servicetest.Verifier(t, jwtSecret), Log: log, Registry: reg, AllowPrivateWebhooks: true,
	}))
	t.Cleanup(v.api.Close)
	return v
}

func (v *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	return servicetest.Count(t, v.pool, sql, args...)
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
	return servicetest.Counter(t, v.reg, name)
}

// do calls the API as user ("" sends no token) and returns the status and body.
func (v *env) do(t *testing.T, user, method, path string, body any) (int, []byte) {
	t.Helper()
	return servicetest.Call(t, method, v.api.URL+path, servicetest.Token(t, jwtSecret, user), body)
}

// withServer is v with its API served by another server, made from d over
// v's database: a store on it, the tests' verifier, log and a registry of
// its own unless d names them.
func (v *env) withServer(t *testing.T, d notifier.Deps) *env {
	t.Helper()
	if d.Store == nil {
		d.Store = notifier.NewStore(v.pool)
	}
	d.Verifier = servicetest.Verifier(t, jwtSecret)
	d.Log = kafkatest.Logger(t)
	d.Registry = prometheus.NewRegistry()
	api := httptest.NewServer(notifier.NewServer(d))
	t.Cleanup(api.Close)
	w := *v
	w.api = api
	return &w
}

// config is the configuration the notifier reads with the variable key
// set to value (and what it needs besides).
func config(t *testing.T, key, value string) notifier.Config {
	t.Helper()
	env := map[string]string{"DATABASE_URL": "postgres://unused", "JWT_SECRET": jwtSecret, "KAFKA_BROKERS": "127.0.0.1:1", key: value}
	cfg, err := notifier.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	kafkatest.Eventually(t, wait, what, cond)
}
