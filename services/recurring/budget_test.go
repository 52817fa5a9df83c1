package recurring_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/recurrence"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/recurring"
)

// storedRule creates a recurring task whose rule was stored before taskapi
// refused rules without occurrence: the store takes it as given.
func (v *env) storedRule(t *testing.T, owner, rule string) *task.Task {
	t.Helper()
	due := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tk, err := v.store.Create(context.Background(), owner, task.Fields{Title: "old rule", Due: &due, TimeZone: "UTC",
		Recurrence: &task.Recurrence{Rule: rule, Anchor: recurrence.AnchorDue}})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestRuleWithoutOccurrenceEndsTheSeries: the completion of a task whose
// stored rule has no occurrence (February 30th) is handled once: the series
// ends, no successor, no retry, no dead letter; and the user's next
// completion, on the same partition, is handled after it.
func TestRuleWithoutOccurrenceEndsTheSeries(t *testing.T) {
	t.Parallel()
	v := setup(t)
	empty := v.storedRule(t, "alice", "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30")
	v.complete(t, empty)
	daily := v.create(t, "alice", "FREQ=DAILY", recurrence.AnchorDue, "UTC", time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	v.complete(t, daily)
	v.successor(t, daily)
	servicetest.Eventually(t, "both completions handled", func() bool { return v.completionsHandled(t) == 2 })
	if got := v.count(t, `SELECT count(*) FROM taskapi.tasks WHERE previous_id = $1`, empty.ID); got != 0 {
		t.Errorf("a rule without occurrence got %d successors", got)
	}
	v.noneCounted(t, "consumer_retries_total", "consumer_dead_lettered_total")
}

// TestEventOverBudgetIsDeadLettered: with a budget no computation can meet,
// a completion of a recurring task goes to task-events.dlq at once, with
// the reason, instead of being retried, and the user's next event, on the
// same partition, is handled after it.
func TestEventOverBudgetIsDeadLettered(t *testing.T) {
	t.Parallel()
	v := setupBudget(t, time.Nanosecond)
	tk := v.create(t, "alice", "FREQ=DAILY", recurrence.AnchorDue, "UTC", time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	v.complete(t, tk)
	plain, err := v.store.Create(context.Background(), "alice", task.Fields{Title: "once", TimeZone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	v.complete(t, plain)
	// The plain task's completion comes after the recurring one's on the
	// user's partition; a dead letter is not recorded as consumed.
	servicetest.Eventually(t, "the next completion handled", func() bool { return v.completionsHandled(t) == 1 })
	var dead []kafkatest.Message
	servicetest.Eventually(t, "the dead letter", func() bool {
		dead = v.Messages(t, events.DeadLetterTopic(events.TopicTaskEvents))
		return len(dead) > 0
	})
	if len(dead) != 1 || !strings.Contains(string(dead[0].Value), tk.ID) ||
		dead[0].Headers[consume.HeaderReason] == "" || !strings.Contains(dead[0].Headers[consume.HeaderError], recurring.ErrOverBudget.Error()) {
		t.Fatalf("dead letters: %+v", dead)
	}
	if got := v.metric(t, "consumer_retries_total"); got != 0 {
		t.Errorf("an event over budget was retried %v times", got)
	}
	if got := v.count(t, `SELECT count(*) FROM taskapi.tasks WHERE previous_id = $1`, tk.ID); got != 0 {
		t.Errorf("%d successors", got)
	}
}
