package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/realtime"
)

const (
	jwtSecret = "realtime-test-secret-0123456789abcdef"
	// wait bounds every "eventually" of these tests: generous, for a busy
	// shared machine; no test measures speed.
	wait = 10 * time.Second
)

// replica is a realtime service started with realtime.Run.
type replica struct {
	addr    string
	metrics string // METRICS_ADDR
	svc     *servicetest.Service
}

func (r *replica) url(query string) string {
	u := "ws://" + r.addr + "/ws"
	if query != "" {
		u += "?" + query
	}
	return u
}

// stop stops the replica; Run must return nil.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	if err := r.svc.Stop(); err != nil {
		t.Errorf("realtime ended with %v\n%s", err, r.svc.Out)
	}
}

// startReplica runs realtime.Run with env (over the defaults below) until
// the test ends, and waits until it is ready.
func startReplica(t *testing.T, env map[string]string) *replica {
	t.Helper()
	r := &replica{addr: servicetest.FreeAddr(t), metrics: servicetest.FreeAddr(t)}
	all := map[string]string{"ADDR": r.addr, "METRICS_ADDR": r.metrics, "JWT_SECRET": jwtSecret, "LOG_FORMAT": "text", "SHUTDOWN_GRACE": "5s"}
	for k, v := range env {
		all[k] = v
	}
	r.svc = servicetest.Start(t, realtime.Run, []string{"realtime"}, all, r.addr, wait)
	return r
}

// kafkaReplica starts a broker and a replica on it, with the variables
// extra names (pairs of name and value) over the defaults.
func kafkaReplica(t *testing.T, extra ...string) (*replica, kafka.Config) {
	t.Helper()
	_, kcfg := kafkatest.Start(t)
	return startReplica(t, kafkaEnv(kcfg, extra...)), kcfg
}

// kafkaEnv is the environment of a replica on kcfg's broker, with the
// variables extra names (pairs of name and value).
func kafkaEnv(kcfg kafka.Config, extra ...string) map[string]string {
	env := map[string]string{"EVENTS_TRANSPORT": "kafka", "KAFKA_BROKERS": strings.Join(kcfg.Brokers, ",")}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

func token(t *testing.T, user string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.IssueHS256(jwtSecret, user, "", "", ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wsClient is a WebSocket client of the service.
type wsClient struct {
	t     *testing.T
	ws    *websocket.Conn
	pings atomic.Int64 // pings received from the server
}

// message is what the service sends.
type message struct {
	Type     string          `json:"type"`
	Cursor   string          `json:"cursor"`
	ID       string          `json:"id"`
	Event    string          `json:"event"`
	Topic    string          `json:"topic"`
	Subject  string          `json:"subject"`
	UserID   string          `json:"user_id"`
	Replayed *int            `json:"replayed"`
	Reason   string          `json:"reason"`
	Data     json.RawMessage `json:"data"`
}

func (m message) taskID(t *testing.T) string {
	t.Helper()
	var s struct {
		ID      string `json:"id"`
		OwnerID string `json:"owner_id"`
	}
	if err := json.Unmarshal(m.Data, &s); err != nil {
		t.Fatalf("event data %s: %v", m.Data, err)
	}
	return s.ID
}

// upgrade dials url with opts and returns the socket (when the upgrade
// succeeded), the handshake's HTTP status (0 without an answer) and the
// error.
func upgrade(ctx context.Context, url string, opts *websocket.DialOptions) (*websocket.Conn, int, error) {
	ws, resp, err := websocket.Dial(ctx, url, opts)
	status := 0
	if resp != nil {
		status = resp.StatusCode
		if resp.Body != nil {
			_ = resp.Body.Close()
		}
	}
	return ws, status, err
}

// dialHeader connects as user with the token in the Authorization header.
func dialHeader(t *testing.T, url, tok string) (*wsClient, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	c := &wsClient{t: t}
	ws, status, err := upgrade(ctx, url, &websocket.DialOptions{HTTPHeader: h,
		OnPingReceived: func(context.Context, []byte) bool { c.pings.Add(1); return true }})
	if err != nil {
		return nil, status, err
	}
	c.ws = ws
	t.Cleanup(func() { _ = ws.CloseNow() })
	return c, status, nil
}

// connect connects as user (header auth) and reads the ready message.
func connect(t *testing.T, url, user string) (*wsClient, message) {
	t.Helper()
	c, _, err := dialHeader(t, url, token(t, user, time.Hour))
	if err != nil {
		t.Fatalf("dial %s as %s: %v", url, user, err)
	}
	m := c.next()
	if m.Type != "ready" || m.UserID != user || m.Cursor == "" {
		t.Fatalf("first message %+v: want ready for %s with a cursor", m, user)
	}
	return c, m
}

// dialMessage connects without a header; the caller sends the auth message.
func dialMessage(t *testing.T, url string) *wsClient {
	t.Helper()
	c, _, err := dialHeader(t, url, "")
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return c
}

func (c *wsClient) sendText(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next reads the next message, failing the test after wait.
func (c *wsClient) next() message {
	c.t.Helper()
	m, err := c.read(wait)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *wsClient) read(d time.Duration) (message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		return message{}, err
	}
	if typ != websocket.MessageText {
		return message{}, fmt.Errorf("a %v message", typ)
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return message{}, fmt.Errorf("decode %s: %w", b, err)
	}
	return m, nil
}

// nextEvent reads until an event (skipping pongs).
func (c *wsClient) nextEvent() message {
	c.t.Helper()
	for {
		m := c.next()
		if m.Type == "event" {
			return m
		}
		if m.Type != "pong" {
			c.t.Fatalf("message %+v: want an event", m)
		}
	}
}

// closed reads until the socket closes and returns its close status and
// reason.
func (c *wsClient) closed() (websocket.StatusCode, string) {
	c.t.Helper()
	for {
		_, err := c.read(wait)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		if errors.Is(err, context.DeadlineExceeded) {
			c.t.Fatalf("socket still open after %s", wait)
		}
		return websocket.CloseStatus(err), err.Error()
	}
}

// alive checks the connection answers an application ping.
func (c *wsClient) alive() {
	c.t.Helper()
	c.sendText(`{"type":"ping"}`)
	for {
		m := c.next()
		if m.Type == "pong" {
			return
		}
	}
}

// publisher publishes task events straight to the broker, as taskapi's
// relay does.
type publisher struct {
	t *testing.T
	p *kafka.Producer
}

func newPublisher(t *testing.T, kcfg kafka.Config) *publisher {
	t.Helper()
	return &publisher{t: t, p: kafkatest.Producer(t, kcfg)}
}

// task publishes a task.created event of a new task of owner and returns
// the task id.
func (p *publisher) task(owner string) string {
	p.t.Helper()
	id := uuid.NewString()
	e, err := events.NewTaskEvent("/todo/test", events.TypeTaskCreated, task.Snapshot{ID: id, OwnerID: owner, Title: "t " + id}, time.Now())
	if err != nil {
		p.t.Fatal(err)
	}
	p.publish(events.TopicTaskEvents, owner, e)
	return id
}

func (p *publisher) publish(topic, key string, e events.Event) {
	p.t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := p.p.Publish(ctx, broker.Publication{Topic: topic, Key: key, Value: b, EventID: e.ID()}); err != nil {
		p.t.Fatal(err)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	code, b := servicetest.Call(t, http.MethodGet, url, "", nil)
	return code, string(b)
}

// mustDial is dialHeader that fails the test when the upgrade fails.
func mustDial(t *testing.T, url, tok string) *wsClient {
	t.Helper()
	c, status, err := dialHeader(t, url, tok)
	if err != nil {
		t.Fatalf("dial %s: %d %v", url, status, err)
	}
	return c
}

// nextEventAfter runs send, reads the event it causes and returns its
// cursor.
func (c *wsClient) nextEventAfter(t *testing.T, send func() string) string {
	t.Helper()
	id := send()
	m := c.nextEvent()
	if m.taskID(t) != id {
		t.Fatalf("got %+v, want %s", m, id)
	}
	return m.Cursor
}
