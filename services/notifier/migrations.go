package notifier

import (
	"embed"

	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/outbox"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the notifier's schema: the reminder schedule, its outbox,
// its table of consumed events, the inbox, the settings, the webhooks and
// the deliveries. Its runtime role reads and writes their rows.
//
// Every service declares its schema in these few lines, alike across the
// services: the files are its own, and so are the tables it adds and the
// grants of its runtime role.
var Migrations = database.Embedded("notifier", migrationFiles, "migrations").
	With("ConsumedEventsTable", consume.TableSQL).
	With("OutboxTable", outbox.TableSQL).
	Grant(
		"SELECT, INSERT, UPDATE, DELETE ON tasks, reminders, outbox, notifications, settings, webhooks, deliveries",
		"SELECT, INSERT, DELETE ON consumed_events",
		"USAGE ON SEQUENCE outbox_id_seq",
	)
