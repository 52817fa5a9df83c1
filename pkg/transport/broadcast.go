package transport

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/kafka"
)

// Broadcast is a subscription that every process running it receives in
// full: each replica of the subscribing service sees every message, not a
// share of them. It is for state that lives in one process, such as the
// realtime service's WebSocket connections.
//
//   - With Kafka, each process reads every partition itself, without a
//     consumer group (kafka.ConsumeAll), from the newest offset at its
//     start.
//   - With Dapr, the sidecar delivers what its pub/sub component's consumer
//     group receives. The component the broadcasting app uses (DAPR_PUBSUB)
//     must therefore give each pod its own group, with Dapr's templated
//     metadata consumerGroup: "{podName}" (and initialOffset: newest), so
//     that no two pods share one.
type Broadcast struct {
	Name   string // names the subscriber in logs, e.g. "realtime"
	Topics []string
	// Process handles one delivery. Its error is logged; broadcast
	// deliveries are not retried.
	Process func(ctx context.Context, d broker.Delivery) error
	// OnStart, with Kafka, is told where reading each partition starts
	// (kafka.Broadcast.OnStart). Dapr does not say.
	OnStart func(topic string, partition int32, offset int64)
	// StartAt, with Kafka, says where to resume a partition after a
	// failure (kafka.Broadcast.StartAt).
	StartAt func(topic string, partition int32) int64
}

// SubscribeAll returns what delivers b's messages to Process, as Subscribe
// does: with Dapr, the handler to mount at /dapr/ (the sidecar calls it) and
// a run function that waits for ctx; with Kafka, a nil handler and the
// broadcast consumer as the run function. It needs no publisher: a
// broadcasting service may never Open the transport.
func SubscribeAll(cfg Config, log *slog.Logger, b Broadcast) (http.Handler, func(context.Context) error, error) {
	if len(b.Topics) == 0 || b.Process == nil {
		return nil, nil, errors.New("subscribe all: needs topics and a Process function")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch cfg.Kind {
	case Dapr:
		// Process errors are logged and acknowledged: a broadcast delivery
		// that failed here cannot be delivered later in a useful way.
		process := func(ctx context.Context, d broker.Delivery) error {
			if err := b.Process(ctx, d); err != nil {
				log.Warn("broadcast delivery not processed", "message", d.String(), "err", err)
			}
			return nil
		}
		h, wait := daprSubscription(cfg, b.Topics, process, log)
		log.Info("broadcast subscription through the dapr sidecar: the component must give each pod its own consumer group",
			"pubsub", h.Subscriptions()[0].PubSubName, "topics", b.Topics, "subscriber", b.Name)
		return h, wait, nil
	case Kafka, "":
		kcfg := cfg.Kafka
		return nil, func(ctx context.Context) error {
			return kafka.ConsumeAll(ctx, kcfg, kafka.Broadcast{Topics: b.Topics, Process: b.Process, OnStart: b.OnStart, StartAt: b.StartAt, Log: log})
		}, nil
	default:
		return nil, nil, errors.New("subscribe all: events transport " + cfg.Kind + ": want kafka or dapr")
	}
}
