// Package live is a client of the realtime service's WebSocket for the
// end-to-end tests: the events it pushes, as a user's page sees them.
package live

import (
	"context"
	"net/http"
	"strings"

	"github.com/coder/websocket"

	"github.com/todo-platform/todo/pkg/servicetest"
)

// Events connects to the WebSocket of the realtime service at base
// (http://host:port, or ws://) as the bearer of token, and sends each event
// it pushes as "<event type> <task id>" until ctx ends or the connection
// closes; then it closes the channel. stop ends the connection.
func Events(ctx context.Context, base, token string) (events <-chan string, stop func(), err error) {
	u := strings.Replace(strings.Replace(base, "https://", "wss://", 1), "http://", "ws://", 1) + "/ws"
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, nil, err
	}
	return servicetest.Events(ctx, ws), func() { _ = ws.CloseNow() }, nil
}
