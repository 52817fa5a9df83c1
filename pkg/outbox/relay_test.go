package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/todo-platform/todo/pkg/broker"
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

func relayConfig() outbox.RelayConfig {
	return outbox.RelayConfig{
		Table:           taskapi.OutboxTable,
		Channel:         "taskapi_outbox",
		MinBackoff:      50 * time.Millisecond,
		MaxBackoff:      500 * time.Millisecond,
		MetricsInterval: 50 * time.Millisecond,
	}
}

// startRelay runs a relay until the test ends.
func startRelay(t *testing.T, pool *pgxpool.Pool, pub broker.Publisher, cfg outbox.RelayConfig) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	if cfg.Log == nil {
		cfg.Log = kafkatest.Logger(t)
	}
	r, err := outbox.NewRelay(pool, pub, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	return reg
}

type row struct {
	id      int64
	key     string
	eventID string
}

// outboxRows are taskapi's outbox rows in id order.
func outboxRows(t *testing.T, pool *pgxpool.Pool) []row {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id, partition_key, event_id::text FROM taskapi.outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var out []row
	var r row
	if _, err := pgx.ForEachRow(rows, []any{&r.id, &r.key, &r.eventID}, func() error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func pending(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM taskapi.outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// createTasks creates n tasks of owner through taskapi's store, one after
// the other.
func createTasks(t *testing.T, store *taskapi.Store, owner string, n int) {
	t.Helper()
	for i := range n {
		if _, err := store.Create(context.Background(), owner, task.Fields{Title: fmt.Sprintf("%s task %d", owner, i), Priority: task.PriorityMedium}); err != nil {
			t.Error(err)
			return
		}
	}
}

// checkTopic checks that the task-events topic holds every outbox row, each
// key's rows in id order on one partition. With exact, every row is there
// exactly once; otherwise copies are allowed (the relay publishes at least
// once) and order is checked on each event's first copy, which is what an
// idempotent consumer acts on.
func checkTopic(t *testing.T, cfg kafka.Config, rows []row, exact bool) []kafkatest.Message {
	t.Helper()
	msgs := kafkatest.Messages(t, cfg, events.TopicTaskEvents)
	idOf := map[string]int64{}
	keyOf := map[string]string{}
	for _, r := range rows {
		idOf[r.eventID] = r.id
		keyOf[r.eventID] = r.key
	}
	copies := map[string]int{}
	lastID := map[string]int64{}
	partitionOf := map[string]int32{}
	for _, m := range msgs {
		e, err := events.Parse(m.Value)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		id, ok := idOf[e.ID()]
		if !ok {
			t.Fatalf("%s: event %s is in no outbox row", m, e.ID())
		}
		if m.Headers[kafka.HeaderEventID] != e.ID() || m.Headers[kafka.HeaderContentType] != kafka.ContentType {
			t.Errorf("%s: headers %v", m, m.Headers)
		}
		if m.Key != keyOf[e.ID()] || m.Key != events.PartitionKey(e) {
			t.Errorf("%s: key %q, want the partition key %q", m, m.Key, keyOf[e.ID()])
		}
		if p, ok := partitionOf[m.Key]; ok && p != m.Partition {
			t.Errorf("key %s on partitions %d and %d", m.Key, p, m.Partition)
		}
		partitionOf[m.Key] = m.Partition
		copies[e.ID()]++
		if copies[e.ID()] > 1 {
			continue
		}
		if id < lastID[m.Key] {
			t.Errorf("%s: row %d of key %s after row %d", m, id, m.Key, lastID[m.Key])
		}
		lastID[m.Key] = id
	}
	dups := 0
	for _, r := range rows {
		switch n := copies[r.eventID]; {
		case n == 0:
			t.Errorf("row %d (event %s) is not in the topic", r.id, r.eventID)
		case n > 1 && exact:
			t.Errorf("row %d (event %s) is in the topic %d times", r.id, r.eventID, n)
		case n > 1:
			dups += n - 1
		}
	}
	if dups > 0 {
		t.Logf("%d copies of already published rows (at least once; consumers skip them)", dups)
	}
	return msgs
}

// TestRelayPublishesTaskEvents: task changes written by taskapi's store
// reach the task-events topic, each exactly once, keyed by their owner, one
// owner's events in the order they were written; the rows are marked
// published and the metrics count them.
func TestRelayPublishesTaskEvents(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, taskapi.Migrations)
	_, kcfg := kafkatest.Start(t)
	reg := startRelay(t, pool, kafkatest.Producer(t, kcfg), relayConfig())
	store := taskapi.NewStore(pool)
	ctx := context.Background()

	var wg sync.WaitGroup
	for u := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := "user-" + strconv.Itoa(u)
			createTasks(t, store, owner, 5)
			tk, err := store.Create(ctx, owner, task.Fields{Title: "to complete"})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := store.Complete(ctx, owner, tk.ID, tk.Version); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rows := outboxRows(t, pool)
	if len(rows) != 6*7 {
		t.Fatalf("%d outbox rows, want %d", len(rows), 6*7)
	}
	kafkatest.Eventually(t, wait, "every outbox row published", func() bool { return pending(t, pool) == 0 })
	checkTopic(t, kcfg, rows, true)

	if got := metricstest.Sum(t, reg, "outbox_published_total"); got != float64(len(rows)) {
		t.Errorf("outbox_published_total = %v, want %d", got, len(rows))
	}
	kafkatest.Eventually(t, wait, "lag gauges back to 0", func() bool {
		return metricstest.Sum(t, reg, "outbox_pending_rows") == 0 && metricstest.Sum(t, reg, "outbox_oldest_pending_age_seconds") == 0
	})
	if metricstest.Sum(t, reg, "outbox_publish_duration_seconds") == 0 {
		t.Error("no publish latency observed")
	}
}

// TestRelayWakesOnNotify: with a poll far away, a new row goes out at once
// because of the NOTIFY, also after several health checks of the listening
// connection (which keep it), and still does after that connection was
// killed (the relay reconnects).
func TestRelayWakesOnNotify(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, taskapi.Migrations)
	_, kcfg := kafkatest.Start(t)
	cfg := relayConfig()
	cfg.PollInterval = time.Hour
	cfg.ListenCheck = 50 * time.Millisecond
	startRelay(t, pool, kafkatest.Producer(t, kcfg), cfg)
	store := taskapi.NewStore(pool)
	ctx := context.Background()

	listener := func() (pid int) {
		err := pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = 'outbox-relay taskapi.outbox' AND datname = current_database()`).Scan(&pid)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		return pid
	}
	var first int
	kafkatest.Eventually(t, wait, "the relay listens", func() bool { first = listener(); return first != 0 })

	createTasks(t, store, "alice", 1)
	kafkatest.Eventually(t, wait, "the first task published without polling", func() bool { return pending(t, pool) == 0 })
	kafkatest.Eventually(t, wait, "the listening connection pinged", func() bool {
		var pinged bool // its last statement was pgx's ping
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query = '-- ping')`, first).Scan(&pinged); err != nil {
			t.Fatal(err)
		}
		return pinged
	})
	if p := listener(); p != first {
		t.Fatalf("the health checks replaced the listening connection (%d, then %d)", first, p)
	}
	createTasks(t, store, "alice", 1)
	kafkatest.Eventually(t, wait, "a task published after the checks, without polling", func() bool { return pending(t, pool) == 0 })

	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, first); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, wait, "the relay listens again", func() bool { p := listener(); return p != 0 && p != first })
	createTasks(t, store, "alice", 1)
	kafkatest.Eventually(t, wait, "the second task published without polling", func() bool { return pending(t, pool) == 0 })
	checkTopic(t, kcfg, outboxRows(t, pool), true)
}

// TestRelayInstancesPublishEachRowOnce: three relays on one outbox while
// writers add rows concurrently: every row is in the topic exactly once and
// each owner's rows are in order.
func TestRelayInstancesPublishEachRowOnce(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, taskapi.Migrations)
	_, kcfg := kafkatest.Start(t)
	cfg := relayConfig()
	cfg.BatchSize = 7 // many batches, so that the instances contend
	cfg.Lanes = 3
	cfg.PollInterval = 20 * time.Millisecond
	var regs []*prometheus.Registry
	for range 3 {
		regs = append(regs, startRelay(t, pool, kafkatest.Producer(t, kcfg), cfg))
	}
	store := taskapi.NewStore(pool)

	// One writer per owner, so that an owner's rows commit in id order;
	// the owners' writers race each other, so ids commit out of order.
	var wg sync.WaitGroup
	for u := range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); createTasks(t, store, "owner-"+strconv.Itoa(u), 25) }()
	}
	wg.Wait()
	rows := outboxRows(t, pool)
	kafkatest.Eventually(t, wait, "every outbox row published", func() bool { return pending(t, pool) == 0 })
	msgs := checkTopic(t, kcfg, rows, true)
	if len(msgs) != len(rows) {
		t.Errorf("%d messages for %d rows", len(msgs), len(rows))
	}
	var total float64
	for i, reg := range regs {
		n := metricstest.Sum(t, reg, "outbox_published_total")
		t.Logf("relay %d published %v rows", i, n)
		total += n
	}
	if total != float64(len(rows)) {
		t.Errorf("the relays published %v rows in all, want %d", total, len(rows))
	}
}

// TestRelayDoesNotSkipRowsCommittedOutOfOrder: a row whose transaction took
// a lower id but commits after a higher one was published is still
// published.
func TestRelayDoesNotSkipRowsCommittedOutOfOrder(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, taskapi.Migrations)
	_, kcfg := kafkatest.Start(t)
	startRelay(t, pool, kafkatest.Producer(t, kcfg), relayConfig())
	ctx := context.Background()

	insert := func(tx pgx.Tx, owner string) {
		e, err := events.NewTaskEvent(taskapi.EventSource, events.TypeTaskCreated, task.Snapshot{ID: "00000000-0000-7000-8000-00000000000" + owner[len(owner)-1:], OwnerID: owner}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := outbox.Insert(ctx, tx, taskapi.OutboxTable, outbox.Message{Topic: events.TopicTaskEvents, Event: e}); err != nil {
			t.Fatal(err)
		}
	}
	slow, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx)
	insert(slow, "user1") // takes the lower id, commits last
	fast, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insert(fast, "user2")
	if err := fast.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, wait, "the higher id published", func() bool {
		return len(kafkatest.Messages(t, kcfg, events.TopicTaskEvents)) == 1
	})
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, wait, "the lower id published too", func() bool { return pending(t, pool) == 0 })
	rows := outboxRows(t, pool)
	if len(rows) != 2 || rows[0].key != "user1" {
		t.Fatalf("rows %v", rows)
	}
	checkTopic(t, kcfg, rows, true)
}

// flaky fails chosen publishes, then passes them to the real producer.
type flaky struct {
	broker.Publisher
	mu   sync.Mutex
	fail map[string]int // event id → failures left
	sent []string       // event ids handed to the broker, in order
}

func (f *flaky) Publish(ctx context.Context, m broker.Publication) error {
	f.mu.Lock()
	if f.fail[m.EventID] > 0 {
		f.fail[m.EventID]--
		f.mu.Unlock()
		return errors.New("injected failure")
	}
	f.sent = append(f.sent, m.EventID)
	f.mu.Unlock()
	return f.Publisher.Publish(ctx, m)
}

// TestRelayHoldsBackAKeyAfterAFailure: when one row fails, the rows of the
// same key after it are not published before it (which would reorder that
// user's events); other keys go on, and the next attempt publishes the rest
// in order, nothing twice.
func TestRelayHoldsBackAKeyAfterAFailure(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, taskapi.Migrations)
	_, kcfg := kafkatest.Start(t)
	store := taskapi.NewStore(pool)
	createTasks(t, store, "alice", 4)
	createTasks(t, store, "bob", 3)
	rows := outboxRows(t, pool)
	second := rows[1] // alice's second event
	pub := &flaky{Publisher: kafkatest.Producer(t, kcfg), fail: map[string]int{second.eventID: 2}}
	reg := startRelay(t, pool, pub, relayConfig())

	kafkatest.Eventually(t, wait, "every row published", func() bool { return pending(t, pool) == 0 })
	checkTopic(t, kcfg, rows, true)
	if got := metricstest.Sum(t, reg, "outbox_publish_errors_total"); got != 2 {
		t.Errorf("outbox_publish_errors_total = %v, want 2", got)
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	pos := map[string]int{}
	for i, id := range pub.sent {
		pos[id] = i
	}
	for _, r := range rows[2:4] {
		if pos[r.eventID] < pos[second.eventID] {
			t.Errorf("row %d of alice sent before her failed row %d", r.id, second.id)
		}
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRelaySurvivesBrokerOutage: the broker stops while tasks are written;
// the rows wait in the outbox (the lag metrics show them), and once the
// broker is back every one of them arrives, each owner's in order.
func TestRelaySurvivesBrokerOutage(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, taskapi.Migrations)
	port := freePort(t)
	dir := t.TempDir()
	opts := append(kafkatest.Options(), kfake.Ports(port), kfake.DataDir(dir))
	broker, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	kcfg := kafkatest.Config(broker.ListenAddrs()...)
	reg := startRelay(t, pool, kafkatest.Producer(t, kcfg), relayConfig())
	store := taskapi.NewStore(pool)

	createTasks(t, store, "alice", 3)
	kafkatest.Eventually(t, wait, "the first tasks published", func() bool { return pending(t, pool) == 0 })

	broker.Close()
	var wg sync.WaitGroup
	for _, owner := range []string{"alice", "bob", "carol"} {
		wg.Add(1)
		go func() { defer wg.Done(); createTasks(t, store, owner, 15) }()
	}
	wg.Wait()
	// Three owners fail three lanes per attempt: wait for a few attempts.
	kafkatest.Eventually(t, wait, "failed attempts counted and the lag shown", func() bool {
		return metricstest.Sum(t, reg, "outbox_publish_errors_total") >= 9 &&
			metricstest.Sum(t, reg, "outbox_pending_rows") == 45 && metricstest.Sum(t, reg, "outbox_oldest_pending_age_seconds") > 0
	})
	if n := pending(t, pool); n != 45 {
		t.Fatalf("%d rows pending while the broker is down, want 45", n)
	}

	back, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(back.Close)
	kafkatest.Eventually(t, 2*wait, "the backlog published once the broker is back", func() bool { return pending(t, pool) == 0 })
	rows := outboxRows(t, pool)
	checkTopic(t, kcfg, rows, false)
	kafkatest.Eventually(t, wait, "the lag gauges back to 0", func() bool { return metricstest.Sum(t, reg, "outbox_pending_rows") == 0 })
}

type noPublisher struct{}

func (noPublisher) Publish(context.Context, broker.Publication) error {
	return errors.New("not expected to publish")
}

// TestRelayPrunesOldPublishedRows: Prune deletes published rows older than
// the retention and keeps the younger and the pending ones.
func TestRelayPrunesOldPublishedRows(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, taskapi.Migrations)
	ctx := context.Background()
	cfg := relayConfig()
	cfg.Retention = 24 * time.Hour
	r, err := outbox.NewRelay(pool, noPublisher{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("prune of an empty outbox: %d, %v", n, err)
	}
	_, err = pool.Exec(ctx, `
		INSERT INTO taskapi.outbox (topic, partition_key, event_id, event, created_at, published_at)
		SELECT 'task-events', 'u', gen_random_uuid(), '{}', now() - make_interval(days => d), p
		FROM (VALUES (30, now() - interval '29 days'), (10, now() - interval '10 days'), (9, NULL::timestamptz),
		             (2, now() - interval '2 hours'), (0, now()), (0, NULL)) AS v(d, p)`)
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.Prune(ctx)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d rows (%v), want the 2 published over a day ago", n, err)
	}
	var left, pendingLeft int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE published_at IS NULL) FROM taskapi.outbox`).Scan(&left, &pendingLeft); err != nil {
		t.Fatal(err)
	}
	if left != 4 || pendingLeft != 2 {
		t.Errorf("%d rows left (%d pending), want 4 (2)", left, pendingLeft)
	}
}

func TestNewRelayChecksItsConfig(t *testing.T) {
	t.Parallel()
	pool := &pgxpool.Pool{}
	for _, c := range []outbox.RelayConfig{
		{Table: "outbox", Channel: "c"},
		{Table: "taskapi.outbox; DROP TABLE x", Channel: "c"},
		{Table: "taskapi.outbox"},
	} {
		if _, err := outbox.NewRelay(pool, noPublisher{}, c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestRelayPollsWhenItCannotListen: with no notification ever arriving (the
// listening connection cannot be made), the poll still publishes every row.
func TestRelayPollsWhenItCannotListen(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, taskapi.Migrations)
	_, kcfg := kafkatest.Start(t)
	cfg := relayConfig()
	cfg.PollInterval = 100 * time.Millisecond
	cfg.ListenConfig = pool.Config().ConnConfig.Copy()
	cfg.ListenConfig.Port = uint16(freePort(t)) // nothing listens there
	startRelay(t, pool, kafkatest.Producer(t, kcfg), cfg)
	createTasks(t, taskapi.NewStore(pool), "alice", 3)
	kafkatest.Eventually(t, wait, "the tasks published by polling", func() bool { return pending(t, pool) == 0 })
	checkTopic(t, kcfg, outboxRows(t, pool), true)
}

// BenchmarkRelay measures the relay's throughput: b.N outbox rows of 100
// owners, written at once, published to the broker.
func BenchmarkRelay(b *testing.B) {
	pool := dbtest.Pool(b, taskapi.Migrations)
	_, kcfg := kafkatest.Start(b)
	ctx := context.Background()
	e, err := events.NewTaskEvent(taskapi.EventSource, events.TypeTaskCreated, task.Snapshot{ID: "01900000-0000-7000-8000-000000000003", OwnerID: "owner"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	body, _ := e.MarshalJSON()
	if _, err := pool.Exec(ctx, `INSERT INTO taskapi.outbox (topic, partition_key, event_id, event)
		SELECT 'task-events', 'owner-' || (i % 100), gen_random_uuid(), $2::jsonb FROM generate_series(1, $1) AS i`, b.N, string(body)); err != nil {
		b.Fatal(err)
	}
	p, err := kafka.NewProducer(kcfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	cfg := relayConfig()
	cfg.Log = nil
	r, err := outbox.NewRelay(pool, p, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	for {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM taskapi.outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
