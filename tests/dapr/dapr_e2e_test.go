//go:build e2e && linux

package dapr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/dapr"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/outbox"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/taskapi"
	"github.com/todo-platform/todo/tests/daprd"
	"github.com/todo-platform/todo/tests/toolchain"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const wait = 90 * time.Second // deadline for conditions on this shared, busy machine

// svcMigrations are the consuming service's: its table of consumed events
// and the table its handler writes, the effect the test counts.
var svcMigrations = database.Migrations{Schema: "svc", FS: fstest.MapFS{
	"001_consumed_events.sql": {Data: []byte(consume.TableSQL)},
	"002_effects.sql":         {Data: []byte(`CREATE TABLE effects (seq bigserial PRIMARY KEY, event_id text NOT NULL)`)},
}}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// apiToken is the token daprd requires of its callers (DAPR_API_TOKEN);
// appToken the one it sends the app (APP_API_TOKEN).
const (
	apiToken = "e2e-token"
	appToken = "e2e-app-token"
)

// startDaprd runs daprd for the app appID listening on appPort, with the
// component at brokers (consumer group appID), waits until it is healthy and
// returns its HTTP port.
func startDaprd(t *testing.T, appID string, appPort int, brokers string) int {
	t.Helper()
	return startDaprdOn(t, appID, appPort, 0, brokers)
}

// startDaprdOn is startDaprd with the sidecar's HTTP port chosen by the
// caller (who gave it to the app before the sidecar started; 0: a free one).
func startDaprdOn(t *testing.T, appID string, appPort, httpPort int, brokers string) int {
	t.Helper()
	bin, err := toolchain.Path(toolchain.Daprd)
	if err != nil {
		t.Skipf("daprd not built: %v", err)
	}
	d, err := daprd.Start(context.Background(), daprd.Config{
		Bin: bin, Dir: t.TempDir(), AppID: appID, AppPort: appPort, HTTPPort: httpPort,
		Brokers: brokers, ClientID: "daprd-e2e", InitialOffset: "oldest",
		APIToken: apiToken, AppToken: appToken, Log: kafkatest.LogWriter(t), Within: wait,
	})
	if err != nil {
		t.Fatalf("%v (its log is above)", err)
	}
	t.Cleanup(d.Stop)
	return d.HTTPPort
}

// serveBeside serves sub, the app's subscriptions, beside a daprd started
// for appID (which asks sub for them at its start), and returns a publisher
// through that daprd and the daprd's HTTP port.
func serveBeside(t *testing.T, appID string, sub http.Handler, brokers []string) (*dapr.Publisher, int) {
	t.Helper()
	app := httptest.NewServer(sub)
	t.Cleanup(app.Close)
	port := startDaprd(t, appID, app.Listener.Addr().(*net.TCPAddr).Port, strings.Join(brokers, ","))
	pub, err := dapr.NewPublisher(dapr.Config{HTTPPort: port, APIToken: apiToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	return pub, port
}

// effectsConsumer is the consumer of task creations whose effect is a row
// of svc.effects an event, with cfg's dead letters and retries.
func effectsConsumer(t *testing.T, pool *pgxpool.Pool, cfg consume.Config) *consume.Consumer {
	t.Helper()
	cfg.Name, cfg.Table, cfg.Types, cfg.Log = "svc", "svc.consumed_events", []string{events.TypeTaskCreated}, kafkatest.Logger(t)
	c, err := consume.New(pool, func(ctx context.Context, tx pgx.Tx, e events.Event) error {
		_, err := tx.Exec(ctx, `INSERT INTO svc.effects (event_id) VALUES ($1)`, e.ID())
		return err
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func event(id, typ, user string) []byte {
	return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"/tests/dapr","type":%q,"subject":"task-1","partitionkey":%q,"datacontenttype":"application/json","data":{"n":1}}`, id, typ, user)
}

func effects(t *testing.T, pool *pgxpool.Pool, id string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM svc.effects WHERE event_id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDaprTransport publishes through a real daprd and consumes through the
// subscriptions it reads from the app.
func TestDaprTransport(t *testing.T) {
	pool := dbtest.Pool(t, taskapi.Migrations, svcMigrations)
	_, kcfg := kafkatest.Start(t)
	topic := events.TopicTaskEvents

	// The app: its subscriber, started before the sidecar, which asks it for
	// the subscriptions at start. The publisher is made once daprd's port is
	// known; the consumer dead-letters through it.
	var (
		mu          sync.Mutex
		consumer    *consume.Consumer
		deliveries  = map[string]int{}
		positions   = map[string]broker.Delivery{} // event id → its last delivery
		retryFirstN = map[string]int{}             // event id → deliveries to answer RETRY
	)
	sub := &dapr.Subscriber{Topics: []string{topic}, AppToken: appToken, Log: kafkatest.Logger(t), Process: func(ctx context.Context, d broker.Delivery) error {
		e, _ := events.Parse(d.Value)
		mu.Lock()
		deliveries[e.ID()]++
		positions[e.ID()] = broker.Delivery{Topic: d.Topic, Partition: d.Partition, Offset: d.Offset, Key: d.Key}
		n, c := deliveries[e.ID()], consumer
		retry := n <= retryFirstN[e.ID()]
		mu.Unlock()
		if retry {
			return errors.New("not now")
		}
		if c == nil {
			return errors.New("consumer not ready")
		}
		return c.Process(ctx, d)
	}}
	pub, port := serveBeside(t, "t", sub, kcfg.Brokers)
	c := effectsConsumer(t, pool, consume.Config{DeadLetters: pub, MaxAttempts: 2, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	mu.Lock()
	consumer = c
	mu.Unlock()

	ctx := context.Background()
	publish := func(id, typ string) {
		t.Helper()
		if err := pub.Publish(ctx, broker.Publication{Topic: topic, Key: "user-1", Value: event(id, typ, "user-1"), EventID: id}); err != nil {
			t.Fatal(err)
		}
	}
	delivered := func(id string) int { mu.Lock(); defer mu.Unlock(); return deliveries[id] }

	t.Run("delivered once", func(t *testing.T) {
		publish("e-once", events.TypeTaskCreated)
		kafkatest.Eventually(t, wait, "the event's effect", func() bool { return effects(t, pool, "e-once") == 1 })
		// The published message is in Kafka, keyed by the partition key.
		var found bool
		for _, m := range kafkatest.Messages(t, kcfg, topic) {
			if strings.Contains(string(m.Value), `"e-once"`) {
				found = true
				if m.Key != "user-1" {
					t.Errorf("message key %q, want the partition key user-1", m.Key)
				}
			}
		}
		if !found {
			t.Error("the event is not in the topic")
		}
		// The sidecar told the app where the message came from.
		mu.Lock()
		d := positions["e-once"]
		mu.Unlock()
		if d.Topic != topic || string(d.Key) != "user-1" || d.Partition < 0 || d.Offset < 0 {
			t.Errorf("delivery %s key %q: want the topic, the key and a position", d, d.Key)
		}
		// The same event again (the relay publishing it twice): no second effect.
		publish("e-once", events.TypeTaskCreated)
		kafkatest.Eventually(t, wait, "the copy's delivery", func() bool { return delivered("e-once") == 2 })
		if n := effects(t, pool, "e-once"); n != 1 {
			t.Errorf("%d effects of one event published twice", n)
		}
	})

	t.Run("retry delivers again", func(t *testing.T) {
		mu.Lock()
		retryFirstN["e-retry"] = 2
		mu.Unlock()
		publish("e-retry", events.TypeTaskCreated)
		kafkatest.Eventually(t, wait, "the effect after two RETRY answers", func() bool { return effects(t, pool, "e-retry") == 1 })
		mu.Lock()
		d := positions["e-retry"]
		mu.Unlock()
		var recorded int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM svc.consumed_events WHERE event_id = 'e-retry' AND kafka_partition = $1 AND kafka_offset = $2`, d.Partition, d.Offset).Scan(&recorded); err != nil || recorded != 1 {
			t.Errorf("consumed event recorded at %s: %d rows (%v)", d, recorded, err)
		}
		if n := delivered("e-retry"); n < 3 {
			t.Errorf("delivered %d times, want at least 3 (two answered RETRY)", n)
		}
	})

	t.Run("poison to the DLQ", func(t *testing.T) {
		publish("e-poison", "todo.task.unknown.v9")
		dlq := events.DeadLetterTopic(topic)
		var got *kafkatest.Message
		kafkatest.Eventually(t, wait, "the poison message in "+dlq, func() bool {
			for _, m := range kafkatest.Messages(t, kcfg, dlq) {
				if strings.Contains(string(m.Value), `"e-poison"`) {
					got = &m
					return true
				}
			}
			return false
		})
		if got.Key != "user-1" {
			t.Errorf("dead letter key %q, want user-1", got.Key)
		}
		if got.Headers[consume.HeaderReason] != consume.ReasonUnknownType {
			t.Errorf("dead letter headers %v, want %s=%s", got.Headers, consume.HeaderReason, consume.ReasonUnknownType)
		}
		if n := effects(t, pool, "e-poison"); n != 0 {
			t.Errorf("%d effects of a poison message", n)
		}
		// It was acknowledged: no further delivery.
		time.Sleep(time.Second)
		if n := delivered("e-poison"); n != 1 {
			t.Errorf("poison message delivered %d times, want once", n)
		}
	})

	t.Run("outbox relay through the sidecar", func(t *testing.T) {
		relay, err := outbox.NewRelay(pool, pub, outbox.RelayConfig{
			Table: taskapi.OutboxTable, Channel: "taskapi_outbox", Log: kafkatest.Logger(t),
			MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = relay.Run(rctx); close(done) }()
		t.Cleanup(func() { stop(); <-done })

		store := taskapi.NewStore(pool)
		for i := range 3 {
			if _, err := store.Create(ctx, "bob", task.Fields{Title: fmt.Sprintf("task %d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		// Every event of the outbox has its effect, once, in the order the
		// outbox holds them (one user: one key, one partition).
		const inOrder = `SELECT count(*) = 3 AND bool_and(ok) FROM (
			SELECT o.event_id, e.seq IS NOT NULL AND
			       e.seq > coalesce(lag(e.seq) OVER (ORDER BY o.id), 0) AS ok
			FROM taskapi.outbox o LEFT JOIN svc.effects e ON e.event_id = o.event_id::text) x`
		kafkatest.Eventually(t, wait, "the task events' effects, in order", func() bool {
			var ok *bool
			if err := pool.QueryRow(ctx, inOrder).Scan(&ok); err != nil {
				t.Fatal(err)
			}
			return ok != nil && *ok
		})
		// The relay marks its batch after the sidecar acknowledged it, which
		// may come after the subscriber saw the events.
		kafkatest.Eventually(t, wait, "every outbox row marked published", func() bool {
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM taskapi.outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == 0
		})
	})

	t.Run("sidecar refusals are errors", func(t *testing.T) {
		for _, c := range []struct {
			name string
			cfg  dapr.Config
			want string
		}{
			{"no token", dapr.Config{HTTPPort: port}, "401"},
			{"unknown pubsub", dapr.Config{HTTPPort: port, APIToken: apiToken, PubSub: "nope"}, "ERR_PUBSUB_NOT_FOUND"},
		} {
			p, err := dapr.NewPublisher(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Publish(ctx, broker.Publication{Topic: topic, Key: "user-1", Value: event("e-refused", events.TypeTaskCreated, "user-1"), EventID: "e-refused"})
			p.Close()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: err %v, want one saying %s", c.name, err, c.want)
			} else {
				t.Logf("%s: %v", c.name, err)
			}
		}
	})
}
