package recurring_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/outbox"
	"github.com/todo-platform/todo/pkg/recurrence"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/recurring"
	"github.com/todo-platform/todo/services/taskapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const internalToken = "recurring-test-internal-token"

// env is recurring's world: PostgreSQL with taskapi's and recurring's
// schemas, the real taskapi server, a broker, taskapi's outbox relay and a
// recurring consumer group member calling taskapi's internal API. Its parts
// are servicetest's; the struct and its setup are recurring's own, as
// audit's are audit's.
type env struct {
	servicetest.Broker
	pool  *pgxpool.Pool
	store *taskapi.Store
	reg   *prometheus.Registry
}

func setup(t *testing.T) *env {
	t.Helper()
	return setupBudget(t, 0)
}

// setupBudget is setup with recurring's per-event budget (0: the default).
func setupBudget(t *testing.T, budget time.Duration) *env {
	t.Helper()
	// As the services run: a role that owns nothing, with their grants.
	url := dbtest.RuntimeURL(t, dbtest.URL(t, taskapi.Migrations, recurring.Migrations), taskapi.Migrations, recurring.Migrations)
	pool, err := database.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	// recurring's own connections, named, so that the taskapi below can see
	// whether recurring holds a transaction open while it calls.
	recurringPool, err := database.Connect(context.Background(), url+"&application_name=recurring-consumer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(recurringPool.Close)
	b := servicetest.StartBroker(t, pool, outbox.RelayConfig{Table: taskapi.OutboxTable, Channel: taskapi.OutboxChannel})
	log := b.Log

	store := taskapi.NewStore(pool)
	server := taskapi.NewServer(taskapi.Deps{
		Store: store, Verifier: servicetest.Verifier(t, "recurring-test-jwt-secret-0123456789"), InternalToken: internalToken, Log: log, Registry: prometheus.NewRegistry(),
	})
	var calls, callsInTx atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/internal/") {
			calls.Add(1)
			var open int
			if err := pool.QueryRow(r.Context(), `SELECT count(*) FROM pg_stat_activity
				WHERE application_name = 'recurring-consumer' AND datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&open); err == nil && open > 0 {
				callsInTx.Add(1)
			}
		}
		server.ServeHTTP(w, r)
	}))
	t.Cleanup(api.Close)
	// Every test: recurring never holds a transaction open across its calls.
	t.Cleanup(func() {
		if n := callsInTx.Load(); n > 0 {
			t.Errorf("%d of %d calls to taskapi made while recurring held a transaction open", n, calls.Load())
		}
	})

	reg := prometheus.NewRegistry()
	c, err := consume.NewPrepared(recurringPool, recurring.NewPrepare(recurring.NewTaskAPI(api.URL, internalToken, api.Client()), recurringPool, log, budget), consume.Config{
		Name: recurring.Group, Table: recurring.ConsumedTable, Types: recurring.Types, DeadLetters: b.Pub,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Log: log, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Consume(t, kafka.Group{Group: recurring.Group, Topics: []string{events.TopicTaskEvents}, Process: c.Process})
	return &env{Broker: b, pool: pool, store: store, reg: reg}
}

func (v *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	return servicetest.Count(t, v.pool, sql, args...)
}

// completionsHandled is how many completion events recurring has handled.
func (v *env) completionsHandled(t *testing.T) int {
	return v.count(t, `SELECT count(*) FROM recurring.consumed_events WHERE event_type = $1`, events.TypeTaskCompleted)
}

// seriesTasks is how many tasks series holds.
func (v *env) seriesTasks(t *testing.T, series string) int {
	return v.count(t, `SELECT count(*) FROM taskapi.tasks WHERE series_id = $1`, series)
}

func (v *env) metric(t *testing.T, name string) float64 {
	t.Helper()
	return servicetest.Counter(t, v.reg, name)
}

func (v *env) create(t *testing.T, owner, rule string, anchor recurrence.Anchor, zone string, due time.Time) *task.Task {
	t.Helper()
	f := task.Fields{Title: "water the plants", Due: &due, TimeZone: zone, Recurrence: &task.Recurrence{Rule: rule, Anchor: anchor}}
	if err := task.Normalize(&f); err != nil {
		t.Fatal(err)
	}
	tk, err := v.store.Create(context.Background(), owner, f)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func (v *env) complete(t *testing.T, tk *task.Task) *task.Task {
	t.Helper()
	done, err := v.store.Complete(context.Background(), tk.Owner, tk.ID, tk.Version)
	if err != nil {
		t.Fatal(err)
	}
	return done
}

// completion is the last completion of task taskID on task-events.
func (v *env) completion(t *testing.T, taskID string) kafkatest.Message {
	t.Helper()
	var completed kafkatest.Message
	for _, m := range v.Messages(t, events.TopicTaskEvents) {
		if strings.Contains(string(m.Value), events.TypeTaskCompleted) && strings.Contains(string(m.Value), taskID) {
			completed = m
		}
	}
	if completed.Value == nil {
		t.Fatalf("no completion of %s on task-events", taskID)
	}
	return completed
}

// handleAgain delivers completed again as if recurring had lost its record
// of it (every consumed event forgotten), and waits until it is handled.
func (v *env) handleAgain(t *testing.T, completed kafkatest.Message) {
	t.Helper()
	if _, err := v.pool.Exec(context.Background(), `DELETE FROM recurring.consumed_events`); err != nil {
		t.Fatal(err)
	}
	v.Redeliver(t, completed)
	servicetest.Eventually(t, "the completion handled again", func() bool { return v.completionsHandled(t) == 1 })
}

// noneCounted checks that each of the counters names is 0: say, that
// recurring retried and dead-lettered no event.
func (v *env) noneCounted(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if got := v.metric(t, name); got != 0 {
			t.Errorf("%s = %v, want 0", name, got)
		}
	}
}

// successor waits for previous's next occurrence and returns it.
func (v *env) successor(t *testing.T, previous *task.Task) *task.Task {
	t.Helper()
	var id string
	servicetest.Eventually(t, "the next occurrence", func() bool {
		return v.pool.QueryRow(context.Background(), `SELECT id::text FROM taskapi.tasks WHERE previous_id = $1`, previous.ID).Scan(&id) == nil
	})
	tk, err := v.store.Get(context.Background(), previous.Owner, id)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func berlin(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestNextOccurrenceAcrossDST: a daily 09:00 Europe/Berlin task completed on
// the day before the clocks go forward gets exactly one next occurrence, at
// 09:00 Berlin time (07:00 UTC instead of 08:00), in the same series.
func TestNextOccurrenceAcrossDST(t *testing.T) {
	t.Parallel()
	v := setup(t)
	first := v.create(t, "alice", "FREQ=DAILY", recurrence.AnchorDue, "Europe/Berlin", berlin(t, "2026-03-28 09:00"))
	v.complete(t, first)
	next := v.successor(t, first)
	want := berlin(t, "2026-03-29 09:00")
	if next.Due == nil || !next.Due.Equal(want) || next.OccurrenceAt == nil || !next.OccurrenceAt.Equal(want) {
		t.Errorf("next occurrence due %v, want %v (09:00 Berlin, %v)", next.Due, want, want.UTC())
	}
	if next.Status != task.StatusOpen || next.SeriesID == nil || *next.SeriesID != first.ID || next.Owner != "alice" || next.Title != first.Title {
		t.Errorf("next occurrence %+v is not an open copy of %s in its series", next, first.ID)
	}
	servicetest.Eventually(t, "the completion handled", func() bool { return v.completionsHandled(t) == 1 })
	if got := v.seriesTasks(t, first.ID); got != 2 {
		t.Errorf("the series holds %d tasks, want 2", got)
	}

	// The next one, completed a day late, still steps by the rule.
	v.complete(t, next)
	third := v.successor(t, next)
	if want := berlin(t, "2026-03-30 09:00"); !third.Due.Equal(want) {
		t.Errorf("third occurrence due %v, want %v", third.Due, want)
	}
}

// TestCompleteReopenCompleteMakesOneSuccessor: completing, reopening and
// completing again leaves one next occurrence, with either anchor.
func TestCompleteReopenCompleteMakesOneSuccessor(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	for i, anchor := range []recurrence.Anchor{recurrence.AnchorDue, recurrence.AnchorCompletion} {
		tk := v.create(t, "alice", "FREQ=DAILY;INTERVAL=3", anchor, "Europe/Berlin", berlin(t, "2026-03-27 09:00"))
		done := v.complete(t, tk)
		v.successor(t, tk)
		again, err := v.store.Reopen(ctx, "alice", tk.ID, done.Version)
		if err != nil {
			t.Fatal(err)
		}
		v.complete(t, again)
		servicetest.Eventually(t, "both completions handled", func() bool { return v.completionsHandled(t) == 2*(i+1) })
		if got := v.seriesTasks(t, tk.ID); got != 2 {
			t.Errorf("anchor %s: the series holds %d tasks after complete, reopen, complete; want 2", anchor, got)
		}
	}
}

// TestRedeliveryMakesOneSuccessor: a completion delivered again is skipped;
// one handled again (its record lost) gets the existing successor from
// taskapi. Either way the series has one next occurrence.
func TestRedeliveryMakesOneSuccessor(t *testing.T) {
	t.Parallel()
	v := setup(t)
	tk := v.create(t, "alice", "FREQ=WEEKLY", recurrence.AnchorDue, "America/New_York", time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC))
	v.complete(t, tk)
	v.successor(t, tk)
	servicetest.Eventually(t, "the completion handled", func() bool { return v.completionsHandled(t) == 1 })

	completed := v.completion(t, tk.ID)
	v.Redeliver(t, completed)
	servicetest.Eventually(t, "the copy skipped", func() bool { return v.metric(t, "consumer_events_duplicate_total") >= 1 })

	v.handleAgain(t, completed)
	if got := v.seriesTasks(t, tk.ID); got != 2 {
		t.Errorf("the series holds %d tasks after redelivery, want 2", got)
	}
	v.noneCounted(t, "consumer_dead_lettered_total")
}

// TestBoundedSeriesEnds: a rule with COUNT=2, or with an UNTIL on the
// second day, makes one more occurrence, on the second day, and then ends
// quietly.
func TestBoundedSeriesEnds(t *testing.T) {
	t.Parallel()
	for _, rule := range []string{"FREQ=DAILY;COUNT=2", "FREQ=DAILY;UNTIL=20260502T090000Z"} {
		t.Run(rule, func(t *testing.T) {
			t.Parallel()
			v := setup(t)
			first := v.create(t, "alice", rule, recurrence.AnchorDue, "UTC", time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
			v.complete(t, first)
			second := v.successor(t, first)
			if want := time.Date(2026, 5, 2, 9, 0, 0, 0, time.UTC); !second.Due.Equal(want) {
				t.Errorf("second occurrence due %v, want %v", second.Due, want)
			}
			v.complete(t, second)
			servicetest.Eventually(t, "both completions handled", func() bool { return v.completionsHandled(t) == 2 })
			if got := v.seriesTasks(t, first.ID); got != 2 {
				t.Errorf("the series holds %d tasks, want 2", got)
			}
			v.noneCounted(t, "consumer_dead_lettered_total")
		})
	}
}

// TestDeletedOrPlainTasksHaveNoSuccessor: the completion of a task without
// recurrence makes nothing, and the completion of a task that was deleted
// since (taskapi answers 404) is handled quietly: no successor, no retry,
// no dead letter.
func TestDeletedOrPlainTasksHaveNoSuccessor(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	plain, err := v.store.Create(ctx, "alice", task.Fields{Title: "once", TimeZone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	v.complete(t, plain)
	servicetest.Eventually(t, "the completion handled", func() bool { return v.completionsHandled(t) == 1 })
	if got := v.count(t, `SELECT count(*) FROM taskapi.tasks WHERE previous_id = $1`, plain.ID); got != 0 {
		t.Errorf("a task without recurrence got %d successors", got)
	}

	tk := v.create(t, "alice", "FREQ=DAILY", recurrence.AnchorDue, "UTC", time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	done := v.complete(t, tk)
	next := v.successor(t, tk)
	servicetest.Eventually(t, "the completion handled", func() bool { return v.completionsHandled(t) == 2 })
	if err := v.store.Delete(ctx, "alice", tk.ID, done.Version); err != nil {
		t.Fatal(err)
	}
	if err := v.store.Delete(ctx, "alice", next.ID, next.Version); err != nil {
		t.Fatal(err)
	}
	// The completion arrives again, its record lost, after the deletion.
	completed := v.completion(t, tk.ID)
	v.handleAgain(t, completed)
	if got := v.seriesTasks(t, tk.ID); got != 0 {
		t.Errorf("the deleted series holds %d tasks, want 0", got)
	}
	v.noneCounted(t, "consumer_retries_total", "consumer_dead_lettered_total")
}

// TestTaskAPIOutcomes: the client maps taskapi's answers to outcomes.
func TestTaskAPIOutcomes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		check  func(error) bool
	}{
		{http.StatusNotFound, func(err error) bool { return errors.Is(err, recurring.ErrTaskGone) }},
		{http.StatusConflict, func(err error) bool { return errors.Is(err, recurring.ErrNotRecurring) }},
		{http.StatusServiceUnavailable, func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "503")
		}},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+internalToken || r.Method != http.MethodPost ||
				r.URL.Path != "/internal/v1/tasks/abc/occurrences" {
				w.WriteHeader(http.StatusTeapot)
				return
			}
			b, _ := io.ReadAll(r.Body)
			if string(b) != `{"occurrence_at":"2026-03-29T07:00:00Z"}` {
				w.WriteHeader(http.StatusTeapot)
				return
			}
			w.WriteHeader(tc.status)
		}))
		_, _, err := recurring.NewTaskAPI(srv.URL+"/", internalToken, srv.Client()).
			CreateOccurrence(context.Background(), "abc", time.Date(2026, 3, 29, 9, 0, 0, 0, time.FixedZone("CEST", 2*3600)))
		srv.Close()
		if !tc.check(err) {
			t.Errorf("taskapi answering %d: %v", tc.status, err)
		}
	}
}

// TestMigrateCommand: `recurring migrate` applies the migrations and exits;
// applying them again changes nothing.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	pool := servicetest.Migrate(t, recurring.Run, "recurring", map[string]string{
		"TASKAPI_URL": "http://127.0.0.1:1", "INTERNAL_TOKEN": internalToken, "KAFKA_BROKERS": "127.0.0.1:1",
	})
	if n := servicetest.Count(t, pool, `SELECT count(*) FROM pg_tables WHERE schemaname = 'recurring' AND tablename IN ('occurrences', 'consumed_events')`); n != 2 {
		t.Errorf("%d of recurring's 2 tables after migrate", n)
	}
}

// TestCompletionAnchor: a task anchored on completion ("3 days after I last
// did it") is next due 3 days after the completion's local date, at the due
// time of day, however overdue it was.
func TestCompletionAnchor(t *testing.T) {
	t.Parallel()
	v := setup(t)
	first := v.create(t, "alice", "FREQ=DAILY;INTERVAL=3", recurrence.AnchorCompletion, "Europe/Berlin", berlin(t, "2026-01-05 09:00"))
	done := v.complete(t, first)
	next := v.successor(t, first)
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	c := done.CompletedAt.In(loc)
	want := time.Date(c.Year(), c.Month(), c.Day()+3, 9, 0, 0, 0, loc)
	if !next.Due.Equal(want) {
		t.Errorf("completed %v, next due %v, want %v", c, next.Due.In(loc), want)
	}
}
