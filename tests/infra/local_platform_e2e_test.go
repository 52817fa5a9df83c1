//go:build e2e

package infra

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/tests/live"
)

// call sends one request with user's token and returns the status and body.
func (p *deployed) call(hc *http.Client, token, method, url, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(p.ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// must is call for the test's own steps: a transport error fails the test.
func (p *deployed) must(token, method, url, body string) (int, string) {
	p.t.Helper()
	code, b, err := p.call(http.DefaultClient, token, method, url, body)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, url, err)
	}
	return code, b
}

// eventually polls cond every 500 ms until it holds or timeout passes.
func (p *deployed) eventually(timeout time.Duration, what string, cond func() bool) {
	p.t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type taskList struct {
	Items []struct {
		ID       string  `json:"id"`
		Title    string  `json:"title"`
		Status   string  `json:"status"`
		SeriesID *string `json:"series_id"`
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// exercise runs what a user does, through the Services: a live WebSocket
// client, a recurring task completed (exactly one next occurrence), a
// reminder due in seconds (in the notifier's inbox once), and the audit log
// (every event once). Each run uses its own user.
func (p *deployed) exercise(transport string) {
	p.t.Helper()
	started := time.Now()
	user := "e2e-" + transport
	tok := p.token(user)
	api, notifier, audit, realtime := p.serviceURL("taskapi"), p.serviceURL("notifier"), p.serviceURL("audit"), p.serviceURL("realtime")

	wsCtx, wsCancel := context.WithTimeout(p.ctx, 3*time.Minute)
	defer wsCancel()
	pushed, stop, err := live.Events(wsCtx, realtime, tok)
	if err != nil {
		p.t.Fatalf("dial realtime: %v", err)
	}
	defer stop()

	due := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	code, body := p.must(tok, "POST", api+"/api/v1/tasks", fmt.Sprintf(`{"title":"Stand-up (%s)","due_at":%q,"recurrence":{"rule":"FREQ=DAILY"}}`, transport, due))
	if code != 201 {
		p.t.Fatalf("create: %d %s", code, body)
	}
	var first struct{ ID string }
	if err := json.Unmarshal([]byte(body), &first); err != nil || first.ID == "" {
		p.t.Fatalf("create: %s", body)
	}
	if code, body := p.must(tok, "POST", api+"/api/v1/tasks/"+first.ID+"/complete", ""); code != 200 {
		p.t.Fatalf("complete: %d %s", code, body)
	}
	var next string
	p.eventually(time.Minute, "the next occurrence", func() bool {
		code, body := p.must(tok, "GET", api+"/api/v1/tasks?limit=200", "")
		var l taskList
		if code != 200 || json.Unmarshal([]byte(body), &l) != nil {
			return false
		}
		var nexts []string
		for _, it := range l.Items {
			if it.SeriesID != nil && *it.SeriesID == first.ID && it.ID != first.ID {
				nexts = append(nexts, it.ID)
			}
		}
		if len(nexts) > 1 {
			p.t.Fatalf("%d next occurrences, want exactly one", len(nexts))
		}
		if len(nexts) == 1 {
			next = nexts[0]
		}
		return next != ""
	})

	// A reminder falling due in a few seconds.
	dueSoon := time.Now().Add(time.Minute + 4*time.Second).UTC().Format(time.RFC3339)
	code, body = p.must(tok, "POST", api+"/api/v1/tasks", fmt.Sprintf(`{"title":"Call back","due_at":%q,"reminders":[{"before":"1m"}]}`, dueSoon))
	if code != 201 {
		p.t.Fatalf("create with reminder: %d %s", code, body)
	}
	var reminded struct{ ID string }
	_ = json.Unmarshal([]byte(body), &reminded)
	p.eventually(90*time.Second, "the reminder in the notifier's inbox", func() bool {
		return p.inboxCount(tok, notifier)[reminded.ID] == 1
	})

	// The audit log: every event of both tasks, once.
	p.eventually(time.Minute, "the audit log", func() bool {
		a := p.auditTypes(tok, audit, first.ID)
		b := p.auditTypes(tok, audit, next)
		return a[events.TypeTaskCreated] == 1 && a[events.TypeTaskCompleted] == 1 && b[events.TypeTaskCreated] == 1
	})
	time.Sleep(2 * time.Second) // a duplicate would be recorded by now
	if a := p.auditTypes(tok, audit, first.ID); a[events.TypeTaskCreated] != 1 || a[events.TypeTaskCompleted] != 1 {
		p.t.Errorf("audit of %s: %v, want created and completed once each", first.ID, a)
	}

	// The live client saw the three changes, the one made by recurring too.
	want := map[string]bool{
		events.TypeTaskCreated + " " + first.ID: true, events.TypeTaskCompleted + " " + first.ID: true,
		events.TypeTaskCreated + " " + next: true,
	}
	for deadline := time.Now().Add(time.Minute); len(want) > 0 && time.Now().Before(deadline); {
		select {
		case m, ok := <-pushed:
			if !ok {
				p.t.Fatalf("the socket closed; still missing %v", want)
			}
			delete(want, m)
		case <-time.After(time.Second):
		}
	}
	if len(want) > 0 {
		p.t.Errorf("the live client never saw %v", want)
	}

	// Another user sees none of it.
	if code, _ := p.must(p.token("e2e-intruder"), "GET", api+"/api/v1/tasks/"+first.ID, ""); code != 404 {
		p.t.Errorf("another user's GET of the task: %d, want 404", code)
	}
	p.t.Logf("%s transport: recurring, reminder, audit, realtime and isolation checked in %s", transport, time.Since(started).Round(100*time.Millisecond))
}

// inboxCount counts the user's notifications per task.
func (p *deployed) inboxCount(tok, notifier string) map[string]int {
	return p.countItems(tok, notifier+"/api/v1/notifications?limit=200", "task_id")
}

// auditTypes counts a task's audit entries per event type.
func (p *deployed) auditTypes(tok, audit, taskID string) map[string]int {
	return p.countItems(tok, audit+"/api/v1/audit?limit=200&task_id="+taskID, "type")
}

// countItems counts the items of the page at url per value of their string
// field; a failed request counts none.
func (p *deployed) countItems(tok, url, field string) map[string]int {
	code, body := p.must(tok, "GET", url, "")
	var l struct {
		Items []map[string]any `json:"items"`
	}
	n := map[string]int{}
	if code != 200 || json.Unmarshal([]byte(body), &l) != nil {
		return n
	}
	for _, it := range l.Items {
		if v, ok := it[field].(string); ok {
			n[v]++
		}
	}
	return n
}

// load is a client creating and reading tasks while the platform changes.
type load struct {
	p       *deployed
	user    string
	stopped atomic.Bool
	wg      sync.WaitGroup

	mu  sync.Mutex
	res loadResult
}

type loadResult struct {
	user              string
	total, failed     int
	failedCreates     int
	creates, reads    int
	firstErr          string
	acknowledged      []string // ids of creations answered 201
	latencies         []time.Duration
	started, finished time.Time
}

func (r loadResult) String() string {
	s := fmt.Sprintf("%d requests (%d creates, %d reads) in %s, %d failed, %d writes acknowledged",
		r.total, r.creates, r.reads, r.finished.Sub(r.started).Round(100*time.Millisecond), r.failed, len(r.acknowledged))
	if r.failed > 0 {
		s += " (first failure: " + r.firstErr + ")"
	}
	return s
}

// startLoad runs two clients, each creating a task and reading it back in a
// loop, through taskapi's Service. Each request opens a new connection, as
// many independent clients would, so a request goes to whichever pod the
// Service routes it to at that moment.
func (p *deployed) startLoad(name string) *load {
	user := "load-" + strings.ReplaceAll(name, " ", "-")
	l := &load{p: p, user: user}
	l.res.user, l.res.started = user, time.Now()
	api := p.serviceURL("taskapi")
	tok := p.token(user)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for w := range 2 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			// A request once sent is always awaited: stopping only ends the
			// loop, so every write the server committed is counted.
			for i := 0; !l.stopped.Load(); i++ {
				title := fmt.Sprintf("%s w%d #%d", name, w, i)
				t0 := time.Now()
				code, body, err := p.call(hc, tok, "POST", api+"/api/v1/tasks", fmt.Sprintf(`{"title":%q}`, title))
				var created struct{ ID string }
				ok := err == nil && code == 201 && json.Unmarshal([]byte(body), &created) == nil
				l.record("create", ok, err, code, body, time.Since(t0), created.ID)
				if !ok {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				t0 = time.Now()
				code, body, err = p.call(hc, tok, "GET", api+"/api/v1/tasks/"+created.ID, "")
				l.record("read", err == nil && code == 200, err, code, body, time.Since(t0), "")
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	// Let the load run before the change starts.
	time.Sleep(3 * time.Second)
	return l
}

func (l *load) record(kind string, ok bool, err error, code int, body string, d time.Duration, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.total++
	if kind == "create" {
		l.res.creates++
	} else {
		l.res.reads++
	}
	l.res.latencies = append(l.res.latencies, d)
	if !ok {
		l.res.failed++
		if kind == "create" {
			l.res.failedCreates++
		}
		if l.res.firstErr == "" {
			if err != nil {
				l.res.firstErr = fmt.Sprintf("%s: %v", kind, err)
			} else {
				l.res.firstErr = fmt.Sprintf("%s: %d %.200s", kind, code, body)
			}
		}
		return
	}
	if id != "" {
		l.res.acknowledged = append(l.res.acknowledged, id)
	}
}

// stop ends the load after a last quiet stretch and returns its figures.
func (l *load) stop() loadResult {
	time.Sleep(3 * time.Second)
	l.stopped.Store(true)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.finished = time.Now()
	return l.res
}

// checkWrites asserts that every acknowledged creation is stored, once.
func (p *deployed) checkWrites(r loadResult) {
	p.t.Helper()
	api := p.serviceURL("taskapi")
	tok := p.token(r.user)
	found := map[string]int{}
	cursor := ""
	for {
		url := api + "/api/v1/tasks?limit=200"
		if cursor != "" {
			url += "&cursor=" + cursor
		}
		code, body := p.must(tok, "GET", url, "")
		var l taskList
		if code != 200 || json.Unmarshal([]byte(body), &l) != nil {
			p.t.Fatalf("list: %d %s", code, body)
		}
		for _, it := range l.Items {
			found[it.ID]++
		}
		if l.NextCursor == nil || *l.NextCursor == "" {
			break
		}
		cursor = *l.NextCursor
	}
	lost := 0
	for _, id := range r.acknowledged {
		if found[id] != 1 {
			lost++
		}
	}
	p.t.Logf("writes: %d acknowledged, %d stored for %s, %d lost", len(r.acknowledged), len(found), r.user, lost)
	if lost > 0 {
		p.t.Errorf("%d of %d acknowledged writes are not stored", lost, len(r.acknowledged))
	}
	// Every creation was awaited: a stored task that was not acknowledged
	// would be a write the client was told had failed.
	if extra := len(found) - len(r.acknowledged) + lost; extra > r.failedCreates {
		p.t.Errorf("%d tasks stored beyond the acknowledged ones, but only %d creations failed", extra, r.failedCreates)
	}
	if len(r.acknowledged) == 0 {
		p.t.Error("the load made no write at all")
	}
}

// remindersDueSoon creates n tasks whose reminders fall due from `in` on,
// one a second, and returns the user's token and the task ids.
func (p *deployed) remindersDueSoon(n int, in time.Duration) reminderSet {
	p.t.Helper()
	api := p.serviceURL("taskapi")
	rs := reminderSet{token: p.token("e2e-reminders")}
	for i := range n {
		due := time.Now().Add(in + time.Duration(i)*time.Second + time.Minute).UTC().Format(time.RFC3339)
		code, body := p.must(rs.token, "POST", api+"/api/v1/tasks", fmt.Sprintf(`{"title":"reminder %d","due_at":%q,"reminders":[{"before":"1m"}]}`, i, due))
		var created struct{ ID string }
		if code != 201 || json.Unmarshal([]byte(body), &created) != nil {
			p.t.Fatalf("create: %d %s", code, body)
		}
		rs.tasks = append(rs.tasks, created.ID)
	}
	return rs
}

type reminderSet struct {
	token string
	tasks []string
}

// checkRemindersOnce waits until every reminder is in the inbox, and asserts
// none is there twice.
func (p *deployed) checkRemindersOnce(rs reminderSet) {
	p.t.Helper()
	notifier := p.serviceURL("notifier")
	var n map[string]int
	p.eventually(2*time.Minute, "every reminder in the inbox", func() bool {
		n = p.inboxCount(rs.token, notifier)
		for _, id := range rs.tasks {
			if n[id] == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second)
	n = p.inboxCount(rs.token, notifier)
	for _, id := range rs.tasks {
		if n[id] != 1 {
			p.t.Errorf("reminder of task %s delivered %d times, want once", id, n[id])
		}
	}
	p.t.Logf("%d reminders due while the notifier was replaced: each delivered once", len(rs.tasks))
}
