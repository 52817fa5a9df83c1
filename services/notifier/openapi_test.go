package notifier_test

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/services/notifier"
)

// TestOpenAPICoversRouter: the router serves exactly the operations the
// document describes. Every service with a document has this test, alike
// but for the service: each proves its own document against its own router.
func TestOpenAPICoversRouter(t *testing.T) {
	t.Parallel()
	h := notifier.NewServer(notifier.Deps{Store: notifier.NewStore(nil), Log: kafkatest.Logger(t), Registry: prometheus.NewRegistry()})
	servicetest.Document(t).CoversRouter(t, h)
}

// TestResponsesMatchOpenAPI drives every operation through the statuses it
// documents, on the platform's route of the document too, and validates
// what the server really sends.
func TestResponsesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	v := setup(t, options{attempts: 1})
	d := servicetest.Document(t)
	check := func(user, method, path, doc string, body any, want int) []byte {
		t.Helper()
		status, b := v.do(t, user, method, path, body)
		if status != want {
			t.Errorf("%s %s: %d %s, want %d", method, path, status, b, want)
		}
		d.Response(t, method, doc, status, b)
		return b
	}

	served := check("", http.MethodGet, notifier.OpenAPIPath, notifier.OpenAPIPath, nil, http.StatusOK)
	if b, _ := os.ReadFile("openapi.json"); string(served) != string(b) {
		t.Error("the served document is not openapi.json")
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		check("", http.MethodGet, p, p, nil, http.StatusOK)
	}

	h := newHook(t, -1)
	hook := check("alice", http.MethodPost, "/api/v1/webhooks", "/api/v1/webhooks", map[string]string{"url": h.srv.URL}, http.StatusCreated)
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(hook, &created); err != nil {
		t.Fatal(err)
	}
	check("alice", http.MethodPost, "/api/v1/webhooks", "/api/v1/webhooks", map[string]string{"url": "ftp://x"}, http.StatusBadRequest)
	check("alice", http.MethodGet, "/api/v1/webhooks", "/api/v1/webhooks", nil, http.StatusOK)
	check("", http.MethodGet, "/api/v1/webhooks", "/api/v1/webhooks", nil, http.StatusUnauthorized)
	check("alice", http.MethodGet, "/api/v1/notification-settings", "/api/v1/notification-settings", nil, http.StatusOK)
	check("alice", http.MethodPut, "/api/v1/notification-settings", "/api/v1/notification-settings",
		map[string]any{"email": "alice@example.com", "channels": []string{"in_app", "webhook"}}, http.StatusOK)
	check("alice", http.MethodPut, "/api/v1/notification-settings", "/api/v1/notification-settings", map[string]any{"channels": []string{"sms"}}, http.StatusBadRequest)

	id := "0190f1a2-0000-7000-8000-00000000ff01"
	apply(t, v, snapshot(id, 1, "call the bank", nil, at(time.Now().Add(100*time.Millisecond))), false)
	eventually(t, "the delivery failed", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.deliveries WHERE status = 'failed'`) == 1
	})
	list := check("alice", http.MethodGet, "/api/v1/notifications", "/api/v1/notifications", nil, http.StatusOK)
	check("alice", http.MethodGet, "/api/v1/notifications?limit=0", "/api/v1/notifications", nil, http.StatusBadRequest)
	var page inboxPage
	if err := json.Unmarshal(list, &page); err != nil || len(page.Items) != 1 {
		t.Fatalf("inbox: %s", list)
	}
	note := "/api/v1/notifications/" + page.Items[0].ID
	check("alice", http.MethodPost, note+"/read", "/api/v1/notifications/{id}/read", nil, http.StatusOK)
	check("bob", http.MethodPost, note+"/read", "/api/v1/notifications/{id}/read", nil, http.StatusNotFound)
	check("alice", http.MethodPost, note+"/snooze", "/api/v1/notifications/{id}/snooze", map[string]string{"for": "1h"}, http.StatusOK)
	check("alice", http.MethodPost, note+"/snooze", "/api/v1/notifications/{id}/snooze", map[string]string{"for": "soon"}, http.StatusBadRequest)
	check("alice", http.MethodGet, "/api/v1/deliveries", "/api/v1/deliveries", nil, http.StatusOK)
	check("alice", http.MethodGet, "/api/v1/deliveries?status=failed&limit=1", "/api/v1/deliveries", nil, http.StatusOK)
	check("alice", http.MethodGet, "/api/v1/deliveries?status=lost", "/api/v1/deliveries", nil, http.StatusBadRequest)

	done := snapshot(id, 2, "call the bank", nil)
	done.Status = "done"
	apply(t, v, done, false)
	check("alice", http.MethodPost, note+"/snooze", "/api/v1/notifications/{id}/snooze", map[string]string{"for": "1h"}, http.StatusConflict)
	check("alice", http.MethodDelete, "/api/v1/webhooks/"+created.ID, "/api/v1/webhooks/{id}", nil, http.StatusNoContent)
	check("alice", http.MethodDelete, "/api/v1/webhooks/"+created.ID, "/api/v1/webhooks/{id}", nil, http.StatusNotFound)
	check("alice", http.MethodGet, "/api/v1/deliveries", "/api/v1/deliveries", nil, http.StatusOK)
}
