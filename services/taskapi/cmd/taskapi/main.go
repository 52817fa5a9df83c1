// Command taskapi serves the task API.
package main

import (
	"context"
	"fmt"
	"os"
	_ "time/tzdata" // time zones for images without /usr/share/zoneinfo

	"github.com/todo-platform/todo/services/taskapi"
)

func main() {
	if err := taskapi.Run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "taskapi:", err)
		os.Exit(1)
	}
}
