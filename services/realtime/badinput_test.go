package realtime_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/services/realtime"
)

// TestBadInputClosesCleanly: malformed and binary frames, oversized
// messages, bad, expired and missing tokens end that socket with the
// documented close code; another client of the same replica keeps working.
func TestBadInputClosesCleanly(t *testing.T) {
	t.Parallel()
	r, kcfg := kafkaReplica(t, "REALTIME_AUTH_TIMEOUT", "500ms", "REALTIME_READ_LIMIT", "1024")
	pub := newPublisher(t, kcfg)
	bystander, _ := connect(t, r.url(""), "carol")

	cases := []struct {
		name   string
		header string // token in the Authorization header
		send   func(c *wsClient)
		code   websocket.StatusCode
		reason string
	}{
		{name: "no auth message in time", send: func(*wsClient) {}, code: realtime.CloseUnauthorized, reason: "no auth message"},
		{name: "not JSON", send: func(c *wsClient) { c.sendText(`{"type":"auth",`) }, code: realtime.CloseBadMessage},
		{name: "unknown type", send: func(c *wsClient) { c.sendText(`{"type":"subscribe","user":"bob"}`) }, code: realtime.CloseBadMessage},
		{name: "unknown field", send: func(c *wsClient) { c.sendText(`{"type":"auth","token":"x","user_id":"bob"}`) }, code: realtime.CloseBadMessage},
		{name: "ping before auth", send: func(c *wsClient) { c.sendText(`{"type":"ping"}`) }, code: realtime.CloseUnauthorized},
		{name: "binary frame", send: func(c *wsClient) {
			_ = c.ws.Write(context.Background(), websocket.MessageBinary, []byte{1, 2, 3})
		}, code: realtime.CloseUnsupported},
		{name: "oversized message", send: func(c *wsClient) {
			_ = c.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"auth","token":"`+strings.Repeat("x", 4096)+`"}`))
		}, code: realtime.CloseTooBig},
		{name: "forged token", send: func(c *wsClient) { c.sendText(`{"type":"auth","token":"eyJhbGciOiJub25lIn0.e30."}`) }, code: realtime.CloseUnauthorized, reason: "invalid token"},
		{name: "expired token in message", send: func(c *wsClient) {
			c.sendText(`{"type":"auth","token":"` + token(t, "bob", -time.Hour) + `"}`)
		}, code: realtime.CloseUnauthorized, reason: "expired"},
		{name: "expired token in header", header: token(t, "bob", -time.Hour), code: realtime.CloseUnauthorized, reason: "expired"},
		{name: "bad header token", header: "nonsense", code: realtime.CloseUnauthorized, reason: "invalid token"},
		{name: "bad message after auth", header: token(t, "bob", time.Hour), send: func(c *wsClient) {
			if m := c.next(); m.Type != "ready" {
				t.Errorf("first message %+v", m)
			}
			c.sendText(`[1,2,3]`)
		}, code: realtime.CloseBadMessage},
		{name: "another user's token to refresh", header: token(t, "bob", time.Hour), send: func(c *wsClient) {
			c.next()
			c.sendText(`{"type":"auth","token":"` + token(t, "mallory", time.Hour) + `"}`)
		}, code: realtime.CloseForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := dialHeader(t, r.url(""), tc.header)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if tc.send != nil {
				tc.send(c)
			}
			code, reason := c.closed()
			if code != tc.code || !strings.Contains(reason, tc.reason) {
				t.Fatalf("closed with %d %q, want %d %q", code, reason, tc.code, tc.reason)
			}
			bystander.alive()
		})
	}
	// The bystander still gets its events.
	id := pub.task("carol")
	if m := bystander.nextEvent(); m.taskID(t) != id {
		t.Fatalf("bystander got %+v, want %s", m, id)
	}
}

// TestTokenExpiringWhileConnected: the socket closes with 4001 when the
// token's exp passes; a refreshed token keeps it open.
func TestTokenExpiringWhileConnected(t *testing.T) {
	t.Parallel()
	r, _ := kafkaReplica(t)
	short := token(t, "alice", 2*time.Second)
	c, _, err := dialHeader(t, r.url(""), short)
	if err != nil {
		t.Fatal(err)
	}
	refreshed, _, err := dialHeader(t, r.url(""), short)
	if err != nil {
		t.Fatal(err)
	}
	refreshed.sendText(`{"type":"auth","token":"` + token(t, "alice", time.Hour) + `"}`)
	if code, reason := c.closed(); code != realtime.CloseUnauthorized || !strings.Contains(reason, "expired") {
		t.Fatalf("closed with %d %q, want 4001 token expired", code, reason)
	}
	refreshed.alive()
}

// TestConnectionLimitPerUser: past REALTIME_MAX_CONNS_PER_USER, a header
// upgrade gets HTTP 429 and a message-authenticated socket 4029; other
// users are not limited.
func TestConnectionLimitPerUser(t *testing.T) {
	t.Parallel()
	r, _ := kafkaReplica(t, "REALTIME_MAX_CONNS_PER_USER", "2")
	connect(t, r.url(""), "alice")
	connect(t, r.url(""), "alice")
	_, status, err := dialHeader(t, r.url(""), token(t, "alice", time.Hour))
	if err == nil || status != http.StatusTooManyRequests {
		t.Fatalf("third connection: %d %v, want 429", status, err)
	}
	c := dialMessage(t, r.url(""))
	c.sendText(`{"type":"auth","token":"` + token(t, "alice", time.Hour) + `"}`)
	if code, _ := c.closed(); code != realtime.CloseTooMany {
		t.Fatalf("closed with %d, want 4029", code)
	}
	b, _ := connect(t, r.url(""), "bob")
	b.alive()
}

// TestHandshakeRefusals: a token in the URL and a foreign browser origin
// are refused before the upgrade; a plain GET is not an upgrade.
func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	r, _ := kafkaReplica(t, "REALTIME_ALLOWED_ORIGINS", "app.example.com")
	ctx := context.Background()
	dial := func(url string, h http.Header) (int, error) {
		ws, status, err := upgrade(ctx, url, &websocket.DialOptions{HTTPHeader: h})
		if ws != nil {
			_ = ws.CloseNow()
		}
		return status, err
	}
	if status, err := dial(r.url("token="+token(t, "alice", time.Hour)), nil); err == nil || status != http.StatusBadRequest {
		t.Fatalf("token in URL: %d %v, want 400", status, err)
	}
	if status, err := dial(r.url(""), http.Header{"Origin": {"https://evil.example.net"}}); err == nil || status != http.StatusForbidden {
		t.Fatalf("foreign origin: %d %v, want 403", status, err)
	}
	good := http.Header{"Origin": {"https://app.example.com"}, "Authorization": {"Bearer " + token(t, "alice", time.Hour)}}
	if _, err := dial(r.url(""), good); err != nil {
		t.Fatalf("allowed origin: %v", err)
	}
	if code, _ := httpGet(t, "http://"+r.addr+"/ws"); code != http.StatusUpgradeRequired && code != http.StatusBadRequest {
		t.Fatalf("plain GET /ws: %d", code)
	}
}

// TestSilentPeerIsDropped: a peer that answers no ping (it stopped reading:
// a dead network, a frozen tab) is dropped after the pong timeout; one that
// reads stays.
func TestSilentPeerIsDropped(t *testing.T) {
	t.Parallel()
	r, _ := kafkaReplica(t, "REALTIME_PING_INTERVAL", "200ms", "REALTIME_PONG_TIMEOUT", "300ms")
	connect(t, r.url(""), "silent") // never read again: no pong
	live, _ := connect(t, r.url(""), "live")
	liveCtx := live.ws.CloseRead(context.Background()) // reads on, answering pings
	var body string
	deadline := time.Now().Add(wait)
	for !strings.Contains(body, "realtime_idle_closes_total 1") || !strings.Contains(body, "realtime_connections 1") {
		if time.Now().After(deadline) {
			t.Fatalf("the silent peer not dropped within %s:\n%s", wait, body)
		}
		time.Sleep(50 * time.Millisecond)
		_, body = httpGet(t, "http://"+r.metrics+"/metrics")
	}
	// A few more ping rounds, counted as the live peer receives them: it
	// must still be connected after them.
	pings := live.pings.Load()
	kafkatest.Eventually(t, wait, "three more pings to the live peer", func() bool { return live.pings.Load() >= pings+3 })
	if liveCtx.Err() != nil {
		t.Fatal("the peer that answers pings was dropped too")
	}
}
