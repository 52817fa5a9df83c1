// Package pooler_test runs taskapi and the notifier behind a real PgBouncer
// in transaction mode, as Neon's pooled URL is in production: DATABASE_URL
// is the pooler, and the wake-ups (LISTEN) must take DATABASE_DIRECT_URL.
package pooler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/pglocal"
	"github.com/todo-platform/todo/services/notifier"
	"github.com/todo-platform/todo/services/taskapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const jwtSecret = "pooler-test-secret-0123456789abcdef"

// TestWakeUpsThroughTransactionPooler puts PgBouncer (pool_mode =
// transaction) in front of PostgreSQL as DATABASE_URL and measures what a
// user notices: the delay from creating a task to its event on the broker,
// and from a reminder's fire time to its reminder.due event. With the
// listeners on DATABASE_DIRECT_URL both stay in milliseconds. With the
// listeners on the pooler too (the bug this test guards against), no
// notification arrives: events wait for the relays' 2 s poll.
//
// Each measurement starts right after the previous one arrived, that is
// right after a relay's poll when the wake-ups are lost: the pooled case
// then waits nearly a full poll interval every time, deterministically.
func TestWakeUpsThroughTransactionPooler(t *testing.T) {
	dir, err := os.MkdirTemp("", "todo-test-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	// As root, PgBouncer runs as the postgres user, which must enter it.
	if err := os.Chmod(dir, 0o755); err != nil { //nolint:gosec // see above
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	server := dbtest.URL(t) // the server; each case makes its own database
	bouncer, err := pglocal.StartBouncer(ctx, pglocal.BouncerOptions{Dir: dir, Server: server, PoolMode: "transaction"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bouncer.Remove() }) // stops it by its PID, deletes dir

	var report []string
	for _, c := range []struct {
		name          string
		listenPooled  bool
		eventMax      time.Duration // every event within
		eventMedian   time.Duration // median within (direct) or beyond (pooled)
		reminderLimit time.Duration // median reminder delay within (direct) or beyond (pooled)
	}{
		{name: "direct", eventMax: 1500 * time.Millisecond, eventMedian: 500 * time.Millisecond, reminderLimit: 500 * time.Millisecond},
		{name: "through the pooler", listenPooled: true, eventMedian: time.Second, reminderLimit: 500 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			direct := dbtest.URL(t, taskapi.Migrations, notifier.Migrations)
			pooled := bouncer.URL(dbName(t, direct))
			listen := direct
			if c.listenPooled {
				listen = pooled
			}
			p := startPlatform(t, pooled, listen)
			evDelays, remDelays := p.measure(t, 5, 3)
			line := fmt.Sprintf("listening %-18s event delay %v; reminder firing %v", c.name+":", evDelays, remDelays)
			t.Log(line)
			report = append(report, line)
			evMedian, remMedian := median(evDelays), median(remDelays)
			if !c.listenPooled {
				if slices.Max(evDelays) > c.eventMax || evMedian > c.eventMedian {
					t.Errorf("event delays %v: want each within %v and the median within %v", evDelays, c.eventMax, c.eventMedian)
				}
				if remMedian > c.reminderLimit {
					t.Errorf("reminder firing delays %v: want the median within %v", remDelays, c.reminderLimit)
				}
				return
			}
			// The failure the direct URL removes: the wake-ups are lost.
			if evMedian < c.eventMedian {
				t.Errorf("event delays %v through the pooler: expected the wake-ups lost (median ≥ %v)", evDelays, c.eventMedian)
			}
			if remMedian < c.reminderLimit {
				t.Errorf("reminder firing delays %v through the pooler: expected the wake-ups lost (median ≥ %v)", remDelays, c.reminderLimit)
			}
		})
	}
	t.Log("PgBouncer 1.18, pool_mode = transaction, DATABASE_URL = the pooler:\n" + strings.Join(report, "\n"))
}

type platform struct {
	api    string
	token  string
	arrive *arrivals
}

// startPlatform runs taskapi (with its relay) and the notifier on the
// pooled DATABASE_URL, listening on listenURL, with an in-process broker
// whose task-events and reminders topics are watched.
func startPlatform(t *testing.T, pooledURL, listenURL string) *platform {
	_, kcfg := kafkatest.Start(t)
	arrive := watch(t, kcfg, events.TopicTaskEvents, events.TopicReminders)
	apiAddr, notifierAddr := freeAddr(t), freeAddr(t)
	env := func(addr string) func(string) string {
		m := map[string]string{
			"ADDR": addr, "METRICS_ADDR": "127.0.0.1:0", "DATABASE_URL": pooledURL, "DATABASE_DIRECT_URL": listenURL,
			// The databases come migrated (the migrations need the direct URL).
			"MIGRATE_ON_START": "false",
			"JWT_SECRET":       jwtSecret, "EVENTS_TRANSPORT": "kafka", "KAFKA_BROKERS": strings.Join(kcfg.Brokers, ","),
			"LOG_LEVEL": "warn", "LOG_FORMAT": "text", "REMINDER_POLL": "10s",
		}
		return func(k string) string { return m[k] }
	}
	log := kafkatest.LogWriter(t) // registered first, so it stops after the services
	kafkatest.Go(t, func(ctx context.Context) error {
		return taskapi.Run(ctx, []string{"taskapi"}, env(apiAddr), log, log)
	})
	kafkatest.Go(t, func(ctx context.Context) error {
		return notifier.Run(ctx, []string{"notifier"}, env(notifierAddr), log, log)
	})
	for _, a := range []string{apiAddr, notifierAddr} {
		kafkatest.Eventually(t, time.Minute, a+" ready", func() bool { return get(t, "http://"+a+"/readyz") == http.StatusOK })
	}
	token, err := auth.IssueHS256(jwtSecret, "alice", auth.DefaultIssuer, auth.DefaultAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &platform{api: "http://" + apiAddr, token: token, arrive: arrive}
}

// measure creates events tasks one after the other, each once the previous
// one's event arrived, then reminders tasks whose reminder falls due 3 s
// after the previous reminder arrived; it returns the delays from the
// creation request to the task.created event on the broker, and from the
// reminder's fire time to its reminder.due event on the broker. An unmeasured task with a reminder first warms every
// path up (the notifier's consumer group has joined once it fired).
func (p *platform) measure(t *testing.T, tasks, reminders int) (eventDelays, reminderDelays []time.Duration) {
	id := p.create(t, p.reminderTask(time.Now().Add(time.Second)))
	p.arrive.wait(t, events.TypeReminderDue, id, time.Minute)
	for range tasks {
		start := time.Now()
		id := p.create(t, `{"title":"measured"}`)
		got := p.arrive.wait(t, events.TypeTaskCreated, id, 30*time.Second)
		eventDelays = append(eventDelays, got.at.Sub(start).Round(time.Millisecond))
	}
	for range reminders {
		fireAt := time.Now().Add(3 * time.Second)
		id := p.create(t, p.reminderTask(fireAt))
		got := p.arrive.wait(t, events.TypeReminderDue, id, 30*time.Second)
		d, err := events.ReminderData(got.event)
		if err != nil {
			t.Fatal(err)
		}
		// From the fire time as stored (the API keeps whole seconds).
		reminderDelays = append(reminderDelays, got.at.Sub(d.FireAt).Round(time.Millisecond))
	}
	return eventDelays, reminderDelays
}

// reminderTask is a task due in an hour with a reminder at fireAt.
func (p *platform) reminderTask(fireAt time.Time) string {
	return fmt.Sprintf(`{"title":"remind me","due_at":%q,"reminders":[{"at":%q}]}`,
		fireAt.Add(time.Hour).UTC().Format(time.RFC3339Nano), fireAt.UTC().Format(time.RFC3339Nano))
}

func (p *platform) create(t *testing.T, body string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, p.api+"/api/v1/tasks", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var created struct{ ID string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &created) != nil || created.ID == "" {
		t.Fatalf("create task: %d %s", resp.StatusCode, b)
	}
	return created.ID
}

// arrivals records when each event (type, subject) reached the broker's
// consumer.
type arrivals struct {
	mu   sync.Mutex
	seen map[string]arrival
	news chan struct{}
}

type arrival struct {
	at    time.Time
	event events.Event
}

func (a *arrivals) wait(t *testing.T, typ, subject string, timeout time.Duration) arrival {
	t.Helper()
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		got, ok := a.seen[typ+" "+subject]
		a.mu.Unlock()
		if ok {
			return got
		}
		select {
		case <-a.news:
		case <-deadline:
			t.Fatalf("no %s of %s within %v", typ, subject, timeout)
		}
	}
}

// watch consumes every partition of topics from their end, recording the
// arrival time of each event, until the test ends.
func watch(t *testing.T, cfg kafka.Config, topics ...string) *arrivals {
	a := &arrivals{seen: map[string]arrival{}, news: make(chan struct{}, 1)}
	s, err := cfg.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	s.Consumer.MaxWaitTime = 10 * time.Millisecond
	client, err := sarama.NewClient(cfg.Brokers, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = consumer.Close() })
	for _, topic := range topics {
		parts, err := client.Partitions(topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range parts {
			pc, err := consumer.ConsumePartition(topic, part, sarama.OffsetNewest)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				for m := range pc.Messages() {
					now := time.Now()
					e, err := events.Parse(m.Value)
					if err != nil {
						continue
					}
					a.mu.Lock()
					if _, dup := a.seen[e.Type()+" "+e.Subject()]; !dup {
						a.seen[e.Type()+" "+e.Subject()] = arrival{at: now, event: e}
					}
					a.mu.Unlock()
					select {
					case a.news <- struct{}{}:
					default:
					}
				}
			}()
		}
	}
	return a
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func dbName(t *testing.T, u string) string {
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(p.Path, "/")
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(t *testing.T, u string) int {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
