package servicetest

import (
	"context"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// Events reads the messages a realtime socket sends until ctx ends or the
// socket closes, and sends each event on the returned channel as its type
// and its task's id ("todo.task.created.v1 <id>"); the channel is closed at
// the end.
func Events(ctx context.Context, ws *websocket.Conn) <-chan string {
	live := make(chan string, 64)
	go func() {
		defer close(live)
		for {
			var m struct {
				Type  string `json:"type"`
				Event string `json:"event"`
				Data  struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			if err := wsjson.Read(ctx, ws, &m); err != nil {
				return
			}
			if m.Type == "event" {
				live <- m.Event + " " + m.Data.ID
			}
		}
	}()
	return live
}
