package audit

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/events"
)

// Group is audit's consumer group: it alone reads every event for the log.
//
// Group, Topics and Types say what a consumer reads; each consuming service
// declares its own, in the same few lines.
const Group = "audit"

// Topics audit consumes.
var Topics = []string{events.TopicTaskEvents, events.TopicReminders}

// Types are the event types audit logs; any other goes to the dead-letter
// topic, where a newer version waits for an audit that knows it.
var Types = events.Types()

// Handle is audit's event handler: it appends the event to the log in the
// consumer's transaction.
func Handle(ctx context.Context, tx pgx.Tx, e events.Event) error { return Append(ctx, tx, e) }
