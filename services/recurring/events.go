package recurring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/recurrence"
)

// Group is recurring's consumer group.
const Group = "recurring"

// Topics are the topics recurring consumes.
var Topics = []string{events.TopicTaskEvents}

// ConsumedTable is recurring's table of consumed events (pkg/consume).
const ConsumedTable = "recurring.consumed_events"

// Types are the task events recurring reads; it acts on completions only.
var Types = events.TaskTypes()

// Occurrences creates the next occurrence of a series.
type Occurrences interface {
	CreateOccurrence(ctx context.Context, previous string, at time.Time) (id string, created bool, err error)
}

var _ Occurrences = (*TaskAPI)(nil)

const (
	selectOrdinal = `SELECT ordinal FROM recurring.occurrences WHERE task_id = $1`
	selectLatest  = `SELECT coalesce(max(ordinal), 1) + 1 FROM recurring.occurrences WHERE series_id = $1`
	insertOrdinal = `INSERT INTO recurring.occurrences (task_id, series_id, ordinal) VALUES ($1, $2, $3) ON CONFLICT (task_id) DO NOTHING`
)

// Querier reads the series progress; a *pgxpool.Pool is one.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// NewPrepare returns recurring's event handler: on the completion of a
// recurring task it computes the series' next occurrence and has taskapi
// create it, then, in the consumer's transaction, records which occurrence
// of its series each task is, for rules with COUNT.
//
// The call to taskapi is made outside the transaction (consume.Prepare): a
// transaction held open across HTTP calls would hold a database connection,
// and its locks, for as long as taskapi takes. Effects stay exactly once:
// taskapi keeps one successor per task, so a completion prepared twice (a
// redelivery, a failed commit), or a task completed, reopened and completed
// again, gets the successor that exists; the records commit with the
// consumed event's, once.
//
// budget bounds the computation of one event's next occurrence (0:
// DefaultEventBudget), so that no event holds its partition for long: an
// event over it is not retried but dead-lettered with ErrOverBudget as the
// reason, and the partition moves on.
func NewPrepare(api Occurrences, db Querier, log *slog.Logger, budget time.Duration) consume.Prepare {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if budget <= 0 {
		budget = DefaultEventBudget
	}
	return func(ctx context.Context, e events.Event) (consume.Handler, error) {
		if e.Type() != events.TypeTaskCompleted {
			return nil, nil
		}
		s, err := events.TaskData(e)
		if err != nil {
			return nil, err
		}
		if s.Recurrence == nil || s.SeriesID == nil {
			return nil, nil
		}
		series := *s.SeriesID
		log := log.With("event_id", e.ID(), "task_id", s.ID, "series_id", series)

		ordinal, err := occurrenceOf(ctx, db, s.ID, series)
		if err != nil {
			return nil, err
		}
		record := func(ctx context.Context, tx pgx.Tx, task string, ordinal int) error {
			if _, err := tx.Exec(ctx, insertOrdinal, task, series, ordinal); err != nil {
				return fmt.Errorf("record occurrence %d of series %s: %w", ordinal, series, err)
			}
			return nil
		}

		completed := e.Time()
		if s.CompletedAt != nil {
			completed = *s.CompletedAt
		}
		due := completed
		switch {
		case s.OccurrenceAt != nil:
			due = *s.OccurrenceAt
		case s.DueAt != nil:
			due = *s.DueAt
		}
		next, err := withinBudget(budget, func() (time.Time, error) {
			return recurrence.Next(s.Recurrence.Rule, s.Recurrence.Anchor, s.TimeZone, due, completed, ordinal)
		})
		if errors.Is(err, ErrOverBudget) {
			log.Warn("next occurrence over budget; dead-lettered", "rule", s.Recurrence.Rule, "budget", budget)
			return nil, consume.Permanent(fmt.Errorf("next occurrence of task %s (rule %s): %w", s.ID, s.Recurrence.Rule, err))
		}
		if errors.Is(err, recurrence.ErrNoOccurrenceWithin) {
			// A rule stored before rules without occurrence were refused.
			log.Warn("series ended: its rule has no occurrence", "rule", s.Recurrence.Rule, "err", err, "occurrences", ordinal)
			return func(ctx context.Context, tx pgx.Tx, _ events.Event) error { return record(ctx, tx, s.ID, ordinal) }, nil
		}
		if errors.Is(err, recurrence.ErrNoOccurrence) {
			log.Info("series ended", "occurrences", ordinal)
			return func(ctx context.Context, tx pgx.Tx, _ events.Event) error { return record(ctx, tx, s.ID, ordinal) }, nil
		}
		if err != nil {
			return nil, consume.Permanent(fmt.Errorf("next occurrence of task %s: %w", s.ID, err))
		}

		id, created, err := api.CreateOccurrence(ctx, s.ID, next)
		var se *StatusError
		switch {
		case errors.Is(err, ErrTaskGone), errors.Is(err, ErrNotRecurring):
			log.Info("no next occurrence", "reason", err)
			return func(ctx context.Context, tx pgx.Tx, _ events.Event) error { return record(ctx, tx, s.ID, ordinal) }, nil
		case errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && se.Status != http.StatusUnauthorized && se.Status != http.StatusForbidden && se.Status != http.StatusTooManyRequests:
			return nil, consume.Permanent(err)
		case err != nil:
			// taskapi down, overloaded or refusing our token: retry until it
			// answers, holding the partition back rather than losing the
			// occurrence.
			return nil, consume.Transient(err)
		}
		return func(ctx context.Context, tx pgx.Tx, _ events.Event) error {
			if err := record(ctx, tx, s.ID, ordinal); err != nil {
				return err
			}
			if err := record(ctx, tx, id, ordinal+1); err != nil {
				return err
			}
			log.Info("next occurrence", "next_task_id", id, "occurrence_at", next.UTC(), "created", created, "occurrence", ordinal+1)
			return nil
		}, nil
	}
}

// DefaultEventBudget is the default time one event's next occurrence may
// take to compute (RECURRING_EVENT_BUDGET). The search is bounded
// (recurrence.SearchYears) and takes milliseconds even for a rule without
// occurrence: the budget is the backstop.
const DefaultEventBudget = time.Second

// ErrOverBudget says an event's next occurrence took longer than its budget
// to compute.
var ErrOverBudget = errors.New("computing the next occurrence took longer than the event's budget (RECURRING_EVENT_BUDGET)")

// computing admits one computation of a next occurrence at a time: one that
// ran over its budget goes on in its goroutine until it ends, and this keeps
// such leftovers from piling up on the CPU.
var computing = make(chan struct{}, 1)

// withinBudget returns next()'s result, or ErrOverBudget when it is not
// ready within budget, counting the wait for an earlier computation.
func withinBudget(budget time.Duration, next func() (time.Time, error)) (time.Time, error) {
	start := time.Now()
	timer := time.NewTimer(budget)
	defer timer.Stop()
	select {
	case computing <- struct{}{}:
	case <-timer.C:
		return time.Time{}, ErrOverBudget
	}
	type result struct {
		t   time.Time
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-computing }()
		t, err := next()
		done <- result{t, err}
	}()
	select {
	case r := <-done:
		if time.Since(start) > budget {
			return time.Time{}, ErrOverBudget
		}
		return r.t, r.err
	case <-timer.C:
		return time.Time{}, ErrOverBudget
	}
}

// occurrenceOf returns which occurrence of series task is: as recorded, or
// 1 for the task that started the series, or one after the latest known.
func occurrenceOf(ctx context.Context, tx Querier, task, series string) (int, error) {
	var n int
	err := tx.QueryRow(ctx, selectOrdinal, task).Scan(&n)
	if err == nil {
		return n, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("read occurrence of task %s: %w", task, err)
	}
	if task == series {
		return 1, nil
	}
	if err := tx.QueryRow(ctx, selectLatest, series).Scan(&n); err != nil {
		return 0, fmt.Errorf("read progress of series %s: %w", series, err)
	}
	return n, nil
}
