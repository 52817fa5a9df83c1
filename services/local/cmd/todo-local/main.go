// Command todo-local runs the whole platform on one machine (`make up`) and
// prints development tokens (`make token USER=alice`).
package main

import (
	"context"
	"fmt"
	"os"
	_ "time/tzdata" // time zones for machines without /usr/share/zoneinfo

	"github.com/todo-platform/todo/services/local"
)

func main() {
	if err := local.Run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "todo-local:", err)
		os.Exit(1)
	}
}
