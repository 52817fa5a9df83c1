package recurring

import (
	"embed"

	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/database"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are recurring's schema: its consumed events and series progress.
//
// Every service declares its schema in these few lines, alike across the
// services: the files are its own, and so are the tables it adds and the
// grants of its runtime role.
var Migrations = database.Embedded("recurring", migrationFiles, "migrations").
	With("ConsumedEventsTable", consume.TableSQL).
	Grant("SELECT, INSERT, UPDATE, DELETE ON occurrences", "SELECT, INSERT, DELETE ON consumed_events")
