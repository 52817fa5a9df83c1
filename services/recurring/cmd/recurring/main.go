// Command recurring creates the next occurrence of completed recurring tasks.
package main

import (
	_ "time/tzdata" // time zones for images without /usr/share/zoneinfo

	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/services/recurring"
)

func main() {
	service.Main("recurring", recurring.Run)
}
