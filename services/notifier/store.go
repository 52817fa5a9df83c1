package notifier

import (
	"context"
	"embed"
	"errors"
	"io/fs"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/database"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the notifier's schema: the reminder schedule, its outbox,
// its table of consumed events, the inbox, the settings, the webhooks and
// the deliveries.
var Migrations = database.Migrations{Schema: "notifier", FS: mustSub(migrationFiles, "migrations")}

// Tables and channels.
const (
	// ConsumedTable is the notifier's table of consumed events (pkg/consume).
	ConsumedTable = "notifier.consumed_events"
	// OutboxTable is where reminder.due events and delivery dead letters wait
	// for the relay.
	OutboxTable = "notifier.outbox"
	// OutboxChannel is the channel on which the notifier wakes its relays.
	OutboxChannel = "notifier_outbox"
	// ScheduleChannel is the channel on which a change of the schedule wakes
	// the firing loops of every replica.
	ScheduleChannel = "notifier_schedule"
	// Source is the CloudEvents source of the notifier's events.
	Source = "/todo/notifier"
)

// Errors of the store; handlers map them to statuses.
var (
	ErrNotFound = errors.New("not found")
	ErrCanceled = errors.New("the reminder's task is completed or deleted")
	ErrTooMany  = errors.New("too many webhooks")
)

// Store reads and writes the notifier's tables for the HTTP API.
type Store struct {
	pool *pgxpool.Pool
	// Changed is called after a commit that moved the schedule (a snooze).
	Changed func()
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Ping checks the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

func validID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}
