package notifier

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/task"
)

// Group is the notifier's consumer group: it reads task-events (to keep the
// schedule) and reminders (to deliver them) with one consumer, whose handler
// only writes rows; sending happens in the delivery worker.
//
// Group, Topics and Types say what a consumer reads; each consuming service
// declares its own, in the same few lines.
const Group = "notifier"

// Topics the notifier consumes.
var Topics = []string{events.TopicTaskEvents, events.TopicReminders}

// Types are the event types the notifier handles; others are dead-lettered.
var Types = events.Types()

// Events is the notifier's event handler: task events keep the reminder
// schedule, reminder.due events fill the inbox and queue the deliveries.
type Events struct {
	Metrics *Metrics
	// EmailOn says SMTP is configured: only then are emails queued.
	EmailOn bool
}

// wakes is what one Process call's handling changed: the partitions are
// processed concurrently, so each call carries its own, in its context, and
// wakes the firing loop and the delivery worker after its own commit.
type wakes struct{ schedule, deliveries atomic.Bool }

type wakesKey struct{}

func wakesOf(ctx context.Context) *wakes {
	if w, ok := ctx.Value(wakesKey{}).(*wakes); ok {
		return w
	}
	return &wakes{} // handled outside Process: nobody to wake
}

// Handle applies e within the consumer's transaction.
func (h *Events) Handle(ctx context.Context, tx pgx.Tx, e events.Event) error {
	if e.Type() == events.TypeReminderDue {
		d, err := events.ReminderData(e)
		if err != nil {
			return err
		}
		n, err := Enqueue(ctx, tx, e, d, h.EmailOn)
		if n > 0 {
			wakesOf(ctx).deliveries.Store(true)
		}
		return err
	}
	s, err := events.TaskData(e)
	if err != nil {
		return err
	}
	if owner := events.PartitionKey(e); owner != "" && owner != s.OwnerID {
		return consume.Permanent(fmt.Errorf("event %s: partition key %q is not the task's owner %q", e.ID(), owner, s.OwnerID))
	}
	n, err := Apply(ctx, tx, s, e.Type() == events.TypeTaskDeleted)
	if err != nil {
		return err
	}
	if n > 0 {
		h.Metrics.scheduled.Add(float64(n))
		wakesOf(ctx).schedule.Store(true)
	}
	return nil
}

// Process wraps a consumer's Process: after a delivery is committed, it
// wakes the firing loop when the schedule changed and the delivery worker
// when deliveries were queued.
func (h *Events) Process(process func(context.Context, broker.Delivery) error, wakeSchedule, wakeDeliveries func()) func(context.Context, broker.Delivery) error {
	return func(ctx context.Context, d broker.Delivery) error {
		w := &wakes{}
		err := process(context.WithValue(ctx, wakesKey{}, w), d)
		w.wake(wakeSchedule, wakeDeliveries)
		return err
	}
}

// ProcessBatch is Process for batches (consume.Consumer.ProcessBatch): it
// wakes the firing loop and the delivery worker after the batch's commit.
func (h *Events) ProcessBatch(process func(context.Context, []broker.Delivery) (int, error), wakeSchedule, wakeDeliveries func()) func(context.Context, []broker.Delivery) (int, error) {
	return func(ctx context.Context, ds []broker.Delivery) (int, error) {
		w := &wakes{}
		n, err := process(context.WithValue(ctx, wakesKey{}, w), ds)
		w.wake(wakeSchedule, wakeDeliveries)
		return n, err
	}
}

func (w *wakes) wake(wakeSchedule, wakeDeliveries func()) {
	if w.schedule.Load() && wakeSchedule != nil {
		wakeSchedule()
	}
	if w.deliveries.Load() && wakeDeliveries != nil {
		wakeDeliveries()
	}
}

const (
	claimTask = `INSERT INTO notifier.tasks (task_id, owner_id, version, deleted) VALUES ($1, $2, $3, $4)
	ON CONFLICT (task_id) DO UPDATE SET version = EXCLUDED.version, deleted = EXCLUDED.deleted, updated_at = now()
	WHERE NOT notifier.tasks.deleted AND notifier.tasks.owner_id = EXCLUDED.owner_id
	  AND (notifier.tasks.version < EXCLUDED.version OR (EXCLUDED.deleted AND notifier.tasks.version = EXCLUDED.version))
	RETURNING task_id`
	taskReminders = `SELECT id, slot, base_fire_at, canceled_at IS NOT NULL FROM notifier.reminders
	WHERE task_id = $1 ORDER BY slot FOR UPDATE`
	insertReminder = `INSERT INTO notifier.reminders (id, task_id, owner_id, slot, title, due_at, base_fire_at, fire_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`
	keepReminder = `UPDATE notifier.reminders SET title = $2, due_at = $3, canceled_at = NULL, updated_at = now() WHERE id = $1`
	moveReminder = `UPDATE notifier.reminders SET title = $2, due_at = $3, base_fire_at = $4, fire_at = $4,
	fired_at = NULL, missed_at = NULL, canceled_at = NULL, updated_at = now() WHERE id = $1`
	cancelReminder = `UPDATE notifier.reminders SET canceled_at = now(), updated_at = now() WHERE id = $1`
)

// Apply makes the schedule of task s what its snapshot asks for, within tx,
// and returns how many reminders it scheduled or moved. A snapshot older
// than (or as old as) the one applied before changes nothing, and so does
// anything after the task's deletion. A reminder whose fire time stays the
// same keeps its state: fired stays fired (and a snoozed one stays snoozed).
func Apply(ctx context.Context, tx pgx.Tx, s task.Snapshot, deleted bool) (int, error) {
	var id string
	err := tx.QueryRow(ctx, claimTask, s.ID, s.OwnerID, s.Version, deleted).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil // stale, a duplicate, or after the deletion
	}
	if err != nil {
		return 0, fmt.Errorf("record task %s version %d: %w", s.ID, s.Version, err)
	}

	want := map[int]time.Time{}
	if !deleted && s.Status == task.StatusOpen {
		for i, r := range s.Reminders {
			if at := r.FireAt(s.DueAt); at != nil {
				want[i] = at.UTC().Truncate(time.Microsecond)
			}
		}
	}
	type row struct {
		id       uuid.UUID
		slot     int
		base     time.Time
		canceled bool
	}
	rows, err := tx.Query(ctx, taskReminders, s.ID)
	if err != nil {
		return 0, fmt.Errorf("read reminders of task %s: %w", s.ID, err)
	}
	have, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var v row
		err := r.Scan(&v.id, &v.slot, &v.base, &v.canceled)
		return v, err
	})
	if err != nil {
		return 0, fmt.Errorf("read reminders of task %s: %w", s.ID, err)
	}

	batch := &pgx.Batch{}
	changed := 0
	seen := map[int]bool{}
	for _, h := range have {
		seen[h.slot] = true
		at, ok := want[h.slot]
		switch {
		case !ok:
			if !h.canceled {
				batch.Queue(cancelReminder, h.id)
			}
		case at.Equal(h.base):
			batch.Queue(keepReminder, h.id, s.Title, s.DueAt)
			if h.canceled {
				changed++
			}
		default:
			batch.Queue(moveReminder, h.id, s.Title, s.DueAt, at)
			changed++
		}
	}
	for slot, at := range want {
		if !seen[slot] {
			batch.Queue(insertReminder, uuid.Must(uuid.NewV7()), s.ID, s.OwnerID, slot, s.Title, s.DueAt, at)
			changed++
		}
	}
	if batch.Len() > 0 {
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return 0, fmt.Errorf("write reminders of task %s: %w", s.ID, err)
		}
	}
	return changed, nil
}
