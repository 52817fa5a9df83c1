package dapr

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/task"
)

// sidecar starts a fake sidecar answering status with body, and returns a
// publisher to it and the requests it got.
func sidecar(t *testing.T, status int, body string) (*Publisher, func() []*http.Request, func() [][]byte) {
	t.Helper()
	var mu sync.Mutex
	var reqs []*http.Request
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, r)
		bodies = append(bodies, b)
		mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	p, _ := strconv.Atoi(port)
	pub, err := NewPublisher(Config{HTTPPort: p, PubSub: "kafka-pubsub", APIToken: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	return pub,
		func() []*http.Request { mu.Lock(); defer mu.Unlock(); return reqs },
		func() [][]byte { mu.Lock(); defer mu.Unlock(); return bodies }
}

func TestPublishRequest(t *testing.T) {
	pub, reqs, bodies := sidecar(t, http.StatusNoContent, "")
	err := pub.Publish(context.Background(), broker.Publication{
		Topic: "task-events", Key: "user 1", Value: []byte(`{"id":"e1"}`), EventID: "e1",
		Headers: map[string]string{"dlq_reason": "failed"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := reqs()[0]
	if r.Method != http.MethodPost || r.URL.Path != "/v1.0/publish/kafka-pubsub/task-events" {
		t.Errorf("request %s %s", r.Method, r.URL.Path)
	}
	if got := r.URL.Query().Get("metadata.partitionKey"); got != "user 1" {
		t.Errorf("partition key %q", got)
	}
	if got := r.URL.Query().Get("metadata.dlq_reason"); got != "failed" {
		t.Errorf("header metadata %q", got)
	}
	if got := r.Header.Get("Content-Type"); got != ContentType {
		t.Errorf("content type %q", got)
	}
	if got := r.Header.Get("dapr-api-token"); got != "secret" {
		t.Errorf("token %q", got)
	}
	if got := string(bodies()[0]); got != `{"id":"e1"}` {
		t.Errorf("body %q", got)
	}
}

func TestPublishErrors(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusNotFound, http.StatusInternalServerError} {
		pub, _, _ := sidecar(t, status, `{"errorCode":"ERR_PUBSUB_PUBLISH_MESSAGE","message":"broker says no"}`)
		err := pub.Publish(context.Background(), broker.Publication{Topic: "t", Value: []byte(`{}`)})
		if err == nil || !strings.Contains(err.Error(), "broker says no") || !strings.Contains(err.Error(), strconv.Itoa(status)) {
			t.Errorf("status %d: err %v", status, err)
		}
	}
	// No sidecar at all.
	pub, err := NewPublisher(Config{HTTPPort: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(context.Background(), broker.Publication{Topic: "t"}); err == nil {
		t.Error("publish without a sidecar succeeded")
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ConfigFromEnv(env(nil))
	if err != nil || c.HTTPPort != 3500 || c.PubSub != "pubsub" || c.APIToken != "" {
		t.Errorf("defaults: %+v %v", c, err)
	}
	c, err = ConfigFromEnv(env(map[string]string{"DAPR_HTTP_PORT": "3601", "DAPR_PUBSUB": "events", "DAPR_API_TOKEN": "tok"}))
	if err != nil || c.HTTPPort != 3601 || c.PubSub != "events" || c.APIToken != "tok" {
		t.Errorf("from env: %+v %v", c, err)
	}
	if _, err := ConfigFromEnv(env(map[string]string{"DAPR_HTTP_PORT": "x"})); err == nil {
		t.Error("bad port accepted")
	}
}

func TestSubscribe(t *testing.T) {
	s := &Subscriber{PubSub: "kafka-pubsub", Topics: []string{"task-events", "reminders"}}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, SubscribePath, nil))
	var subs []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &subs); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
	}
	if len(subs) != 2 || subs[0]["pubsubname"] != "kafka-pubsub" || subs[0]["topic"] != "task-events" ||
		subs[0]["route"] != "/dapr/events/task-events" || subs[1]["route"] != "/dapr/events/reminders" {
		t.Errorf("subscriptions %s", rec.Body)
	}
}

func TestDeliveryStatus(t *testing.T) {
	const ev = `{"specversion":"1.0","id":"e1","source":"/t","type":"x.v1","partitionkey":"u1","pubsubname":"pubsub"}`
	var got []broker.Delivery
	var fail error
	s := &Subscriber{Topics: []string{"task-events"}, Process: func(_ context.Context, d broker.Delivery) error {
		got = append(got, d)
		return fail
	}}
	post := func(path, body string, h map[string]string) string {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", ContentType)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var a struct{ Status string }
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &a) != nil {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		return a.Status
	}
	if st := post("/dapr/events/task-events", ev, nil); st != "SUCCESS" {
		t.Errorf("handled: %s", st)
	}
	d := got[0]
	if d.Topic != "task-events" || string(d.Key) != "u1" || d.Partition != -1 || d.Offset != -1 || string(d.Value) != ev {
		t.Errorf("delivery %+v", d)
	}
	post("/dapr/events/task-events", ev, map[string]string{"__key": "k", "__partition": "3", "__offset": "42"})
	if d := got[1]; string(d.Key) != "k" || d.Partition != 3 || d.Offset != 42 {
		t.Errorf("delivery with metadata %+v", d)
	}
	fail = errors.New("context canceled")
	if st := post("/dapr/events/task-events", ev, nil); st != "RETRY" {
		t.Errorf("not processed: %s", st)
	}
	if st := post("/dapr/events/other", ev, nil); st != "DROP" || len(got) != 3 {
		t.Errorf("unknown topic: %s (%d processed)", st, len(got))
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dapr/events/task-events", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET delivery: %d", rec.Code)
	}
}

func TestAppToken(t *testing.T) {
	s := &Subscriber{Topics: []string{"t"}, AppToken: "app-secret", Process: func(context.Context, broker.Delivery) error { return nil }}
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{http.MethodGet, SubscribePath, "", http.StatusUnauthorized},
		{http.MethodPost, "/dapr/events/t", "wrong", http.StatusUnauthorized},
		{http.MethodGet, SubscribePath, "app-secret", http.StatusOK},
		{http.MethodPost, "/dapr/events/t", "app-secret", http.StatusOK},
	} {
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(`{}`))
		if c.token != "" {
			req.Header.Set("dapr-api-token", c.token)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%s %s token %q: %d, want %d", c.method, c.path, c.token, rec.Code, c.want)
		}
	}
}

// TestDeliveryKeyFromTheEventsPartitionKey: without the Kafka component's
// __key, a delivery's key is the event's partition key, read under the name
// pkg/events gives the extension (this package does not import it).
func TestDeliveryKeyFromTheEventsPartitionKey(t *testing.T) {
	e, err := events.NewTaskEvent("/t", events.TypeTaskCreated, task.Snapshot{ID: "t1", OwnerID: "owner-7"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/dapr/events/task-events", nil)
	if d := delivery(r, events.TopicTaskEvents, body); string(d.Key) != events.PartitionKey(e) || events.PartitionKey(e) != "owner-7" {
		t.Errorf("key %q, want the event's partition key %q", d.Key, events.PartitionKey(e))
	}
}
