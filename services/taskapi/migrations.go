package taskapi

import (
	"embed"

	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/outbox"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are taskapi's schema: the tasks and their outbox.
//
// Every service declares its schema in these few lines, alike across the
// services: the files are its own, and so are the tables it adds and the
// grants of its runtime role.
var Migrations = database.Embedded("taskapi", migrationFiles, "migrations").
	With("OutboxTable", outbox.TableSQL).
	Grant("SELECT, INSERT, UPDATE, DELETE ON tasks, outbox", "USAGE ON SEQUENCE outbox_id_seq")
