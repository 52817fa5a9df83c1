package realtime_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/services/taskapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestTaskCreatedOverHTTPReachesTheSocket: end to end, taskapi (with its
// outbox relay on Kafka) → kfake → realtime → WebSocket: a task created
// over HTTP appears on its owner's sockets, and not on another user's.
func TestTaskCreatedOverHTTPReachesTheSocket(t *testing.T) {
	t.Parallel()
	r, kcfg := kafkaReplica(t)

	apiAddr := servicetest.FreeAddr(t)
	env := map[string]string{
		"ADDR": apiAddr, "METRICS_ADDR": "127.0.0.1:0", "DATABASE_URL": dbtest.URL(t), "JWT_SECRET": jwtSecret, "LOG_FORMAT": "text",
		"EVENTS_TRANSPORT": "kafka", "KAFKA_BROKERS": strings.Join(kcfg.Brokers, ","),
	}
	api := servicetest.Start(t, taskapi.Run, []string{"taskapi"}, env, apiAddr, wait)

	phone, _ := connect(t, r.url(""), "alice")
	tab, _ := connect(t, r.url(""), "alice")
	other, _ := connect(t, r.url(""), "bob")

	create := func(user, title string) (int, []byte) {
		return servicetest.Call(t, http.MethodPost, "http://"+apiAddr+"/api/v1/tasks", token(t, user, time.Hour), `{"title":"`+title+`"}`)
	}
	code, body := create("alice", "Buy milk")
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s\n%s", code, body, api.Out)
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
	code, body = create("bob", "Bob's")
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	_ = json.Unmarshal(body, &created)
	if m := other.nextEvent(); m.taskID(t) != created.ID {
		t.Fatalf("bob got %+v, want only his %s", m, created.ID)
	}
}
