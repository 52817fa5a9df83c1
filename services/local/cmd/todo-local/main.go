// Command todo-local runs the whole platform on one machine (`make up`) and
// prints development tokens (`make token USER=alice`).
package main

import (
	_ "time/tzdata" // time zones for machines without /usr/share/zoneinfo

	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/services/local"
)

func main() {
	service.Main("todo-local", local.Run)
}
