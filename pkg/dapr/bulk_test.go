package dapr

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/broker"
)

// TestBulkSubscriptions: with ProcessBatch and Bulk on, the subscriptions
// ask the sidecar for bulk delivery; without either, they do not.
func TestBulkSubscriptions(t *testing.T) {
	t.Parallel()
	batch := func(context.Context, []broker.Delivery) (int, error) { return 0, nil }
	for _, c := range []struct {
		s    *Subscriber
		want string
	}{
		{&Subscriber{Topics: []string{"t"}, ProcessBatch: batch, Bulk: DefaultBulk}, `{"enabled":true,"maxMessagesCount":100,"maxAwaitDurationMs":5}`},
		{&Subscriber{Topics: []string{"t"}, ProcessBatch: batch, Bulk: Bulk{MaxMessages: 1, MaxAwait: time.Second}}, ``},
		{&Subscriber{Topics: []string{"t"}, Bulk: DefaultBulk}, ``},
	} {
		got := ""
		if b := c.s.Subscriptions()[0].BulkSubscribe; b != nil {
			j, _ := json.Marshal(b)
			got = string(j)
		}
		if got != c.want {
			t.Errorf("bulkSubscribe %s, want %s", got, c.want)
		}
	}
	c, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"DAPR_BULK_MAX_MESSAGES": "20", "DAPR_BULK_MAX_AWAIT": "10ms"}[k]
	})
	if err != nil || c.Bulk != (Bulk{MaxMessages: 20, MaxAwait: 10 * time.Millisecond}) {
		t.Errorf("from env: %+v %v", c.Bulk, err)
	}
	if c, _ := ConfigFromEnv(func(string) string { return "" }); c.Bulk != DefaultBulk {
		t.Errorf("default bulk %+v", c.Bulk)
	}
	for _, bad := range []map[string]string{{"DAPR_BULK_MAX_MESSAGES": "-1"}, {"DAPR_BULK_MAX_MESSAGES": "x"}, {"DAPR_BULK_MAX_AWAIT": "0s"}, {"DAPR_BULK_MAX_AWAIT": "5"}} {
		if _, err := ConfigFromEnv(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestBulkDelivery: a batch goes to ProcessBatch with each entry's position,
// key and broker time; the entries it finished are SUCCESS, the rest RETRY;
// a topic not subscribed is DROP for every entry; a single message still
// goes to Process.
func TestBulkDelivery(t *testing.T) {
	t.Parallel()
	const ev = `{"specversion":"1.0","id":"e%d","source":"/t","type":"x.v1","partitionkey":"u1"}`
	var got [][]broker.Delivery
	var single []broker.Delivery
	finish := 3
	s := &Subscriber{Topics: []string{"task-events"}, Bulk: DefaultBulk,
		Process: func(_ context.Context, d broker.Delivery) error { single = append(single, d); return nil },
		ProcessBatch: func(_ context.Context, ds []broker.Delivery) (int, error) {
			got = append(got, ds)
			if finish < len(ds) {
				return finish, errors.New("stopping")
			}
			return len(ds), nil
		}}
	body := `{"id":"b1","topic":"task-events","pubsubname":"pubsub","type":"com.dapr.event.sent.bulk","entries":[` +
		`{"entryId":"0","event":` + strings.ReplaceAll(ev, "%d", "0") + `,"contentType":"application/cloudevents+json","metadata":{"__key":"k0","__partition":"2","__offset":"40","__timestamp":"1764800000123"}},` +
		`{"entryId":"1","event":` + strings.ReplaceAll(ev, "%d", "1") + `,"contentType":"application/cloudevents+json","metadata":{"__partition":"2","__offset":"41"}},` +
		`{"entryId":"2","event":"not json","contentType":"text/plain","metadata":{}},` +
		`{"entryId":"3","event":` + strings.ReplaceAll(ev, "%d", "3") + `,"metadata":{}}]}`
	post := func(path, body string) string {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		return strings.TrimSpace(rec.Body.String())
	}
	if a := post("/dapr/events/task-events", body); a != `{"statuses":[{"entryId":"0","status":"SUCCESS"},{"entryId":"1","status":"SUCCESS"},{"entryId":"2","status":"SUCCESS"},{"entryId":"3","status":"RETRY"}]}` {
		t.Errorf("answer %s", a)
	}
	if len(got) != 1 || len(got[0]) != 4 {
		t.Fatalf("batches %v", got)
	}
	d := got[0]
	if string(d[0].Key) != "k0" || d[0].Partition != 2 || d[0].Offset != 40 || !d[0].Timestamp.Equal(time.UnixMilli(1764800000123)) ||
		string(d[0].Value) != strings.ReplaceAll(ev, "%d", "0") {
		t.Errorf("first entry %+v %s", d[0], d[0].Value)
	}
	if string(d[1].Key) != "u1" || d[1].Offset != 41 || string(d[2].Value) != "not json" || d[3].Partition != -1 {
		t.Errorf("entries %+v", d)
	}
	if a := post("/dapr/events/other", body); !strings.Contains(a, `{"entryId":"3","status":"DROP"}`) || strings.Contains(a, "SUCCESS") || len(got) != 1 {
		t.Errorf("unknown topic: %s", a)
	}
	if a := post("/dapr/events/task-events", strings.ReplaceAll(ev, "%d", "9")); a != `{"status":"SUCCESS"}` || len(single) != 1 {
		t.Errorf("a single message: %s (%d)", a, len(single))
	}
}

// FuzzBulkDelivery: no body makes the subscriber panic or answer other than
// 200 with a status for each entry it read.
func FuzzBulkDelivery(f *testing.F) {
	f.Add(`{"entries":[{"entryId":"0","event":{"id":"x"},"metadata":{"__offset":"1"}}]}`)
	f.Add(`{"entries":[]}`)
	f.Add(`{"entries":null}`)
	f.Add(`{"specversion":"1.0"}`)
	f.Fuzz(func(t *testing.T, body string) {
		s := &Subscriber{Topics: []string{"t"}, Bulk: DefaultBulk,
			Process:      func(context.Context, broker.Delivery) error { return nil },
			ProcessBatch: func(_ context.Context, ds []broker.Delivery) (int, error) { return len(ds) / 2, nil }}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/dapr/events/t", strings.NewReader(body)))
		if rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		var a struct {
			Status   string
			Statuses []entryStatus
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || (a.Status == "" && a.Statuses == nil) {
			t.Fatalf("answer %s: %v", rec.Body, err)
		}
	})
}
