package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/events"
)

// Channels.
const (
	ChannelInApp   = "in_app"
	ChannelWebhook = "webhook"
	ChannelEmail   = "email"
)

// DefaultChannels are on for a user without settings.
var DefaultChannels = []string{ChannelInApp, ChannelWebhook, ChannelEmail}

const (
	readSettings       = `SELECT email, channels FROM notifier.settings WHERE owner_id = $1`
	insertNotification = `INSERT INTO notifier.notifications (id, owner_id, event_id, reminder_id, task_id, title, due_at, fire_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING`
	ownerWebhooks  = `SELECT id FROM notifier.webhooks WHERE owner_id = $1 ORDER BY created_at`
	insertDelivery = `INSERT INTO notifier.deliveries (id, event_id, owner_id, channel, target, webhook_id, event)
	VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id, channel, target) DO NOTHING`
)

// Enqueue records what a reminder.due event e asks for within tx: the inbox
// notification and one delivery per webhook and email address of its owner,
// as their settings say. Redelivered, it adds nothing (the event id is
// unique in both tables). Email is queued only when emailOn (SMTP is
// configured). It returns how many deliveries it queued.
func Enqueue(ctx context.Context, tx pgx.Tx, e events.Event, d events.ReminderDue, emailOn bool) (int, error) {
	if _, err := uuid.Parse(d.ReminderID); err != nil {
		return 0, fmt.Errorf("%w: reminder_id %q is not a UUID", events.ErrMalformed, d.ReminderID)
	}
	var email *string
	channels := DefaultChannels
	err := tx.QueryRow(ctx, readSettings, d.OwnerID).Scan(&email, &channels)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("read settings of %s: %w", d.OwnerID, err)
	}
	doc, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("%w: encode event %s: %w", events.ErrMalformed, e.ID(), err)
	}
	batch := &pgx.Batch{}
	if slices.Contains(channels, ChannelInApp) {
		batch.Queue(insertNotification, uuid.Must(uuid.NewV7()), d.OwnerID, e.ID(), d.ReminderID, d.TaskID, d.TaskTitle, d.DueAt, d.FireAt)
	}
	n := 0
	if slices.Contains(channels, ChannelWebhook) {
		rows, err := tx.Query(ctx, ownerWebhooks, d.OwnerID)
		if err != nil {
			return 0, fmt.Errorf("read webhooks of %s: %w", d.OwnerID, err)
		}
		hooks, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return 0, fmt.Errorf("read webhooks of %s: %w", d.OwnerID, err)
		}
		for _, h := range hooks {
			batch.Queue(insertDelivery, uuid.Must(uuid.NewV7()), e.ID(), d.OwnerID, ChannelWebhook, h.String(), h, doc)
			n++
		}
	}
	if emailOn && slices.Contains(channels, ChannelEmail) && email != nil && *email != "" {
		batch.Queue(insertDelivery, uuid.Must(uuid.NewV7()), e.ID(), d.OwnerID, ChannelEmail, *email, nil, doc)
		n++
	}
	if batch.Len() == 0 {
		return 0, nil
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return 0, fmt.Errorf("queue deliveries of event %s: %w", e.ID(), err)
	}
	return n, nil
}
