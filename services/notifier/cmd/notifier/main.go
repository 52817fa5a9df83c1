// Command notifier keeps the reminder schedule, fires due reminders and
// delivers them (in-app, webhook, email).
package main

import (
	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/services/notifier"
)

func main() {
	service.Main("notifier", notifier.Run)
}
