// Command realtime pushes the platform's task and reminder events to the
// WebSocket connections of their owners.
package main

import (
	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/services/realtime"
)

func main() {
	service.Main("realtime", realtime.Run)
}
