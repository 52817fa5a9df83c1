package events_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/events"
)

func TestReminderDueRoundTrip(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 3, 1, 9, 0, 0, 0, time.FixedZone("x", 3600))
	in := events.ReminderDue{
		ReminderID: "r1", TaskID: "t1", OwnerID: "alice", TaskTitle: "pay rent",
		DueAt: &due, FireAt: due.Add(-time.Hour), FiredAt: due.Add(-time.Hour + time.Second),
	}
	e, err := events.NewReminderDueEvent("/todo/notifier", in)
	if err != nil {
		t.Fatal(err)
	}
	if e.Type() != events.TypeReminderDue || e.Subject() != "t1" || events.PartitionKey(e) != "alice" {
		t.Errorf("envelope: type %s subject %s key %s", e.Type(), e.Subject(), events.PartitionKey(e))
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := events.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := events.ReminderData(back)
	if err != nil {
		t.Fatal(err)
	}
	if out.ReminderID != "r1" || !out.FireAt.Equal(in.FireAt) || !out.DueAt.Equal(due) || out.DueAt.Location() != time.UTC {
		t.Errorf("data after the round trip: %+v", out)
	}
}

func TestReminderDataRejectsMalformed(t *testing.T) {
	t.Parallel()
	if _, err := events.NewReminderDueEvent("/todo/notifier", events.ReminderDue{TaskID: "t"}); !errors.Is(err, events.ErrMalformed) {
		t.Errorf("event without ids: %v", err)
	}
	e, err := events.NewReminderDueEvent("/todo/notifier", events.ReminderDue{ReminderID: "r", TaskID: "t", OwnerID: "o", FireAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{`"nope"`, `{"reminder_id":"r"}`, `{"reminder_id":"r","task_id":"t","owner_id":"o"}`} {
		if err := e.SetData("application/json", json.RawMessage(data)); err != nil {
			t.Fatal(err)
		}
		if _, err := events.ReminderData(e); !errors.Is(err, events.ErrMalformed) {
			t.Errorf("data %s: %v, want ErrMalformed", data, err)
		}
	}
	e.SetType(events.TypeTaskCreated)
	if _, err := events.ReminderData(e); !errors.Is(err, events.ErrMalformed) {
		t.Errorf("a task event read as a reminder: %v", err)
	}
}
