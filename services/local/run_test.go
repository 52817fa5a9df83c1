package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/services/local"
)

// syncBuffer is a bytes.Buffer safe for the runner's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestUpKeepsDataAcrossRestarts runs the local platform as `make up` does,
// creates a task, stops it with its context (as Ctrl-C does), starts it
// again on the same data folder and finds the task there.
func TestUpKeepsDataAcrossRestarts(t *testing.T) {
	dir, err := os.MkdirTemp("", "todo-local-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// As root, PostgreSQL runs as the postgres user, which must enter the folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pgPort := strings.Split(freeAddr(t), ":")[1]
	addr := freeAddr(t)
	auditAddr := freeAddr(t)
	kafkaAddr := freeAddr(t)
	env := map[string]string{"LOCAL_DATA_DIR": dir, "LOCAL_PG_PORT": pgPort, "TASKAPI_ADDR": addr, "DATABASE_URL": "",
		"AUDIT_ADDR": auditAddr, "RECURRING_ADDR": freeAddr(t),
		"LOCAL_KAFKA_PORT": strings.Split(kafkaAddr, ":")[1], "KAFKA_BROKERS": ""}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}

	var tok bytes.Buffer
	if err := local.Run(context.Background(), []string{"todo-local", "token", "alice"}, getenv, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(tok.String())

	start := func() (stop func() string) {
		ctx, cancel := context.WithCancel(context.Background())
		out := &syncBuffer{}
		done := make(chan error, 1)
		go func() { done <- local.Run(ctx, []string{"todo-local", "up"}, getenv, out, out) }()
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(out.String(), "todo platform is up") {
			select {
			case err := <-done:
				t.Fatalf("up ended early: %v\n%s", err, out)
			default:
			}
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("not up after 2 minutes:\n%s", out)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return func() string {
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("up ended with %v\n%s", err, out)
			}
			return out.String()
		}
	}
	callAt := func(host, method, path, body string) (int, string) {
		req, _ := http.NewRequestWithContext(context.Background(), method, "http://"+host+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	call := func(method, path, body string) (int, string) { return callAt(addr, method, path, body) }

	// published reports whether the task-events topic holds the creation of
	// task id (the relay published taskapi's outbox to the embedded broker).
	published := func(id string) bool {
		for _, m := range kafkatest.Messages(t, kafkatest.Config(kafkaAddr), events.TopicTaskEvents) {
			if e, err := events.Parse(m.Value); err == nil && e.Subject() == id && e.Type() == events.TypeTaskCreated {
				return true
			}
		}
		return false
	}

	stop := start()
	code, body := call("POST", "/api/v1/tasks", `{"title":"Survive a restart"}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var created struct{ ID string }
	if err := json.Unmarshal([]byte(body), &created); err != nil || created.ID == "" {
		t.Fatalf("create: %s (%v)", body, err)
	}
	kafkatest.Eventually(t, time.Minute, "the task's event in the embedded broker", func() bool { return published(created.ID) })
	kafkatest.Eventually(t, time.Minute, "the task's creation in the audit log", func() bool {
		code, body := callAt(auditAddr, "GET", "/api/v1/audit?task_id="+created.ID, "")
		return code == 200 && strings.Contains(body, events.TypeTaskCreated)
	})
	out := stop()
	for _, want := range []string{"development token", "/api/v1/tasks", "stopping PostgreSQL", "kafka broker    " + kafkaAddr, "http://" + auditAddr + "/api/v1/audit", "stopping the Kafka broker"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	stop = start()
	defer stop()
	code, body = call("GET", "/api/v1/tasks", "")
	if code != 200 || !strings.Contains(body, "Survive a restart") {
		t.Fatalf("after restart: %d %s", code, body)
	}
	if !published(created.ID) {
		t.Error("the broker lost the task's event across the restart")
	}
}
