// Package events is the platform's event schema: CloudEvents 1.0 JSON
// envelopes (github.com/cloudevents/sdk-go) with versioned type names, and
// the topics they travel on. Producers and consumers both use it; the outbox
// rows that carry events from a service's transaction to the broker are
// pkg/outbox's. testdata/ pins the v1 documents (TestEventSchemaV1Golden).
//
// Every event has a unique id, subject = the task id, and the CloudEvents
// partitioning extension "partitionkey" = the owner's user id, which is the
// Kafka message key: one user's events stay in order.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"

	"github.com/todo-platform/todo/pkg/task"
)

// Topics.
const (
	TopicTaskEvents = "task-events"
	TopicReminders  = "reminders"
)

// DeadLetterTopic is where messages of topic go that could not be handled.
func DeadLetterTopic(topic string) string { return topic + ".dlq" }

// Topics are the platform's topics and their dead-letter topics. The
// deployment creates the same (infra/kafka.Topics; infra/platform's
// contracts test compares them).
func Topics() []string {
	return []string{
		TopicTaskEvents, DeadLetterTopic(TopicTaskEvents),
		TopicReminders, DeadLetterTopic(TopicReminders),
	}
}

// Event types. The suffix is the data schema's version: a consumer that sees
// a version it does not know sends the event to the dead-letter topic.
const (
	TypeTaskCreated   = "todo.task.created.v1"
	TypeTaskUpdated   = "todo.task.updated.v1"
	TypeTaskCompleted = "todo.task.completed.v1"
	TypeTaskReopened  = "todo.task.reopened.v1"
	TypeTaskDeleted   = "todo.task.deleted.v1"
)

// PartitionKeyExtension is the CloudEvents partitioning extension attribute.
const PartitionKeyExtension = "partitionkey"

// Event is a CloudEvents event.
type Event = cloudevents.Event

// ErrMalformed says a message is not a valid event of this schema.
var ErrMalformed = errors.New("malformed event")

// NewTaskEvent builds a task event of type typ from source (e.g.
// "/todo/taskapi") carrying the task's snapshot.
func NewTaskEvent(source, typ string, snap task.Snapshot, at time.Time) (Event, error) {
	return newEvent(source, typ, snap.ID, snap.OwnerID, at, snap)
}

// newEvent builds an event with a new (time-ordered) id about subject,
// partitioned by owner, carrying data as JSON.
func newEvent(source, typ, subject, owner string, at time.Time, data any) (Event, error) {
	e := cloudevents.New()
	e.SetID(uuid.Must(uuid.NewV7()).String())
	e.SetSource(source)
	e.SetType(typ)
	e.SetSubject(subject)
	e.SetTime(at.UTC())
	e.SetExtension(PartitionKeyExtension, owner)
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return Event{}, fmt.Errorf("encode %s data: %w", typ, err)
	}
	if err := e.Validate(); err != nil {
		return Event{}, fmt.Errorf("build %s: %w", typ, err)
	}
	return e, nil
}

// PartitionKey returns the event's partition key (the owner's user id).
func PartitionKey(e Event) string {
	v, _ := e.Extensions()[PartitionKeyExtension].(string)
	return v
}

// Parse reads a CloudEvents JSON message and checks it is valid.
func Parse(b []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := e.Validate(); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return e, nil
}

// IsTaskEvent reports whether typ is a task event type of any version.
func IsTaskEvent(typ string) bool { return strings.HasPrefix(typ, "todo.task.") }

// TaskData decodes the task snapshot of a task event of a known version.
func TaskData(e Event) (task.Snapshot, error) {
	switch e.Type() {
	case TypeTaskCreated, TypeTaskUpdated, TypeTaskCompleted, TypeTaskReopened, TypeTaskDeleted:
	default:
		return task.Snapshot{}, fmt.Errorf("%w: unknown event type %q", ErrMalformed, e.Type())
	}
	var s task.Snapshot
	if err := json.Unmarshal(e.Data(), &s); err != nil {
		return task.Snapshot{}, fmt.Errorf("%w: task data: %w", ErrMalformed, err)
	}
	if s.ID == "" || s.OwnerID == "" {
		return task.Snapshot{}, fmt.Errorf("%w: task data without id or owner_id", ErrMalformed)
	}
	return s, nil
}
