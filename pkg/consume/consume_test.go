package consume_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/metrics/metricstest"
	"github.com/todo-platform/todo/pkg/outbox"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/taskapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const wait = 60 * time.Second // deadline for conditions on this shared, busy machine

var taskTypes = []string{events.TypeTaskCreated, events.TypeTaskUpdated, events.TypeTaskCompleted, events.TypeTaskReopened, events.TypeTaskDeleted}

// env is a consuming service's world: PostgreSQL with taskapi's schema (the
// producer) and a "svc" schema (the consumer's), a broker, and taskapi's
// outbox relay publishing to it.
type env struct {
	pool  *pgxpool.Pool
	kcfg  kafka.Config
	store *taskapi.Store
	pub   *kafka.Producer
}

// svcMigrations are the consuming service's migrations: its table of
// consumed events (consume.TableSQL, as a service copies it) and the table
// its handler writes, the effect the tests count.
var svcMigrations = database.Migrations{Schema: "svc", FS: fstest.MapFS{
	"001_consumed_events.sql": {Data: []byte(consume.TableSQL)},
	"002_effects.sql": {Data: []byte(`CREATE TABLE effects (
		seq bigserial PRIMARY KEY, event_id text NOT NULL, owner text NOT NULL, type text NOT NULL, member text NOT NULL)`)},
}}

func setup(t *testing.T) *env {
	t.Helper()
	pool := dbtest.Pool(t, taskapi.Migrations, svcMigrations)
	_, kcfg := kafkatest.Start(t)
	pub := kafkatest.Producer(t, kcfg)
	kafkatest.Relay(t, pool, pub, outbox.RelayConfig{Table: taskapi.OutboxTable, Channel: taskapi.OutboxChannel})
	return &env{pool: pool, kcfg: kcfg, store: taskapi.NewStore(pool), pub: pub}
}

// recordEffect is a handler that writes one effect row per event, as member.
func recordEffect(member string) consume.Handler {
	return func(ctx context.Context, tx pgx.Tx, e events.Event) error {
		s, err := events.TaskData(e)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO svc.effects (event_id, owner, type, member) VALUES ($1, $2, $3, $4)`, e.ID(), s.OwnerID, e.Type(), member)
		return err
	}
}

func (v *env) consumer(t *testing.T, h consume.Handler, edit func(*consume.Config)) (*consume.Consumer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := consume.Config{
		Name: "svc", Table: "svc.consumed_events", Types: taskTypes, DeadLetters: v.pub,
		MaxAttempts: 3, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Log: kafkatest.Logger(t), Registerer: reg,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := consume.New(v.pool, h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

// member runs a member of consumer group "svc" that processes with process.
func (v *env) member(t *testing.T, process func(context.Context, broker.Delivery) error, onAssign func(map[string][]int32)) (stop func()) {
	t.Helper()
	log := kafkatest.Logger(t)
	return kafkatest.Go(t, func(ctx context.Context) error {
		return kafka.Consume(ctx, v.kcfg, kafka.Group{
			Group: "svc", Topics: []string{events.TopicTaskEvents}, Process: process, Log: log, OnAssign: onAssign,
		})
	})
}

func (v *env) createTasks(t *testing.T, owner string, n int) {
	t.Helper()
	for i := range n {
		if _, err := v.store.Create(context.Background(), owner, task.Fields{Title: fmt.Sprintf("%s %d", owner, i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func (v *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	return dbtest.Count(t, v.pool, sql, args...)
}

func (v *env) events(t *testing.T) int { return v.count(t, `SELECT count(*) FROM taskapi.outbox`) }

func (v *env) effects(t *testing.T) int { return v.count(t, `SELECT count(*) FROM svc.effects`) }

// checkEffects checks that every event in the outbox had its effect exactly
// once, each owner's in the order the outbox holds them.
func (v *env) checkEffects(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	rows, err := v.pool.Query(ctx, `
		SELECT o.event_id::text, o.partition_key, count(e.seq), coalesce(min(e.seq), 0)
		FROM taskapi.outbox o LEFT JOIN svc.effects e ON e.event_id = o.event_id::text
		GROUP BY o.id ORDER BY o.id`)
	if err != nil {
		t.Fatal(err)
	}
	var id, owner string
	var n, seq int64
	last := map[string]int64{}
	if _, err := pgx.ForEachRow(rows, []any{&id, &owner, &n, &seq}, func() error {
		if n != 1 {
			t.Errorf("event %s had its effect %d times", id, n)
		}
		if seq < last[owner] {
			t.Errorf("event %s of %s handled out of order", id, owner)
		}
		last[owner] = seq
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestEndToEnd: tasks written through taskapi's store travel outbox →
// relay → Kafka → consumer group → handler, and each has its effect exactly
// once, each owner's in order.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	v := setup(t)
	c, reg := v.consumer(t, recordEffect("m1"), nil)
	v.member(t, c.Process, nil)

	var wg sync.WaitGroup
	for u := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := "user-" + strconv.Itoa(u)
			v.createTasks(t, owner, 8)
			tk, err := v.store.Create(context.Background(), owner, task.Fields{Title: "done soon"})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := v.store.Complete(context.Background(), owner, tk.ID, tk.Version); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n := v.events(t)
	kafkatest.Eventually(t, wait, "every event handled", func() bool { return v.effects(t) >= n })
	v.checkEffects(t)
	if got := metricstest.Sum(t, reg, "consumer_events_handled_total"); got != float64(n) {
		t.Errorf("consumer_events_handled_total = %v, want %d", got, n)
	}
	if got := metricstest.Sum(t, reg, "consumer_handler_duration_seconds"); got != float64(n) {
		t.Errorf("%v handler durations observed, want %d", got, n)
	}
	if got := v.count(t, `SELECT count(*) FROM svc.consumed_events WHERE consumer = 'svc' AND topic = 'task-events'`); got != n {
		t.Errorf("%d consumed events recorded, want %d", got, n)
	}
}

// assignments keeps the latest partitions each member was given.
type assignments struct {
	mu     sync.Mutex
	latest map[string][]int32
}

func (a *assignments) record(member string) func(map[string][]int32) {
	return func(claims map[string][]int32) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.latest[member] = slices.Clone(claims[events.TopicTaskEvents])
	}
}

func (a *assignments) get(member string) []int32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.latest[member]
}

// TestRebalanceTwoMembers: a second member joining the group gets part of
// the partitions and handles events; when the first leaves, the second takes
// all of them; every event has its effect exactly once throughout.
func TestRebalanceTwoMembers(t *testing.T) {
	t.Parallel()
	v := setup(t)
	as := &assignments{latest: map[string][]int32{}}
	c1, _ := v.consumer(t, recordEffect("m1"), nil)
	c2, _ := v.consumer(t, recordEffect("m2"), nil)

	stop1 := v.member(t, c1.Process, as.record("m1"))
	kafkatest.Eventually(t, wait, "m1 owns every partition", func() bool { return len(as.get("m1")) == kafkatest.Partitions })
	for u := range 6 {
		v.createTasks(t, "early-"+strconv.Itoa(u), 3)
	}

	v.member(t, c2.Process, as.record("m2"))
	kafkatest.Eventually(t, wait, "both members own partitions", func() bool {
		a, b := as.get("m1"), as.get("m2")
		return len(a) > 0 && len(b) > 0 && len(a)+len(b) == kafkatest.Partitions
	})
	t.Logf("m1 owns %v, m2 owns %v", as.get("m1"), as.get("m2"))
	for u := range 16 {
		v.createTasks(t, "later-"+strconv.Itoa(u), 2)
	}
	n := v.events(t)
	kafkatest.Eventually(t, wait, "every event handled", func() bool { return v.effects(t) >= n })
	for _, m := range []string{"m1", "m2"} {
		if v.count(t, `SELECT count(*) FROM svc.effects WHERE member = $1 AND owner LIKE 'later-%'`, m) == 0 {
			t.Errorf("%s handled no event after the rebalance", m)
		}
	}

	stop1()
	kafkatest.Eventually(t, wait, "m2 owns every partition", func() bool { return len(as.get("m2")) == kafkatest.Partitions })
	for u := range 6 {
		v.createTasks(t, "last-"+strconv.Itoa(u), 2)
	}
	n = v.events(t)
	kafkatest.Eventually(t, wait, "every event handled", func() bool { return v.effects(t) >= n })
	v.checkEffects(t)
}

// TestHandlerRollbackIsRetried: a handler whose transaction fails after
// writing its effect is retried; the effect exists once.
func TestHandlerRollbackIsRetried(t *testing.T) {
	t.Parallel()
	v := setup(t)
	var failed atomic.Int32
	h := func(ctx context.Context, tx pgx.Tx, e events.Event) error {
		if err := recordEffect("m1")(ctx, tx, e); err != nil {
			return err
		}
		if failed.Add(1) <= 2 {
			return errors.New("crash after the effect, before the commit")
		}
		return nil
	}
	c, reg := v.consumer(t, h, nil)
	v.member(t, c.Process, nil)
	v.createTasks(t, "alice", 3)
	kafkatest.Eventually(t, wait, "every event handled", func() bool {
		return metricstest.Sum(t, reg, "consumer_events_handled_total") == 3
	})
	v.checkEffects(t)
	if got := metricstest.Sum(t, reg, "consumer_retries_total"); got != 2 {
		t.Errorf("consumer_retries_total = %v, want 2", got)
	}
	if got := metricstest.Sum(t, reg, "consumer_dead_lettered_total"); got != 0 {
		t.Errorf("consumer_dead_lettered_total = %v, want 0", got)
	}
}

// TestRedeliveryAfterCrashBeforeMark: a member that dies after the effect
// committed but before it marked the message leaves the message to be
// delivered again; the next member skips it as a duplicate.
func TestRedeliveryAfterCrashBeforeMark(t *testing.T) {
	t.Parallel()
	v := setup(t)
	c, reg := v.consumer(t, recordEffect("m1"), nil)
	v.createTasks(t, "alice", 5)
	victim := v.count(t, `SELECT min(id) + 2 FROM taskapi.outbox`) // alice's third event

	var victimID string
	if err := v.pool.QueryRow(context.Background(), `SELECT event_id::text FROM taskapi.outbox WHERE id = $1`, victim).Scan(&victimID); err != nil {
		t.Fatal(err)
	}
	var stop1 func()
	crashed := make(chan struct{})
	var once sync.Once
	stop1 = v.member(t, func(ctx context.Context, d broker.Delivery) error {
		if err := c.Process(ctx, d); err != nil {
			return err
		}
		if e, _ := events.Parse(d.Value); e.ID() == victimID {
			once.Do(func() { close(crashed) })
			<-ctx.Done() // dead: never marks it
			return ctx.Err()
		}
		return nil
	}, nil)
	select {
	case <-crashed:
	case <-time.After(wait):
		t.Fatal("the victim event was never handled")
	}
	stop1()
	if got := v.effects(t); got != 3 {
		t.Fatalf("%d effects before the crash, want 3", got)
	}

	v.member(t, c.Process, nil)
	kafkatest.Eventually(t, wait, "the rest handled", func() bool { return v.effects(t) == 5 })
	kafkatest.Eventually(t, wait, "the redelivered event skipped", func() bool {
		return metricstest.Sum(t, reg, "consumer_events_duplicate_total") >= 1
	})
	v.checkEffects(t)
}

// TestPoisonMessagesGoToTheDeadLetterTopic: messages that are not JSON, not
// CloudEvents, or of a type or version the consumer does not know go to
// task-events.dlq with the reason and error; the valid events after them on
// the same partition are handled.
func TestPoisonMessagesGoToTheDeadLetterTopic(t *testing.T) {
	t.Parallel()
	v := setup(t)
	c, reg := v.consumer(t, recordEffect("m1"), nil)
	v.member(t, c.Process, nil)
	ctx := context.Background()

	snap := task.Snapshot{ID: "01900000-0000-7000-8000-000000000001", OwnerID: "alice", Title: "x"}
	unknownType, _ := events.NewTaskEvent(taskapi.EventSource, "todo.task.archived.v1", snap, time.Now())
	newVersion, _ := events.NewTaskEvent(taskapi.EventSource, "todo.task.created.v2", snap, time.Now())
	badData, _ := events.NewTaskEvent(taskapi.EventSource, events.TypeTaskCreated, task.Snapshot{ID: snap.ID}, time.Now())
	js := func(e events.Event) []byte { b, _ := e.MarshalJSON(); return b }
	poison := []struct {
		value  []byte
		reason string
	}{
		{[]byte(`{not json`), consume.ReasonMalformed},
		{[]byte(`{"specversion":"1.0","id":"x"}`), consume.ReasonMalformed},
		{js(unknownType), consume.ReasonUnknownType},
		{js(newVersion), consume.ReasonUnknownType},
		{js(badData), consume.ReasonRejected}, // a known type whose data the handler cannot read
	}
	for _, p := range poison {
		if err := v.pub.Publish(ctx, broker.Publication{Topic: events.TopicTaskEvents, Key: "alice", Value: p.value}); err != nil {
			t.Fatal(err)
		}
	}
	v.createTasks(t, "alice", 3) // same key, same partition, after the poison
	kafkatest.Eventually(t, wait, "the valid events handled", func() bool { return v.effects(t) == 3 })
	v.checkEffects(t)

	var dlq []kafkatest.Message
	kafkatest.Eventually(t, wait, "the poison in the dead-letter topic", func() bool {
		dlq = kafkatest.Messages(t, v.kcfg, events.DeadLetterTopic(events.TopicTaskEvents))
		return len(dlq) == len(poison)
	})
	for i, m := range dlq {
		p := poison[i]
		if string(m.Value) != string(p.value) || m.Key != "alice" {
			t.Errorf("dead letter %d: %q key %q, want %q", i, m.Value, m.Key, p.value)
		}
		h := m.Headers
		if h[consume.HeaderReason] != p.reason || h[consume.HeaderError] == "" || h[consume.HeaderConsumer] != "svc" ||
			h[consume.HeaderTopic] != events.TopicTaskEvents || h[consume.HeaderOffset] != strconv.Itoa(i) {
			t.Errorf("dead letter %d: headers %v, want reason %s", i, h, p.reason)
		}
	}
	if got := metricstest.Sum(t, reg, "consumer_dead_lettered_total", "reason", consume.ReasonUnknownType); got != 2 {
		t.Errorf("dead-lettered for an unknown type: %v, want 2", got)
	}
	if got := metricstest.Sum(t, reg, "consumer_dead_lettered_total"); got != float64(len(poison)) {
		t.Errorf("consumer_dead_lettered_total = %v, want %d", got, len(poison))
	}
}

// TestFailingHandler: an event whose handler keeps failing goes to the
// dead-letter topic after MaxAttempts; a Permanent error sends it there at
// once; a Transient one is retried past MaxAttempts until it passes. The
// partition goes on either way.
func TestFailingHandler(t *testing.T) {
	t.Parallel()
	v := setup(t)
	var calls sync.Map // task title → attempts
	h := func(ctx context.Context, tx pgx.Tx, e events.Event) error {
		s, err := events.TaskData(e)
		if err != nil {
			return err
		}
		n, _ := calls.LoadOrStore(s.Title, new(atomic.Int32))
		k := n.(*atomic.Int32).Add(1)
		switch s.Title {
		case "always fails":
			return errors.New("the handler always fails on this one")
		case "permanent":
			return consume.Permanent(errors.New("this cannot work"))
		case "transient":
			if k <= 5 {
				return consume.Transient(errors.New("a dependency is down"))
			}
		}
		return recordEffect("m1")(ctx, tx, e)
	}
	c, reg := v.consumer(t, h, nil) // MaxAttempts 3
	v.member(t, c.Process, nil)
	for _, title := range []string{"always fails", "permanent", "transient", "fine"} {
		if _, err := v.store.Create(context.Background(), "alice", task.Fields{Title: title}); err != nil {
			t.Fatal(err)
		}
	}
	kafkatest.Eventually(t, wait, "the passing events handled", func() bool { return v.effects(t) == 2 })
	var dlq []kafkatest.Message
	kafkatest.Eventually(t, wait, "two dead letters", func() bool {
		dlq = kafkatest.Messages(t, v.kcfg, events.DeadLetterTopic(events.TopicTaskEvents))
		return len(dlq) == 2
	})
	want := []struct{ reason, attempts, err string }{
		{consume.ReasonFailed, "3", "the handler always fails on this one"},
		{consume.ReasonRejected, "1", "this cannot work"},
	}
	for i, m := range dlq {
		if h := m.Headers; h[consume.HeaderReason] != want[i].reason || h[consume.HeaderAttempts] != want[i].attempts || h[consume.HeaderError] != want[i].err {
			t.Errorf("dead letter %d: headers %v, want %+v", i, h, want[i])
		}
		if m.Headers[kafka.HeaderEventID] == "" {
			t.Errorf("dead letter %d has no event id header", i)
		}
	}
	n, _ := calls.Load("transient")
	if got := n.(*atomic.Int32).Load(); got != 6 {
		t.Errorf("transient event tried %d times, want 6", got)
	}
	if got := metricstest.Sum(t, reg, "consumer_retries_total"); got != 2+5 {
		t.Errorf("consumer_retries_total = %v, want 7", got)
	}
}

// TestProcessSkipsDuplicates: the same delivery processed twice, also
// concurrently, has one effect.
func TestProcessSkipsDuplicates(t *testing.T) {
	t.Parallel()
	v := setup(t)
	c, reg := v.consumer(t, recordEffect("m1"), nil)
	e, err := events.NewTaskEvent(taskapi.EventSource, events.TypeTaskCreated, task.Snapshot{ID: "01900000-0000-7000-8000-000000000002", OwnerID: "bob"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.MarshalJSON()
	d := broker.Delivery{Topic: events.TopicTaskEvents, Partition: 0, Offset: 7, Key: []byte("bob"), Value: b}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Process(context.Background(), d); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := c.Process(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if got := v.effects(t); got != 1 {
		t.Errorf("%d effects, want 1", got)
	}
	if got := metricstest.Sum(t, reg, "consumer_events_duplicate_total"); got != 4 {
		t.Errorf("consumer_events_duplicate_total = %v, want 4", got)
	}
	if n, err := c.Prune(context.Background(), time.Hour); err != nil || n != 0 {
		t.Errorf("prune of a young record: %d, %v", n, err)
	}
	if n, err := c.Prune(context.Background(), -time.Hour); err != nil || n != 1 {
		t.Errorf("prune of an old record: %d, %v", n, err)
	}
}

// TestCreateTable: the helper makes the same table as TableSQL, in any
// schema.
func TestCreateTable(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, taskapi.Migrations)
	ctx := context.Background()
	if err := consume.CreateTable(ctx, pool, "other.seen"); err != nil {
		t.Fatal(err)
	}
	c, err := consume.New(pool, recordEffect("x"), consume.Config{Name: "x", Table: "other.seen", Types: taskTypes, DeadLetters: &kafka.Producer{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Prune(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := consume.CreateTable(ctx, pool, "no_schema"); err == nil {
		t.Error("a table without schema accepted")
	}
}

// TestPreparedRunsOutsideTheTransaction: a prepared handler's first step
// runs with no transaction of the consumer open, is skipped for an event
// already consumed, and its errors are the handler's (a permanent one
// dead-letters the event).
func TestPreparedRunsOutsideTheTransaction(t *testing.T) {
	t.Parallel()
	v := setup(t)
	pool, err := pgxpool.NewWithConfig(context.Background(), v.pool.Config()) // the consumer's alone
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var prepared atomic.Int32
	c, err := consume.NewPrepared(pool, func(ctx context.Context, e events.Event) (consume.Handler, error) {
		prepared.Add(1)
		if pool.Stat().AcquiredConns() != 0 {
			t.Error("prepared while the consumer holds a connection")
		}
		if s, _ := events.TaskData(e); s.Title == "reject" {
			return nil, consume.Permanent(errors.New("rejected"))
		}
		return recordEffect("p"), nil
	}, consume.Config{Name: "prepared", Table: "svc.consumed_events", Types: taskTypes, DeadLetters: v.pub})
	if err != nil {
		t.Fatal(err)
	}
	delivery := func(offset int64, title string) broker.Delivery {
		e, err := events.NewTaskEvent(taskapi.EventSource, events.TypeTaskCreated, task.Snapshot{ID: fmt.Sprintf("01900000-0000-7000-8000-%012d", offset), OwnerID: "bob", Title: title}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := e.MarshalJSON()
		return broker.Delivery{Topic: events.TopicTaskEvents, Partition: 0, Offset: offset, Key: []byte("bob"), Value: b}
	}
	ctx := context.Background()
	d := delivery(1, "fine")
	for range 3 {
		if err := c.Process(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if n := prepared.Load(); n != 1 {
		t.Errorf("prepared %d times, want once (then the event is known)", n)
	}
	if n, err := c.ProcessBatch(ctx, []broker.Delivery{delivery(2, "fine"), delivery(3, "fine"), d}); err != nil || n != 3 {
		t.Fatalf("batch: %d, %v", n, err)
	}
	if got := v.effects(t); got != 3 {
		t.Errorf("%d effects, want 3", got)
	}
	if err := c.Process(ctx, delivery(4, "reject")); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 30*time.Second, "the rejected event dead-lettered", func() bool {
		return len(kafkatest.Messages(t, v.kcfg, events.DeadLetterTopic(events.TopicTaskEvents))) == 1
	})
}
