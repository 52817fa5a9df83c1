package notifier_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/services/notifier"
)

// TestProbesAndAuth: the probes answer without a token; every /api/v1
// endpoint refuses a request without one.
func TestProbesAndAuth(t *testing.T) {
	t.Parallel()
	v := setup(t, options{})
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, b := v.do(t, "", http.MethodGet, p, nil); status != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, status, b)
		}
	}
	// The metrics are on a port of their own (METRICS_ADDR), never the API's.
	if status, _ := v.do(t, "", http.MethodGet, "/metrics", nil); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the API: %d, want 404", status)
	}
	id := "0190f1a2-0000-7000-8000-000000000001"
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/notifications"},
		{http.MethodPost, "/api/v1/notifications/" + id + "/read"},
		{http.MethodPost, "/api/v1/notifications/" + id + "/snooze"},
		{http.MethodGet, "/api/v1/webhooks"},
		{http.MethodPost, "/api/v1/webhooks"},
		{http.MethodDelete, "/api/v1/webhooks/" + id},
		{http.MethodGet, "/api/v1/notification-settings"},
		{http.MethodPut, "/api/v1/notification-settings"},
	} {
		if status, _ := v.do(t, "", c.method, c.path, nil); status != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", c.method, c.path, status)
		}
	}
}

type inboxItem struct {
	ID         string     `json:"id"`
	ReminderID string     `json:"reminder_id"`
	TaskID     string     `json:"task_id"`
	Title      string     `json:"title"`
	ReadAt     *time.Time `json:"read_at"`
}

type inboxPage struct {
	Items      []inboxItem `json:"items"`
	NextCursor *string     `json:"next_cursor"`
}

func (v *env) inbox(t *testing.T, user, query string) inboxPage {
	t.Helper()
	return servicetest.Get[inboxPage](t, v.api.URL+"/api/v1/notifications?"+query, servicetest.Token(t, jwtSecret, user))
}

// isProblem checks a 4xx answer is problem+json with the status.
func isProblem(t *testing.T, status int, b []byte, want int) {
	t.Helper()
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if status != want || json.Unmarshal(b, &p) != nil || p.Status != want || p.Detail == "" {
		t.Errorf("answer %d %s, want a %d problem", status, b, want)
	}
}

// TestInbox: the inbox lists unread first, then newest, page by page;
// reading moves an entry behind the unread ones; unread=true filters.
func TestInbox(t *testing.T) {
	t.Parallel()
	v := setup(t, options{})
	for i := range 5 {
		apply(t, v, snapshot(fmt.Sprintf("0190f1a2-0000-7000-8000-0000000ff0%02d", i), 1, fmt.Sprintf("task %d", i), nil, at(time.Now().Add(100*time.Millisecond))), false)
		time.Sleep(20 * time.Millisecond)
	}
	eventually(t, "five in the inbox", func() bool { return v.count(t, `SELECT count(*) FROM notifier.notifications`) == 5 })
	all := v.inbox(t, "alice", "")
	if len(all.Items) != 5 {
		t.Fatalf("%d items", len(all.Items))
	}
	oldest := all.Items[4].ID
	status, b := v.do(t, "alice", http.MethodPost, "/api/v1/notifications/"+all.Items[0].ID+"/read", nil)
	if status != http.StatusOK || !strings.Contains(string(b), `"read_at":"`) {
		t.Fatalf("read: %d %s", status, b)
	}
	after := v.inbox(t, "alice", "")
	if after.Items[4].ID != all.Items[0].ID || after.Items[0].ID != all.Items[1].ID || after.Items[3].ID != oldest {
		t.Errorf("after reading the newest, order is %+v", after.Items)
	}
	if got := v.inbox(t, "alice", "unread=true").Items; len(got) != 4 {
		t.Errorf("%d unread, want 4", len(got))
	}
	seen := servicetest.Pages(t, 2, 10, func(q string) ([]inboxItem, *string) {
		p := v.inbox(t, "alice", q)
		return p.Items, p.NextCursor
	}, func(it inboxItem) string { return it.ID })
	if len(seen) != 5 {
		t.Errorf("pages held %d entries, want 5", len(seen))
	}
	for _, q := range []string{"limit=0", "limit=201", "unread=maybe", "cursor=@@", "color=red", "limit=1&limit=2"} {
		status, b := v.do(t, "alice", http.MethodGet, "/api/v1/notifications?"+q, nil)
		isProblem(t, status, b, http.StatusBadRequest)
	}
}

// TestSnooze: a snoozed reminder fires again at its new time, once; bad
// snooze bodies are 400 problems; a reminder of a completed task cannot be
// snoozed.
func TestSnooze(t *testing.T) {
	t.Parallel()
	v := setup(t, options{})
	id := "0190f1a2-0000-7000-8000-0000000ab001"
	apply(t, v, snapshot(id, 1, "call mum", nil, at(time.Now().Add(100*time.Millisecond))), false)
	eventually(t, "in the inbox", func() bool { return len(v.inbox(t, "alice", "").Items) == 1 })
	n := v.inbox(t, "alice", "").Items[0]
	path := "/api/v1/notifications/" + n.ID + "/snooze"
	for _, body := range []string{`{}`, `{"for":"soon"}`, `{"for":"-5m"}`, `{"for":"0s"}`, `{"for":"400d"}`, `{"until":"yesterday"}`,
		`{"until":"2001-01-01T00:00:00Z"}`, `{"for":"1m","until":"2030-01-01T00:00:00Z"}`, `{"for":5}`, `{"later":"1m"}`, `[]`, `not json`, ``} {
		status, b := v.do(t, "alice", http.MethodPost, path, body)
		isProblem(t, status, b, http.StatusBadRequest)
	}
	status, b := v.do(t, "alice", http.MethodPost, path, map[string]string{"for": "1s"})
	if status != http.StatusOK {
		t.Fatalf("snooze: %d %s", status, b)
	}
	eventually(t, "the reminder fired again", func() bool { return v.fired(t, id) == 2 })
	eventually(t, "a second inbox entry", func() bool { return len(v.inbox(t, "alice", "").Items) == 2 })
	if got := v.inbox(t, "alice", "unread=true").Items; len(got) != 1 || got[0].ID == n.ID {
		t.Errorf("unread after snoozing: %+v, want only the new one", got)
	}
	v.settled(t, id)
	if got := v.fired(t, id); got != 2 {
		t.Errorf("%d events, want 2", got)
	}

	done := snapshot(id, 2, "call mum", nil, at(time.Now().Add(-time.Hour)))
	done.Status = "done"
	apply(t, v, done, false)
	status, b = v.do(t, "alice", http.MethodPost, path, map[string]string{"until": time.Now().Add(time.Hour).Format(time.RFC3339)})
	isProblem(t, status, b, http.StatusConflict)
}

// TestIsolation: every endpoint shows and changes only the caller's own
// notifications, webhooks and settings; another user's ids are 404.
func TestIsolation(t *testing.T) {
	t.Parallel()
	v := setup(t, options{})
	h := newHook(t, 0)
	v.register(t, "alice", h.srv.URL)
	apply(t, v, snapshot("0190f1a2-0000-7000-8000-0000000ac001", 1, "alice's secret", nil, at(time.Now().Add(100*time.Millisecond))), false)
	eventually(t, "in alice's inbox", func() bool { return len(v.inbox(t, "alice", "").Items) == 1 })
	note := v.inbox(t, "alice", "").Items[0].ID
	status, b := v.do(t, "alice", http.MethodGet, "/api/v1/webhooks", nil)
	var hooks struct {
		Items []struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		} `json:"items"`
	}
	if status != http.StatusOK || json.Unmarshal(b, &hooks) != nil || len(hooks.Items) != 1 || hooks.Items[0].Secret != "" {
		t.Fatalf("alice's webhooks: %d %s", status, b)
	}
	hookID := hooks.Items[0].ID
	if _, b := v.do(t, "alice", http.MethodPut, "/api/v1/notification-settings", map[string]any{"email": "alice@example.com", "channels": []string{"in_app", "email"}}); !strings.Contains(string(b), "alice@example.com") {
		t.Fatalf("alice's settings: %s", b)
	}

	if got := v.inbox(t, "bob", "").Items; len(got) != 0 {
		t.Errorf("bob's inbox holds %+v", got)
	}
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/api/v1/notifications/" + note + "/read"},
		{http.MethodPost, "/api/v1/notifications/" + note + "/snooze"},
		{http.MethodDelete, "/api/v1/webhooks/" + hookID},
		{http.MethodPost, "/api/v1/notifications/nope/read"},
		{http.MethodPost, "/api/v1/notifications/0190f1a2-0000-7000-8000-000000000000/snooze"},
		{http.MethodDelete, "/api/v1/webhooks/nope"},
	} {
		var body any
		if strings.HasSuffix(c.path, "/snooze") {
			body = map[string]string{"for": "10m"}
		}
		status, b := v.do(t, "bob", c.method, c.path, body)
		isProblem(t, status, b, http.StatusNotFound)
	}
	if status, b := v.do(t, "bob", http.MethodGet, "/api/v1/webhooks", nil); status != http.StatusOK || strings.Contains(string(b), hookID) {
		t.Errorf("bob's webhooks: %d %s", status, b)
	}
	if _, b := v.do(t, "bob", http.MethodGet, "/api/v1/notification-settings", nil); strings.Contains(string(b), "alice") {
		t.Errorf("bob's settings: %s", b)
	}
	// Alice's things are untouched.
	if got := v.inbox(t, "alice", "unread=true").Items; len(got) != 1 {
		t.Errorf("alice's unread after bob's attempts: %d", len(got))
	}
	if n := v.count(t, `SELECT count(*) FROM notifier.webhooks`); n != 1 {
		t.Errorf("%d webhooks after bob's delete", n)
	}
	if status, _ := v.do(t, "alice", http.MethodDelete, "/api/v1/webhooks/"+hookID, nil); status != http.StatusNoContent {
		t.Errorf("alice deletes her webhook: %d", status)
	}
}

// TestBadWebhooksAndSettings: malformed, non-http(s) and private targets
// are 400 problems at registration (private ones unless allowed); bad
// settings too.
func TestBadWebhooksAndSettings(t *testing.T) {
	t.Parallel()
	v := setup(t, options{})
	sv := v.withServer(t, notifier.Deps{}) // private targets not allowed
	for _, u := range []string{"", "ftp://example.com/x", "http://", "example.com/hook", "http://user:pw@example.com/", "javascript:alert(1)",
		"http://example.com:99999/", "http://127.0.0.1:8080/", "http://localhost/", "http://10.1.2.3/", "http://169.254.169.254/latest",
		"http://[::1]/", "http://[fd00::1]/", "http://0.0.0.0/", "http://100.64.0.1/", "http://[::ffff:127.0.0.1]/", "https://192.168.1.1/x",
		"http://[::127.0.0.1]/", "http://[fec0::1]/", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/"} {
		status, b := sv.do(t, "alice", http.MethodPost, "/api/v1/webhooks", map[string]string{"url": u})
		isProblem(t, status, b, http.StatusBadRequest)
	}
	for _, body := range []string{`{"url":5}`, `{"url":"http://example.com","x":1}`, `nope`} {
		status, b := sv.do(t, "alice", http.MethodPost, "/api/v1/webhooks", body)
		isProblem(t, status, b, http.StatusBadRequest)
	}
	// The operator may allow private targets (the test API does).
	if status, b := v.do(t, "alice", http.MethodPost, "/api/v1/webhooks", map[string]string{"url": "http://127.0.0.1:9/"}); status != http.StatusCreated {
		t.Errorf("private target allowed: %d %s", status, b)
	}
	for _, body := range []string{`{}`, `{"channels":["sms"]}`, `{"channels":["email"]}`, `{"email":"not an address","channels":[]}`,
		`{"email":"Ada <ada@example.com>","channels":["email"]}`} {
		status, b := v.do(t, "alice", http.MethodPut, "/api/v1/notification-settings", body)
		isProblem(t, status, b, http.StatusBadRequest)
	}
}
