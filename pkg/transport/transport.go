// Package transport carries the platform's events between services, either
// through Kafka directly (pkg/kafka, IBM/sarama) or through the Dapr sidecar
// (pkg/dapr), as EVENTS_TRANSPORT says. A service sees one small surface:
// Publish (for its outbox relay and its dead letters) and Subscribe (for its
// consumer), whichever transport the stack configuration picked.
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/dapr"
	"github.com/todo-platform/todo/pkg/kafka"
)

// The transports EVENTS_TRANSPORT names.
const (
	Kafka = "kafka" // brokers directly, with sarama (the default)
	Dapr  = "dapr"  // the Dapr sidecar's pub/sub API
)

// Config says which transport to use and how to reach it.
type Config struct {
	Kind  string       // EVENTS_TRANSPORT: kafka (default) or dapr
	Kafka kafka.Config // KAFKA_*, read when Kind is kafka
	Dapr  dapr.Config  // DAPR_HTTP_PORT, DAPR_PUBSUB, DAPR_API_TOKEN, read when Kind is dapr
	// AppToken is APP_API_TOKEN: the token the sidecar presents when it
	// calls the app (dapr only). When set, deliveries without it are
	// refused.
	AppToken string
}

// ConfigFromEnv reads EVENTS_TRANSPORT and the settings of the transport it
// names, naming the variable of any bad value.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{Kind: strings.ToLower(strings.TrimSpace(getenv("EVENTS_TRANSPORT")))}
	if c.Kind == "" {
		c.Kind = Kafka
	}
	switch c.Kind {
	case Kafka:
		k, err := kafka.ConfigFromEnv(getenv)
		if err != nil {
			return c, err
		}
		c.Kafka = k
	case Dapr:
		d, err := dapr.ConfigFromEnv(getenv)
		if err != nil {
			return c, err
		}
		c.Dapr = d
		c.AppToken = getenv("APP_API_TOKEN")
	default:
		return c, fmt.Errorf("EVENTS_TRANSPORT=%q: want kafka or dapr", c.Kind)
	}
	return c, nil
}

// publisher is what both transports' publishers are.
type publisher interface {
	broker.Publisher
	close() error
}

// Transport publishes and subscribes through the configured transport.
type Transport struct {
	cfg Config
	log *slog.Logger
	pub publisher
}

var _ broker.Publisher = (*Transport)(nil)

// Open prepares the transport cfg describes. It does not wait for the
// brokers or the sidecar: publishing retries until they answer.
func Open(cfg Config, log *slog.Logger) (*Transport, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Transport{cfg: cfg, log: log}
	switch cfg.Kind {
	case Kafka, "":
		t.cfg.Kind = Kafka
		p, err := kafka.NewProducer(cfg.Kafka, log)
		if err != nil {
			return nil, err
		}
		t.pub = kafkaPublisher{p}
	case Dapr:
		p, err := dapr.NewPublisher(cfg.Dapr)
		if err != nil {
			return nil, err
		}
		t.pub = daprPublisher{p}
	default:
		return nil, fmt.Errorf("events transport %q: want kafka or dapr", cfg.Kind)
	}
	return t, nil
}

// Kind is the transport in use: Kafka or Dapr.
func (t *Transport) Kind() string { return t.cfg.Kind }

// Publish publishes m and returns once the broker (or the sidecar, for its
// broker) stored it.
func (t *Transport) Publish(ctx context.Context, m broker.Publication) error {
	return t.pub.Publish(ctx, m)
}

// Close releases the publisher.
func (t *Transport) Close() error { return t.pub.close() }

// Subscription is what a service consumes.
type Subscription struct {
	// Group is the consumer group: every message of Topics reaches one
	// member of the group. With Kafka it is the group id; with Dapr the
	// component's consumerGroup (by default the app id) decides, and Group
	// only names the consumer in logs.
	Group  string
	Topics []string
	// Process handles one delivery; nil means done with it
	// (consume.Consumer.Process fits).
	Process func(ctx context.Context, d broker.Delivery) error
	// ProcessBatch, if set, handles a partition's waiting messages together
	// (consume.Consumer.ProcessBatch fits): the Kafka transport gives it
	// what a fetch brought; with Dapr the sidecar then delivers in batches
	// (bulk subscribe, dapr.Config.Bulk) instead of one request a message.
	ProcessBatch func(ctx context.Context, ds []broker.Delivery) (int, error)
	// Registerer, if set, gets the Kafka consumer's lag gauge.
	Registerer prometheus.Registerer
}

// Subscribe returns what delivers the subscription's messages to Process:
// with Dapr, the handler to mount at /dapr/ on the service's router (the
// sidecar calls it) and a run function that only waits for ctx; with
// Kafka, a nil handler and the consumer group loop as the run function. Run
// the function beside the HTTP server (service.Serve) and mount a non-nil
// handler before serving.
func (t *Transport) Subscribe(s Subscription) (http.Handler, func(context.Context) error, error) {
	if s.Group == "" || len(s.Topics) == 0 || s.Process == nil {
		return nil, nil, errors.New("subscribe: needs a group, topics and a Process function")
	}
	if t.cfg.Kind == Dapr {
		h, wait := daprSubscription(t.cfg, s.Topics, s.Process, t.log)
		if s.ProcessBatch != nil {
			h.ProcessBatch, h.Bulk = s.ProcessBatch, t.cfg.Dapr.Bulk
		}
		t.log.Info("subscribed through the dapr sidecar", "pubsub", h.Subscriptions()[0].PubSubName, "topics", s.Topics, "group", s.Group,
			"bulk_max_messages", h.Bulk.MaxMessages, "bulk_max_await", h.Bulk.MaxAwait)
		return h, wait, nil
	}
	cfg := t.cfg.Kafka
	return nil, func(ctx context.Context) error {
		return kafka.Consume(ctx, cfg, kafka.Group{
			Group: s.Group, Topics: s.Topics, Process: s.Process, ProcessBatch: s.ProcessBatch, Log: t.log, Registerer: s.Registerer,
		})
	}, nil
}

// daprSubscription is the handler the sidecar calls with topics' messages,
// and the run function that goes beside it: it only waits for ctx, since the
// sidecar drives the deliveries.
func daprSubscription(cfg Config, topics []string, process func(context.Context, broker.Delivery) error, log *slog.Logger) (*dapr.Subscriber, func(context.Context) error) {
	h := &dapr.Subscriber{PubSub: cfg.Dapr.PubSub, Topics: topics, Process: process, Log: log, AppToken: cfg.AppToken}
	return h, func(ctx context.Context) error { <-ctx.Done(); return nil }
}

type kafkaPublisher struct{ *kafka.Producer }

func (p kafkaPublisher) close() error { return p.Close() }

type daprPublisher struct{ *dapr.Publisher }

func (p daprPublisher) close() error { p.Close(); return nil }
