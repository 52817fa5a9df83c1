package realtime_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/services/realtime"
)

// TestConnectionCaps: one client address may hold only so many sockets
// waiting for their auth message and so many in all, and a replica only so
// many overall; a refused upgrade is a 429 problem with Retry-After, and a
// freed place can be taken again.
func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	r, kcfg := kafkaReplica(t, "REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS", "2", "REALTIME_MAX_CONNS_PER_ADDRESS", "3", "REALTIME_MAX_CONNS", "100")
	url := r.url("")

	p1, p2 := dialMessage(t, url), dialMessage(t, url)
	refused(t, url, "", "wait for their auth message")
	// An authenticated upgrade is not pending: it still fits, up to the
	// address's cap.
	c3, _ := connect(t, url, "alice")
	refused(t, url, token(t, "alice", time.Hour), "per client address")
	// A pending socket that authenticates frees its pending place.
	p1.sendText(`{"type":"auth","token":"` + token(t, "bob", time.Hour) + `"}`)
	if m := p1.next(); m.Type != "ready" {
		t.Fatalf("after auth: %+v", m)
	}
	_ = p2.ws.Close(websocket.StatusNormalClosure, "")
	_ = c3.ws.Close(websocket.StatusNormalClosure, "")
	kafkatest.Eventually(t, wait, "the closed sockets' places freed", func() bool {
		c, status, err := dialHeader(t, url, "")
		if err != nil {
			if status != http.StatusTooManyRequests {
				t.Fatalf("dial: %d %v", status, err)
			}
			return false
		}
		_ = c.ws.CloseNow()
		return true
	})

	// The replica's overall cap.
	r2 := startReplica(t, kafkaEnv(kcfg, "REALTIME_MAX_CONNS", "1"))
	connect(t, r2.url(""), "carol")
	refused(t, r2.url(""), token(t, "dave", time.Hour), "most connections")
}

// refused dials url (with tok in the header, or none) and expects a 429
// problem whose detail says why, with Retry-After.
func refused(t *testing.T, url, tok, why string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, strings.Replace(url, "ws://", "http://", 1), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		Status int
		Detail string
	}
	ct := resp.Header.Get("Content-Type")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || ct != "application/problem+json" ||
		json.NewDecoder(resp.Body).Decode(&p) != nil || p.Status != http.StatusTooManyRequests || !strings.Contains(p.Detail, why) {
		t.Fatalf("upgrade: %d, Retry-After %q, %s %+v; want a 429 problem with Retry-After saying %q", resp.StatusCode, resp.Header.Get("Retry-After"), ct, p, why)
	}
}

// TestRefusedTokensPerAddress: an address whose tokens keep being refused
// (in the header or in the auth message) gets 429 on its next upgrade, even
// with a good token, and more upgrades than the limit within the window
// are refused too.
func TestRefusedTokensPerAddress(t *testing.T) {
	t.Parallel()
	r, kcfg := kafkaReplica(t, "RATE_LIMIT_AUTH_FAILURES", "2", "RATE_LIMIT_PER_ADDRESS", "1000")
	url := r.url("")
	// A token refused in the upgrade's header, then one in the auth message:
	// each socket is closed as unauthorized.
	c, _, err := dialHeader(t, url, "not-a-token")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := c.closed(); code != realtime.CloseUnauthorized {
		t.Fatalf("bad header token: closed with %d", code)
	}
	c = dialMessage(t, url)
	c.sendText(`{"type":"auth","token":"still-not-a-token"}`)
	if code, _ := c.closed(); code != realtime.CloseUnauthorized {
		t.Fatalf("bad auth message: closed with %d", code)
	}
	refused(t, url, token(t, "alice", time.Hour), "refused tokens")

	r2 := startReplica(t, kafkaEnv(kcfg, "RATE_LIMIT_PER_ADDRESS", "2"))
	connect(t, r2.url(""), "alice")
	connect(t, r2.url(""), "alice")
	refused(t, r2.url(""), token(t, "alice", time.Hour), "from this address")
}

// TestMalformedQueryIsRefused: an upgrade whose query string is not valid
// URL encoding is a 400, not a socket that silently drops its cursor.
func TestMalformedQueryIsRefused(t *testing.T) {
	t.Parallel()
	r, _ := kafkaReplica(t)
	for _, q := range []string{"cursor=%zz", "cursor=%%%"} {
		ws, resp, err := websocket.Dial(context.Background(), r.url(q), &websocket.DialOptions{
			HTTPHeader: http.Header{"Authorization": {"Bearer " + token(t, "alice", time.Hour)}}})
		if ws != nil {
			_ = ws.CloseNow()
		}
		status := 0
		if resp != nil {
			status = resp.StatusCode
			if resp.Body != nil {
				_ = resp.Body.Close()
			}
		}
		if err == nil || status != http.StatusBadRequest {
			t.Errorf("?%s: %d %v, want 400", q, status, err)
		}
	}
}
