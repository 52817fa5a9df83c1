// Package broker is the vocabulary of the message transports: a Publication
// that a Publisher sends to a topic, and a Delivery that a transport hands
// to its consumer. The Kafka (pkg/kafka) and Dapr (pkg/dapr) transports
// speak it and depend on nothing else of the platform's but pkg/metrics;
// the outbox relay publishes, and the consumer runtime (pkg/consume)
// processes deliveries and publishes dead letters, in its terms.
package broker

import (
	"context"
	"fmt"
	"time"
)

// Publication is one message for the broker: what the relay publishes, and
// what a consumer sends to a dead-letter topic.
type Publication struct {
	Topic   string
	Key     string            // partition key: one key's messages stay in order
	Value   []byte            // the CloudEvents JSON (structured mode)
	EventID string            // the event's id, for logs and headers ("" when Value is no valid event)
	Headers map[string]string // extra headers, e.g. a dead letter's error
}

// Publisher sends messages to a broker. It is the transport seen from the
// relay and from a consumer's dead-letter path; the Kafka and Dapr
// transports implement it.
type Publisher interface {
	// Publish returns nil once the broker has stored m. It is called
	// concurrently for messages of different keys, never for two messages of
	// the same key at once.
	Publish(ctx context.Context, m Publication) error
}

// Delivery is a message as a transport delivers it.
type Delivery struct {
	Topic     string
	Partition int32 // -1 when the transport does not say
	Offset    int64 // -1 when the transport does not say
	Key       []byte
	Value     []byte
	Headers   map[string]string
	// Timestamp is the message's time in the broker (the producer's, with
	// Kafka); zero when the transport does not say.
	Timestamp time.Time
}

// String is the message's position, topic/partition/offset, as logs show it.
func (d Delivery) String() string { return fmt.Sprintf("%s/%d/%d", d.Topic, d.Partition, d.Offset) }
