package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/todo-platform/todo/pkg/auth"
)

// outcome is how one request ended.
type outcome string

const (
	okay        outcome = "2xx"
	conflict    outcome = "412"
	unavailable outcome = "503"
	limited     outcome = "429"
	serverError outcome = "5xx other"
	clientError outcome = "4xx other"
	refused     outcome = "no connection"
	timedOut    outcome = "timeout"
)

// window counts the outcomes of the requests made while one fault (or
// none) was in force.
type window struct {
	name     string
	mu       sync.Mutex
	outcomes map[outcome]int
	sample   map[outcome]string // one example answer per outcome
	noRetry  int                // 503s without Retry-After
}

func (w *window) add(o outcome, detail string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.outcomes[o]++
	if _, ok := w.sample[o]; !ok && detail != "" {
		w.sample[o] = detail
	}
}

// load drives real user actions against the platform and records what was
// acknowledged.
type load struct {
	p      *platform
	client *http.Client
	users  []string
	tokens map[string]string

	mu         sync.Mutex
	cur        *window
	windows    []*window
	created    []string             // acknowledged creations (201)
	completed  []string             // acknowledged completions of recurring tasks
	reminders  map[string]time.Time // task id -> when its reminder is due
	lastByUser map[string][]versioned
	noReminder time.Time // no reminder due after this (the run's end)

	hooks *hookReceiver
	socks []*socket
}

type versioned struct{ id, etag string }

func newLoad(p *platform, users int, lastReminder time.Time) *load {
	l := &load{
		p: p, client: &http.Client{Timeout: 15 * time.Second}, tokens: map[string]string{},
		reminders: map[string]time.Time{}, lastByUser: map[string][]versioned{}, noReminder: lastReminder,
	}
	for i := range users {
		u := fmt.Sprintf("chaos-user-%d", i)
		l.users = append(l.users, u)
		tok, err := auth.IssueHS256(jwtSecret, u, auth.DefaultIssuer, auth.DefaultAudience, 24*time.Hour)
		if err != nil {
			panic(err) // a fixed secret and claims: cannot fail
		}
		l.tokens[u] = tok
	}
	tok, _ := auth.IssueHS256(jwtSecret, "chaos-probe", auth.DefaultIssuer, auth.DefaultAudience, 24*time.Hour)
	l.tokens["chaos-probe"] = tok
	l.phase("steady")
	return l
}

// phase starts a new window of outcomes.
func (l *load) phase(name string) {
	w := &window{name: name, outcomes: map[outcome]int{}, sample: map[outcome]string{}}
	l.mu.Lock()
	l.cur = w
	l.windows = append(l.windows, w)
	l.mu.Unlock()
}

// call makes one request as user and classifies its outcome in the current
// window; it returns the status (0 without an answer), the body and the
// ETag.
func (l *load) call(ctx context.Context, user, method, url, body, ifMatch string) (int, []byte, string) {
	l.mu.Lock()
	w := l.cur
	l.mu.Unlock()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+l.tokens[user])
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		var ne net.Error
		switch {
		case ctx.Err() != nil:
		case errors.As(err, &ne) && ne.Timeout():
			w.add(timedOut, err.Error())
		default:
			w.add(refused, err.Error())
		}
		return 0, nil, ""
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	switch s := resp.StatusCode; {
	case s < 300:
		w.add(okay, "")
	case s == http.StatusPreconditionFailed:
		w.add(conflict, "")
	case s == http.StatusServiceUnavailable:
		w.add(unavailable, string(b))
		if resp.Header.Get("Retry-After") == "" {
			w.mu.Lock()
			w.noRetry++
			w.mu.Unlock()
		}
	case s == http.StatusTooManyRequests:
		w.add(limited, string(b))
	case s >= 500:
		w.add(serverError, fmt.Sprintf("%d %s", s, b))
	default:
		w.add(clientError, fmt.Sprintf("%d %s", s, b))
	}
	return resp.StatusCode, b, resp.Header.Get("ETag")
}

func (l *load) api(path string) string { return "http://" + l.p.addrs["taskapi"] + path }

// writer is one user's steady stream of actions until ctx ends.
func (l *load) writer(ctx context.Context, user string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed*7+1)) //nolint:gosec // a load mix, not a secret
	for n := 0; ctx.Err() == nil; n++ {
		switch r := rng.IntN(100); {
		case r < 55:
			l.create(ctx, user, fmt.Sprintf(`{"title":"chaos %s %d","priority":%q,"tags":["chaos"]}`, user, n, []string{"none", "low", "medium", "high", "urgent"}[rng.IntN(5)]), false)
		case r < 70:
			id, etag := l.create(ctx, user, fmt.Sprintf(`{"title":"daily %s %d","recurrence":{"rule":"FREQ=DAILY"},"due_at":%q}`,
				user, n, time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), false)
			if id == "" {
				break
			}
			if s, _, _ := l.call(ctx, user, http.MethodPost, l.api("/api/v1/tasks/"+id+"/complete"), "", etag); s == http.StatusOK {
				l.mu.Lock()
				l.completed = append(l.completed, id)
				l.mu.Unlock()
			}
		case r < 80:
			due := time.Now().Add(time.Duration(10+rng.IntN(120)) * time.Second)
			if due.After(l.noReminder) {
				break
			}
			l.create(ctx, user, fmt.Sprintf(`{"title":"remind %s %d","due_at":%q,"reminders":[{"before":"0s"}]}`,
				user, n, due.UTC().Format(time.RFC3339Nano)), true)
		default:
			l.mu.Lock()
			mine := l.lastByUser[user]
			l.mu.Unlock()
			if len(mine) == 0 {
				break
			}
			v := mine[rng.IntN(len(mine))]
			l.call(ctx, user, http.MethodPatch, l.api("/api/v1/tasks/"+v.id), fmt.Sprintf(`{"title":"patched %d"}`, n), v.etag)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(20+rng.IntN(20)) * time.Millisecond):
		}
	}
}

// create creates a task as user and records it when acknowledged.
func (l *load) create(ctx context.Context, user, body string, reminder bool) (id, etag string) {
	s, b, etag := l.call(ctx, user, http.MethodPost, l.api("/api/v1/tasks"), body, "")
	if s != http.StatusCreated {
		return "", ""
	}
	var t struct {
		ID    string     `json:"id"`
		DueAt *time.Time `json:"due_at"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.ID == "" {
		return "", ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.created = append(l.created, t.ID)
	if reminder && t.DueAt != nil {
		l.reminders[t.ID] = *t.DueAt
	}
	mine := append(l.lastByUser[user], versioned{t.ID, etag})
	if len(mine) > 50 {
		mine = mine[len(mine)-50:]
	}
	l.lastByUser[user] = mine
	return t.ID, etag
}

// probe creates a task as the probe user until one is acknowledged and
// its audit entry exists; it returns how long that took.
func (l *load) probe(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	id := ""
	for id == "" {
		if time.Now().After(deadline) {
			return 0, errors.New("no creation acknowledged")
		}
		id, _ = l.create(ctx, "chaos-probe", `{"title":"probe"}`, false)
		if id == "" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for {
		var n int
		if err := l.p.pool.QueryRow(ctx, `SELECT count(*) FROM audit.entries WHERE task_id = $1`, id).Scan(&n); err == nil && n > 0 {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("task %s created, but not in the audit log", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hookReceiver is every user's webhook target: it counts each reminder
// event it gets, by event id and task.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	events map[string]int    // event id -> deliveries
	tasks  map[string]string // event id -> task id
}

func newHookReceiver() *hookReceiver {
	h := &hookReceiver{events: map[string]int{}, tasks: map[string]string{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ID   string `json:"id"`
			Data struct {
				TaskID string `json:"task_id"`
			} `json:"data"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &ev); err != nil || ev.ID == "" {
			http.Error(w, "not a CloudEvent", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.events[ev.ID]++
		h.tasks[ev.ID] = ev.Data.TaskID
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	return h
}

// registerHooks gives every user a webhook to the receiver.
func (l *load) registerHooks(ctx context.Context) error {
	l.hooks = newHookReceiver()
	for _, u := range l.users {
		s, b, _ := l.call(ctx, u, http.MethodPost, "http://"+l.p.addrs["notifier"]+"/api/v1/webhooks", fmt.Sprintf(`{"url":%q}`, l.hooks.URL+"/"+u), "")
		if s != http.StatusCreated {
			return fmt.Errorf("register %s's webhook: %d %s", u, s, b)
		}
	}
	return nil
}

// socket is one user's live connection, reconnecting with its cursor.
type socket struct {
	user       string
	mu         sync.Mutex
	firstReady time.Time
	received   map[string]int
	order      []string // event ids in the order they came ("" for a resync)
	resyncs    int
	reconnects int
}

func (l *load) openSockets(ctx context.Context) {
	for _, u := range l.users {
		s := &socket{user: u, received: map[string]int{}}
		l.socks = append(l.socks, s)
		go s.run(ctx, "ws://"+l.p.addrs["realtime"]+"/ws", l.tokens[u])
	}
}

func (s *socket) run(ctx context.Context, wsURL, token string) {
	cursor := ""
	for ctx.Err() == nil {
		u := wsURL
		if cursor != "" {
			u += "?cursor=" + url.QueryEscape(cursor)
		}
		ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err == nil {
			ws.SetReadLimit(1 << 20)
			for {
				var m struct {
					Type, ID, Cursor string
				}
				if err := wsjson.Read(ctx, ws, &m); err != nil {
					break
				}
				s.mu.Lock()
				switch m.Type {
				case "ready":
					if s.firstReady.IsZero() {
						s.firstReady = time.Now()
					}
				case "resync":
					s.resyncs++
					s.order = append(s.order, "") // a resync: order restarts here
				case "event":
					s.received[m.ID]++
					s.order = append(s.order, m.ID)
				}
				s.mu.Unlock()
				if m.Cursor != "" {
					cursor = m.Cursor
				}
			}
			_ = ws.CloseNow()
		}
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.reconnects++
		s.mu.Unlock()
		time.Sleep(200 * time.Millisecond)
	}
}

// summary of a window for the table.
func (w *window) row() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b bytes.Buffer
	for _, o := range []outcome{okay, conflict, unavailable, limited, serverError, clientError, refused, timedOut} {
		fmt.Fprintf(&b, " %9d", w.outcomes[o])
	}
	return b.String()
}
