// Command audit keeps the platform's audit log and serves it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/todo-platform/todo/services/audit"
)

func main() {
	if err := audit.Run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
		os.Exit(1)
	}
}
