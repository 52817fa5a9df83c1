package consume

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/transport"
)

// Process and ProcessBatch are a consumer's entry points, as a transport
// calls them.
type (
	Process      = func(context.Context, broker.Delivery) error
	ProcessBatch = func(context.Context, []broker.Delivery) (int, error)
)

// Spec is a service's consumer: the skeleton every consuming service's Run
// starts from (see Start).
type Spec struct {
	// Config is the consumer's: Config.Name is also its consumer group, and
	// Config.DeadLetters defaults to the transport.
	Config
	Topics  []string
	Handler Handler
	// Prepare, instead of Handler, is a handler in two steps (see Prepare).
	Prepare Prepare
	// Retention is how long the ids of consumed events are kept (pruned
	// hourly): longer than the topics keep a message.
	Retention time.Duration
	// Wrap, when set, wraps the entry points (the notifier wakes its loops
	// after each).
	Wrap func(Process, ProcessBatch) (Process, ProcessBatch)
}

// Started is a consumer subscribed on its transport.
type Started struct {
	*Consumer
	// Dapr serves the Dapr subscription (nil with Kafka): mount it on the
	// service's router.
	Dapr http.Handler
	// Loops run beside the service's server until it stops: consuming, and
	// pruning the consumed events' ids.
	Loops []func(context.Context) error
}

// Start creates the consumer of spec on pool and subscribes it on bus.
func Start(pool *pgxpool.Pool, bus *transport.Transport, spec Spec) (*Started, error) {
	if spec.Retention <= 0 {
		return nil, errors.New("consume: Spec.Retention is required")
	}
	if spec.DeadLetters == nil {
		spec.DeadLetters = bus
	}
	var c *Consumer
	var err error
	if spec.Prepare != nil {
		c, err = NewPrepared(pool, spec.Prepare, spec.Config)
	} else {
		c, err = New(pool, spec.Handler, spec.Config)
	}
	if err != nil {
		return nil, err
	}
	process, batch := Process(c.Process), ProcessBatch(c.ProcessBatch)
	if spec.Wrap != nil {
		process, batch = spec.Wrap(process, batch)
	}
	sub, loop, err := bus.Subscribe(transport.Subscription{
		Group: spec.Name, Topics: spec.Topics, Process: process, ProcessBatch: batch, Registerer: spec.Registerer,
	})
	if err != nil {
		return nil, err
	}
	return &Started{Consumer: c, Dapr: sub, Loops: []func(context.Context) error{
		loop,
		func(ctx context.Context) error { return c.PruneEvery(ctx, time.Hour, spec.Retention) },
	}}, nil
}
