package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/events"
)

// ConsumedTable is audit's table of consumed events (pkg/consume).
const ConsumedTable = "audit.consumed_events"

// Entry is one event in the audit log.
type Entry struct {
	Seq        int64           `db:"seq"`
	EventID    string          `db:"event_id"`
	Source     string          `db:"event_source"`
	Type       string          `db:"event_type"`
	TaskID     string          `db:"task_id"`
	OwnerID    string          `db:"owner_id"`
	Time       time.Time       `db:"event_time"`
	Event      json.RawMessage `db:"event"`
	RecordedAt time.Time       `db:"recorded_at"`
}

// Store reads and appends audit entries.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Ping checks the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

const insertEntry = `INSERT INTO audit.entries (event_id, event_source, event_type, task_id, owner_id, event_time, event)
	VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING`

// Append adds e to the log within tx; an event already in it adds nothing.
func Append(ctx context.Context, tx pgx.Tx, e events.Event) error {
	owner := events.PartitionKey(e)
	if owner == "" && events.IsTaskEvent(e.Type()) {
		s, err := events.TaskData(e)
		if err != nil {
			return err
		}
		owner = s.OwnerID
	}
	if owner == "" {
		return fmt.Errorf("%w: event %s has no owner (partitionkey)", events.ErrMalformed, e.ID())
	}
	if e.Subject() == "" {
		return fmt.Errorf("%w: event %s has no subject (task id)", events.ErrMalformed, e.ID())
	}
	doc, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: encode event %s: %w", events.ErrMalformed, e.ID(), err)
	}
	at := e.Time()
	if at.IsZero() {
		at = time.Now()
	}
	if _, err := tx.Exec(ctx, insertEntry, e.ID(), e.Source(), e.Type(), e.Subject(), owner, at.UTC(), doc); err != nil {
		return fmt.Errorf("append audit entry %s: %w", e.ID(), err)
	}
	return nil
}

// Query selects one owner's entries, newest first.
type Query struct {
	TaskID string
	Since  *time.Time // inclusive
	Until  *time.Time // exclusive
	Limit  int
	After  *Cursor
}

// Cursor is the position of the last entry of a page.
type Cursor struct {
	Time time.Time `json:"t"`
	Seq  int64     `json:"s"`
}

const listEntries = `SELECT seq, event_id, event_source, event_type, task_id, owner_id, event_time, event, recorded_at
	FROM audit.entries
	WHERE owner_id = $1
	  AND ($2::text IS NULL OR task_id = $2)
	  AND ($3::timestamptz IS NULL OR event_time >= $3)
	  AND ($4::timestamptz IS NULL OR event_time < $4)
	  AND ($5::timestamptz IS NULL OR (event_time, seq) < ($5, $6))
	ORDER BY event_time DESC, seq DESC
	LIMIT $7`

// List returns a page of owner's entries and the cursor of the next page
// (nil on the last one).
func (s *Store) List(ctx context.Context, owner string, q Query) ([]Entry, *Cursor, error) {
	var task *string
	if q.TaskID != "" {
		task = &q.TaskID
	}
	var afterTime *time.Time
	var afterSeq int64
	if q.After != nil {
		afterTime, afterSeq = &q.After.Time, q.After.Seq
	}
	rows, err := s.pool.Query(ctx, listEntries, owner, task, q.Since, q.Until, afterTime, afterSeq, q.Limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("list audit entries: %w", err)
	}
	es, err := pgx.CollectRows(rows, pgx.RowToStructByName[Entry])
	if err != nil {
		return nil, nil, fmt.Errorf("list audit entries: %w", err)
	}
	if len(es) <= q.Limit {
		return es, nil, nil
	}
	es = es[:q.Limit]
	last := es[len(es)-1]
	return es, &Cursor{Time: last.Time, Seq: last.Seq}, nil
}
