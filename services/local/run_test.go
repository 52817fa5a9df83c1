package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/local"
)

// metricsEnv gives each service's /metrics a free address.
func metricsEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, s := range []string{"TASKAPI", "RECURRING", "NOTIFIER", "AUDIT", "REALTIME"} {
		env[s+"_METRICS_ADDR"] = servicetest.FreeAddr(t)
	}
	return env
}

// TestUpKeepsDataAcrossRestarts runs the local platform as `make up` does,
// creates a task, stops it with its context (as Ctrl-C does), starts it
// again on the same data folder and finds the task there.
func TestUpKeepsDataAcrossRestarts(t *testing.T) {
	up := newUp(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"})
	dir, env, pgPort := up.dir, up.env, up.env["LOCAL_PG_PORT"]
	addr, auditAddr, kafkaAddr := env["TASKAPI_ADDR"], env["AUDIT_ADDR"], "127.0.0.1:"+env["LOCAL_KAFKA_PORT"]
	call := func(method, path, body string) (int, string) { return up.call(t, addr, method, path, body) }

	// published reports whether the task-events topic holds the creation of
	// task id (the relay published taskapi's outbox to the embedded broker,
	// which a client reaches with the data folder's credentials only).
	published := func(id string) bool {
		for _, m := range kafkatest.Messages(t, brokerConfig(t, dir, kafkaAddr), events.TopicTaskEvents) {
			if e, err := events.Parse(m.Value); err == nil && e.Subject() == id && e.Type() == events.TypeTaskCreated {
				return true
			}
		}
		return false
	}

	stop := up.start(t)
	code, body := call("POST", "/api/v1/tasks", `{"title":"Survive a restart"}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var created struct{ ID string }
	if err := json.Unmarshal([]byte(body), &created); err != nil || created.ID == "" {
		t.Fatalf("create: %s (%v)", body, err)
	}
	// WEBHOOK_ALLOW_PRIVATE=true: a webhook may target this machine.
	if code, body := up.call(t, env["LOCAL_ADDR"], "POST", "/api/v1/webhooks", `{"url":"http://127.0.0.1:9/hook"}`); code != 201 {
		t.Errorf("a webhook on this machine with WEBHOOK_ALLOW_PRIVATE=true: %d %s, want 201", code, body)
	}
	kafkatest.Eventually(t, time.Minute, "the task's event in the embedded broker", func() bool { return published(created.ID) })
	kafkatest.Eventually(t, time.Minute, "the task's creation in the audit log", func() bool {
		code, body := up.call(t, auditAddr, "GET", "/api/v1/audit?task_id="+created.ID, "")
		return code == 200 && strings.Contains(body, events.TypeTaskCreated)
	})
	checkBackendsLocked(t, dir, pgPort, kafkaAddr)
	out := stop()
	for _, want := range []string{"development token", "/api/v1/tasks", "stopping PostgreSQL", "kafka broker    " + kafkaAddr, "audit http://" + auditAddr, "stopping the Kafka broker"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	stop = up.start(t)
	defer stop()
	code, body = call("GET", "/api/v1/tasks", "")
	if code != 200 || !strings.Contains(body, "Survive a restart") {
		t.Fatalf("after restart: %d %s", code, body)
	}
	if !published(created.ID) {
		t.Error("the broker lost the task's event across the restart")
	}
}

// upped is a local platform as `make up` starts it, on free ports and a
// data folder of its own.
type upped struct {
	dir, token string
	env        map[string]string   // every variable the runner is given
	metrics    map[string]string   // the services' metrics addresses
	out        *servicetest.Buffer // what the runner printed last
}

// newUp makes a data folder and an environment for the platform with extra
// variables (over the defaults here), and alice's token; start runs it.
func newUp(t *testing.T, extra map[string]string) *upped {
	t.Helper()
	dir, err := os.MkdirTemp("", "todo-local-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// As root, PostgreSQL runs as the postgres user, which must enter the folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"LOCAL_DATA_DIR": dir, "LOCAL_PG_PORT": strings.Split(servicetest.FreeAddr(t), ":")[1], "DATABASE_URL": "",
		"TASKAPI_ADDR": servicetest.FreeAddr(t), "AUDIT_ADDR": servicetest.FreeAddr(t), "RECURRING_ADDR": servicetest.FreeAddr(t),
		"NOTIFIER_ADDR": servicetest.FreeAddr(t), "REALTIME_ADDR": servicetest.FreeAddr(t), "LOCAL_ADDR": servicetest.FreeAddr(t),
		"LOCAL_KAFKA_PORT": strings.Split(servicetest.FreeAddr(t), ":")[1], "KAFKA_BROKERS": "",
	}
	metrics := metricsEnv(t)
	for _, m := range []map[string]string{metrics, extra} {
		for k, v := range m {
			env[k] = v
		}
	}
	u := &upped{dir: dir, env: env, metrics: metrics}
	var tok bytes.Buffer
	if err := local.Run(context.Background(), []string{"todo-local", "token", "alice"}, u.getenv, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	u.token = strings.TrimSpace(tok.String())
	return u
}

func (u *upped) getenv(k string) string {
	if v, ok := u.env[k]; ok {
		return v
	}
	return os.Getenv(k)
}

// start runs `todo-local up` and waits until it says it is up; stop ends
// it (as Ctrl-C does), checks that it ended well and returns what it
// printed.
func (u *upped) start(t *testing.T) (stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &servicetest.Buffer{}
	u.out = out
	done := make(chan error, 1)
	go func() { done <- local.Run(ctx, []string{"todo-local", "up"}, u.getenv, out, out) }()
	stop = func() string {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("up ended with %v\n%s", err, out)
		}
		return out.String()
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "todo platform is up") {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("up ended early: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("not up after 2 minutes:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return stop
}

// startUp starts the platform with extra variables (over the defaults
// here) until the test ends, and waits until it says it is up.
func startUp(t *testing.T, extra map[string]string) *upped {
	t.Helper()
	u := newUp(t, extra)
	stop := u.start(t)
	t.Cleanup(func() { stop() })
	return u
}

// call sends method path with body ("": none) to host as alice, and
// returns the status and body.
func (u *upped) call(t *testing.T, host, method, path, body string) (int, string) {
	t.Helper()
	var b any
	if body != "" {
		b = body
	}
	code, got := servicetest.Call(t, method, "http://"+host+path, u.token, b)
	return code, string(got)
}

// dial opens alice's socket at ws://host/ws.
func (u *upped) dial(t *testing.T, host string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws://"+host+"/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + u.token}}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial the realtime socket: %v", err)
	}
	return ws
}

// TestUpRecurringTaskEndToEnd runs the platform as `make up` does, creates a
// daily recurring task through the API and completes it: exactly one next
// occurrence appears (made by recurring through taskapi), and the audit log
// shows the creation and completion of the first task and the creation of
// the next, all within a bounded time.
func TestUpRecurringTaskEndToEnd(t *testing.T) {
	up := startUp(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": ""})
	out, metrics := up.out, up.metrics
	addr, frontAddr := up.env["TASKAPI_ADDR"], up.env["LOCAL_ADDR"]
	call := func(host, method, path, body string) (int, string) { return up.call(t, host, method, path, body) }

	// A live client of alice on the printed /ws URL: the one origin's.
	if !strings.Contains(out.String(), "open            http://"+frontAddr+"/") || !strings.Contains(out.String(), "ws://"+frontAddr+"/ws") {
		t.Errorf("the summary does not print the one origin http://%s/ and its socket first:\n%s", frontAddr, out)
	}
	wsCtx, wsCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer wsCancel()
	ws := up.dial(t, frontAddr)
	defer ws.CloseNow()
	live := servicetest.Events(wsCtx, ws)

	// By default (WEBHOOK_ALLOW_PRIVATE unset), as in production, a webhook
	// may not target this machine.
	if code, body := call(frontAddr, "POST", "/api/v1/webhooks", `{"url":"http://127.0.0.1:9/hook"}`); code != 400 {
		t.Errorf("a webhook on this machine by default: %d %s, want 400", code, body)
	}
	// Each service's metrics are on its METRICS_ADDR, not on its API port
	// nor on the one origin.
	if code, body := call(metrics["TASKAPI_METRICS_ADDR"], "GET", "/metrics", ""); code != 200 || !strings.Contains(body, "http_request_duration_seconds") {
		t.Errorf("taskapi's metrics: %d %.200s", code, body)
	}
	for _, host := range []string{addr, frontAddr} {
		if code, _ := call(host, "GET", "/metrics", ""); code != 404 {
			t.Errorf("GET %s/metrics: %d, want 404", host, code)
		}
	}

	code, body := call(addr, "POST", "/api/v1/tasks",
		`{"title":"Stand-up","due_at":"2026-03-28T08:00:00Z","time_zone":"Europe/Berlin","recurrence":{"rule":"FREQ=DAILY"}}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var first struct{ ID string }
	if err := json.Unmarshal([]byte(body), &first); err != nil || first.ID == "" {
		t.Fatalf("create: %s (%v)", body, err)
	}
	if code, body := call(addr, "POST", "/api/v1/tasks/"+first.ID+"/complete", ""); code != 200 {
		t.Fatalf("complete: %d %s", code, body)
	}

	type listed struct {
		Items []struct {
			ID           string     `json:"id"`
			Status       string     `json:"status"`
			SeriesID     *string    `json:"series_id"`
			OccurrenceAt *time.Time `json:"occurrence_at"`
		} `json:"items"`
	}
	var next string
	kafkatest.Eventually(t, time.Minute, "the next occurrence", func() bool {
		code, body := call(addr, "GET", "/api/v1/tasks?status=open", "")
		var l listed
		if code != 200 || json.Unmarshal([]byte(body), &l) != nil {
			return false
		}
		for _, it := range l.Items {
			if it.SeriesID != nil && *it.SeriesID == first.ID && it.ID != first.ID {
				if want := time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC); it.OccurrenceAt == nil || !it.OccurrenceAt.Equal(want) {
					t.Errorf("next occurrence at %v, want %v (09:00 Berlin after the clocks went forward)", it.OccurrenceAt, want)
				}
				next = it.ID
				return true
			}
		}
		return false
	})
	kafkatest.Eventually(t, time.Minute, "the audit log of both tasks", func() bool {
		_, a := call(frontAddr, "GET", "/api/v1/audit?task_id="+first.ID, "")
		_, b := call(frontAddr, "GET", "/api/v1/audit?task_id="+next, "")
		return strings.Contains(a, events.TypeTaskCreated) && strings.Contains(a, events.TypeTaskCompleted) &&
			strings.Contains(b, events.TypeTaskCreated)
	})
	// The live client saw all three changes, the one made by recurring too.
	want := map[string]bool{
		events.TypeTaskCreated + " " + first.ID: true, events.TypeTaskCompleted + " " + first.ID: true,
		events.TypeTaskCreated + " " + next: true,
	}
	deadline := time.Now().Add(time.Minute)
	for len(want) > 0 && time.Now().Before(deadline) {
		select {
		case m, ok := <-live:
			if !ok {
				t.Fatalf("the socket closed; still missing %v", want)
			}
			delete(want, m)
		case <-time.After(time.Second):
		}
	}
	if len(want) > 0 {
		t.Errorf("the live client never saw %v", want)
	}

	code, body = call(frontAddr, "GET", "/api/v1/tasks?limit=200", "")
	var all listed
	if err := json.Unmarshal([]byte(body), &all); code != 200 || err != nil {
		t.Fatalf("list: %d %s", code, body)
	}
	if len(all.Items) != 2 {
		t.Errorf("%d tasks after completing a recurring one, want 2 (the completed one and its next occurrence)", len(all.Items))
	}
}

// brokerConfig is a client configuration for the embedded broker of the
// data folder dir, with its credentials.
func brokerConfig(t *testing.T, dir, addr string) kafka.Config {
	t.Helper()
	cfg := kafkatest.Config(addr)
	cfg.SASLMechanism, cfg.Username, cfg.Password = kafka.SASLScramSHA256, local.KafkaUser, readSecret(t, dir, local.KafkaPasswordFile)
	return cfg
}

// readSecret reads a password file of the data folder, which must be the
// user's alone.
func readSecret(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
	}
	b, err := os.ReadFile(p) //nolint:gosec // the test's own data folder
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// checkBackendsLocked: the platform's PostgreSQL and Kafka broker, which
// listen on loopback, refuse other users of the machine: a login without
// the password, a producer without credentials. The services' own role
// owns nothing, so it cannot empty the audit log.
func checkBackendsLocked(t *testing.T, dir, pgPort, kafkaAddr string) {
	t.Helper()
	ctx := context.Background()
	dsn := func(user, password string) string {
		u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: "127.0.0.1:" + pgPort, Path: "/todo", RawQuery: "sslmode=disable"}
		if password == "" {
			u.User = url.User(user)
		}
		return u.String()
	}
	for _, c := range []struct{ user, password string }{
		{"postgres", ""}, {"postgres", "guess"}, {local.RuntimeRole, ""}, {local.OwnerRole, ""}, {local.RuntimeRole, readSecret(t, dir, local.OwnerPasswordFile)},
	} {
		if conn, err := pgx.Connect(ctx, dsn(c.user, c.password)); err == nil {
			_ = conn.Close(ctx)
			t.Errorf("PostgreSQL let %s in with password %q", c.user, c.password)
		}
	}
	super, err := pgx.Connect(ctx, dsn("postgres", readSecret(t, dir, local.PostgresPasswordFile)))
	if err != nil {
		t.Errorf("the superuser with its password: %v", err)
	} else {
		_ = super.Close(ctx)
	}
	app, err := pgx.Connect(ctx, dsn(local.RuntimeRole, readSecret(t, dir, local.RuntimePasswordFile)))
	if err != nil {
		t.Fatalf("the services' role with its password: %v", err)
	}
	defer app.Close(ctx)
	var pgErr *pgconn.PgError
	if _, err := app.Exec(ctx, "TRUNCATE audit.entries"); !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Errorf("the services' role: TRUNCATE audit.entries: %v, want permission denied", err)
	}

	// A producer without credentials cannot publish (a forged event for
	// another user would reach her audit log and inbox).
	forged, err := events.NewTaskEvent("/todo/taskapi", events.TypeTaskCreated,
		task.Snapshot{ID: "00000000-0000-7000-8000-000000000001", OwnerID: "bob", Title: "forged"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := forged.MarshalJSON()
	p, err := kafka.NewProducer(kafkatest.Config(kafkaAddr), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Publish(ctx, broker.Publication{Topic: events.TopicTaskEvents, Key: "bob", Value: raw}); err == nil {
		t.Error("the embedded broker took an event from a producer without credentials")
	}
}
