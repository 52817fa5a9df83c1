package realtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/ratelimit"
	"github.com/todo-platform/todo/pkg/web"
)

// Options shape the WebSocket endpoint.
type Options struct {
	AllowedOrigins  []string      // REALTIME_ALLOWED_ORIGINS: Origin host patterns browsers may connect from
	MaxConnsPerUser int           // REALTIME_MAX_CONNS_PER_USER (default 20)
	SendQueue       int           // REALTIME_SEND_QUEUE: messages queued per connection before 4008 (default 256)
	ReplaySize      int           // REALTIME_REPLAY_SIZE: events kept per partition for resume (default 4096)
	ReadLimit       int64         // REALTIME_READ_LIMIT: largest client message in bytes (default 8192)
	AuthTimeout     time.Duration // REALTIME_AUTH_TIMEOUT: time for the auth message (default 10s)
	PingInterval    time.Duration // REALTIME_PING_INTERVAL (default 30s)
	PongTimeout     time.Duration // REALTIME_PONG_TIMEOUT (default 15s)
	WriteTimeout    time.Duration // REALTIME_WRITE_TIMEOUT: one message's write (default 10s)
	// MaxConns (REALTIME_MAX_CONNS, default 20000) caps this replica's
	// sockets; MaxConnsPerAddress (REALTIME_MAX_CONNS_PER_ADDRESS, default
	// 200) those of one client address; MaxPendingPerAddress
	// (REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS, default 10) those of one
	// address still waiting for their auth message.
	MaxConns             int
	MaxConnsPerAddress   int
	MaxPendingPerAddress int
	// Limits are the request rate limits (RATE_LIMIT_*): the upgrades per
	// address, and the refused tokens per address (nil: none).
	Limits *ratelimit.Limiter
}

// DefaultOrigins are the Origin patterns allowed by default: the local
// machine, for `make up` and the browser tests. The request's own host is
// always allowed.
var DefaultOrigins = []string{"localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", "[::1]", "[::1]:*"}

func (o Options) withDefaults() Options {
	if o.AllowedOrigins == nil {
		o.AllowedOrigins = DefaultOrigins
	}
	if o.MaxConnsPerUser <= 0 {
		o.MaxConnsPerUser = 20
	}
	if o.SendQueue <= 0 {
		o.SendQueue = 256
	}
	if o.ReplaySize <= 0 {
		o.ReplaySize = 4096
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 8192
	}
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = 10 * time.Second
	}
	if o.PingInterval == 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.PongTimeout <= 0 {
		o.PongTimeout = 15 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 20000
	}
	if o.MaxConnsPerAddress <= 0 {
		o.MaxConnsPerAddress = 200
	}
	if o.MaxPendingPerAddress <= 0 {
		o.MaxPendingPerAddress = 10
	}
	return o
}

// handleWS serves /ws: it authenticates the connection (Authorization header
// on the upgrade, or a first auth message), registers it with the hub
// (resuming from ?cursor= or the auth message's cursor) and reads the
// client's messages until the socket closes.
func handleWS(h *Hub, v *auth.Verifier, o Options, m *metrics) http.HandlerFunc {
	accept := &websocket.AcceptOptions{OriginPatterns: o.AllowedOrigins, CompressionMode: websocket.CompressionDisabled}
	g := newGate(o)
	return func(w http.ResponseWriter, r *http.Request) {
		if o.Limits.Blocked(w, r) {
			m.rejected.WithLabelValues("auth_failures").Inc()
			return
		}
		addr := o.Limits.ClientAddress(r)
		var claims auth.Claims
		var authErr error
		headerAuth := r.Header.Get("Authorization") != ""
		if headerAuth {
			tok, err := auth.BearerToken(r)
			if err == nil {
				claims, err = v.Verify(tok)
			}
			authErr = err
			if err != nil {
				o.Limits.Failed(r)
			}
			if err == nil && h.UserConnections(claims.UserID) >= o.MaxConnsPerUser {
				m.rejected.WithLabelValues("too_many_connections").Inc()
				w.Header().Set("Retry-After", "5")
				web.Fail(w, r, http.StatusTooManyRequests, fmt.Sprintf("at most %d connections per user", o.MaxConnsPerUser))
				return
			}
		}
		query, err := web.Query(r)
		if err != nil {
			m.rejected.WithLabelValues("bad_query").Inc()
			web.Fail(w, r, http.StatusBadRequest, err.Error())
			return
		}
		if query.Has("token") || query.Has("access_token") {
			m.rejected.WithLabelValues("token_in_url").Inc()
			web.Fail(w, r, http.StatusBadRequest, "never put a token in the URL: send it in the Authorization header or in the auth message")
			return
		}
		cur := query.Get("cursor")
		s, why := g.enter(addr, !headerAuth)
		if why != "" {
			m.rejected.WithLabelValues("connection_limit").Inc()
			ratelimit.TooMany(w, r, 5*time.Second, why)
			return
		}
		// The HTTP server's read and write deadlines must not end the socket.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		ws, err := websocket.Accept(w, r, accept)
		if err != nil {
			s.release()
			m.rejected.WithLabelValues("upgrade").Inc()
			return // Accept answered (403 for a foreign origin, 4xx for a bad handshake)
		}
		// The connection lives on in a goroutine of its own, and this
		// handler returns: the HTTP server's goroutine (with its deep stack),
		// the request and the response are freed, so that an idle
		// connection costs one shallow goroutine and its buffers.
		h.handlers.Add(1)
		go func() {
			defer h.handlers.Add(-1)
			defer s.release()
			serveConn(h, v, o, m, s, ws, cur, headerAuth, claims, authErr)
		}()
	}
}

// serveConn authenticates the connection (unless the upgrade's header did),
// registers it with the hub and reads the client's messages until the
// socket closes.
func serveConn(h *Hub, v *auth.Verifier, o Options, m *metrics, s *slot, ws *websocket.Conn, cur string, headerAuth bool, claims auth.Claims, authErr error) {
	ws.SetReadLimit(o.ReadLimit)
	c := &client{ws: ws, m: m, maxQueue: o.SendQueue, writeTO: o.WriteTimeout}
	ctx := context.Background()

	if headerAuth && authErr != nil {
		c.close(CloseUnauthorized, closeReason(authErr.Error()))
		return
	}
	if !headerAuth {
		first, err := readAuth(ctx, c, o.AuthTimeout)
		if err != nil {
			return // readAuth closed c
		}
		claims, err = v.Verify(first.Token)
		if err != nil {
			o.Limits.FailedAddress(s.addr)
			c.close(CloseUnauthorized, closeReason(err.Error()))
			return
		}
		s.authenticated()
		if first.Cursor != "" {
			cur = first.Cursor
		}
	}
	c.user = claims.UserID
	c.hub = h
	switch err := h.Register(c, cur); {
	case errors.Is(err, errTooManyConnections):
		c.hub = nil
		c.close(CloseTooMany, fmt.Sprintf("at most %d connections per user", o.MaxConnsPerUser))
		return
	case err != nil:
		c.hub = nil
		c.close(CloseServiceRestart, "service restart: reconnect")
		return
	}
	c.expireAt(claims.ExpiresAt)
	c.heartbeat(o.PingInterval, o.PongTimeout)
	readLoop(ctx, c, v)
}

// readAuth reads the first message, which must be auth, within timeout.
func readAuth(ctx context.Context, c *client, timeout time.Duration) (clientMessage, error) {
	timer := time.AfterFunc(timeout, func() {
		c.close(CloseUnauthorized, fmt.Sprintf("no auth message within %s", timeout))
	})
	defer timer.Stop()
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		c.closeAfterReadError(err)
		return clientMessage{}, err
	}
	if typ != websocket.MessageText {
		c.close(CloseUnsupported, "binary frames are not supported: send JSON text")
		return clientMessage{}, errBadMessage
	}
	msg, err := parseClientMessage(b)
	if err != nil {
		c.close(CloseBadMessage, closeReason(err.Error()))
		return msg, err
	}
	if msg.Type != msgAuth {
		c.close(CloseUnauthorized, `the first message must be {"type":"auth","token":"…"}`)
		return msg, errBadMessage
	}
	return msg, nil
}

// readLoop reads the client's messages until the socket closes.
func readLoop(ctx context.Context, c *client, v *auth.Verifier) {
	for {
		typ, b, err := c.ws.Read(ctx)
		if err != nil {
			c.closeAfterReadError(err)
			return
		}
		if typ != websocket.MessageText {
			c.close(CloseUnsupported, "binary frames are not supported: send JSON text")
			return
		}
		msg, err := parseClientMessage(b)
		if err != nil {
			c.close(CloseBadMessage, closeReason(err.Error()))
			return
		}
		switch msg.Type {
		case msgPing:
			c.send(pongMessage)
		case msgAuth:
			// A fresh token for the same user extends the connection.
			claims, err := v.Verify(msg.Token)
			if err != nil {
				c.close(CloseUnauthorized, closeReason(err.Error()))
				return
			}
			if claims.UserID != c.user {
				c.close(CloseForbidden, "the token is another user's")
				return
			}
			c.expireAt(claims.ExpiresAt)
		}
	}
}

var pongMessage = []byte(`{"type":"pong"}`)

// closeAfterReadError ends c after its read failed: the peer closed, the
// socket broke, or a message passed the read limit (the library has then
// sent 1009 itself).
func (c *client) closeAfterReadError(err error) {
	code := websocket.CloseStatus(err)
	if code == -1 {
		code = CloseGoingAway
	}
	c.close(code, "")
}

// closeReason fits s into a close frame's reason (at most 123 bytes).
func closeReason(s string) string {
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
