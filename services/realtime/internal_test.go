package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/auth"
)

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	order := []position{{"reminders", 0}, {"reminders", 11}, {"task-events", -1}, {"task-events", 0}, {"task-events", 3}}
	next := map[position]int64{order[0]: 0, order[1]: 1 << 40, order[2]: 7, order[3]: 123456, order[4]: 9}
	for _, inst := range []string{"", "a1b2c3"} {
		s := encodeCursor(inst, order, next)
		c, err := decodeCursor(s)
		if err != nil {
			t.Fatalf("decode %q: %v", s, err)
		}
		if c.instance != inst || len(c.next) != len(next) {
			t.Fatalf("decoded %+v", c)
		}
		for p, o := range next {
			if c.next[p] != o {
				t.Fatalf("%v: %d, want %d", p, c.next[p], o)
			}
		}
	}
	for _, bad := range []string{"", "!!", "AA", strings.Repeat("A", maxCursorLen+1), encodeCursor("", order, next) + "AA"} {
		if _, err := decodeCursor(bad); !errors.Is(err, errBadCursor) {
			t.Errorf("decode %q: %v, want errBadCursor", bad, err)
		}
	}
}

func TestParseClientMessage(t *testing.T) {
	t.Parallel()
	good := []string{`{"type":"auth","token":"t"}`, `{"type":"auth","token":"t","cursor":"c"}`, `{"type":"ping"}`, ` {"type":"ping"} `}
	for _, s := range good {
		if _, err := parseClientMessage([]byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := []string{``, `null`, `{}`, `[]`, `"auth"`, `{"type":"auth"}`, `{"type":"ping","token":"t"}`, `{"type":"nope"}`,
		`{"type":"ping"}{"type":"ping"}`, `{"type":"ping"} x`, `{"type":"auth","token":"t","admin":true}`, `{"type":1}`}
	for _, s := range bad {
		if _, err := parseClientMessage([]byte(s)); !errors.Is(err, errBadMessage) {
			t.Errorf("%s: %v, want errBadMessage", s, err)
		}
	}
}

// FuzzParseClientMessage: any input is a message or errBadMessage, never a
// panic; an accepted message has a known type.
func FuzzParseClientMessage(f *testing.F) {
	for _, s := range []string{`{"type":"auth","token":"t","cursor":"c"}`, `{"type":"ping"}`, `{"type":"x"}`, `[`, "\x00", `{"type":"auth","token":""}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseClientMessage(b)
		if err != nil {
			if !errors.Is(err, errBadMessage) {
				t.Fatalf("error %v is not errBadMessage", err)
			}
			if len(closeReason(err.Error())) > 123 {
				t.Fatalf("reason too long for a close frame: %q", err)
			}
			return
		}
		if m.Type != msgAuth && m.Type != msgPing || m.Type == msgAuth && m.Token == "" {
			t.Fatalf("accepted %+v", m)
		}
	})
}

// FuzzDecodeCursor: any client-sent cursor decodes or is errBadCursor;
// what decodes encodes back to the same positions.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor("", []position{{"task-events", 0}, {"task-events", 1}}, map[position]int64{{"task-events", 0}: 5, {"task-events", 1}: 9}))
	f.Add("AQA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			if !errors.Is(err, errBadCursor) {
				t.Fatalf("error %v", err)
			}
			return
		}
		var order []position
		for p := range c.next {
			order = append(order, p)
		}
		sortPositions(order)
		c2, err := decodeCursor(encodeCursor(c.instance, order, c.next))
		if err != nil || len(c2.next) != len(c.next) {
			t.Fatalf("re-encoded %+v: %+v %v", c, c2, err)
		}
	})
}

func TestReplayRingKeepsTheNewest(t *testing.T) {
	t.Parallel()
	p := &partition{next: 10, from: 10, ring: make([]entry, 0, 3)}
	for o := int64(10); o < 15; o++ {
		p.push(entry{offset: o})
		p.next = o + 1
	}
	var got []int64
	p.each(func(e *entry) { got = append(got, e.offset) })
	if len(got) != 3 || got[0] != 12 || got[2] != 14 || p.from != 12 {
		t.Fatalf("ring %v from %d, want 12..14 from 12", got, p.from)
	}
}

// TestSlowClientIsClosedNotWaitedFor: a client that does not read fills
// its bounded queue and is closed with 4008; dispatch never blocks, and the
// user's other client gets everything.
func TestSlowClientIsClosedNotWaitedFor(t *testing.T) {
	t.Parallel()
	const secret = "realtime-test-secret-0123456789abcdef"
	v, err := auth.NewVerifier(context.Background(), auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	hub := NewHub(16, 10, newMetrics(reg))
	hub.Started("task-events", 0, 0)
	srv := httptest.NewServer(NewServer(Deps{Hub: hub, Verifier: v, Options: Options{SendQueue: 8}, Log: slog.New(slog.DiscardHandler), Registry: reg}))
	t.Cleanup(srv.Close)
	tok, _ := auth.IssueHS256(secret, "alice", "", "", time.Hour)
	dial := func() *websocket.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: map[string][]string{"Authorization": {"Bearer " + tok}}})
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		ws.SetReadLimit(1 << 20)
		t.Cleanup(func() { _ = ws.CloseNow() })
		return ws
	}
	slow, fast := dial(), dial()
	deadline := time.Now().Add(10 * time.Second)
	for hub.UserConnections("alice") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("clients not registered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The slow client reads nothing until it has overflowed; then it reads
	// on, to find the close frame behind what filled its socket.
	slowCode := make(chan websocket.StatusCode, 1)
	go func() {
		for counter(t, reg, "realtime_overflow_closes_total") == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, _, err := slow.Read(ctx)
			cancel()
			if err != nil {
				slowCode <- websocket.CloseStatus(err)
				return
			}
		}
	}()
	// The fast client reads every event; the next is dispatched once it has
	// the previous one (it is not slow).
	const n = 400
	big := json.RawMessage(`"` + strings.Repeat("x", 64<<10) + `"`)
	for i := 0; i < n; i++ {
		hub.dispatch("task-events", 0, int64(i), "alice", wireEvent{Type: "event", Data: big})
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, b, err := fast.Read(ctx)
			cancel()
			if err != nil {
				t.Fatalf("the reading client, event %d: %v", i, err)
			}
			if strings.Contains(string(b), `"type":"event"`) {
				break
			}
		}
	}
	select {
	case code := <-slowCode:
		if code != CloseSlowConsumer {
			t.Fatalf("slow client closed with %d, want 4008", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the slow client was not closed")
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Error(err)
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// TestResumeBeforeReadingIsAResync: a client that resumes with a cursor
// on a replica that has not started reading events (just restarted) is told
// to resync: the replica cannot know what came after the cursor. Found by
// the fault suite after a replica was killed.
func TestResumeBeforeReadingIsAResync(t *testing.T) {
	t.Parallel()
	old := NewHub(16, 10, newMetrics(prometheus.NewRegistry()))
	old.Started("task-events", 0, 0)
	old.dispatch("task-events", 0, 0, "alice", wireEvent{Type: "event", ID: "e1"})
	cur := old.cursorLocked()

	hub := NewHub(16, 10, newMetrics(prometheus.NewRegistry()))
	// writing: the queue stays as sent (no socket here to write it to).
	c := &client{user: "alice", maxQueue: 8, writing: true}
	if err := hub.Register(c, cur); err != nil {
		t.Fatal(err)
	}
	if len(c.queue) != 1 || !strings.Contains(string(c.queue[0]), `"type":"resync"`) {
		t.Fatalf("resume before reading: %q, want a resync", c.queue)
	}
	hub.Started("task-events", 0, 1)
	c2 := &client{user: "alice", maxQueue: 8, writing: true}
	if err := hub.Register(c2, hub.cursorLocked()); err != nil {
		t.Fatal(err)
	}
	if len(c2.queue) != 1 || !strings.Contains(string(c2.queue[0]), `"type":"ready"`) {
		t.Fatalf("resume once reading: %q, want ready", c2.queue)
	}
}
