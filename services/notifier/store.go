package notifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

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
	// MaxWebhooks is how many webhooks one user may register (0:
	// the package's MaxWebhooks).
	MaxWebhooks int
}

func (s *Store) maxWebhooks() int {
	if s.MaxWebhooks > 0 {
		return s.MaxWebhooks
	}
	return MaxWebhooks
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Ping checks the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

func validID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

// The HTTP API's reads and writes.

// Notification is one entry of a user's inbox.
type Notification struct {
	ID         uuid.UUID  `db:"id"`
	ReminderID uuid.UUID  `db:"reminder_id"`
	TaskID     string     `db:"task_id"`
	Title      string     `db:"title"`
	DueAt      *time.Time `db:"due_at"`
	FireAt     time.Time  `db:"fire_at"`
	CreatedAt  time.Time  `db:"created_at"`
	ReadAt     *time.Time `db:"read_at"`
}

// InboxCursor is the position of the last notification of a page.
type InboxCursor struct {
	Read bool      `json:"r"`
	Time time.Time `json:"t"`
	ID   uuid.UUID `json:"i"`
}

const notificationColumns = `id, reminder_id, task_id, title, due_at, fire_at, created_at, read_at`

const listNotifications = `SELECT ` + notificationColumns + ` FROM notifier.notifications
	WHERE owner_id = $1
	  AND (NOT $2::bool OR read_at IS NULL)
	  AND ($3::bool IS NULL OR (read_at IS NOT NULL) > $3
	       OR ((read_at IS NOT NULL) = $3 AND (created_at, id) < ($4, $5)))
	ORDER BY (read_at IS NOT NULL), created_at DESC, id DESC
	LIMIT $6`

// Notifications returns a page of owner's inbox, unread first, then newest,
// and the cursor of the next page (nil on the last one).
func (s *Store) Notifications(ctx context.Context, owner string, unreadOnly bool, limit int, after *InboxCursor) ([]Notification, *InboxCursor, error) {
	var read *bool
	var at time.Time
	var id uuid.UUID
	if after != nil {
		read, at, id = &after.Read, after.Time, after.ID
	}
	rows, err := s.pool.Query(ctx, listNotifications, owner, unreadOnly, read, at, id, limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("list notifications: %w", err)
	}
	ns, next, err := collectPage(rows, limit, func(last Notification) *InboxCursor {
		return &InboxCursor{Read: last.ReadAt != nil, Time: last.CreatedAt, ID: last.ID}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list notifications: %w", err)
	}
	return ns, next, nil
}

// collectPage reads the rows of a list's query, which asked for limit+1 of
// them: the page is the first limit, and when there are more, the next page
// starts after the page's last row, at the cursor after makes of it.
func collectPage[T, C any](rows pgx.Rows, limit int, after func(last T) *C) ([]T, *C, error) {
	items, err := pgx.CollectRows(rows, pgx.RowToStructByName[T])
	if err != nil {
		return nil, nil, err
	}
	if len(items) <= limit {
		return items, nil, nil
	}
	items = items[:limit]
	return items, after(items[len(items)-1]), nil
}

const markRead = `UPDATE notifier.notifications SET read_at = coalesce(read_at, now())
	WHERE id = $1 AND owner_id = $2 RETURNING ` + notificationColumns

// MarkRead marks owner's notification id read and returns it.
func (s *Store) MarkRead(ctx context.Context, owner, id string) (Notification, error) {
	if !validID(id) {
		return Notification{}, ErrNotFound
	}
	rows, err := s.pool.Query(ctx, markRead, id, owner)
	if err != nil {
		return Notification{}, fmt.Errorf("mark notification read: %w", err)
	}
	n, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Notification])
	if errors.Is(err, pgx.ErrNoRows) {
		return Notification{}, ErrNotFound
	}
	return n, err
}

const (
	snoozeNotification = `UPDATE notifier.notifications SET read_at = coalesce(read_at, now())
	WHERE id = $1 AND owner_id = $2 RETURNING reminder_id`
	snoozeReminder = `UPDATE notifier.reminders SET fire_at = $2, fired_at = NULL, missed_at = NULL, updated_at = now()
	WHERE id = $1 AND owner_id = $3 AND canceled_at IS NULL RETURNING id`
)

// Snooze fires the reminder of owner's notification id again at until, and
// marks the notification read.
func (s *Store) Snooze(ctx context.Context, owner, id string, until time.Time) (uuid.UUID, error) {
	if !validID(id) {
		return uuid.UUID{}, ErrNotFound
	}
	var reminder uuid.UUID
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, snoozeNotification, id, owner).Scan(&reminder); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		var got uuid.UUID
		if err := tx.QueryRow(ctx, snoozeReminder, reminder, until.UTC(), owner).Scan(&got); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrCanceled
			}
			return err
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCanceled) {
			return uuid.UUID{}, err
		}
		return uuid.UUID{}, fmt.Errorf("snooze notification %s: %w", id, err)
	}
	if s.Changed != nil {
		s.Changed()
	}
	return reminder, nil
}

// Webhook is a registered webhook endpoint.
type Webhook struct {
	ID        uuid.UUID `db:"id"`
	URL       string    `db:"url"`
	CreatedAt time.Time `db:"created_at"`
}

// MaxWebhooks is how many webhooks one user may register by default
// (WEBHOOK_MAX_PER_USER; Store.MaxWebhooks).
const MaxWebhooks = 10

const (
	countWebhooks = `SELECT count(*) FROM notifier.webhooks WHERE owner_id = $1`
	insertWebhook = `INSERT INTO notifier.webhooks (id, owner_id, url, secret) VALUES ($1, $2, $3, $4) RETURNING id, url, created_at`
	listWebhooks  = `SELECT id, url, created_at FROM notifier.webhooks WHERE owner_id = $1 ORDER BY created_at, id`
	deleteWebhook = `DELETE FROM notifier.webhooks WHERE id = $1 AND owner_id = $2`
)

// AddWebhook registers target for owner with secret.
func (s *Store) AddWebhook(ctx context.Context, owner, target, secret string) (Webhook, error) {
	var w Webhook
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One registration at a time per owner, so the limit holds.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('notifier webhooks ' || $1, 0))`, owner); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, countWebhooks, owner).Scan(&n); err != nil {
			return err
		}
		if limit := s.maxWebhooks(); n >= limit {
			return fmt.Errorf("%w: a user may register at most %d webhooks (delete one first)", ErrTooMany, limit)
		}
		rows, err := tx.Query(ctx, insertWebhook, uuid.Must(uuid.NewV7()), owner, target, secret)
		if err != nil {
			return err
		}
		w, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Webhook])
		return err
	})
	if err != nil && !errors.Is(err, ErrTooMany) {
		err = fmt.Errorf("add webhook: %w", err)
	}
	return w, err
}

// Webhooks lists owner's webhooks.
func (s *Store) Webhooks(ctx context.Context, owner string) ([]Webhook, error) {
	rows, err := s.pool.Query(ctx, listWebhooks, owner)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[Webhook])
}

// DeleteWebhook removes owner's webhook id.
func (s *Store) DeleteWebhook(ctx context.Context, owner, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	tag, err := s.pool.Exec(ctx, deleteWebhook, id, owner)
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Settings are a user's notification settings.
type Settings struct {
	Email    *string  `db:"email"`
	Channels []string `db:"channels"`
}

const (
	getSettings = `SELECT email, channels FROM notifier.settings WHERE owner_id = $1`
	putSettings = `INSERT INTO notifier.settings (owner_id, email, channels) VALUES ($1, $2, $3)
	ON CONFLICT (owner_id) DO UPDATE SET email = EXCLUDED.email, channels = EXCLUDED.channels, updated_at = now()`
)

// Settings returns owner's settings (the defaults when none are stored).
func (s *Store) Settings(ctx context.Context, owner string) (Settings, error) {
	rows, err := s.pool.Query(ctx, getSettings, owner)
	if err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	st, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Settings])
	if errors.Is(err, pgx.ErrNoRows) {
		return Settings{Channels: DefaultChannels}, nil
	}
	return st, err
}

// PutSettings stores owner's settings.
func (s *Store) PutSettings(ctx context.Context, owner string, st Settings) error {
	if _, err := s.pool.Exec(ctx, putSettings, owner, st.Email, st.Channels); err != nil {
		return fmt.Errorf("store settings: %w", err)
	}
	return nil
}

// Delivery is one outgoing delivery of a reminder as its owner sees it.
type Delivery struct {
	ID            uuid.UUID  `db:"id"`
	Channel       string     `db:"channel"`
	Target        *string    `db:"target"`
	WebhookID     *uuid.UUID `db:"webhook_id"`
	Status        string     `db:"status"`
	Attempts      int        `db:"attempts"`
	LastError     *string    `db:"last_error"`
	TaskID        string     `db:"task_id"`
	TaskTitle     string     `db:"task_title"`
	CreatedAt     time.Time  `db:"created_at"`
	NextAttemptAt *time.Time `db:"next_attempt_at"`
	DoneAt        *time.Time `db:"done_at"`
}

// DeliveryCursor is the position of the last delivery of a page.
type DeliveryCursor struct {
	Time time.Time `json:"t"`
	ID   uuid.UUID `json:"i"`
}

// DeliveryStatuses are the states of a delivery.
var DeliveryStatuses = []string{"pending", "sent", "failed", "canceled"}

// listDeliveries reads a page of an owner's deliveries, newest first. A
// webhook delivery's target is the webhook's URL (NULL once the webhook is
// deleted); an email's is the address.
const listDeliveries = `SELECT d.id, d.channel,
	CASE WHEN d.channel = 'webhook' THEN w.url ELSE d.target END AS target,
	d.webhook_id, d.status, d.attempts, d.last_error,
	coalesce(d.event->'data'->>'task_id', '') AS task_id,
	coalesce(d.event->'data'->>'task_title', '') AS task_title,
	d.created_at,
	CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
	d.done_at
FROM notifier.deliveries d
LEFT JOIN notifier.webhooks w ON w.id = d.webhook_id AND w.owner_id = d.owner_id
WHERE d.owner_id = $1
  AND ($2::text IS NULL OR d.status = $2)
  AND ($3::timestamptz IS NULL OR (d.created_at, d.id) < ($3, $4))
ORDER BY d.created_at DESC, d.id DESC
LIMIT $5`

// Deliveries returns a page of owner's deliveries (those with status, when
// it is not empty), newest first, and the cursor of the next page (nil on
// the last one).
func (s *Store) Deliveries(ctx context.Context, owner, status string, limit int, after *DeliveryCursor) ([]Delivery, *DeliveryCursor, error) {
	var st *string
	if status != "" {
		st = &status
	}
	var at *time.Time
	var id uuid.UUID
	if after != nil {
		at, id = &after.Time, after.ID
	}
	rows, err := s.pool.Query(ctx, listDeliveries, owner, st, at, id, limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("list deliveries: %w", err)
	}
	ds, next, err := collectPage(rows, limit, func(last Delivery) *DeliveryCursor {
		return &DeliveryCursor{Time: last.CreatedAt, ID: last.ID}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list deliveries: %w", err)
	}
	return ds, next, nil
}
