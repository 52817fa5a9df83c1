package taskapi

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/outbox"
	"github.com/todo-platform/todo/pkg/pgnotify"
	"github.com/todo-platform/todo/pkg/recurrence"
	"github.com/todo-platform/todo/pkg/task"
)

// OutboxTable is where taskapi's events wait for the relay.
const OutboxTable = "taskapi.outbox"

// EventSource is the CloudEvents source of taskapi's events.
const EventSource = "/todo/taskapi"

// ErrNotRecurring says a task has no recurrence to continue.
var ErrNotRecurring = errors.New("task has no recurrence")

// Store keeps tasks in PostgreSQL. Every change writes its event into the
// outbox in the same transaction.
type Store struct {
	pool   *pgxpool.Pool
	now    func() time.Time
	notify *pgnotify.Notifier
}

// OutboxChannel is the channel on which taskapi wakes the outbox relays.
const OutboxChannel = "taskapi_outbox"

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, now: time.Now, notify: pgnotify.NewNotifier(pool, OutboxChannel)}
}

// committed wakes the relays after a transaction that wrote the outbox.
func (s *Store) committed(err error) error {
	if err == nil {
		s.notify.Notify()
	}
	return err
}

const taskColumns = `id, owner_id, title, description, status, priority, tags, due_at, time_zone,
	reminders, recurrence_rule, recurrence_anchor, series_id, occurrence_at,
	created_at, updated_at, completed_at, version`

// taskRow is a row of taskapi.tasks as read.
type taskRow struct {
	ID               string          `db:"id"`
	OwnerID          string          `db:"owner_id"`
	Title            string          `db:"title"`
	Description      string          `db:"description"`
	Status           string          `db:"status"`
	Priority         int16           `db:"priority"`
	Tags             []string        `db:"tags"`
	DueAt            *time.Time      `db:"due_at"`
	TimeZone         string          `db:"time_zone"`
	Reminders        []task.Reminder `db:"reminders"`
	RecurrenceRule   *string         `db:"recurrence_rule"`
	RecurrenceAnchor *string         `db:"recurrence_anchor"`
	SeriesID         *string         `db:"series_id"`
	OccurrenceAt     *time.Time      `db:"occurrence_at"`
	CreatedAt        time.Time       `db:"created_at"`
	UpdatedAt        time.Time       `db:"updated_at"`
	CompletedAt      *time.Time      `db:"completed_at"`
	Version          int64           `db:"version"`
}

func (r *taskRow) task() *task.Task {
	t := &task.Task{
		ID: r.ID, Owner: r.OwnerID, Title: r.Title, Description: r.Description,
		Status: task.Status(r.Status), Priority: task.Priority(r.Priority), Tags: r.Tags,
		Due: utc(r.DueAt), TimeZone: r.TimeZone, Reminders: r.Reminders,
		SeriesID: r.SeriesID, OccurrenceAt: utc(r.OccurrenceAt),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), CompletedAt: utc(r.CompletedAt),
		Version: r.Version,
	}
	if r.RecurrenceRule != nil && r.RecurrenceAnchor != nil {
		t.Recurrence = &task.Recurrence{Rule: *r.RecurrenceRule, Anchor: recurrence.Anchor(*r.RecurrenceAnchor)}
	}
	return t
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func recurrenceColumns(t *task.Task) (rule, anchor *string) {
	if t.Recurrence == nil {
		return nil, nil
	}
	a := string(t.Recurrence.Anchor)
	return &t.Recurrence.Rule, &a
}

// validID reports whether id can be a task id; any other id names no task.
func validID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

func (s *Store) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// taskEvent is the outbox message of the event of type typ of a task whose
// snapshot is snap.
func taskEvent(typ string, snap task.Snapshot, at time.Time) (outbox.Message, error) {
	e, err := events.NewTaskEvent(EventSource, typ, snap, at)
	return outbox.Message{Topic: events.TopicTaskEvents, Event: e}, err
}

// queueEvent adds the outbox insert of the event of a change of t to batch.
func queueEvent(ctx context.Context, batch *pgx.Batch, typ string, t *task.Task, at time.Time) error {
	m, err := taskEvent(typ, t.Snapshot(), at)
	if err != nil {
		return err
	}
	return outbox.Queue(ctx, batch, OutboxTable, m)
}

// sendBatch runs batch on db (a pool: as one implicit transaction; a
// transaction: within it) and reports the first error.
func sendBatch(ctx context.Context, db interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, batch *pgx.Batch) error {
	return db.SendBatch(ctx, batch).Close()
}

// emit writes the event of a change of t into the outbox within tx.
func emit(ctx context.Context, tx pgx.Tx, typ string, t *task.Task, at time.Time) error {
	m, err := taskEvent(typ, t.Snapshot(), at)
	if err != nil {
		return err
	}
	return outbox.Insert(ctx, tx, OutboxTable, m)
}

const insertTask = `INSERT INTO taskapi.tasks (` + taskColumns + `, previous_id)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
	ON CONFLICT DO NOTHING`

func insertArgs(t *task.Task, previous *string) []any {
	rule, anchor := recurrenceColumns(t)
	snap := t.Snapshot() // non-nil tags and reminders
	return []any{t.ID, t.Owner, t.Title, t.Description, string(t.Status), int16(t.Priority), snap.Tags, t.Due, t.TimeZone,
		snap.Reminders, rule, anchor, t.SeriesID, t.OccurrenceAt,
		t.CreatedAt, t.UpdatedAt, t.CompletedAt, t.Version, previous}
}

// Create stores a new open task of owner with fields f (already normalized).
func (s *Store) Create(ctx context.Context, owner string, f task.Fields) (*task.Task, error) {
	now := s.stamp()
	t := &task.Task{ID: uuid.Must(uuid.NewV7()).String(), Owner: owner, Status: task.StatusOpen, CreatedAt: now, UpdatedAt: now, Version: 1}
	t.Apply(f)
	startSeries(t)
	// The task and its event in one round trip, committed together.
	batch := &pgx.Batch{}
	batch.Queue(insertTask, insertArgs(t, nil)...)
	if err := queueEvent(ctx, batch, events.TypeTaskCreated, t, now); err != nil {
		return nil, fmt.Errorf("create task: %w", err)
	}
	if err := s.committed(sendBatch(ctx, s.pool, batch)); err != nil {
		return nil, fmt.Errorf("create task: %w", err)
	}
	return t, nil
}

// startSeries makes a task that gained a recurrence the first occurrence of
// its own series.
func startSeries(t *task.Task) {
	if t.Recurrence != nil && t.SeriesID == nil {
		id := t.ID
		t.SeriesID = &id
		t.OccurrenceAt = t.Due
	}
}

const selectTask = `SELECT ` + taskColumns + ` FROM taskapi.tasks WHERE id = $1 AND owner_id = $2`

// Get returns owner's task id, or task.ErrNotFound.
func (s *Store) Get(ctx context.Context, owner, id string) (*task.Task, error) {
	if !validID(id) {
		return nil, task.ErrNotFound
	}
	return getOne(ctx, s.pool, selectTask, id, owner)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func getOne(ctx context.Context, q querier, sql string, args ...any) (*task.Task, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("read task: %w", err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[taskRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, task.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read task: %w", err)
	}
	return r.task(), nil
}

const updateTask = `UPDATE taskapi.tasks SET title = $3, description = $4, status = $5, priority = $6, tags = $7,
	due_at = $8, time_zone = $9, reminders = $10, recurrence_rule = $11, recurrence_anchor = $12,
	series_id = $13, occurrence_at = $14, updated_at = $15, completed_at = $16, version = $17
	WHERE id = $1 AND owner_id = $2`

// saveChanged is the save of a changed task and its event in one
// statement: the task is updated only if it still has the version it was
// read at ($18), and the event is written only if it was.
var saveChanged = `WITH saved AS (` + updateTask + ` AND version = $18 RETURNING 1)
	INSERT INTO ` + OutboxTable + ` (` + outbox.Columns + `) SELECT $19, $20, $21, $22 FROM saved`

// changeAttempts bounds how often a change without If-Match is made again
// when another change of the task came between its read and its save.
const changeAttempts = 20

// change runs fn on owner's task id, and saves it with a new version and an
// event of type typ when fn reports a change. A non-zero ifVersion must
// equal the stored version, or the result is task.ErrVersionMismatch (with
// the current task); NoVersion never does.
//
// The task is read, changed here, and saved with its event in one
// statement that checks the version read: one round trip to read and one
// to save, and no transaction open between them. When another change came
// in between, a change with If-Match fails as it would have on the stored
// version; one without is made again on the new version.
func (s *Store) change(ctx context.Context, owner, id string, ifVersion int64, typ string, fn func(t *task.Task, now time.Time) (bool, error)) (*task.Task, error) {
	if !validID(id) {
		return nil, task.ErrNotFound
	}
	for attempt := 1; ; attempt++ {
		t, err := getOne(ctx, s.pool, selectTask, id, owner)
		if err != nil {
			return nil, err
		}
		if ifVersion != 0 && t.Version != ifVersion {
			return t, task.ErrVersionMismatch
		}
		read := t.Version
		now := s.stamp()
		changed, err := fn(t, now)
		if err != nil || !changed {
			return t, err
		}
		t.Version++
		t.UpdatedAt = now
		snap := t.Snapshot() // the event's payload; non-nil tags and reminders
		m, err := taskEvent(typ, snap, now)
		if err != nil {
			return nil, err
		}
		ev, err := outbox.Values(ctx, m)
		if err != nil {
			return nil, err
		}
		rule, anchor := recurrenceColumns(t)
		tag, err := s.pool.Exec(ctx, saveChanged, append([]any{t.ID, t.Owner, t.Title, t.Description, string(t.Status), int16(t.Priority), snap.Tags,
			t.Due, t.TimeZone, snap.Reminders, rule, anchor, t.SeriesID, t.OccurrenceAt, t.UpdatedAt, t.CompletedAt, t.Version, read}, ev...)...)
		if err != nil {
			return nil, fmt.Errorf("save task: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return t, s.committed(nil)
		}
		// Changed (or deleted) since it was read.
		if ifVersion != 0 || attempt == changeAttempts {
			cur, err := getOne(ctx, s.pool, selectTask, id, owner)
			if err != nil {
				return nil, err
			}
			if ifVersion != 0 {
				return cur, task.ErrVersionMismatch
			}
			return nil, fmt.Errorf("save task %s: changed by others %d times while this change was made", id, changeAttempts)
		}
	}
}

// Update applies edit to the editable fields of owner's task id. A result
// equal to the stored fields changes nothing (no new version, no event).
func (s *Store) Update(ctx context.Context, owner, id string, ifVersion int64, edit func(task.Fields) (task.Fields, error)) (*task.Task, error) {
	return s.change(ctx, owner, id, ifVersion, events.TypeTaskUpdated, func(t *task.Task, _ time.Time) (bool, error) {
		before := t.Fields()
		after, err := edit(t.Fields())
		if err != nil {
			return false, err
		}
		if reflect.DeepEqual(normalizedForCompare(before), normalizedForCompare(after)) {
			return false, nil
		}
		t.Apply(after)
		startSeries(t)
		return true, nil
	})
}

func normalizedForCompare(f task.Fields) task.Fields {
	if len(f.Tags) == 0 {
		f.Tags = nil
	}
	if len(f.Reminders) == 0 {
		f.Reminders = nil
	}
	return f
}

// Complete marks owner's task id done. Completing a done task changes nothing.
// The recurrence and every other field stay: the recurring service creates the
// next occurrence from the completion event.
func (s *Store) Complete(ctx context.Context, owner, id string, ifVersion int64) (*task.Task, error) {
	return s.change(ctx, owner, id, ifVersion, events.TypeTaskCompleted, func(t *task.Task, now time.Time) (bool, error) {
		if t.Status == task.StatusDone {
			return false, nil
		}
		t.Status = task.StatusDone
		t.CompletedAt = &now
		return true, nil
	})
}

// Reopen marks owner's task id open again. Reopening an open task changes nothing.
func (s *Store) Reopen(ctx context.Context, owner, id string, ifVersion int64) (*task.Task, error) {
	return s.change(ctx, owner, id, ifVersion, events.TypeTaskReopened, func(t *task.Task, _ time.Time) (bool, error) {
		if t.Status == task.StatusOpen {
			return false, nil
		}
		t.Status = task.StatusOpen
		t.CompletedAt = nil
		return true, nil
	})
}

const deleteTask = `DELETE FROM taskapi.tasks WHERE id = $1 AND owner_id = $2 RETURNING ` + taskColumns

// Delete removes owner's task id; its deleted event carries the last state.
func (s *Store) Delete(ctx context.Context, owner, id string, ifVersion int64) error {
	if !validID(id) {
		return task.ErrNotFound
	}
	return s.committed(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t, err := getOne(ctx, tx, deleteTask, id, owner)
		if err != nil {
			return err
		}
		if ifVersion != 0 && t.Version != ifVersion {
			return task.ErrVersionMismatch // rolls the delete back
		}
		now := s.stamp()
		t.Version++
		t.UpdatedAt = now
		return emit(ctx, tx, events.TypeTaskDeleted, t, now)
	}))
}

// TagCount is how many of a user's tasks carry a tag.
type TagCount struct {
	Tag   string `db:"tag" json:"tag"`
	Count int64  `db:"count" json:"count"`
}

const selectTags = `SELECT tag, count(*) AS count FROM taskapi.tasks, unnest(tags) AS tag
	WHERE owner_id = $1 AND ($2::text IS NULL OR status = $2)
	GROUP BY tag ORDER BY count(*) DESC, tag`

// Tags returns owner's tags with the number of tasks carrying each, most used
// first; status, when not empty, counts only tasks in that status.
func (s *Store) Tags(ctx context.Context, owner string, status task.Status) ([]TagCount, error) {
	var st *string
	if status != "" {
		v := string(status)
		st = &v
	}
	rows, err := s.pool.Query(ctx, selectTags, owner, st)
	if err != nil {
		return nil, fmt.Errorf("count tags: %w", err)
	}
	tags, err := pgx.CollectRows(rows, pgx.RowToStructByName[TagCount])
	if err != nil {
		return nil, fmt.Errorf("count tags: %w", err)
	}
	return tags, nil
}

const (
	selectAnyTask   = `SELECT ` + taskColumns + ` FROM taskapi.tasks WHERE id = $1`
	selectSuccessor = `SELECT ` + taskColumns + ` FROM taskapi.tasks WHERE previous_id = $1 OR (series_id = $2 AND occurrence_at = $3) LIMIT 1`
)

// CreateOccurrence creates the occurrence of previous's series due at
// occurrenceAt, as the successor of task previous. It is idempotent: a task
// has at most one successor and a series at most one task per occurrence
// time; when one exists it is returned with created = false.
func (s *Store) CreateOccurrence(ctx context.Context, previous string, occurrenceAt time.Time) (t *task.Task, created bool, err error) {
	if !validID(previous) {
		return nil, false, task.ErrNotFound
	}
	occurrenceAt = occurrenceAt.UTC().Truncate(time.Second)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		prev, err := getOne(ctx, tx, selectAnyTask+" FOR SHARE", previous)
		if err != nil {
			return err
		}
		if prev.Recurrence == nil || prev.SeriesID == nil {
			return ErrNotRecurring
		}
		existing, err := getOne(ctx, tx, selectSuccessor, previous, *prev.SeriesID, occurrenceAt)
		if err == nil {
			t = existing
			return nil
		}
		if !errors.Is(err, task.ErrNotFound) {
			return err
		}
		now := s.stamp()
		next := &task.Task{
			ID: uuid.Must(uuid.NewV7()).String(), Owner: prev.Owner, Status: task.StatusOpen,
			CreatedAt: now, UpdatedAt: now, Version: 1,
			SeriesID: prev.SeriesID, OccurrenceAt: &occurrenceAt,
		}
		f := prev.Fields()
		f.Due = &occurrenceAt
		// Reminders relative to the due time follow the occurrence; absolute
		// ones belonged to the previous occurrence.
		f.Reminders = nil
		for _, r := range prev.Reminders {
			if r.At == nil {
				f.Reminders = append(f.Reminders, r)
			}
		}
		next.Apply(f)
		tag, err := tx.Exec(ctx, insertTask, insertArgs(next, &previous)...)
		if err != nil {
			return fmt.Errorf("insert occurrence: %w", err)
		}
		if tag.RowsAffected() == 0 {
			// A concurrent call created it first.
			t, err = getOne(ctx, tx, selectSuccessor, previous, *prev.SeriesID, occurrenceAt)
			return err
		}
		t, created = next, true
		return emit(ctx, tx, events.TypeTaskCreated, next, now)
	})
	if err := s.committed(err); err != nil {
		return nil, false, err
	}
	return t, created, nil
}

// Ping checks the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }
