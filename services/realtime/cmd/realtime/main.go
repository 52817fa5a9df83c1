// Command realtime pushes the platform's task and reminder events to the
// WebSocket connections of their owners.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/todo-platform/todo/services/realtime"
)

func main() {
	if err := realtime.Run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "realtime:", err)
		os.Exit(1)
	}
}
