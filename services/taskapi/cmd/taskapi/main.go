// Command taskapi serves the task API.
package main

import (
	_ "time/tzdata" // time zones for images without /usr/share/zoneinfo

	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/services/taskapi"
)

func main() {
	service.Main("taskapi", taskapi.Run)
}
