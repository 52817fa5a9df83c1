package taskapi

import (
	"embed"

	"github.com/todo-platform/todo/pkg/database"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are taskapi's schema: the tasks and their outbox.
var Migrations = database.Embedded("taskapi", migrationFiles, "migrations")
