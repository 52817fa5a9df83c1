package dapr

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/todo-platform/todo/pkg/broker"
)

// Paths the Subscriber serves.
const (
	SubscribePath = "/dapr/subscribe"
	EventsPrefix  = "/dapr/events/"
)

// Status is what the app answers the sidecar for a delivered event (with
// HTTP 200).
type Status string

// The statuses Dapr understands.
const (
	StatusSuccess Status = "SUCCESS" // done: the sidecar acknowledges the message
	StatusRetry   Status = "RETRY"   // not done: the sidecar delivers it again
	StatusDrop    Status = "DROP"    // cannot be handled here: acknowledged, dropped
)

// Subscriber is the http.Handler of a service's Dapr subscriptions. Mount it
// on the service's router under /dapr/ (mux.Handle("/dapr/", sub)); the
// sidecar calls
//
//   - GET /dapr/subscribe at its start, to learn the subscriptions: each
//     topic of Topics, routed to POST /dapr/events/<topic>;
//   - POST /dapr/events/<topic> for each message, with the CloudEvent as
//     body.
//
// A message is handed to Process (consume.Consumer.Process fits), which
// handles it, skips it as a duplicate or dead-letters it itself to
// <topic>.dlq, through the consumer's dead-letter publisher, with the error
// in its headers; in all three cases it returns nil and the answer is
// SUCCESS. An error from Process (the request ended first: the sidecar gave
// up on it or the service is stopping) answers RETRY, and the sidecar
// delivers the message again, as the Kafka transport does with a message it
// did not mark. A topic that is not one of Topics answers DROP.
//
// Why the subscriptions name no deadLetterTopic: the sidecar sends a message
// to a subscription's dead-letter topic as soon as the app answers RETRY (or
// fails) unless a resiliency policy retries it first (daprd 1.16.5 does so
// on the first RETRY), which would turn a delivery cut short by a restart
// into a dead letter. Dead-lettering is
// the consume runtime's, after its bounded retries, with the reason and the
// error it knows; RETRY always means "deliver it again".
type Subscriber struct {
	PubSub  string   // the pub/sub component's name (default "pubsub")
	Topics  []string // topics to subscribe to
	Process func(ctx context.Context, d broker.Delivery) error
	Log     *slog.Logger
	// AppToken, when set, is the token the sidecar sends as dapr-api-token
	// (its APP_API_TOKEN): requests without it are refused with 401, so that
	// nobody but the sidecar can inject events through a router that is
	// also the service's public one. Set it from APP_API_TOKEN.
	AppToken string
	// MaxBody bounds a delivered message's body (0: DefaultMaxBody). A
	// larger one is not read: it is answered DROP and logged, since it can
	// never be handled (the platform's events are a few KiB).
	MaxBody int64
}

// DefaultMaxBody is the largest delivery a Subscriber reads by default:
// Kafka's default largest message (1 MiB).
const DefaultMaxBody = 1 << 20

// Subscription is one programmatic subscription, as GET /dapr/subscribe
// lists them (Dapr's v1 format).
type Subscription struct {
	PubSubName      string            `json:"pubsubname"`
	Topic           string            `json:"topic"`
	Route           string            `json:"route"`
	DeadLetterTopic string            `json:"deadLetterTopic,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
}

// Subscriptions returns what GET /dapr/subscribe answers.
func (s *Subscriber) Subscriptions() []Subscription {
	ps := s.PubSub
	if ps == "" {
		ps = DefaultPubSub
	}
	out := make([]Subscription, 0, len(s.Topics))
	for _, t := range s.Topics {
		out = append(out, Subscription{PubSubName: ps, Topic: t, Route: EventsPrefix + t})
	}
	return out
}

func (s *Subscriber) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// ServeHTTP serves the subscription list and the deliveries.
func (s *Subscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.AppToken != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("dapr-api-token")), []byte(s.AppToken)) != 1 {
		http.Error(w, "invalid or missing dapr-api-token", http.StatusUnauthorized)
		return
	}
	switch {
	case r.URL.Path == SubscribePath:
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		writeJSON(w, s.Subscriptions())
	case strings.HasPrefix(r.URL.Path, EventsPrefix):
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		writeJSON(w, map[string]Status{"status": s.deliver(w, r)})
	default:
		http.NotFound(w, r)
	}
}

// deliver hands one delivered message to Process.
func (s *Subscriber) deliver(w http.ResponseWriter, r *http.Request) Status {
	topic := strings.TrimPrefix(r.URL.Path, EventsPrefix)
	known := false
	for _, t := range s.Topics {
		known = known || t == topic
	}
	if !known || s.Process == nil {
		s.log().Warn("dapr delivery for a topic not subscribed; dropped", "topic", topic)
		return StatusDrop
	}
	limit := s.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		s.log().Error("dapr delivery larger than the limit; dropped", "topic", topic, "limit_bytes", limit)
		return StatusDrop
	}
	if err != nil {
		// The sidecar's request broke off: it will not read the answer,
		// but say what should happen.
		s.log().Warn("dapr delivery not read; retry", "topic", topic, "err", err)
		return StatusRetry
	}
	d := delivery(r, topic, body)
	if err := s.Process(r.Context(), d); err != nil {
		s.log().Warn("dapr delivery not processed; retry", "message", d.String(), "err", err)
		return StatusRetry
	}
	return StatusSuccess
}

// delivery builds the broker.Delivery of a delivered message: the body as
// the sidecar delivers it (the published event plus the sidecar's
// attributes). The sidecar passes its component's message metadata as
// headers: Dapr's Kafka component names the key, partition and offset
// (__key, __partition, __offset); without them, the key is the event's
// partition key and the position is unknown (-1).
func delivery(r *http.Request, topic string, body []byte) broker.Delivery {
	d := broker.Delivery{Topic: topic, Partition: -1, Offset: -1, Value: body}
	if v := header(r, "__partition"); v != "" {
		if p, err := strconv.ParseInt(v, 10, 32); err == nil {
			d.Partition = int32(p)
		}
	}
	if v := header(r, "__offset"); v != "" {
		if o, err := strconv.ParseInt(v, 10, 64); err == nil {
			d.Offset = o
		}
	}
	if v := header(r, "__key"); v != "" {
		d.Key = []byte(v)
	} else {
		var e struct {
			Key string `json:"partitionkey"` // events.PartitionKeyExtension (a test compares them)
		}
		if json.Unmarshal(body, &e) == nil && e.Key != "" {
			d.Key = []byte(e.Key)
		}
	}
	return d
}

// header returns the metadata value name, as a header of its own or with
// Dapr's "metadata." prefix.
func header(r *http.Request, name string) string {
	if v := r.Header.Get(name); v != "" {
		return v
	}
	return r.Header.Get("metadata." + name)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func decodeJSON(b []byte, v any) error { return json.Unmarshal(b, v) }
