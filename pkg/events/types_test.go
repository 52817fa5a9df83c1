package events_test

import (
	"slices"
	"testing"

	"github.com/todo-platform/todo/pkg/events"
)

// TestTypes: the lists the consumers subscribe with hold each type of this
// version once, task events being exactly those IsTaskEvent names.
func TestTypes(t *testing.T) {
	all := events.Types()
	if len(all) != 6 || !slices.Contains(all, events.TypeReminderDue) {
		t.Fatalf("Types() = %v: want the five task events and the reminder", all)
	}
	for _, typ := range all {
		if n := len(slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s != typ })); n != 1 {
			t.Errorf("%s stands %d times in Types()", typ, n)
		}
		if events.IsTaskEvent(typ) != slices.Contains(events.TaskTypes(), typ) {
			t.Errorf("%s: IsTaskEvent %v, in TaskTypes %v", typ, events.IsTaskEvent(typ), !events.IsTaskEvent(typ))
		}
	}
	a := events.TaskTypes()
	a[0] = "changed"
	if events.TaskTypes()[0] == "changed" {
		t.Error("TaskTypes() returns a shared slice")
	}
}
