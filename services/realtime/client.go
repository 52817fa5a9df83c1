package realtime

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Close codes the service uses (see README.md). 4000–4999 are the
// application's own; the others are RFC 6455's.
const (
	CloseBadMessage     websocket.StatusCode = 4000                            // a frame that is not a valid client message
	CloseUnauthorized   websocket.StatusCode = 4001                            // no, invalid or expired token; no auth message in time
	CloseForbidden      websocket.StatusCode = 4003                            // a token of another user on an authenticated connection
	CloseSlowConsumer   websocket.StatusCode = 4008                            // the send queue overflowed: the client reads too slowly
	CloseTooMany        websocket.StatusCode = 4029                            // the user has too many connections open
	CloseUnsupported                         = websocket.StatusUnsupportedData // 1003: a binary frame
	CloseTooBig                              = websocket.StatusMessageTooBig   // 1009: a message over the read limit (sent by the library)
	CloseServiceRestart                      = websocket.StatusServiceRestart  // 1012: the replica is stopping; reconnect
	CloseGoingAway                           = websocket.StatusGoingAway       // 1001: a write failed or no pong came
)

// client is one WebSocket connection of an authenticated user. It costs
// little while idle: the handler's goroutine reads (one per connection),
// a writer goroutine runs only while messages are queued, and the queue is
// empty (nil) when idle.
type client struct {
	user     string
	ws       *websocket.Conn
	hub      *Hub
	m        *metrics
	maxQueue int
	writeTO  time.Duration

	mu      sync.Mutex
	queue   [][]byte
	writing bool
	closed  bool
	expiry  *time.Timer
	ping    *time.Timer
}

// send queues msg. It never blocks: a full queue closes the connection with
// 4008 (the client reads too slowly; it reconnects with its cursor).
func (c *client) send(msg []byte) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if len(c.queue) >= c.maxQueue {
		c.mu.Unlock()
		c.m.overflows.Inc()
		go c.close(CloseSlowConsumer, "send queue overflow: reading too slowly; reconnect with your cursor")
		return
	}
	c.queue = append(c.queue, msg)
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
	c.mu.Unlock()
}

// writeLoop writes the queue out and ends when it is empty.
func (c *client) writeLoop() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed {
			c.writing = false
			c.queue = nil
			c.mu.Unlock()
			return
		}
		msg := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), c.writeTO)
		err := c.ws.Write(ctx, websocket.MessageText, msg)
		cancel()
		if err != nil {
			c.close(CloseGoingAway, "write failed")
			return
		}
		c.m.sent.Inc()
	}
}

// close unregisters c and closes its socket with code and reason (once).
func (c *client) close(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.queue = nil
	if c.expiry != nil {
		c.expiry.Stop()
	}
	if c.ping != nil {
		c.ping.Stop()
	}
	c.mu.Unlock()
	if c.hub != nil {
		c.hub.unregister(c)
	}
	c.m.closes.WithLabelValues(codeLabel(code)).Inc()
	_ = c.ws.Close(code, reason)
}

// expireAt closes c with 4001 when its token expires at exp.
func (c *client) expireAt(exp time.Time) {
	if exp.IsZero() {
		return
	}
	d := time.Until(exp)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.expiry != nil {
		c.expiry.Reset(d)
		return
	}
	c.expiry = time.AfterFunc(d, func() { c.close(CloseUnauthorized, "token expired: reconnect with a fresh token") })
}

// heartbeat pings c every interval; a pong missing for timeout drops it.
func (c *client) heartbeat(interval, timeout time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || interval <= 0 {
		return
	}
	c.ping = time.AfterFunc(interval, func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := c.ws.Ping(ctx)
		cancel()
		if err != nil {
			c.m.idleCloses.Inc()
			c.close(CloseGoingAway, "no pong: connection idle")
			return
		}
		c.mu.Lock()
		if !c.closed {
			c.ping.Reset(interval)
		}
		c.mu.Unlock()
	})
}

func codeLabel(code websocket.StatusCode) string {
	return strconv.Itoa(int(code))
}
