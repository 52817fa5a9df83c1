package notifier_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/services/notifier"
)

// hook is a webhook receiver that fails its first failures requests.
type hook struct {
	srv      *httptest.Server
	mu       sync.Mutex
	failures int
	got      []received // every request
	ok       []received // the ones answered 2xx
}

type received struct {
	header http.Header
	body   []byte
}

func newHook(t *testing.T, failures int) *hook {
	h := &hook{failures: failures}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		rec := received{header: r.Header.Clone(), body: b}
		h.got = append(h.got, rec)
		if h.failures != 0 {
			h.failures--
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		h.ok = append(h.ok, rec)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) counts() (all, ok int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got), len(h.ok)
}

// register registers url as user's webhook and returns the secret.
func (v *env) register(t *testing.T, user, url string) string {
	t.Helper()
	status, b := v.do(t, user, http.MethodPost, "/api/v1/webhooks", map[string]string{"url": url})
	if status != http.StatusCreated {
		t.Fatalf("register webhook: %d %s", status, b)
	}
	var resp struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(b, &resp); err != nil || resp.Secret == "" {
		t.Fatalf("register webhook: %s", b)
	}
	return resp.Secret
}

// verifyAsDocumented checks a webhook the way README.md tells receivers to.
func verifyAsDocumented(secret string, r received) bool {
	ts := r.header.Get("Webhook-Timestamp")
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(r.body)))
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(r.header.Get("Webhook-Signature")))
}

// TestWebhookRecovers: a webhook target that fails for a while gets the
// reminder exactly once after it recovers, signed as documented, every
// attempt with the same Webhook-Id.
func TestWebhookRecovers(t *testing.T) {
	t.Parallel()
	v := setup(t, options{attempts: 10})
	h := newHook(t, 3)
	secret := v.register(t, "alice", h.srv.URL+"/hook")
	id := "0190f1a2-0000-7000-8000-00000000ee01"
	apply(t, v, snapshot(id, 1, "water the plants", nil, at(time.Now().Add(300*time.Millisecond))), false)
	eventually(t, "the webhook delivered", func() bool { _, ok := h.counts(); return ok == 1 })
	eventually(t, "the delivery marked sent", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.deliveries WHERE status = 'sent' AND attempts = 4`) == 1
	})
	v.deliveriesSettled(t)
	all, ok := h.counts()
	if all != 4 || ok != 1 {
		t.Errorf("%d requests, %d answered 2xx; want 4 and 1", all, ok)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	first := h.got[0].header.Get("Webhook-Id")
	for _, r := range h.got {
		if r.header.Get("Webhook-Id") != first || first == "" {
			t.Errorf("Webhook-Id %q, first attempt had %q", r.header.Get("Webhook-Id"), first)
		}
		if !verifyAsDocumented(secret, r) {
			t.Errorf("signature %q does not verify", r.header.Get("Webhook-Signature"))
		}
		if !notifier.Verify(secret, r.header.Get("Webhook-Timestamp"), r.header.Get("Webhook-Signature"), r.body, time.Now(), 5*time.Minute) {
			t.Error("notifier.Verify refuses the signature")
		}
	}
	e, err := events.Parse(h.ok[0].body)
	if err != nil {
		t.Fatal(err)
	}
	d, err := events.ReminderData(e)
	if err != nil || d.TaskID != id || d.TaskTitle != "water the plants" || d.OwnerID != "alice" {
		t.Errorf("webhook body: %+v %v", d, err)
	}
	if got := v.metric(t, "notifier_deliveries_retried_total"); got != 3 {
		t.Errorf("retried metric %v, want 3", got)
	}
	changed := append([]byte(nil), h.ok[0].body...)
	changed = append(changed, ' ')
	if notifier.Verify(secret, h.ok[0].header.Get("Webhook-Timestamp"), h.ok[0].header.Get("Webhook-Signature"), changed, time.Now(), time.Minute) {
		t.Error("a changed body verifies")
	}
}

// TestWebhookGivesUp: a target that never recovers is tried the configured
// number of times; the delivery is then failed and dead-lettered to
// reminders.dlq, and the inbox still has the notification.
func TestWebhookGivesUp(t *testing.T) {
	t.Parallel()
	v := setup(t, options{attempts: 3})
	h := newHook(t, -1)
	v.register(t, "alice", h.srv.URL)
	id := "0190f1a2-0000-7000-8000-00000000ee02"
	apply(t, v, snapshot(id, 1, "t", nil, at(time.Now().Add(200*time.Millisecond))), false)
	eventually(t, "the delivery failed", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.deliveries WHERE status = 'failed' AND attempts = 3`) == 1
	})
	eventually(t, "the dead letter published", func() bool {
		return len(kafkatest.Messages(t, v.kcfg, events.DeadLetterTopic(events.TopicReminders))) == 1
	})
	m := kafkatest.Messages(t, v.kcfg, events.DeadLetterTopic(events.TopicReminders))[0]
	e, err := events.Parse(m.Value)
	if err != nil {
		t.Fatal(err)
	}
	if e.Extensions()["deliverychannel"] != notifier.ChannelWebhook || e.Extensions()["deliveryerror"] == nil || e.Subject() != id {
		t.Errorf("dead letter: %v", e)
	}
	if all, _ := h.counts(); all != 3 {
		t.Errorf("%d requests, want 3", all)
	}
	if got := v.metric(t, "notifier_deliveries_failed_total"); got != 1 {
		t.Errorf("failed metric %v, want 1", got)
	}
	if n := v.count(t, `SELECT count(*) FROM notifier.notifications WHERE task_id = $1`, id); n != 1 {
		t.Errorf("%d inbox entries, want 1", n)
	}
}

// TestRedeliveryDeliversNothingTwice: the same reminder.due event delivered
// again adds no inbox entry and sends no second webhook or email.
func TestRedeliveryDeliversNothingTwice(t *testing.T) {
	t.Parallel()
	ms := startMailServer(t)
	v := setup(t, options{mailer: ms.mailer(t, ms.addr)})
	h := newHook(t, 0)
	v.register(t, "alice", h.srv.URL)
	if status, b := v.do(t, "alice", http.MethodPut, "/api/v1/notification-settings",
		map[string]any{"email": "alice@example.com", "channels": []string{"in_app", "email", "webhook"}}); status != http.StatusOK {
		t.Fatalf("settings: %d %s", status, b)
	}
	id := "0190f1a2-0000-7000-8000-00000000ee03"
	apply(t, v, snapshot(id, 1, "t", nil, at(time.Now().Add(200*time.Millisecond))), false)
	eventually(t, "the webhook delivered", func() bool { _, ok := h.counts(); return ok == 1 })
	eventually(t, "the email delivered", func() bool { return len(ms.received()) == 1 })
	msgs := kafkatest.Messages(t, v.kcfg, events.TopicReminders)
	if len(msgs) != 1 {
		t.Fatalf("%d messages on reminders, want 1", len(msgs))
	}
	for range 2 {
		if err := v.pub.Publish(context.Background(), broker.Publication{Topic: events.TopicReminders, Key: msgs[0].Key, Value: msgs[0].Value}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both copies seen", func() bool { return v.metric(t, "consumer_events_duplicate_total") >= 2 })
	v.settled(t)
	v.deliveriesSettled(t)
	if all, _ := h.counts(); all != 1 {
		t.Errorf("%d webhook requests, want 1", all)
	}
	if n := v.count(t, `SELECT count(*) FROM notifier.notifications`); n != 1 {
		t.Errorf("%d inbox entries, want 1", n)
	}
	if n := len(ms.received()); n != 1 {
		t.Errorf("%d emails, want 1", n)
	}
	if n := v.count(t, `SELECT count(*) FROM notifier.deliveries`); n != 2 {
		t.Errorf("%d deliveries, want 2 (webhook and email)", n)
	}
}

// TestMalformedEventsAreDeadLettered: messages the notifier cannot read go
// to the dead-letter topics; the consumer moves on.
func TestMalformedEventsAreDeadLettered(t *testing.T) {
	t.Parallel()
	v := setup(t, options{})
	ctx := context.Background()
	bad, err := events.NewReminderDueEvent(notifier.Source, events.ReminderDue{ReminderID: "not-a-uuid", TaskID: "t", OwnerID: "alice", FireAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(bad)
	for _, p := range []broker.Publication{
		{Topic: events.TopicReminders, Key: "alice", Value: []byte("not json")},
		{Topic: events.TopicReminders, Key: "alice", Value: b},
		{Topic: events.TopicTaskEvents, Key: "alice", Value: []byte(`{"specversion":"1.0","id":"x","source":"/s","type":"todo.task.created.v1","data":{"title":"no id"}}`)},
	} {
		if err := v.pub.Publish(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "dead letters", func() bool {
		return len(kafkatest.Messages(t, v.kcfg, events.DeadLetterTopic(events.TopicReminders))) == 2 &&
			len(kafkatest.Messages(t, v.kcfg, events.DeadLetterTopic(events.TopicTaskEvents))) == 1
	})
	// And it still works.
	apply(t, v, snapshot("0190f1a2-0000-7000-8000-00000000ee04", 1, "t", nil, at(time.Now().Add(100*time.Millisecond))), false)
	eventually(t, "the inbox filled", func() bool { return v.count(t, `SELECT count(*) FROM notifier.notifications`) == 1 })
}

// deliveryPage is a page of deliveries as a client reads it: written apart
// from the server's types, so that a change to what the API sends shows
// here.
type deliveryPage struct {
	Items []struct {
		ID        string  `json:"id"`
		Channel   string  `json:"channel"`
		Target    *string `json:"target"`
		WebhookID *string `json:"webhook_id"`
		Status    string  `json:"status"`
		Attempts  int     `json:"attempts"`
		LastError *string `json:"last_error"`
		TaskID    string  `json:"task_id"`
		TaskTitle string  `json:"task_title"`
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func (v *env) deliveries(t *testing.T, user, query string) deliveryPage {
	t.Helper()
	return servicetest.Get[deliveryPage](t, v.api.URL+"/api/v1/deliveries?"+query, servicetest.Token(t, jwtSecret, user))
}

// TestListDeliveries: a user sees their own deliveries, newest first, with
// the outcome of each (the failed one with its error), filtered by status
// and page by page; another user sees none of them; a deleted webhook's
// deliveries stay listed without its URL.
func TestListDeliveries(t *testing.T) {
	t.Parallel()
	v := setup(t, options{attempts: 2})
	good, bad := newHook(t, 0), newHook(t, -1)
	v.register(t, "alice", good.srv.URL+"/ok")
	v.register(t, "alice", bad.srv.URL+"/down")
	id := "0190f1a2-0000-7000-8000-00000000ee05"
	apply(t, v, snapshot(id, 1, "feed the cat", nil, at(time.Now().Add(100*time.Millisecond))), false)
	eventually(t, "one sent, one failed", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.deliveries WHERE status IN ('sent', 'failed')`) == 2
	})

	all := v.deliveries(t, "alice", "")
	if len(all.Items) != 2 || all.NextCursor != nil {
		t.Fatalf("alice's deliveries: %+v", all)
	}
	byStatus := map[string]int{}
	for i, d := range all.Items {
		byStatus[d.Status] = i
		if d.Channel != notifier.ChannelWebhook || d.TaskID != id || d.TaskTitle != "feed the cat" || d.Target == nil || d.WebhookID == nil {
			t.Errorf("delivery %+v", d)
		}
	}
	sent, failed := all.Items[byStatus["sent"]], all.Items[byStatus["failed"]]
	if sent.Status != "sent" || *sent.Target != good.srv.URL+"/ok" || sent.LastError != nil || sent.Attempts != 1 {
		t.Errorf("the sent delivery: %+v", sent)
	}
	if failed.Status != "failed" || *failed.Target != bad.srv.URL+"/down" || failed.LastError == nil || !strings.Contains(*failed.LastError, "500") || failed.Attempts != 2 {
		t.Errorf("the failed delivery: %+v (error %v)", failed, failed.LastError)
	}
	if got := v.deliveries(t, "alice", "status=failed").Items; len(got) != 1 || got[0].ID != failed.ID {
		t.Errorf("status=failed: %+v", got)
	}
	if got := v.deliveries(t, "alice", "status=pending").Items; len(got) != 0 {
		t.Errorf("status=pending: %+v", got)
	}
	first := v.deliveries(t, "alice", "limit=1")
	if len(first.Items) != 1 || first.NextCursor == nil || first.Items[0].ID != all.Items[0].ID {
		t.Fatalf("first page: %+v", first)
	}
	second := v.deliveries(t, "alice", "limit=1&cursor="+url.QueryEscape(*first.NextCursor))
	if len(second.Items) != 1 || second.NextCursor != nil || second.Items[0].ID != all.Items[1].ID {
		t.Errorf("second page: %+v", second)
	}

	if got := v.deliveries(t, "bob", "").Items; len(got) != 0 {
		t.Errorf("bob sees %+v", got)
	}
	for _, q := range []string{"status=lost", "limit=0", "limit=201", "cursor=@@", "webhook=1", "status=sent&status=failed"} {
		status, b := v.do(t, "alice", http.MethodGet, "/api/v1/deliveries?"+q, nil)
		isProblem(t, status, b, http.StatusBadRequest)
	}
	if status, _ := v.do(t, "", http.MethodGet, "/api/v1/deliveries", nil); status != http.StatusUnauthorized {
		t.Errorf("without a token: %d", status)
	}

	if status, b := v.do(t, "alice", http.MethodDelete, "/api/v1/webhooks/"+*failed.WebhookID, nil); status != http.StatusNoContent {
		t.Fatalf("delete webhook: %d %s", status, b)
	}
	after := v.deliveries(t, "alice", "status=failed").Items
	if len(after) != 1 || after[0].Target != nil || after[0].LastError == nil {
		t.Errorf("after deleting its webhook: %+v", after)
	}
}
