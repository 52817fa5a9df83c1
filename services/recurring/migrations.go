package recurring

import (
	"embed"

	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/database"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are recurring's schema: its consumed events and series progress.
var Migrations = database.Embedded("recurring", migrationFiles, "migrations").
	With("ConsumedEventsTable", consume.TableSQL).
	Grant("SELECT, INSERT, UPDATE, DELETE ON occurrences", "SELECT, INSERT, DELETE ON consumed_events")
