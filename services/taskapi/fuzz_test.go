package taskapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/taskapi"
)

// fuzzEnv is one server on one fresh database for a whole fuzz target; each
// input borrows it through forInput.
type fuzzEnv struct {
	env
	log     *servicetest.Buffer // the server's warnings and errors of the current input
	task    *jsonschema.Schema
	problem *jsonschema.Schema
	page    *jsonschema.Schema
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	u := dbtest.URL(f, taskapi.Migrations)
	if os.Getenv("TEST_DATABASE_URL") == "" {
		// Fuzz workers are processes that inherit this environment: they
		// make their databases on this process's PostgreSQL instead of each
		// starting one. A worker the fuzzing engine kills must not leave a
		// server behind, holding the output the engine waits on.
		f.Setenv("TEST_DATABASE_URL", u)
	}
	pool, err := database.Connect(context.Background(), u)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(pool.Close)
	log := &servicetest.Buffer{Max: 64 << 10}
	h := taskapi.NewServer(taskapi.Deps{
		Store: taskapi.NewStore(pool), Verifier: servicetest.Verifier(f, testSecret), InternalToken: testInternalToken,
		Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn})), Registry: prometheus.NewRegistry(),
	})
	srv := httptest.NewServer(h)
	f.Cleanup(srv.Close)
	// A request that takes this long is a hang: it fails the input.
	srv.Client().Timeout = 20 * time.Second
	fe := &fuzzEnv{env: env{srv: srv, pool: pool}, log: log}

	// The document's schemas, to check what the server sends.
	resp, err := srv.Client().Get(srv.URL + "/api/v1/openapi.json")
	if err != nil {
		f.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		f.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		f.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, doc); err != nil {
		f.Fatal(err)
	}
	for name, s := range map[string]**jsonschema.Schema{"Task": &fe.task, "Problem": &fe.problem, "TaskPage": &fe.page} {
		if *s, err = c.Compile(docURL + "#/components/schemas/" + name); err != nil {
			f.Fatal(err)
		}
	}
	return fe
}

// forInput returns the environment for one input, reporting to t.
func (fe *fuzzEnv) forInput(t *testing.T) *env {
	fe.log.Reset()
	return &env{t: t, srv: fe.srv, pool: fe.pool}
}

// check fails t on a server error (with the server's log) and checks the
// body of every answer against the document: a task, a page or a problem.
func (fe *fuzzEnv) check(t *testing.T, what string, r response, schema *jsonschema.Schema) {
	t.Helper()
	if r.Status >= 500 {
		t.Fatalf("%s: status %d: %s\nserver log:\n%s", what, r.Status, r.Body, fe.log.String())
	}
	if r.Status >= 400 {
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("%s: status %d as %q: %s", what, r.Status, ct, r.Body)
		}
		schema = fe.problem
	}
	if schema == nil {
		return
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("%s: status %d with a body that is not JSON: %v: %s", what, r.Status, err, r.Body)
	}
	if err := schema.Validate(v); err != nil {
		t.Fatalf("%s: status %d with a body the document does not allow: %v\n%s", what, r.Status, err, r.Body)
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

var createSeeds = []string{
	`{"title":"Buy milk"}`,
	`{"title":"  Water the plants  ","description":"balcony","priority":"high","tags":["Home","#garden","home"],"due_at":"2026-12-01T09:00:00+01:00","time_zone":"Europe/Berlin","reminders":[{"before":"15m"},{"at":"2026-11-30T18:00:00Z"}],"recurrence":{"rule":"rrule:freq=weekly;byday=tu","anchor":"completion"}}`,
	`{"title":"x","due_at":"2026-03-01T08:00:00Z","recurrence":{"rule":"FREQ=HOURLY;INTERVAL=2;BYHOUR=5"}}`,
	`{"title":"x","due_at":"2026-03-01T08:00:00Z","recurrence":{"rule":"FREQ=DAILY;BYSETPOS=2"}}`,
	`{"title":"x","due_at":"2026-03-01T08:00:00Z","recurrence":{"rule":"FREQ=DAILY;COUNT=3;UNTIL=20260101"}}`,
	`{"title":"nul \u0000 in the title"}`,
	`{"title":"x","description":"nul \u0000 in the description"}`,
	`{"title":"x","reminders":[{"at":"9999-12-31T23:30:00-01:00"}]}`,
	`{"title":"x","reminders":[{"at":"0000-01-01T00:00:00+01:00"}]}`,
	`{"title":"x","reminders":[{"before":"-9223372036854775808ns"}],"due_at":"2026-01-01T00:00:00Z"}`,
	`{"title":"x","due_at":"9999-12-31T23:59:59-01:00"}`,
	`{"title":"x","tags":["##two","# #three","#"]}`,
	`{"title":"x","time_zone":"../../../etc/passwd"}`,
	`{"title":"x","time_zone":"Local"}`,
	`{"title":"x","priority":null,"tags":null,"reminders":[null],"recurrence":null}`,
	`{"title":"\ud800"}`,
	`{"title":"x","unknown":1}`,
	`{"title":["x"]}`,
	`null`, `[]`, `""`, `{}`, `{"title":"x"} {}`, ``,
	`{"title":"x","description":"` + strings.Repeat("é", 10_001) + `"}`,
}

// FuzzCreateTask posts random bodies: never a server error, every answer as
// the document says, and a created task reads back exactly as it was answered.
func FuzzCreateTask(f *testing.F) {
	for _, s := range createSeeds {
		f.Add([]byte(s))
	}
	fe := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		e := fe.forInput(t)
		r := e.do("fuzz", "POST", "/api/v1/tasks", body)
		fe.check(t, "create", r, fe.task)
		if r.Status != http.StatusCreated {
			return
		}
		id, _ := r.json(t)["id"].(string)
		got := e.do("fuzz", "GET", "/api/v1/tasks/"+id, nil)
		fe.check(t, "read back", got, fe.task)
		if got.Status != http.StatusOK || !sameJSON(t, got.Body, r.Body) {
			t.Fatalf("created %s\nread back (%d) %s", r.Body, got.Status, got.Body)
		}
		if got.Header.Get("ETag") != r.Header.Get("ETag") {
			t.Fatalf("ETag %q on create, %q on read", r.Header.Get("ETag"), got.Header.Get("ETag"))
		}
	})
}

// FuzzPatchTask applies random merge patches to one task: never a server
// error, a refused patch leaves the task as it was, and an applied one is
// what a read returns.
func FuzzPatchTask(f *testing.F) {
	for _, s := range []string{
		`{"title":"Renamed"}`, `{"priority":"urgent","tags":["q4","work"]}`, `{"due_at":null}`, `{"recurrence":null}`,
		`{"recurrence":{"anchor":"completion"}}`, `{"recurrence":{"rule":"FREQ=HOURLY;INTERVAL=24;BYHOUR=5"}}`,
		`{"reminders":[{"before":"1h"},{"at":"2026-11-30T18:00:00Z"}]}`, `{"reminders":[{"at":"9999-12-31T23:30:00-01:00"}]}`,
		`{"title":null}`, `{"title":"nul \u0000"}`, `{"description":"\u0000"}`, `{"status":"done"}`, `{"version":9}`,
		`{"nonsense":null}`, `{"recurrence":{"x":1}}`, `{"tags":["##x"]}`, `{"time_zone":"Mars/Olympus"}`,
		`[]`, `null`, `"x"`, `{`, ``, `{"title":"x"}{}`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Add([]byte(`{"title":"stale"}`), uint8(1))
	fe := newFuzzEnv(f)
	var id string
	{
		r, err := fe.srv.Client().Do(fuzzRequest(f, fe, "POST", "/api/v1/tasks", `{"title":"Report","tags":["work"],"due_at":"2026-12-01T09:00:00Z",
			"time_zone":"Europe/Berlin","reminders":[{"before":"1h"}],"recurrence":{"rule":"FREQ=MONTHLY"}}`))
		if err != nil {
			f.Fatal(err)
		}
		var created map[string]any
		err = json.NewDecoder(r.Body).Decode(&created)
		r.Body.Close()
		if err != nil || r.StatusCode != http.StatusCreated {
			f.Fatalf("create the task to patch: %d %v", r.StatusCode, err)
		}
		id = created["id"].(string)
	}
	path := "/api/v1/tasks/" + id
	f.Fuzz(func(t *testing.T, patch []byte, version uint8) {
		e := fe.forInput(t)
		before := e.do("fuzz", "GET", path, nil)
		wantStatus(t, before, http.StatusOK)
		headers := []string{"Content-Type: application/merge-patch+json"}
		if version > 0 {
			headers = append(headers, `If-Match: "`+string(rune('0'+version%10))+`"`)
		}
		r := e.do("fuzz", "PATCH", path, patch, headers...)
		fe.check(t, "patch", r, fe.task)
		after := e.do("fuzz", "GET", path, nil)
		wantStatus(t, after, http.StatusOK)
		if r.Status >= 400 {
			if !bytes.Equal(before.Body, after.Body) {
				t.Fatalf("a refused patch (%d) changed the task:\nbefore %s\nafter  %s", r.Status, before.Body, after.Body)
			}
			return
		}
		if !sameJSON(t, r.Body, after.Body) {
			t.Fatalf("patch answered %s\nread back %s", r.Body, after.Body)
		}
	})
}

func fuzzRequest(f *testing.F, fe *fuzzEnv, method, path, body string) *http.Request {
	req, err := http.NewRequestWithContext(context.Background(), method, fe.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token(f, "fuzz"))
	return req
}

// FuzzListQuery parses random query strings: ParseListQuery never panics,
// refuses only with field problems, and the server answers 200 exactly when
// it parses (400 otherwise), never a server error.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{
		"", "status=open", "status=archived", "priority=high,urgent&priority=low", "priority=asap",
		"tags=home,%23garden&tags_match=any", "tags=a%2Cb", "tags=", "tags_match=some",
		"due_before=2026-12-01T00:00:00Z&due_after=2026-01-01T00:00:00%2B01:00", "due_before=tomorrow",
		"overdue=true&has_due=1", "overdue=maybe", "has_due=false", "q=milk%20-oat", "q=%22exact%20phrase%22%20or%20x",
		"q=" + strings.Repeat("x", 201), "q=%00", "q=%FF", "q=:*%20%26%20!", "sort=-due_at", "sort=title", "sort=colour",
		"limit=1", "limit=0", "limit=201", "limit=-1", "cursor=abc", "cursor=eyJzIjoiLWNyZWF0ZWRfYXQifQ",
		"colour=red", "status=open&status=done", "%zz", "a=%", ";", "&&&",
	} {
		f.Add(s)
	}
	fe := newFuzzEnv(f)
	for _, body := range createSeeds[:2] {
		r, err := fe.srv.Client().Do(fuzzRequest(f, fe, "POST", "/api/v1/tasks", body))
		if err != nil {
			f.Fatal(err)
		}
		r.Body.Close()
	}
	// Cursors the server issued, with their key changed: the sort and
	// filter still match, so only the key can be refused.
	for _, sort := range []string{"-created_at", "title", "priority", "due_at"} {
		for _, key := range []string{`"yesterday"`, `"\u0000"`, `{}`, `null`, `99999`} {
			if c := tamperedCursor(f, fe, sort, key); c != "" {
				f.Add("limit=1&sort=" + url.QueryEscape(sort) + "&cursor=" + c)
			}
		}
	}
	f.Fuzz(func(t *testing.T, query string) {
		v, _ := url.ParseQuery(query) // as the server reads it: errors drop pairs
		q, err := taskapi.ParseListQuery(v)
		if err != nil {
			var ve *task.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("ParseListQuery(%q): %v, want field problems", query, err)
			}
		} else if q.Limit < 1 || q.Limit > taskapi.MaxLimit {
			t.Fatalf("ParseListQuery(%q): limit %d", query, q.Limit)
		}

		e := fe.forInput(t)
		r := e.do("fuzz", "GET", "/api/v1/tasks?"+v.Encode(), nil)
		fe.check(t, "list", r, fe.page)
		want := http.StatusOK
		if err != nil {
			want = http.StatusBadRequest
		}
		if r.Status != want {
			t.Fatalf("GET ?%s: status %d, want %d (ParseListQuery: %v): %s", v.Encode(), r.Status, want, err, r.Body)
		}
	})
}

// tamperedCursor returns the next cursor of the first page of the fuzz
// user's tasks in sort order sort, with its key replaced by key.
func tamperedCursor(f *testing.F, fe *fuzzEnv, sort, key string) string {
	r, err := fe.srv.Client().Do(fuzzRequest(f, fe, "GET", "/api/v1/tasks?limit=1&sort="+url.QueryEscape(sort), ""))
	if err != nil {
		f.Fatal(err)
	}
	defer r.Body.Close()
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	if err := json.NewDecoder(r.Body).Decode(&page); err != nil || page.NextCursor == "" {
		f.Fatalf("no cursor for sort %s: %d %v", sort, r.StatusCode, err)
	}
	b, err := base64.RawURLEncoding.DecodeString(page.NextCursor)
	if err != nil {
		f.Fatal(err)
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(b, &c); err != nil {
		f.Fatal(err)
	}
	c["k"] = json.RawMessage(key)
	b, err = json.Marshal(c)
	if err != nil {
		f.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
