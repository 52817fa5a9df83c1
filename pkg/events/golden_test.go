package events_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/recurrence"
	"github.com/todo-platform/todo/pkg/task"
)

var update = flag.Bool("update", false, "rewrite the golden files of the v1 event schema")

// The v1 events, pinned. Their data is what consumers in other services (and
// other teams) parse; the task data is also the API's task response
// (task.Snapshot), so a change made for the API would silently change the
// events. When this test fails, the schema changed: adding a field is
// compatible (rewrite the golden files with -update); renaming, removing or
// retyping one needs a new type version (…v2), not a new golden file.
func TestEventSchemaV1Golden(t *testing.T) {
	at := time.Date(2026, 3, 29, 1, 30, 0, 123456000, time.UTC)
	due := time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)
	remindAt := time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC)
	series := "0190f1a2-0000-7000-8000-00000000000a"
	done := at.Add(time.Hour)
	snap := task.Snapshot{
		ID: "0190f1a2-0000-7000-8000-000000000001", OwnerID: "alice", Title: "Water the plants", Description: "the ferns too",
		Status: task.StatusDone, Priority: task.PriorityHigh, Tags: []string{"home", "garden"},
		DueAt: &due, TimeZone: "Europe/Berlin",
		Reminders:  []task.Reminder{{Before: 15 * time.Minute}, {At: &remindAt}},
		Recurrence: &task.Recurrence{Rule: "FREQ=WEEKLY;BYDAY=MO", Anchor: recurrence.AnchorDue},
		SeriesID:   &series, OccurrenceAt: &due,
		CreatedAt: at, UpdatedAt: at.Add(time.Hour), CompletedAt: &done, Version: 3,
	}
	taskEvent, err := events.NewTaskEvent("/todo/taskapi", events.TypeTaskCompleted, snap, at)
	if err != nil {
		t.Fatal(err)
	}
	taskEvent.SetID("0190f1a2-0000-7000-8000-0000000000e1")
	reminder, err := events.NewReminderDueEvent("/todo/notifier", events.ReminderDue{
		ReminderID: "0190f1a2-0000-7000-8000-0000000000b1", TaskID: snap.ID, OwnerID: "alice", TaskTitle: snap.Title,
		DueAt: &due, FireAt: remindAt, FiredAt: remindAt.Add(12 * time.Millisecond),
	})
	if err != nil {
		t.Fatal(err)
	}
	reminder.SetID("0190f1a2-0000-7000-8000-0000000000e2")

	for _, c := range []struct {
		file  string
		event events.Event
		data  func(events.Event) (any, error)
		want  any
	}{
		{"task.completed.v1.json", taskEvent, func(e events.Event) (any, error) { return events.TaskData(e) }, snap},
		{"reminder.due.v1.json", reminder, func(e events.Event) (any, error) { return events.ReminderData(e) }, nil},
	} {
		t.Run(c.file, func(t *testing.T) {
			got, err := json.MarshalIndent(c.event, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", c.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil { //nolint:gosec // a test fixture
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path) //nolint:gosec // a test fixture
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/events -run Golden -update to write it)", err)
			}
			if !bytes.Equal(canonical(t, got), canonical(t, want)) {
				t.Errorf("the v1 event changed (see the test's comment before updating %s):\ngot:\n%s\nwant:\n%s", path, got, want)
			}
			// And the pinned document still reads back: old events stay readable.
			e, err := events.Parse(want)
			if err != nil {
				t.Fatal(err)
			}
			data, err := c.data(e)
			if err != nil {
				t.Fatal(err)
			}
			if c.want != nil && !reflect.DeepEqual(data, c.want) {
				t.Errorf("read back:\n%+v\nwant:\n%+v", data, c.want)
			}
		})
	}
}

// canonical re-encodes a JSON document with sorted keys, so that only the
// content is compared.
func canonical(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
