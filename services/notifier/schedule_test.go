package notifier_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/notifier"
)

func at(t time.Time) task.Reminder { return task.Reminder{At: &t} }

// TestReminderFollowsTheTask: tasks written through taskapi reach the
// notifier over Kafka; a reminder fires close to its time, once; moving the
// due date moves it; completing or deleting the task cancels it.
func TestReminderFollowsTheTask(t *testing.T) {
	t.Parallel()
	v := setup(t, options{})
	ctx := context.Background()
	now := time.Now()
	due := now.Add(4 * time.Second).Truncate(time.Second)
	fires, err := v.tasks.Create(ctx, "alice", task.Fields{Title: "fires", Due: &due, Reminders: []task.Reminder{{Before: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := v.tasks.Create(ctx, "alice", task.Fields{Title: "moved", Due: &due, Reminders: []task.Reminder{{Before: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	completed, err := v.tasks.Create(ctx, "alice", task.Fields{Title: "completed", Due: &due, Reminders: []task.Reminder{{Before: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := v.tasks.Create(ctx, "alice", task.Fields{Title: "deleted", Due: &due, Reminders: []task.Reminder{at(due.Add(-time.Second))}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "four reminders scheduled", func() bool { return v.count(t, `SELECT count(*) FROM notifier.reminders`) == 4 })

	later := due.Add(time.Hour)
	if _, err := v.tasks.Update(ctx, "alice", moved.ID, 0, func(f task.Fields) (task.Fields, error) { f.Due = &later; return f, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := v.tasks.Complete(ctx, "alice", completed.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := v.tasks.Delete(ctx, "alice", deleted.ID, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the moved reminder moved", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.reminders WHERE task_id = $1 AND fire_at = $2`, moved.ID, later.Add(-time.Second)) == 1
	})
	eventually(t, "two reminders canceled", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.reminders WHERE canceled_at IS NOT NULL`) == 2
	})
	eventually(t, "the reminder fired", func() bool { return v.fired(t, fires.ID) == 1 })

	var lateness time.Duration
	if err := v.pool.QueryRow(ctx, `SELECT fired_at - fire_at FROM notifier.reminders WHERE task_id = $1`, fires.ID).Scan(&lateness); err != nil {
		t.Fatal(err)
	}
	if lateness < 0 || lateness > 5*time.Second {
		t.Errorf("fired %v after its time", lateness)
	}
	time.Sleep(time.Until(due)) // every original fire time has come
	v.settled(t, moved.ID, completed.ID, deleted.ID, fires.ID)
	for _, id := range []string{moved.ID, completed.ID, deleted.ID} {
		if n := v.fired(t, id); n != 0 {
			t.Errorf("task %s: %d reminder events, want 0", id, n)
		}
	}
	if n := v.fired(t, fires.ID); n != 1 {
		t.Errorf("%d events of the reminder, want 1", n)
	}
}

// apply runs notifier.Apply in a transaction of its own.
func apply(t *testing.T, v *env, s task.Snapshot, deleted bool) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), v.pool, func(tx pgx.Tx) error {
		_, err := notifier.Apply(context.Background(), tx, s, deleted)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	v.firer.Wake()
}

func snapshot(id string, version int64, title string, due *time.Time, rs ...task.Reminder) task.Snapshot {
	return task.Snapshot{ID: id, OwnerID: "alice", Title: title, Status: task.StatusOpen, DueAt: due, Reminders: rs, Version: version}
}

// TestUpdatesDoNotRefireOrRewind: an update that keeps a fired reminder's
// time does not fire it again; an event older than the applied one changes
// nothing; nothing revives a deleted task; reopening a completed task brings
// back a reminder that had not fired.
func TestUpdatesDoNotRefireOrRewind(t *testing.T) {
	t.Parallel()
	v := setup(t, options{})
	id := "0190f1a2-0000-7000-8000-00000000aa01"
	soon := time.Now().Add(500 * time.Millisecond)
	apply(t, v, snapshot(id, 2, "v2", nil, at(soon)), false)
	eventually(t, "the reminder fired", func() bool { return v.fired(t, id) == 1 })

	apply(t, v, snapshot(id, 3, "v3 renamed", nil, at(soon)), false)
	far := time.Now().Add(time.Hour)
	apply(t, v, snapshot(id, 1, "v1 stale", nil, at(far)), false) // older: ignored
	apply(t, v, snapshot(id, 3, "v3 again", nil, at(far)), false) // as old: ignored
	v.settled(t, id)
	if n := v.fired(t, id); n != 1 {
		t.Errorf("%d events after updates that kept the time, want 1", n)
	}
	var title string
	var fireAt time.Time
	if err := v.pool.QueryRow(context.Background(), `SELECT title, fire_at FROM notifier.reminders WHERE task_id = $1`, id).Scan(&title, &fireAt); err != nil {
		t.Fatal(err)
	}
	if title != "v3 renamed" || !fireAt.Equal(soon.UTC().Truncate(time.Microsecond)) {
		t.Errorf("after stale events: title %q fire_at %v", title, fireAt)
	}

	// Moving it to a new time fires it again there.
	apply(t, v, snapshot(id, 4, "v4", nil, at(time.Now().Add(300*time.Millisecond))), false)
	eventually(t, "the moved reminder fired again", func() bool { return v.fired(t, id) == 2 })

	// Completed, then reopened before its time: it fires once.
	id2 := "0190f1a2-0000-7000-8000-00000000aa02"
	when := time.Now().Add(2 * time.Second)
	apply(t, v, snapshot(id2, 1, "t", nil, at(when)), false)
	done := snapshot(id2, 2, "t", nil, at(when))
	done.Status = task.StatusDone
	apply(t, v, done, false)
	apply(t, v, snapshot(id2, 3, "t", nil, at(when)), false)
	eventually(t, "the reopened task's reminder fired", func() bool { return v.fired(t, id2) == 1 })

	// Deleted: a later version does not bring it back.
	id3 := "0190f1a2-0000-7000-8000-00000000aa03"
	apply(t, v, snapshot(id3, 1, "t", nil, at(when.Add(time.Second))), false)
	apply(t, v, snapshot(id3, 1, "t", nil, at(when.Add(time.Second))), true)
	apply(t, v, snapshot(id3, 5, "t", nil, at(when.Add(time.Second))), false)
	time.Sleep(time.Until(when.Add(time.Second))) // its fire time has come
	v.settled(t, id3)
	if n := v.fired(t, id3); n != 0 {
		t.Errorf("deleted task: %d events, want 0", n)
	}
}

// TestCrashBetweenClaimAndCommit: a firing round that dies after claiming
// and writing its events but before committing leaves no trace; the next
// loop fires every reminder exactly once.
func TestCrashBetweenClaimAndCommit(t *testing.T) {
	t.Parallel()
	v := setup(t, options{noFirer: true})
	past := time.Now().Add(-time.Minute)
	for i := range 5 {
		apply(t, v, snapshot(fmt.Sprintf("0190f1a2-0000-7000-8000-0000000bb0%02d", i), 1, "t", nil, at(past)), false)
	}
	crashing := notifier.NewFirer(v.pool, notifier.FirerConfig{})
	notifier.SetBeforeCommit(crashing, func(ctx context.Context) error {
		var n int
		if err := v.pool.QueryRow(ctx, `SELECT count(*) FROM notifier.reminders WHERE fired_at IS NULL`).Scan(&n); err != nil {
			return err
		}
		if n != 5 {
			t.Errorf("another transaction sees %d unfired reminders mid-round, want 5", n)
		}
		return errors.New("killed")
	})
	if _, err := crashing.Round(context.Background()); err == nil {
		t.Fatal("the crashing round committed")
	}
	if n := v.count(t, `SELECT count(*) FROM notifier.outbox`); n != 0 {
		t.Fatalf("%d events after the crash, want 0", n)
	}
	kafkatest.Go(t, v.firer.Run)
	eventually(t, "all fired after the restart", func() bool { return v.count(t, `SELECT count(*) FROM notifier.outbox`) == 5 })
	v.settled(t)
	if n := v.count(t, `SELECT count(DISTINCT event->'data'->>'reminder_id') FROM notifier.outbox`); n != 5 {
		t.Errorf("%d distinct reminders among 5 events", n)
	}
}

// TestDowntimeGraceWindow: reminders that fell due while no notifier ran
// fire on start; those older than the grace window are recorded as missed.
func TestDowntimeGraceWindow(t *testing.T) {
	t.Parallel()
	v := setup(t, options{noFirer: true, grace: time.Hour})
	for i := range 4 {
		apply(t, v, snapshot(fmt.Sprintf("0190f1a2-0000-7000-8000-0000000cc0%02d", i), 1, "recent", nil, at(time.Now().Add(-time.Duration(i+1)*time.Minute))), false)
	}
	for i := range 3 {
		apply(t, v, snapshot(fmt.Sprintf("0190f1a2-0000-7000-8000-0000000dd0%02d", i), 1, "old", nil, at(time.Now().Add(-2*time.Hour))), false)
	}
	kafkatest.Go(t, v.firer.Run)
	eventually(t, "recent ones fired, old ones missed", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.reminders WHERE fired_at IS NOT NULL AND title = 'recent'`) == 4 &&
			v.count(t, `SELECT count(*) FROM notifier.reminders WHERE missed_at IS NOT NULL AND fired_at IS NULL AND title = 'old'`) == 3
	})
	if n := v.count(t, `SELECT count(*) FROM notifier.outbox`); n != 4 {
		t.Errorf("%d events, want 4 (missed ones send none)", n)
	}
	if got := v.metric(t, "notifier_reminders_missed_total"); got != 3 {
		t.Errorf("missed metric %v, want 3", got)
	}
	if got := v.metric(t, "notifier_reminders_fired_total"); got != 4 {
		t.Errorf("fired metric %v, want 4", got)
	}
}

// TestTwoReplicasFireEachOnce: two firing loops on one database fire every
// reminder exactly once.
func TestTwoReplicasFireEachOnce(t *testing.T) {
	t.Parallel()
	v := setup(t, options{noFirer: true})
	ctx := context.Background()
	const n = 3000
	fireAt := time.Now().Add(time.Second)
	_, err := v.pool.CopyFrom(ctx, pgx.Identifier{"notifier", "reminders"},
		[]string{"id", "task_id", "owner_id", "slot", "title", "base_fire_at", "fire_at"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			return []any{fmt.Sprintf("0190f1a2-0000-7000-8000-%012d", i), fmt.Sprintf("task-%d", i), "alice", 0, "t", fireAt, fireAt}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		f := notifier.NewFirer(v.pool, notifier.FirerConfig{BatchSize: 200, Listen: true})
		wg.Add(1)
		kafkatest.Go(t, func(ctx context.Context) error { defer wg.Done(); return f.Run(ctx) })
	}
	eventually(t, "every reminder fired", func() bool {
		return v.count(t, `SELECT count(*) FROM notifier.reminders WHERE fired_at IS NOT NULL`) == n
	})
	if got := v.count(t, `SELECT count(*) FROM notifier.outbox WHERE topic = 'reminders'`); got != n {
		t.Errorf("%d events for %d reminders", got, n)
	}
	if got := v.count(t, `SELECT count(DISTINCT event->'data'->>'reminder_id') FROM notifier.outbox`); got != n {
		t.Errorf("%d distinct reminders among the events, want %d", got, n)
	}
}

// TestMigrateCommand: `notifier migrate` applies the migrations and exits;
// applying them again changes nothing.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	pool := servicetest.Migrate(t, notifier.Run, "notifier", map[string]string{"JWT_SECRET": jwtSecret, "KAFKA_BROKERS": "127.0.0.1:1"})
	if n := servicetest.Count(t, pool, `SELECT count(*) FROM pg_tables WHERE schemaname = 'notifier'`); n != 9 {
		t.Errorf("%d tables in schema notifier after migrate, want 9 (with the migrations table)", n)
	}
}
