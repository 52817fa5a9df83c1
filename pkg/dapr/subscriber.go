package dapr

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

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
// With ProcessBatch and Bulk set, the subscriptions ask for bulk delivery,
// and the sidecar sends a partition's messages in batches to the same
// route; each batch goes to ProcessBatch (below, what holds for a message
// holds for each entry).
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
	// ProcessBatch, with Bulk on, handles a batch of one partition's
	// messages, in order (consume.Consumer.ProcessBatch fits): the sidecar
	// then delivers in batches (bulk subscribe), and the messages it
	// finished are answered SUCCESS, the rest RETRY.
	ProcessBatch func(ctx context.Context, ds []broker.Delivery) (int, error)
	Bulk         Bulk
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
	BulkSubscribe   *BulkSubscribe    `json:"bulkSubscribe,omitempty"`
}

// BulkSubscribe is a subscription's bulk delivery, in Dapr's format.
type BulkSubscribe struct {
	Enabled            bool  `json:"enabled"`
	MaxMessagesCount   int32 `json:"maxMessagesCount,omitempty"`
	MaxAwaitDurationMs int32 `json:"maxAwaitDurationMs,omitempty"`
}

// bulk says whether the sidecar delivers in batches.
func (s *Subscriber) bulk() bool { return s.ProcessBatch != nil && s.Bulk.On() }

// Subscriptions returns what GET /dapr/subscribe answers.
func (s *Subscriber) Subscriptions() []Subscription {
	ps := s.PubSub
	if ps == "" {
		ps = DefaultPubSub
	}
	var bulk *BulkSubscribe
	if s.bulk() {
		bulk = &BulkSubscribe{Enabled: true, MaxMessagesCount: int32(min(s.Bulk.MaxMessages, 10_000)), //nolint:gosec // bounded
			MaxAwaitDurationMs: int32(max(s.Bulk.MaxAwait.Milliseconds(), 1))} //nolint:gosec // a duration of minutes at most
	}
	out := make([]Subscription, 0, len(s.Topics))
	for _, t := range s.Topics {
		out = append(out, Subscription{PubSubName: ps, Topic: t, Route: EventsPrefix + t, BulkSubscribe: bulk})
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
		s.deliver(w, r)
	default:
		http.NotFound(w, r)
	}
}

// deliver answers one delivery: a message, or with bulk a batch of them.
// A batch that cannot be read is answered without entry statuses, which
// the sidecar takes as RETRY for all of them.
func (s *Subscriber) deliver(w http.ResponseWriter, r *http.Request) {
	topic := strings.TrimPrefix(r.URL.Path, EventsPrefix)
	known := s.Process != nil && slices.Contains(s.Topics, topic)
	limit := s.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	if s.bulk() {
		limit *= int64(s.Bulk.MaxMessages)
	}
	body, status := s.read(w, r, topic, limit)
	if status == "" && !known {
		s.log().Warn("dapr delivery for a topic not subscribed; dropped", "topic", topic)
		status = StatusDrop
	}
	if s.bulk() {
		if entries, ok := bulkEntries(body); ok {
			writeJSON(w, map[string]any{"statuses": s.deliverBulk(r, topic, entries, status)})
			return
		}
	}
	if status == "" {
		status = s.deliverOne(r, topic, body)
	}
	writeJSON(w, map[string]Status{"status": status})
}

// read reads a delivery's body; a status says it cannot be read.
func (s *Subscriber) read(w http.ResponseWriter, r *http.Request, topic string, limit int64) ([]byte, Status) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		s.log().Error("dapr delivery larger than the limit; dropped", "topic", topic, "limit_bytes", limit)
		return nil, StatusDrop
	}
	if err != nil {
		// The sidecar's request broke off: it will not read the answer,
		// but say what should happen.
		s.log().Warn("dapr delivery not read; retry", "topic", topic, "err", err)
		return nil, StatusRetry
	}
	return body, ""
}

// deliverOne hands one delivered message to Process.
func (s *Subscriber) deliverOne(r *http.Request, topic string, body []byte) Status {
	d := delivery(r, topic, body)
	if err := s.Process(r.Context(), d); err != nil {
		s.log().Warn("dapr delivery not processed; retry", "message", d.String(), "err", err)
		return StatusRetry
	}
	return StatusSuccess
}

// bulkEntry is one message of a bulk delivery, in Dapr's format: the event
// (a CloudEvent, as JSON) and the component's metadata of the message.
type bulkEntry struct {
	EntryID  string            `json:"entryId"`
	Event    json.RawMessage   `json:"event"`
	Metadata map[string]string `json:"metadata"`
}

// bulkEntries reads a bulk delivery's entries; ok is false for a body that
// is a single message.
func bulkEntries(body []byte) ([]bulkEntry, bool) {
	var env struct {
		Entries []bulkEntry `json:"entries"`
	}
	if json.Unmarshal(body, &env) != nil || env.Entries == nil {
		return nil, false
	}
	return env.Entries, true
}

// entryStatus is the answer for one entry of a bulk delivery.
type entryStatus struct {
	EntryID string `json:"entryId"`
	Status  Status `json:"status"`
}

// deliverBulk hands a batch to ProcessBatch: the entries it finished are
// answered SUCCESS, the others RETRY (the sidecar delivers them again; a
// message handled twice is skipped by the consumer as a duplicate).
func (s *Subscriber) deliverBulk(r *http.Request, topic string, entries []bulkEntry, status Status) []entryStatus {
	out := make([]entryStatus, len(entries))
	if len(entries) == 0 {
		return out
	}
	if status != "" { // every entry alike (a topic not subscribed: DROP)
		for i, e := range entries {
			out[i] = entryStatus{EntryID: e.EntryID, Status: status}
		}
		return out
	}
	ds := make([]broker.Delivery, len(entries))
	for i, e := range entries {
		value := []byte(e.Event)
		var text string
		if len(value) > 0 && value[0] == '"' && json.Unmarshal(value, &text) == nil {
			value = []byte(text) // an event that is not JSON comes as a string
		}
		ds[i] = deliveryOf(topic, value, func(name string) string { return e.Metadata[name] })
	}
	n, err := s.ProcessBatch(r.Context(), ds)
	if err != nil {
		s.log().Warn("dapr bulk delivery not all processed; retry the rest", "topic", topic, "processed", n, "of", len(ds), "err", err)
	}
	for i, e := range entries {
		out[i] = entryStatus{EntryID: e.EntryID, Status: StatusRetry}
		if i < n {
			out[i].Status = StatusSuccess
		}
	}
	return out
}

// delivery builds the broker.Delivery of a delivered message: the body as
// the sidecar delivers it (the published event plus the sidecar's
// attributes). The sidecar passes its component's message metadata as
// headers: Dapr's Kafka component names the key, partition and offset
// (__key, __partition, __offset); without them, the key is the event's
// partition key and the position is unknown (-1).
func delivery(r *http.Request, topic string, body []byte) broker.Delivery {
	return deliveryOf(topic, body, func(name string) string { return header(r, name) })
}

// deliveryOf builds a delivery from a message's body and its metadata.
func deliveryOf(topic string, body []byte, meta func(string) string) broker.Delivery {
	d := broker.Delivery{Topic: topic, Partition: -1, Offset: -1, Value: body}
	if v := meta("__partition"); v != "" {
		if p, err := strconv.ParseInt(v, 10, 32); err == nil {
			d.Partition = int32(p)
		}
	}
	if v := meta("__offset"); v != "" {
		if o, err := strconv.ParseInt(v, 10, 64); err == nil {
			d.Offset = o
		}
	}
	if v := meta("__timestamp"); v != "" {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			d.Timestamp = time.UnixMilli(ms) // the broker's time of the message, in ms
		}
	}
	if v := meta("__key"); v != "" {
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
