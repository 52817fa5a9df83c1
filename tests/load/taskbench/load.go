package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/todo-platform/todo/tests/load/loadstat"
)

// op is an operation of the load.
type op int

// The operations. A request draws create, patch, complete, get, list or
// search from the mix; complete becomes reopen when the task is known done,
// and a 412 answer is followed by a re-read of the task.
const (
	opCreate op = iota
	opPatch
	opComplete
	opReopen
	opGet
	opList
	opSearch
	opReread
	numOps
)

var opNames = [numOps]string{"create", "patch", "complete", "reopen", "get", "list", "search", "re-read (412)"}

// drawn are the operations a mix weighs.
var drawn = []op{opCreate, opPatch, opComplete, opGet, opList, opSearch}

// mix is the share of each drawn operation.
type mix struct {
	weight [numOps]float64 // percent
	cum    [numOps]float64
}

const defaultMix = "create=15,patch=15,complete=10,get=25,list=20,search=15"

func parseMix(s string) (mix, error) {
	var m mix
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		w, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil || w < 0 {
			return m, fmt.Errorf("-mix: %q is not name=percent", part)
		}
		found := false
		for _, o := range drawn {
			if opNames[o] == name {
				m.weight[o], found = w, true
			}
		}
		if !found {
			return m, fmt.Errorf("-mix: unknown operation %q (known: create, patch, complete, get, list, search)", name)
		}
	}
	sum := 0.0
	for _, o := range drawn {
		sum += m.weight[o]
	}
	if sum <= 0 {
		return m, fmt.Errorf("-mix: the shares add up to 0")
	}
	acc := 0.0
	for _, o := range drawn {
		m.weight[o] = m.weight[o] * 100 / sum
		acc += m.weight[o]
		m.cum[o] = acc
	}
	return m, nil
}

func (m mix) pick(x float64) op {
	x *= 100
	for _, o := range drawn {
		if m.weight[o] > 0 && x < m.cum[o] {
			return o
		}
	}
	return opGet
}

func (m mix) String() string {
	var parts []string
	for _, o := range drawn {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", opNames[o], m.weight[o]))
	}
	return strings.Join(parts, ", ")
}

// vu is a virtual user: one real user, its token, and the next page of a list
// or search it decided to follow.
type vu struct {
	user *user

	mu           sync.Mutex
	listQuery    string // the list whose next page to fetch ("" none)
	listCursor   string
	searchQuery  string // the search whose next page to fetch ("" none)
	searchCursor string
}

// runner drives the API with an open-loop load.
type runner struct {
	base     string
	client   *http.Client
	vus      []*vu
	mix      mix
	sem      chan struct{} // the in-flight cap
	timeout  time.Duration
	follow   float64 // chance to follow a next_cursor
	sampleN  int     // tasks kept per user
	seq      atomic.Uint64
	creates  [][]byte
	patches  [][]byte
	lists    []string // query strings
	searches []string
}

func newTransport(maxConns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ReadBufferSize:      32 << 10,
		WriteBufferSize:     8 << 10,
	}
}

// lateAfter is how far behind its schedule a request may be sent before it
// counts as late (its latency still counts from the schedule).
const lateAfter = 10 * time.Millisecond

// recorder gathers the results of one phase (or one step).
type recorder struct {
	mu        sync.Mutex
	hist      [numOps]*loadstat.Histogram
	errors    [numOps]int64
	conflicts [numOps]int64
	lag       *loadstat.Histogram
	samples   []string // the first few error answers
	start     time.Time
	last      time.Time // last completion

	scheduled, dropped, late atomic.Int64
	wg                       sync.WaitGroup
}

func newRecorder() *recorder {
	r := &recorder{lag: loadstat.NewHistogram()}
	for i := range r.hist {
		r.hist[i] = loadstat.NewHistogram()
	}
	return r
}

// record notes one answer (status 0: no answer, err says why).
func (r *recorder) record(o op, latency, lag time.Duration, status int, err error, body []byte) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hist[o].Record(latency)
	r.lag.Record(lag)
	if now.After(r.last) {
		r.last = now
	}
	switch {
	case err == nil && status >= 200 && status < 300:
	case err == nil && status == http.StatusPreconditionFailed && (o == opPatch || o == opComplete || o == opReopen):
		r.conflicts[o]++
	default:
		r.errors[o]++
		if len(r.samples) < 8 {
			msg := ""
			if err != nil {
				msg = err.Error()
			} else {
				msg = fmt.Sprintf("HTTP %d %s", status, strings.TrimSpace(string(body[:min(len(body), 240)])))
			}
			r.samples = append(r.samples, opNames[o]+": "+msg)
		}
	}
}

// run schedules rate requests per second for d on a clock: request i is due
// at start + i/rate whatever became of the earlier ones. A request that
// cannot start because the in-flight cap is reached is dropped, not waited for.
func (rn *runner) run(ctx context.Context, rate float64, d time.Duration, rec *recorder) {
	n := int(rate * d.Seconds())
	interval := float64(time.Second) / rate
	start := time.Now()
	rec.start = start
	rec.last = start
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(float64(i) * interval))
		if wait := time.Until(at); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		rec.scheduled.Add(1)
		select {
		case rn.sem <- struct{}{}:
		default:
			rec.dropped.Add(1)
			continue
		}
		v := rn.vus[rn.seq.Add(1)%uint64(len(rn.vus))]
		o := rn.mix.pick(rand.Float64())
		rec.wg.Add(1)
		go func() {
			defer func() { <-rn.sem; rec.wg.Done() }()
			rn.do(ctx, v, o, at, rec)
		}()
	}
	// Wait for the last request's schedule time: a phase lasts d.
	if wait := time.Until(start.Add(d)); wait > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// answer is what the load keeps of a response.
type answer struct {
	status   int
	version  int64  // from the ETag, 0 if none
	location string // of a created task
	body     []byte // list, search and single-task reads only
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// send makes one request and records its latency from at, its scheduled time.
func (rn *runner) send(ctx context.Context, rec *recorder, o op, at time.Time, method, path string, u *user, body []byte, ifMatch int64, keep bool) (answer, *bytes.Buffer) {
	ctx, cancel := context.WithTimeout(ctx, rn.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rn.base+path, rd)
	if err != nil {
		rec.record(o, time.Since(at), 0, 0, err, nil)
		return answer{}, nil
	}
	req.Header["Authorization"] = []string{u.auth}
	if body != nil {
		if method == http.MethodPatch {
			req.Header["Content-Type"] = []string{"application/merge-patch+json"}
		} else {
			req.Header["Content-Type"] = []string{"application/json"}
		}
	}
	if ifMatch > 0 {
		req.Header["If-Match"] = []string{`"` + strconv.FormatInt(ifMatch, 10) + `"`}
	}
	sent := time.Now()
	lag := sent.Sub(at)
	if lag > lateAfter {
		rec.late.Add(1)
	}
	res, err := rn.client.Do(req)
	if err != nil {
		rec.record(o, time.Since(at), lag, 0, err, nil)
		return answer{}, nil
	}
	a := answer{status: res.StatusCode}
	var buf *bytes.Buffer
	if keep || res.StatusCode >= 300 {
		buf = bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		_, err = buf.ReadFrom(res.Body)
		a.body = buf.Bytes()
	} else {
		_, err = io.Copy(io.Discard, res.Body)
	}
	_ = res.Body.Close() // read to the end: nothing is lost if closing fails
	rec.record(o, time.Since(at), lag, res.StatusCode, err, a.body)
	if err != nil {
		a.status = 0
	}
	if e := res.Header.Get("ETag"); e != "" {
		a.version, _ = strconv.ParseInt(strings.Trim(strings.TrimPrefix(e, "W/"), `"`), 10, 64)
	}
	a.location = res.Header.Get("Location")
	return a, buf
}

func release(buf *bytes.Buffer) {
	if buf != nil && buf.Cap() <= 1<<20 {
		bufPool.Put(buf)
	}
}

// do performs operation o for virtual user v.
func (rn *runner) do(ctx context.Context, v *vu, o op, at time.Time, rec *recorder) {
	u := v.user
	switch o {
	case opCreate:
		a, buf := rn.send(ctx, rec, opCreate, at, http.MethodPost, "/api/v1/tasks", u, rn.creates[rand.IntN(len(rn.creates))], 0, false)
		release(buf)
		if a.status == http.StatusCreated && a.location != "" {
			id := a.location[strings.LastIndexByte(a.location, '/')+1:]
			u.add(&taskRef{id: id, version: a.version}, rn.sampleN)
		}
	case opPatch, opComplete:
		t, ok := u.pick()
		if !ok {
			return
		}
		method, path, body := http.MethodPatch, "/api/v1/tasks/"+t.id, rn.patches[rand.IntN(len(rn.patches))]
		if o == opComplete {
			method, body = http.MethodPost, nil
			if t.done {
				o, path = opReopen, path+"/reopen"
			} else {
				path += "/complete"
			}
		}
		a, buf := rn.send(ctx, rec, o, at, method, path, u, body, t.version, false)
		release(buf)
		switch a.status {
		case http.StatusOK:
			u.saw(t.id, a.version, o == opComplete, o != opPatch)
		case http.StatusPreconditionFailed:
			// Someone changed it first: read it again, as a client would.
			a, buf := rn.send(ctx, rec, opReread, time.Now(), http.MethodGet, "/api/v1/tasks/"+t.id, u, nil, 0, true)
			if a.status == http.StatusOK {
				u.saw(t.id, a.version, bytes.Contains(a.body, []byte(`"status":"done"`)), true)
			}
			release(buf)
		}
	case opGet:
		t, ok := u.pick()
		if !ok {
			return
		}
		a, buf := rn.send(ctx, rec, opGet, at, http.MethodGet, "/api/v1/tasks/"+t.id, u, nil, 0, true)
		if a.status == http.StatusOK {
			u.saw(t.id, a.version, bytes.Contains(a.body, []byte(`"status":"done"`)), true)
		}
		release(buf)
	case opList, opSearch:
		base, cursor := v.takeNext(o)
		if base == "" {
			if o == opList {
				base = rn.lists[rand.IntN(len(rn.lists))]
			} else {
				base = rn.searches[rand.IntN(len(rn.searches))]
			}
		}
		q := base
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		a, buf := rn.send(ctx, rec, o, at, http.MethodGet, "/api/v1/tasks?"+q, u, nil, 0, true)
		if a.status == http.StatusOK && rand.Float64() < rn.follow {
			if c := nextCursor(a.body); c != "" {
				v.setNext(o, base, c)
			}
		}
		release(buf)
	}
}

// nextCursor finds the next_cursor of a list page: the page's last field.
func nextCursor(body []byte) string {
	const key = `"next_cursor":"`
	i := bytes.LastIndex(body, []byte(key))
	if i < 0 {
		return ""
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

func (v *vu) takeNext(o op) (base, cursor string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if o == opList {
		base, cursor, v.listQuery, v.listCursor = v.listQuery, v.listCursor, "", ""
	} else {
		base, cursor, v.searchQuery, v.searchCursor = v.searchQuery, v.searchCursor, "", ""
	}
	return base, cursor
}

func (v *vu) setNext(o op, base, cursor string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if o == opList {
		v.listQuery, v.listCursor = base, cursor
	} else {
		v.searchQuery, v.searchCursor = base, cursor
	}
}

// pick returns a copy of a random task of u's sample.
func (u *user) pick() (taskRef, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.tasks) == 0 {
		return taskRef{}, false
	}
	return *u.tasks[rand.IntN(len(u.tasks))], true
}

// add puts a created task into u's sample, replacing a random one when the
// sample is full.
func (u *user) add(t *taskRef, limit int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.tasks) < limit {
		u.tasks = append(u.tasks, t)
		return
	}
	u.tasks[rand.IntN(len(u.tasks))] = t
}

// saw records version (and, when setDone, the status) of u's task id as
// an answer showed it; older answers arriving late change nothing.
func (u *user) saw(id string, version int64, done, setDone bool) {
	if version == 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, t := range u.tasks {
		if t.id == id {
			if version > t.version {
				t.version = version
				if setDone {
					t.done = done
				}
			} else if version == t.version && setDone {
				t.done = done
			}
			return
		}
	}
}

// buildBodies prepares the request bodies and query strings the load draws
// from, so that no request pays for building its own.
func (rn *runner) buildBodies(r *rand.Rand, now time.Time) error {
	type reminder struct {
		Before string `json:"before,omitempty"`
		At     string `json:"at,omitempty"`
	}
	type recur struct {
		Rule   string `json:"rule"`
		Anchor string `json:"anchor,omitempty"`
	}
	type fields struct {
		Title       string     `json:"title,omitempty"`
		Description string     `json:"description,omitempty"`
		Priority    string     `json:"priority,omitempty"`
		Tags        []string   `json:"tags,omitempty"`
		DueAt       string     `json:"due_at,omitempty"`
		TimeZone    string     `json:"time_zone,omitempty"`
		Reminders   []reminder `json:"reminders,omitempty"`
		Recurrence  *recur     `json:"recurrence,omitempty"`
	}
	prio := []string{"none", "low", "medium", "high", "urgent"}
	due := func() (string, string) {
		zone := zones[r.IntN(len(zones))]
		d := now.Add(time.Duration(r.IntN(121)-60) * 24 * time.Hour).Truncate(time.Hour)
		return d.UTC().Format(time.RFC3339), zone
	}
	for range 1024 {
		f := fields{Title: phrase(r, 2+r.IntN(6), true), Priority: prio[pickPriority(r)], Tags: pickTags(r)}
		if r.IntN(100) < 60 {
			f.Description = phrase(r, 5+r.IntN(36), true) + "."
		}
		if r.IntN(100) < 70 {
			f.DueAt, f.TimeZone = due()
			if r.IntN(100) < 10 {
				f.Reminders = []reminder{{Before: reminderBefore[r.IntN(len(reminderBefore))]}}
			}
			if r.IntN(1000) < 72 {
				f.Recurrence = &recur{Rule: rules[r.IntN(len(rules))]}
			}
		}
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		rn.creates = append(rn.creates, b)
	}
	for i := range 512 {
		var f fields
		switch i % 6 {
		case 0:
			f.Title = phrase(r, 2+r.IntN(6), true)
		case 1:
			f.Priority = prio[r.IntN(len(prio))]
		case 2:
			f.Tags = pickTags(r)
			if len(f.Tags) == 0 {
				f.Tags = []string{tagSet[r.IntN(len(tagSet))]}
			}
		case 3:
			f.Description = phrase(r, 5+r.IntN(36), true) + "."
		case 4:
			f.DueAt, f.TimeZone = due()
		case 5:
			f.Title, f.Priority = phrase(r, 2+r.IntN(6), true), prio[r.IntN(len(prio))]
		}
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		rn.patches = append(rn.patches, b)
	}
	sorts := []string{"", "", "created_at", "due_at", "due_at", "-due_at", "-updated_at", "priority", "-priority", "title"}
	for range 2048 {
		q := url.Values{}
		switch x := r.IntN(100); {
		case x < 40:
			q.Set("status", "open")
		case x < 50:
			q.Set("status", "done")
		}
		if r.IntN(100) < 20 {
			ps := []string{"urgent", "high", "medium", "low"}
			q.Set("priority", strings.Join(ps[:1+r.IntN(2)], ","))
		}
		if r.IntN(100) < 25 {
			t1, t2 := tagSet[skewed(r, len(tagSet))], tagSet[skewed(r, len(tagSet))]
			if r.IntN(2) == 0 || t1 == t2 {
				q.Set("tags", t1)
			} else {
				q.Set("tags", t1+","+t2)
				if r.IntN(2) == 0 {
					q.Set("tags_match", "any")
				}
			}
		}
		switch x := r.IntN(100); {
		case x < 15:
			from := now.Add(time.Duration(r.IntN(60)-30) * 24 * time.Hour).Truncate(time.Hour)
			q.Set("due_after", from.UTC().Format(time.RFC3339))
			q.Set("due_before", from.Add(time.Duration(1+r.IntN(14))*24*time.Hour).UTC().Format(time.RFC3339))
		case x < 20:
			q.Set("overdue", "true")
		case x < 25:
			q.Set("has_due", "false")
		}
		if s := sorts[r.IntN(len(sorts))]; s != "" {
			q.Set("sort", s)
		}
		q.Set("limit", "50")
		rn.lists = append(rn.lists, q.Encode())
	}
	for range 1024 {
		q := url.Values{}
		w := words[r.IntN(len(words))]
		if r.IntN(100) < 30 {
			w += " " + words[skewed(r, len(words))]
		}
		q.Set("q", w)
		if r.IntN(100) < 30 {
			q.Set("status", "open")
		}
		q.Set("limit", "50")
		rn.searches = append(rn.searches, q.Encode())
	}
	return nil
}
