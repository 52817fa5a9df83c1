package transport_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/dapr"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/transport"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		vars    map[string]string
		kind    string
		wantErr string
	}{
		{"kafka by default", map[string]string{"KAFKA_BROKERS": "k:9092"}, transport.Kafka, ""},
		{"kafka needs brokers", map[string]string{}, "", "KAFKA_BROKERS"},
		{"dapr needs no brokers", map[string]string{"EVENTS_TRANSPORT": "dapr"}, transport.Dapr, ""},
		{"case and spaces", map[string]string{"EVENTS_TRANSPORT": " Dapr "}, transport.Dapr, ""},
		{"bad dapr port", map[string]string{"EVENTS_TRANSPORT": "dapr", "DAPR_HTTP_PORT": "0x"}, "", "DAPR_HTTP_PORT"},
		{"unknown transport", map[string]string{"EVENTS_TRANSPORT": "nats"}, "", `EVENTS_TRANSPORT="nats"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := transport.ConfigFromEnv(env(tc.vars))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.Kind != tc.kind {
				t.Fatalf("got %+v, %v; want kind %s", c, err, tc.kind)
			}
		})
	}
	c, err := transport.ConfigFromEnv(env(map[string]string{"EVENTS_TRANSPORT": "dapr", "DAPR_PUBSUB": "pubsub-realtime", "APP_API_TOKEN": "app", "DAPR_API_TOKEN": "api"}))
	if err != nil || c.Dapr.PubSub != "pubsub-realtime" || c.AppToken != "app" || c.Dapr.APIToken != "api" {
		t.Errorf("dapr settings: %+v %v", c, err)
	}
}

// With Dapr, Subscribe gives the handler the sidecar calls: it lists the
// subscriptions on the configured component and hands deliveries to
// Process, refusing callers without the app token.
func TestSubscribeThroughDapr(t *testing.T) {
	t.Parallel()
	tr, err := transport.Open(transport.Config{Kind: transport.Dapr, Dapr: dapr.Config{PubSub: "pubsub-realtime"}, AppToken: "app-token"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tr.Close() }()
	got := make(chan broker.Delivery, 1)
	h, loop, err := tr.Subscribe(transport.Subscription{Group: "g", Topics: []string{"task-events"}, Process: func(_ context.Context, d broker.Delivery) error {
		got <- d
		return nil
	}})
	if err != nil || h == nil || loop == nil {
		t.Fatalf("Subscribe: handler %v, loop %t, %v", h, loop != nil, err)
	}

	req := httptest.NewRequest(http.MethodGet, dapr.SubscribePath, nil)
	req.Header.Set("dapr-api-token", "app-token")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var subs []dapr.Subscription
	if err := json.Unmarshal(rec.Body.Bytes(), &subs); err != nil || len(subs) != 1 || subs[0].PubSubName != "pubsub-realtime" || subs[0].Topic != "task-events" {
		t.Fatalf("subscriptions %s (%v)", rec.Body, err)
	}

	body := `{"specversion":"1.0","id":"e1","source":"/t","type":"todo.task.created.v1","subject":"t1","partitionkey":"u1","data":{}}`
	req = httptest.NewRequest(http.MethodPost, dapr.EventsPrefix+"task-events", strings.NewReader(body))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("delivery without the app token: %d", rec.Code)
	}
	req = httptest.NewRequest(http.MethodPost, dapr.EventsPrefix+"task-events", strings.NewReader(body))
	req.Header.Set("dapr-api-token", "app-token")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "SUCCESS") {
		t.Fatalf("delivery: %d %s", rec.Code, rec.Body)
	}
	if d := <-got; d.Topic != "task-events" || string(d.Key) != "u1" {
		t.Errorf("delivery %+v", d)
	}

	// The loop only waits: the sidecar drives the deliveries.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := loop(ctx); err != nil {
		t.Errorf("loop: %v", err)
	}
}

func TestSubscribeNeedsTheBasics(t *testing.T) {
	t.Parallel()
	tr, err := transport.Open(transport.Config{Kind: transport.Kafka, Kafka: kafka.Config{Brokers: []string{"127.0.0.1:1"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tr.Close() }()
	if _, _, err := tr.Subscribe(transport.Subscription{Topics: []string{"x"}}); err == nil {
		t.Error("a subscription without group and Process accepted")
	}
	if tr.Kind() != transport.Kafka {
		t.Errorf("kind %s", tr.Kind())
	}
	if _, err := transport.Open(transport.Config{Kind: "nats"}, nil); err == nil {
		t.Error("unknown transport opened")
	}
}
