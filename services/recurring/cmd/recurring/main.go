// Command recurring creates the next occurrence of completed recurring tasks.
package main

import (
	"context"
	"fmt"
	"os"
	_ "time/tzdata" // time zones for images without /usr/share/zoneinfo

	"github.com/todo-platform/todo/services/recurring"
)

func main() {
	if err := recurring.Run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "recurring:", err)
		os.Exit(1)
	}
}
