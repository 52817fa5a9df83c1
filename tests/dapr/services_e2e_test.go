//go:build e2e && linux

package dapr

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/services/audit"
	"github.com/todo-platform/todo/services/recurring"
	"github.com/todo-platform/todo/services/taskapi"
)

// TestServicesThroughDapr runs taskapi, recurring and audit with
// EVENTS_TRANSPORT=dapr, each beside its own daprd (app id = service,
// consumer group = app id), as a Kubernetes pod would: taskapi's relay
// publishes through its sidecar, and recurring and audit receive through
// their sidecars' subscriptions, which call the handler each service mounts
// at /dapr/. A daily recurring task is created and completed: exactly one
// next occurrence appears, and the audit log shows both tasks' events.
func TestServicesThroughDapr(t *testing.T) {
	_, kcfg := kafkatest.Start(t)
	brokers := strings.Join(kcfg.Brokers, ",")
	dbURL := dbtest.URL(t)
	secret := "services-through-dapr-jwt-secret-0123456789"
	internal := "services-through-dapr-internal-token"

	ctx, cancel := context.WithCancel(context.Background())
	type running struct {
		name string
		done chan error
	}
	var all []running
	t.Cleanup(func() {
		cancel()
		for _, r := range all {
			select {
			case err := <-r.done:
				if err != nil {
					t.Errorf("%s ended with %v", r.name, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop within 30 s", r.name)
			}
		}
	})
	// start runs a service on a free port, waits until it is ready, then
	// starts its sidecar pointing at it.
	start := func(name string, run func(context.Context, []string, func(string) string, io.Writer, io.Writer) error, extra map[string]string) string {
		appPort := freePort(t)
		addr := "127.0.0.1:" + strconv.Itoa(appPort)
		daprPort := freePort(t) // the sidecar's HTTP port, known before it starts
		vars := map[string]string{
			"ADDR": addr, "METRICS_ADDR": "127.0.0.1:0", "DATABASE_URL": dbURL, "JWT_SECRET": secret, "INTERNAL_TOKEN": internal, "LOG_LEVEL": "warn",
			"EVENTS_TRANSPORT": "dapr", "DAPR_HTTP_PORT": strconv.Itoa(daprPort), "DAPR_API_TOKEN": apiToken, "APP_API_TOKEN": appToken,
		}
		for k, v := range extra {
			vars[k] = v
		}
		r := running{name: name, done: make(chan error, 1)}
		all = append(all, r)
		go func() {
			r.done <- run(ctx, []string{name}, func(k string) string { return vars[k] }, io.Discard, io.Discard)
		}()
		waitReady(t, "http://"+addr+"/readyz")
		startDaprdOn(t, name, appPort, daprPort, brokers)
		return "http://" + addr
	}
	api := start("taskapi", taskapi.Run, nil)
	start("recurring", recurring.Run, map[string]string{"TASKAPI_URL": api})
	auditURL := start("audit", audit.Run, nil)

	tok, err := auth.IssueHS256(secret, "alice", "", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	call := func(base, method, path, body string) (int, string) {
		req, _ := http.NewRequestWithContext(context.Background(), method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, body := call(api, "POST", "/api/v1/tasks",
		`{"title":"Water the plants","due_at":"2026-03-28T08:00:00Z","time_zone":"Europe/Berlin","recurrence":{"rule":"FREQ=DAILY"}}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var first struct{ ID string }
	if err := json.Unmarshal([]byte(body), &first); err != nil || first.ID == "" {
		t.Fatalf("create: %s (%v)", body, err)
	}
	if code, body := call(api, "POST", "/api/v1/tasks/"+first.ID+"/complete", ""); code != http.StatusOK {
		t.Fatalf("complete: %d %s", code, body)
	}

	type listed struct {
		Items []struct {
			ID           string     `json:"id"`
			SeriesID     *string    `json:"series_id"`
			OccurrenceAt *time.Time `json:"occurrence_at"`
		} `json:"items"`
	}
	// The same check as services/local's run test makes with the kafka
	// transport, written out in each: an end-to-end test reads as the
	// journey it checks, and the two build under different tags.
	var next string
	kafkatest.Eventually(t, wait, "the next occurrence, made by recurring from the event its sidecar delivered", func() bool {
		code, body := call(api, "GET", "/api/v1/tasks?status=open", "")
		var l listed
		if code != http.StatusOK || json.Unmarshal([]byte(body), &l) != nil {
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
	kafkatest.Eventually(t, wait, "the audit log of both tasks, delivered by audit's sidecar", func() bool {
		_, a := call(auditURL, "GET", "/api/v1/audit?task_id="+first.ID, "")
		_, b := call(auditURL, "GET", "/api/v1/audit?task_id="+next, "")
		return strings.Contains(a, events.TypeTaskCreated) && strings.Contains(a, events.TypeTaskCompleted) &&
			strings.Contains(b, events.TypeTaskCreated)
	})
	code, body = call(api, "GET", "/api/v1/tasks?limit=200", "")
	var l listed
	if err := json.Unmarshal([]byte(body), &l); code != http.StatusOK || err != nil {
		t.Fatalf("list: %d %s", code, body)
	}
	if len(l.Items) != 2 {
		t.Errorf("%d tasks after completing a recurring one, want 2 (the completed one and its next occurrence)", len(l.Items))
	}

	// Nobody but the sidecar may deliver: the services' /dapr/ handlers
	// refuse a caller without the app token.
	resp, err := http.Post(auditURL+"/dapr/events/task-events", "application/cloudevents+json", strings.NewReader(string(event("forged", events.TypeTaskCreated, "alice"))))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a delivery without the app token: %d, want 401", resp.StatusCode)
	}
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	kafkatest.Eventually(t, wait, url, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
