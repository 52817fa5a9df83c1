// Command audit keeps the platform's audit log and serves it.
package main

import (
	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/services/audit"
)

func main() {
	service.Main("audit", audit.Run)
}
