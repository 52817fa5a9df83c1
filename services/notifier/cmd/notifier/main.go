// Command notifier keeps the reminder schedule, fires due reminders and
// delivers them (in-app, webhook, email).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/todo-platform/todo/services/notifier"
)

func main() {
	if err := notifier.Run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "notifier:", err)
		os.Exit(1)
	}
}
