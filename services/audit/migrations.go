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
//
// Every service declares its schema in these few lines, alike across the
// services: the files are its own, and so are the tables it adds and the
// grants of its runtime role.
var Migrations = database.Embedded("audit", migrationFiles, "migrations").
	With("ConsumedEventsTable", consume.TableSQL).
	Grant("SELECT, INSERT ON entries", "SELECT, INSERT, DELETE ON consumed_events")
