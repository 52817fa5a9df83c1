package taskapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/todo-platform/todo/pkg/recurrence"
	"github.com/todo-platform/todo/pkg/task"
)

// taskFieldsRequest is the body of a create request, and the document a
// merge patch is applied to. Values that need parsing arrive as JSON strings
// and raw messages so that every problem is reported at once, by field.
type taskFieldsRequest struct {
	Title       *string           `json:"title,omitempty"`
	Description *string           `json:"description,omitempty"`
	Priority    *string           `json:"priority,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	DueAt       *string           `json:"due_at,omitempty"`
	TimeZone    *string           `json:"time_zone,omitempty"`
	Reminders   []json.RawMessage `json:"reminders,omitempty"`
	Recurrence  *recurrenceJSON   `json:"recurrence,omitempty"`
}

type recurrenceJSON struct {
	Rule   string `json:"rule"`
	Anchor string `json:"anchor,omitempty"`
}

// createTaskRequest is the body of POST /api/v1/tasks.
type createTaskRequest = taskFieldsRequest

// readOnlyFields are task fields a patch may not set, with the reason.
var readOnlyFields = map[string]string{
	"id":            "is assigned by the server",
	"owner_id":      "is the authenticated user",
	"status":        "changes with POST /api/v1/tasks/{id}/complete and /reopen",
	"series_id":     "is assigned by the recurrence",
	"occurrence_at": "is assigned by the recurrence",
	"created_at":    "is assigned by the server",
	"updated_at":    "is assigned by the server",
	"completed_at":  "changes with POST /api/v1/tasks/{id}/complete and /reopen",
	"version":       "is assigned by the server; send If-Match to guard a change",
}

// fields converts r into task fields, collecting parse problems in ve. The
// result still needs task.Normalize.
func (r *taskFieldsRequest) fields(ve *task.ValidationError) task.Fields {
	var f task.Fields
	if r.Title != nil {
		f.Title = *r.Title
	}
	if r.Description != nil {
		f.Description = *r.Description
	}
	if r.Priority != nil {
		p, err := task.ParsePriority(*r.Priority)
		if err != nil {
			ve.Add("priority", "must be one of none, low, medium, high, urgent")
		}
		f.Priority = p
	}
	f.Tags = r.Tags
	if r.DueAt != nil {
		t, err := time.Parse(time.RFC3339, *r.DueAt)
		if err != nil {
			ve.Add("due_at", "must be an RFC 3339 time such as 2026-01-31T09:00:00+01:00")
		} else {
			f.Due = &t
		}
	}
	if r.TimeZone != nil {
		f.TimeZone = *r.TimeZone
	}
	for i, raw := range r.Reminders {
		var rem task.Reminder
		if err := rem.UnmarshalJSON(raw); err != nil {
			ve.Add(fmt.Sprintf("reminders[%d]", i), "%s", strings.TrimPrefix(err.Error(), "json: "))
			continue
		}
		f.Reminders = append(f.Reminders, rem)
	}
	if r.Recurrence != nil {
		f.Recurrence = &task.Recurrence{Rule: r.Recurrence.Rule, Anchor: recurrence.Anchor(r.Recurrence.Anchor)}
	}
	return f
}

// requestOf renders editable fields as the document a merge patch applies to.
func requestOf(f task.Fields) taskFieldsRequest {
	r := taskFieldsRequest{Title: &f.Title, Description: &f.Description, Tags: f.Tags, TimeZone: &f.TimeZone}
	p := f.Priority.String()
	r.Priority = &p
	if f.Due != nil {
		s := f.Due.UTC().Format(time.RFC3339)
		r.DueAt = &s
	}
	for _, rem := range f.Reminders {
		b, _ := rem.MarshalJSON()
		r.Reminders = append(r.Reminders, b)
	}
	if f.Recurrence != nil {
		r.Recurrence = &recurrenceJSON{Rule: f.Recurrence.Rule, Anchor: string(f.Recurrence.Anchor)}
	}
	return r
}

// taskResponse is a task as the API shows it.
type taskResponse = task.Snapshot

// listResponse is a page of tasks.
type listResponse struct {
	Items      []taskResponse `json:"items"`
	NextCursor *string        `json:"next_cursor"`
	// Matches are, with a search, what it found in each task of the page
	// (by id).
	Matches map[string]Match `json:"matches,omitempty"`
}

// tagsResponse lists a user's tags with counts.
type tagsResponse struct {
	Items []TagCount `json:"items"`
}

// occurrenceRequest is the body of the internal next-occurrence call.
type occurrenceRequest struct {
	OccurrenceAt time.Time `json:"occurrence_at"`
}
