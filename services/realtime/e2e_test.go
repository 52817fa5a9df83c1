package realtime_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/services/taskapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestTaskCreatedOverHTTPReachesTheSocket: end to end, taskapi (with its
// outbox relay on Kafka) → kfake → realtime → WebSocket: a task created
// over HTTP appears on its owner's sockets, and not on another user's.
func TestTaskCreatedOverHTTPReachesTheSocket(t *testing.T) {
	t.Parallel()
	_, kcfg := kafkatest.Start(t)
	r := startReplica(t, kafkaEnv(kcfg))

	apiAddr := freeAddr(t)
	env := map[string]string{
		"ADDR": apiAddr, "METRICS_ADDR": "127.0.0.1:0", "DATABASE_URL": dbtest.URL(t), "JWT_SECRET": jwtSecret, "LOG_FORMAT": "text",
		"EVENTS_TRANSPORT": "kafka", "KAFKA_BROKERS": strings.Join(kcfg.Brokers, ","),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	out := &syncBuffer{}
	go func() {
		done <- taskapi.Run(ctx, []string{"taskapi"}, func(k string) string { return env[k] }, out, out)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("taskapi: %v\n%s", err, out)
		}
	})

	phone, _ := connect(t, r.url(""), "alice")
	tab, _ := connect(t, r.url(""), "alice")
	other, _ := connect(t, r.url(""), "bob")

	call := func(user, method, path, body string) (int, []byte) {
		req, _ := http.NewRequestWithContext(context.Background(), method, "http://"+apiAddr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token(t, user, time.Hour))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	var code int
	var body []byte
	kafkatest.Eventually(t, wait, "taskapi answers", func() bool {
		code, body = call("alice", http.MethodPost, "/api/v1/tasks", `{"title":"Buy milk"}`)
		return code != 0
	})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s\n%s", code, body, out)
	}
	var created struct{ ID string }
	if err := json.Unmarshal(body, &created); err != nil || created.ID == "" {
		t.Fatalf("create: %s (%v)", body, err)
	}
	for _, c := range []*wsClient{phone, tab} {
		m := c.nextEvent()
		if m.Event != events.TypeTaskCreated || m.taskID(t) != created.ID || !strings.Contains(string(m.Data), "Buy milk") {
			t.Fatalf("got %+v, want the creation of %s", m, created.ID)
		}
	}
	code, body = call("bob", http.MethodPost, "/api/v1/tasks", `{"title":"Bob's"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	_ = json.Unmarshal(body, &created)
	if m := other.nextEvent(); m.taskID(t) != created.ID {
		t.Fatalf("bob got %+v, want only his %s", m, created.ID)
	}
}
