package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// TypeReminderDue is the event the notifier publishes on the reminders topic
// when a reminder of a task falls due.
const TypeReminderDue = "todo.reminder.due.v1"

// TaskTypes are this version's task event types, on task-events.
func TaskTypes() []string {
	return []string{TypeTaskCreated, TypeTaskUpdated, TypeTaskCompleted, TypeTaskReopened, TypeTaskDeleted}
}

// Types are every event type of this version: the task events and
// TypeReminderDue.
func Types() []string { return append(TaskTypes(), TypeReminderDue) }

// ReminderDue is the data of a reminder.due event, version 1. Times are RFC
// 3339 in UTC.
type ReminderDue struct {
	ReminderID string     `json:"reminder_id"`
	TaskID     string     `json:"task_id"`
	OwnerID    string     `json:"owner_id"`
	TaskTitle  string     `json:"task_title"`
	DueAt      *time.Time `json:"due_at"`
	FireAt     time.Time  `json:"fire_at"`
	FiredAt    time.Time  `json:"fired_at"`
}

// NewReminderDueEvent builds a reminder.due event from source (e.g.
// "/todo/notifier"): subject = the task id, partition key = the owner id.
func NewReminderDueEvent(source string, d ReminderDue) (Event, error) {
	if d.ReminderID == "" || d.TaskID == "" || d.OwnerID == "" {
		return Event{}, fmt.Errorf("%w: reminder without reminder_id, task_id or owner_id", ErrMalformed)
	}
	d.FireAt = d.FireAt.UTC()
	d.FiredAt = d.FiredAt.UTC()
	if d.DueAt != nil {
		due := d.DueAt.UTC()
		d.DueAt = &due
	}
	return newEvent(source, TypeReminderDue, d.TaskID, d.OwnerID, d.FiredAt, d)
}

// ReminderData decodes the data of a reminder.due event.
func ReminderData(e Event) (ReminderDue, error) {
	if e.Type() != TypeReminderDue {
		return ReminderDue{}, fmt.Errorf("%w: unknown event type %q", ErrMalformed, e.Type())
	}
	var d ReminderDue
	if err := json.Unmarshal(e.Data(), &d); err != nil {
		return ReminderDue{}, fmt.Errorf("%w: reminder data: %w", ErrMalformed, err)
	}
	if d.ReminderID == "" || d.TaskID == "" || d.OwnerID == "" {
		return ReminderDue{}, fmt.Errorf("%w: reminder data without reminder_id, task_id or owner_id", ErrMalformed)
	}
	if d.FireAt.IsZero() {
		return ReminderDue{}, fmt.Errorf("%w: reminder data without fire_at", ErrMalformed)
	}
	return d, nil
}
