package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/outbox"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/audit"
	"github.com/todo-platform/todo/services/taskapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const jwtSecret = "audit-test-secret-0123456789abcdef"

// env is audit's world: PostgreSQL with taskapi's and audit's schemas,
// a broker, taskapi's outbox relay, an audit consumer group member and the
// audit HTTP API. Its parts are servicetest's; the struct and its setup
// are audit's own, as recurring's and the notifier's are theirs: each
// service's tests build the world that service lives in.
type env struct {
	servicetest.Broker
	pool  *pgxpool.Pool
	store *taskapi.Store
	reg   *prometheus.Registry
	api   *httptest.Server
}

func setup(t *testing.T) *env {
	t.Helper()
	// As the services run: roles that own nothing (taskapi's grants for
	// its outbox relay, audit's for the log).
	pool := dbtest.RuntimePool(t, taskapi.Migrations, audit.Migrations)
	b := servicetest.StartBroker(t, pool, outbox.RelayConfig{Table: taskapi.OutboxTable, Channel: taskapi.OutboxChannel})

	reg := prometheus.NewRegistry()
	c, err := consume.New(pool, audit.Handle, consume.Config{
		Name: audit.Group, Table: audit.ConsumedTable, Types: audit.Types, DeadLetters: b.Pub,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Log: b.Log, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Consume(t, kafka.Group{Group: audit.Group, Topics: audit.Topics, Process: c.Process})

	api := httptest.NewServer(audit.NewServer(audit.Deps{
		Store: audit.NewStore(pool), Verifier: servicetest.Verifier(t, jwtSecret), Log: b.Log, Registry: prometheus.NewRegistry(),
	}))
	t.Cleanup(api.Close)
	return &env{Broker: b, pool: pool, store: taskapi.NewStore(pool), reg: reg, api: api}
}

func (v *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	return servicetest.Count(t, v.pool, sql, args...)
}

// create creates a task of owner's through taskapi's store.
func (v *env) create(t *testing.T, owner, title string) *task.Task {
	t.Helper()
	tk, err := v.store.Create(context.Background(), owner, task.Fields{Title: title})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func (v *env) entries(t *testing.T) int { return v.count(t, `SELECT count(*) FROM audit.entries`) }

func (v *env) outboxEvents(t *testing.T) int {
	return v.count(t, `SELECT count(*) FROM taskapi.outbox`)
}

// entry is an entry as a client reads it: written apart from the server's
// types, so that a change to what the API sends shows here.
type entry struct {
	ID      int64           `json:"id"`
	EventID string          `json:"event_id"`
	Type    string          `json:"type"`
	TaskID  string          `json:"task_id"`
	OwnerID string          `json:"owner_id"`
	Time    time.Time       `json:"time"`
	Event   json.RawMessage `json:"event"`
}

type page struct {
	Items      []entry `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// get calls GET /api/v1/audit?query as user ("" sends no token).
func (v *env) get(t *testing.T, user, query string) (int, []byte) {
	t.Helper()
	return servicetest.Call(t, http.MethodGet, v.api.URL+"/api/v1/audit?"+query, servicetest.Token(t, jwtSecret, user), nil)
}

func (v *env) list(t *testing.T, user, query string) page {
	t.Helper()
	return servicetest.Get[page](t, v.api.URL+"/api/v1/audit?"+query, servicetest.Token(t, jwtSecret, user))
}

// TestTaskEventsAreAudited: tasks written through taskapi's store travel
// outbox → relay → Kafka → audit, and each event is one entry that its owner
// reads back, newest first, per task, by time and page by page.
func TestTaskEventsAreAudited(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	tk := v.create(t, "alice", "file the taxes")
	done, err := v.store.Complete(ctx, "alice", tk.ID, tk.Version)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.store.Reopen(ctx, "alice", tk.ID, done.Version); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		v.create(t, "alice", fmt.Sprintf("other %d", i))
	}
	n := v.outboxEvents(t)
	servicetest.Eventually(t, "every event audited", func() bool { return v.entries(t) >= n })
	if got := v.entries(t); got != n {
		t.Fatalf("%d entries for %d events", got, n)
	}
	if got := v.count(t, `SELECT count(*) FROM taskapi.outbox o JOIN audit.entries e ON e.event_id = o.event_id::text`); got != n {
		t.Errorf("%d of %d events have their entry", got, n)
	}

	p := v.list(t, "alice", "task_id="+tk.ID)
	var types []string
	for _, it := range p.Items {
		if it.TaskID != tk.ID || it.OwnerID != "alice" {
			t.Errorf("entry %+v is not of alice's task %s", it, tk.ID)
		}
		e, err := events.Parse(it.Event)
		if err != nil || e.ID() != it.EventID {
			t.Errorf("entry %s holds no valid copy of its event: %v", it.EventID, err)
		}
		types = append(types, it.Type)
	}
	want := []string{events.TypeTaskReopened, events.TypeTaskCompleted, events.TypeTaskCreated}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Errorf("entries of the task, newest first: %v, want %v", types, want)
	}

	// Pages of 2 walk every entry once.
	seen := servicetest.Pages(t, 2, n+1, func(q string) ([]entry, *string) {
		p := v.list(t, "alice", q)
		return p.Items, p.NextCursor
	}, func(e entry) string { return e.EventID })
	if len(seen) != n {
		t.Errorf("pages held %d entries, want %d", len(seen), n)
	}

	// Time filters: nothing before the first, everything up to now.
	first := v.list(t, "alice", "limit=200").Items
	oldest := first[len(first)-1].Time
	if got := v.list(t, "alice", "until="+oldest.Format(time.RFC3339Nano)).Items; len(got) != 0 {
		t.Errorf("until the oldest entry (exclusive): %d entries, want 0", len(got))
	}
	if got := v.list(t, "alice", "since="+oldest.Format(time.RFC3339Nano)).Items; len(got) != n {
		t.Errorf("since the oldest entry: %d entries, want %d", len(got), n)
	}
	if got := v.list(t, "alice", "since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)).Items; len(got) != 0 {
		t.Errorf("since an hour from now: %d entries, want 0", len(got))
	}
}

// TestRedeliveryAddsNoEntry: an event delivered again (the relay's or the
// broker's at-least-once) adds no second entry, and the log refuses changes.
func TestRedeliveryAddsNoEntry(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	v.create(t, "alice", "once")
	servicetest.Eventually(t, "the event audited", func() bool { return v.entries(t) == 1 })
	msgs := v.Messages(t, events.TopicTaskEvents)
	if len(msgs) != 1 {
		t.Fatalf("%d messages on %s, want 1", len(msgs), events.TopicTaskEvents)
	}
	for range 2 {
		v.Redeliver(t, msgs[0])
	}
	servicetest.Eventually(t, "both copies seen", func() bool { return servicetest.Counter(t, v.reg, "consumer_events_duplicate_total") >= 2 })
	if got := v.entries(t); got != 1 {
		t.Errorf("%d entries after redelivery, want 1", got)
	}
	if _, err := v.pool.Exec(ctx, `UPDATE audit.entries SET owner_id = 'mallory'`); err == nil {
		t.Error("an audit entry was changed")
	}
	if _, err := v.pool.Exec(ctx, `DELETE FROM audit.entries`); err == nil {
		t.Error("an audit entry was deleted")
	}
}

// TestRemindersAreAudited: a reminder event on the reminders topic becomes
// an entry of its owner.
func TestRemindersAreAudited(t *testing.T) {
	t.Parallel()
	v := setup(t)
	e := cloudevents.New()
	e.SetID("reminder-1")
	e.SetSource("/todo/notifier")
	e.SetType(events.TypeReminderDue)
	e.SetSubject("0190f1a2-0000-7000-8000-000000000001")
	e.SetTime(time.Now())
	e.SetExtension(events.PartitionKeyExtension, "alice")
	if err := e.SetData(cloudevents.ApplicationJSON, map[string]string{"channel": "in-app"}); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Pub.Publish(context.Background(), broker.Publication{Topic: events.TopicReminders, Key: "alice", Value: b, EventID: e.ID()}); err != nil {
		t.Fatal(err)
	}
	servicetest.Eventually(t, "the reminder audited", func() bool { return v.entries(t) == 1 })
	p := v.list(t, "alice", "task_id=0190f1a2-0000-7000-8000-000000000001")
	if len(p.Items) != 1 || p.Items[0].Type != events.TypeReminderDue {
		t.Errorf("alice's entries of the task: %+v", p.Items)
	}
}

// TestIsolation: a user reads only their own entries, whatever they ask
// for, and nobody reads any without a valid token.
func TestIsolation(t *testing.T) {
	t.Parallel()
	v := setup(t)
	tk := v.create(t, "alice", "alice's secret")
	v.create(t, "bob", "bob's")
	servicetest.Eventually(t, "every event audited", func() bool { return v.entries(t) == 2 })
	for _, q := range []string{"", "task_id=" + tk.ID, "limit=200"} {
		for _, it := range v.list(t, "bob", q).Items {
			if it.OwnerID != "bob" || bytes.Contains(it.Event, []byte("alice")) {
				t.Errorf("bob reads %+v with ?%s", it, q)
			}
		}
	}
	if got := v.list(t, "bob", "task_id="+tk.ID).Items; len(got) != 0 {
		t.Errorf("bob reads %d entries of alice's task", len(got))
	}
	if got := v.list(t, "alice", "").Items; len(got) != 1 {
		t.Errorf("alice reads %d entries, want 1", len(got))
	}
	if status, _ := v.get(t, "", ""); status != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", status)
	}
	if status, _ := servicetest.Call(t, http.MethodGet, v.api.URL+"/api/v1/audit", "not-a-token", nil); status != http.StatusUnauthorized {
		t.Errorf("with a bad token: %d, want 401", status)
	}
}

// TestBadQueries: every malformed query is a 400 problem naming the field.
func TestBadQueries(t *testing.T) {
	t.Parallel()
	v := setup(t)
	for _, tc := range []struct{ query, field string }{
		{"owner_id=bob", "owner_id"},
		{"task_id=nope", "task_id"},
		{"since=yesterday", "since"},
		{"until=2026-13-01T00:00:00Z", "until"},
		{"since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "until"},
		{"limit=0", "limit"},
		{"limit=201", "limit"},
		{"limit=ten", "limit"},
		{"cursor=%%%", ""},
		{"cursor=@@@", "cursor"},
		{"cursor=eyJ4IjoxfQ", "cursor"},
		{"limit=1&limit=2", "limit"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			status, b := v.get(t, "alice", tc.query)
			if status != http.StatusBadRequest {
				t.Fatalf("?%s: %d %s, want 400", tc.query, status, b)
			}
			var p struct {
				Status int `json:"status"`
				Errors []struct {
					Field string `json:"field"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(b, &p); err != nil || p.Status != 400 || (tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field)) {
				t.Errorf("?%s: problem %s, want one about %s", tc.query, b, tc.field)
			}
		})
	}
}

// TestConsumedTableIsTheRuntimes: audit's migration creates the consumer
// runtime's table exactly as pkg/consume defines it: the same columns,
// types, nullability and indexes as a table made by consume.CreateTable.
func TestConsumedTableIsTheRuntimes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t, audit.Migrations)
	if err := consume.CreateTable(ctx, pool, "reference.consumed_events"); err != nil {
		t.Fatal(err)
	}
	shape := func(schema string) string {
		var s string
		err := pool.QueryRow(ctx, `
SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, ''), ', ' ORDER BY ordinal_position)
  || ' | ' || (SELECT string_agg(replace(indexdef, $1 || '.', ''), ', ' ORDER BY indexname) FROM pg_indexes WHERE schemaname = $1 AND tablename = 'consumed_events')
FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'consumed_events'`, schema).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	got, want := shape("audit"), shape("reference")
	if got != want || !strings.Contains(want, "event_id text NO") {
		t.Errorf("audit.consumed_events:\n got %s\nwant %s", got, want)
	}
}

// TestMigrateCommand: `audit migrate` applies the migrations and exits;
// applying them again changes nothing.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	pool := servicetest.Migrate(t, audit.Run, "audit", map[string]string{"JWT_SECRET": jwtSecret, "KAFKA_BROKERS": "127.0.0.1:1"})
	if n := servicetest.Count(t, pool, `SELECT count(*) FROM pg_tables WHERE schemaname = 'audit' AND tablename IN ('entries', 'consumed_events')`); n != 2 {
		t.Errorf("%d of audit's 2 tables after migrate", n)
	}
}

// TestTheLogCannotBeRewritten: audit runs as a role that owns nothing
// (DATABASE_RUNTIME_ROLE, granted by `audit migrate`): it reads and appends
// entries, and can neither change nor delete them, nor empty the table, nor
// alter it or its triggers. Not even the owner can empty it.
func TestTheLogCannotBeRewritten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := dbtest.URL(t)
	role := dbtest.RuntimeRole(t)
	getenv := func(k string) string {
		return map[string]string{"DATABASE_URL": owner, "DATABASE_RUNTIME_ROLE": role, "JWT_SECRET": jwtSecret, "KAFKA_BROKERS": "127.0.0.1:1"}[k]
	}
	if err := audit.Run(ctx, []string{"audit", "migrate"}, getenv, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	conn := func(u string) *pgxpool.Pool {
		pool, err := database.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return pool
	}
	app := conn(dbtest.RuntimeURL(t, owner)) // no grants here: migrate made them
	if _, err := app.Exec(ctx, `INSERT INTO audit.entries (event_id, event_source, event_type, task_id, owner_id, event_time, event)
		VALUES ('e1', 'test', 'todo.task.created.v1', 't1', 'alice', now(), '{}')`); err != nil {
		t.Fatalf("the runtime role cannot append: %v", err)
	}
	var n int
	if err := app.QueryRow(ctx, `SELECT count(*) FROM audit.entries`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the runtime role reads %d entries (%v), want 1", n, err)
	}
	for _, stmt := range []string{
		`UPDATE audit.entries SET owner_id = 'mallory'`,
		`DELETE FROM audit.entries`,
		`TRUNCATE audit.entries`,
		`ALTER TABLE audit.entries DISABLE TRIGGER entries_append_only`,
		`ALTER TABLE audit.entries DISABLE TRIGGER ALL`,
		`DROP TRIGGER entries_no_truncate ON audit.entries`,
		`ALTER TABLE audit.entries ADD COLUMN note text`,
		`DROP TABLE audit.entries`,
		`CREATE TABLE audit.shadow (x int)`,
	} {
		_, err := app.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" { // insufficient_privilege
			t.Errorf("runtime role: %s: %v, want permission denied", stmt, err)
		}
	}
	// The owner may not empty the log either: a statement trigger refuses
	// TRUNCATE, which fires no row trigger.
	if _, err := conn(owner).Exec(ctx, `TRUNCATE audit.entries`); err == nil || !strings.Contains(err.Error(), "append-only: TRUNCATE") {
		t.Errorf("owner: TRUNCATE: %v, want the append-only refusal", err)
	}
	if err := app.QueryRow(ctx, `SELECT count(*) FROM audit.entries`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d entries left (%v), want 1", n, err)
	}
}
