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
// the deliveries.
var Migrations = database.Embedded("notifier", migrationFiles, "migrations").
	With("ConsumedEventsTable", consume.TableSQL).
	With("OutboxTable", outbox.TableSQL)
