// Package dapr is the Dapr transport: a Publisher that publishes through the
// sidecar's HTTP pub/sub API, and a Subscriber, the http.Handler through
// which the sidecar learns the service's programmatic subscriptions and
// delivers their events to a consume.Consumer.
//
// # Publishing
//
// An event is POSTed to
//
//	http://127.0.0.1:$DAPR_HTTP_PORT/v1.0/publish/$DAPR_PUBSUB/<topic>?metadata.partitionKey=<key>
//
// with the CloudEvents JSON as body and Content-Type
// application/cloudevents+json: the sidecar then keeps the event as it is
// (it only adds its tracing and routing attributes) instead of wrapping it in
// an envelope of its own. Dapr's Kafka component uses partitionKey as the
// message key, so one user's events stay in one partition, in order. Other
// headers of a Publication (a dead letter's reason and error) go as further
// metadata, which the Kafka component stores as message headers.
//
// The sidecar adds attributes of its own to the stored event (pubsubname,
// topic, traceid, traceparent, tracestate, and time when it is missing);
// they are CloudEvents extensions that consumers ignore.
//
// # Subscribing
//
// See Subscriber. The sidecar subscribes with its component's consumer
// group, one per app id, so the replicas of a service share the messages.
// A service whose every replica must see every message (realtime) needs a
// group per replica: Dapr's Kafka component takes consumerGroup
// "{podName}" for that.
//
// # The component
//
// Tested with daprd 1.16.5 and a pubsub.kafka component (see tests/dapr):
// brokers, authType "none" (or the cluster's), consumerGroup, initialOffset
// "oldest", and backOffPolicy "constant" with a short backOffDuration: the
// component redelivers a message the app answered RETRY for after that
// wait, in place, holding its partition back, as the Kafka transport does.
package dapr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/todo-platform/todo/pkg/broker"
)

// ContentType is the content type of a structured-mode CloudEvent.
const ContentType = "application/cloudevents+json"

// Defaults of Config.
const (
	DefaultHTTPPort = 3500
	DefaultPubSub   = "pubsub"
)

// Config locates the sidecar.
type Config struct {
	HTTPPort int    // DAPR_HTTP_PORT (default 3500)
	PubSub   string // DAPR_PUBSUB, the pub/sub component's name (default "pubsub")
	APIToken string // DAPR_API_TOKEN, sent as dapr-api-token when set
	// Timeout bounds one publish request (default 10s).
	Timeout time.Duration
	// Bulk is how the sidecar delivers to a consumer that takes batches
	// (DAPR_BULK_MAX_MESSAGES, DAPR_BULK_MAX_AWAIT; see Bulk).
	Bulk Bulk
}

// Bulk asks the sidecar to deliver a partition's messages in batches (Dapr's
// bulk subscribe): up to MaxMessages at once, or what came within MaxAwait.
// A batch is handled in one transaction, which is what lets a backlog
// drain fast; MaxAwait is what a message may wait for its batch to fill,
// so it bounds the delay it adds. MaxMessages ≤ 1 turns it off: one
// request a message.
type Bulk struct {
	MaxMessages int
	MaxAwait    time.Duration
}

// DefaultBulk is Bulk's default: 100 messages or 5 ms.
var DefaultBulk = Bulk{MaxMessages: 100, MaxAwait: 5 * time.Millisecond}

// On says whether the sidecar delivers in batches.
func (b Bulk) On() bool { return b.MaxMessages > 1 && b.MaxAwait > 0 }

// ConfigFromEnv reads DAPR_HTTP_PORT, DAPR_PUBSUB, DAPR_API_TOKEN,
// DAPR_BULK_MAX_MESSAGES and DAPR_BULK_MAX_AWAIT.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{HTTPPort: DefaultHTTPPort, PubSub: DefaultPubSub, APIToken: getenv("DAPR_API_TOKEN"), Bulk: DefaultBulk}
	if v := getenv("DAPR_HTTP_PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p <= 0 || p > 65535 {
			return Config{}, fmt.Errorf("DAPR_HTTP_PORT %q: want a port number", v)
		}
		c.HTTPPort = p
	}
	if v := getenv("DAPR_PUBSUB"); v != "" {
		c.PubSub = v
	}
	if v := getenv("DAPR_BULK_MAX_MESSAGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 10_000 {
			return Config{}, fmt.Errorf("DAPR_BULK_MAX_MESSAGES %q: want a whole number from 0 to 10000 (0 or 1: one request a message)", v)
		}
		c.Bulk.MaxMessages = n
	}
	if v := getenv("DAPR_BULK_MAX_AWAIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Millisecond || d > time.Minute {
			return Config{}, fmt.Errorf("DAPR_BULK_MAX_AWAIT %q: want a duration from 1ms to 1m, e.g. 5ms", v)
		}
		c.Bulk.MaxAwait = d
	}
	return c, nil
}

// Publisher publishes through the sidecar. It implements broker.Publisher.
type Publisher struct {
	base   string // http://127.0.0.1:<port>/v1.0/publish/<pubsub>/
	token  string
	client *http.Client
}

var _ broker.Publisher = (*Publisher)(nil)

// NewPublisher returns a publisher to the sidecar that cfg describes.
func NewPublisher(cfg Config) (*Publisher, error) {
	if cfg.HTTPPort == 0 {
		cfg.HTTPPort = DefaultHTTPPort
	}
	if cfg.HTTPPort < 0 || cfg.HTTPPort > 65535 {
		return nil, fmt.Errorf("dapr publisher: port %d", cfg.HTTPPort)
	}
	if cfg.PubSub == "" {
		cfg.PubSub = DefaultPubSub
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64 // the relay publishes up to 32 keys at once
	tr.ResponseHeaderTimeout = cfg.Timeout
	return &Publisher{
		base:   "http://127.0.0.1:" + strconv.Itoa(cfg.HTTPPort) + "/v1.0/publish/" + url.PathEscape(cfg.PubSub) + "/",
		token:  cfg.APIToken,
		client: &http.Client{Transport: tr, Timeout: cfg.Timeout},
	}, nil
}

// Publish sends m to the sidecar and returns nil once the sidecar answered
// 2xx, that is once its pub/sub component acknowledged the message.
func (p *Publisher) Publish(ctx context.Context, m broker.Publication) error {
	if m.Topic == "" {
		return errors.New("dapr publish: no topic")
	}
	q := url.Values{}
	if m.Key != "" {
		q.Set("metadata.partitionKey", m.Key)
	}
	for k, v := range m.Headers {
		q.Set("metadata."+k, v)
	}
	u := p.base + url.PathEscape(m.Topic)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(m.Value))
	if err != nil {
		return fmt.Errorf("dapr publish to %s: %w", m.Topic, err)
	}
	req.Header.Set("Content-Type", ContentType)
	// The W3C trace context, also as the sidecar's own tracing reads it.
	for _, h := range []string{"traceparent", "tracestate"} {
		if v := m.Headers[h]; v != "" {
			req.Header.Set(h, v)
		}
	}
	if p.token != "" {
		req.Header.Set("dapr-api-token", p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("dapr publish to %s: %w", m.Topic, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	msg := strings.TrimSpace(string(body))
	var e struct {
		ErrorCode string `json:"errorCode"`
		Message   string `json:"message"`
	}
	if jsonErr := decodeJSON(body, &e); jsonErr == nil && e.Message != "" {
		msg = e.ErrorCode + ": " + e.Message
	}
	return fmt.Errorf("dapr publish to %s (event %s): sidecar answered %s: %s", m.Topic, m.EventID, resp.Status, msg)
}

// Close releases idle connections.
func (p *Publisher) Close() { p.client.CloseIdleConnections() }
