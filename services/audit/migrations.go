package audit

import (
	"embed"

	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/database"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are audit's schema: the entries and its table of consumed
// events. Its runtime role may read and append entries, nothing more.
var Migrations = database.Embedded("audit", migrationFiles, "migrations").
	With("ConsumedEventsTable", consume.TableSQL).
	Grant("SELECT, INSERT ON entries", "SELECT, INSERT, DELETE ON consumed_events")
