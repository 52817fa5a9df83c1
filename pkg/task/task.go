// Package task is the task domain: what a task is, which values it may hold,
// and the rules that keep it valid. It knows nothing of storage or transport.
package task

import (
	"errors"
	"time"
)

// Limits of a task's fields.
const (
	MaxTitleLen       = 500
	MaxDescriptionLen = 10_000
	MaxTags           = 20
	MaxTagLen         = 50
	MaxReminders      = 10
	MaxReminderBefore = 366 * 24 * time.Hour
)

// Domain errors. Callers check them with errors.Is; the HTTP edge maps them to
// status codes in one table.
var (
	ErrNotFound        = errors.New("task not found")
	ErrVersionMismatch = errors.New("task version does not match")
	ErrInvalid         = errors.New("invalid task")
)

// Status is whether a task is open or done.
type Status string

// The statuses a task can be in.
const (
	StatusOpen Status = "open"
	StatusDone Status = "done"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s == StatusOpen || s == StatusDone }

// Task is one task of one user. Due is an instant; TimeZone is the IANA zone it
// was set in, which recurrence and reminders use to step in local wall time.
type Task struct {
	ID           string
	Owner        string
	Title        string
	Description  string
	Status       Status
	Priority     Priority
	Tags         []string
	Due          *time.Time
	TimeZone     string
	Reminders    []Reminder
	Recurrence   *Recurrence
	SeriesID     *string
	OccurrenceAt *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
	CompletedAt  *time.Time
	Version      int64
}

// Fields is the part of a task a user edits: what a create request sets and a
// patch changes. Status, times and version are changed by commands only.
type Fields struct {
	Title       string
	Description string
	Priority    Priority
	Tags        []string
	Due         *time.Time
	TimeZone    string
	Reminders   []Reminder
	Recurrence  *Recurrence
}

// Fields returns the editable part of t.
func (t *Task) Fields() Fields {
	return Fields{
		Title:       t.Title,
		Description: t.Description,
		Priority:    t.Priority,
		Tags:        append([]string(nil), t.Tags...),
		Due:         t.Due,
		TimeZone:    t.TimeZone,
		Reminders:   append([]Reminder(nil), t.Reminders...),
		Recurrence:  t.Recurrence,
	}
}

// Apply sets the editable part of t to f.
func (t *Task) Apply(f Fields) {
	t.Title = f.Title
	t.Description = f.Description
	t.Priority = f.Priority
	t.Tags = f.Tags
	t.Due = f.Due
	t.TimeZone = f.TimeZone
	t.Reminders = f.Reminders
	t.Recurrence = f.Recurrence
}

// Overdue reports whether t is open and its due instant is before now.
func (t *Task) Overdue(now time.Time) bool {
	return t.Status == StatusOpen && t.Due != nil && t.Due.Before(now)
}
