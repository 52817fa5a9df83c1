package taskapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestMalformedQueryIsRefused sends query strings that are not valid URL
// encoding: each is a 400 problem naming the pair, never a list that
// silently drops the filter or the cursor (a paging client would loop).
func TestMalformedQueryIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("alice", map[string]any{"title": "open one"})
	for _, path := range []string{
		"/api/v1/tasks?status=%zz",
		"/api/v1/tasks?cursor=%%%",
		"/api/v1/tasks?limit=1&cursor=%",
		"/api/v1/tasks?status=open;sort=title",
		"/api/v1/tags?status=%zz",
	} {
		t.Run(path, func(t *testing.T) {
			p := wantProblem(t, e.do("alice", "GET", path, nil), http.StatusBadRequest)
			if d, _ := p["detail"].(string); !strings.Contains(d, "URL encoding") {
				t.Errorf("detail %q does not say what is wrong", d)
			}
		})
	}
}

// TestIfMatchIsStrict checks If-Match's strong comparison (RFC 9110): a weak
// ETag never matches (412 with the current ETag, nothing changed), and a
// malformed one is a 400.
func TestIfMatchIsStrict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.create("alice", map[string]any{"title": "Report"})["id"].(string)
	path := "/api/v1/tasks/" + id
	for _, h := range []string{`W/"1"`, `"abc"`, `"+1"`} {
		r := e.do("alice", "PATCH", path, `{"title":"changed"}`, "If-Match: "+h)
		wantProblem(t, r, http.StatusPreconditionFailed)
		if r.Header.Get("ETag") != `"1"` {
			t.Errorf("If-Match %s: 412 without the current ETag: %q", h, r.Header.Get("ETag"))
		}
		wantProblem(t, e.do("alice", "POST", path+"/complete", nil, "If-Match: "+h), http.StatusPreconditionFailed)
		wantProblem(t, e.do("alice", "DELETE", path, nil, "If-Match: "+h), http.StatusPreconditionFailed)
	}
	for _, h := range []string{`"1`, `1`, `"1", "2"`, `W/1`, `"1 "`} {
		wantProblem(t, e.do("alice", "PATCH", path, `{"title":"changed"}`, "If-Match: "+h), http.StatusBadRequest)
	}
	got := e.do("alice", "GET", path, nil).json(t)
	if got["title"] != "Report" || got["version"] != float64(1) || got["status"] != "open" {
		t.Fatalf("refused requests changed the task: %v", got)
	}
	wantStatus(t, e.do("alice", "PATCH", path, `{"title":"changed"}`, `If-Match: "1"`), http.StatusOK)
}

// TestJSONNamesAreCaseSensitive: a member whose name differs from a field's
// only in case is an unknown field (400), in a create, in a patch and in a
// reminder, and error messages show no Go internals.
func TestJSONNamesAreCaseSensitive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct{ body, field string }{
		{`{"TITLE":"x"}`, "TITLE"},
		{`{"title":"x","Priority":"high"}`, "Priority"},
		{`{"title":"x","due_at":"2030-01-01T09:00:00Z","recurrence":{"Rule":"FREQ=DAILY"}}`, "recurrence.Rule"},
	} {
		wantProblem(t, e.do("alice", "POST", "/api/v1/tasks", c.body), http.StatusBadRequest, c.field)
	}
	p := wantProblem(t, e.do("alice", "POST", "/api/v1/tasks", `{"title":"x","due_at":"2030-01-01T09:00:00Z","reminders":[{"BEFORE":"1h"}]}`),
		http.StatusUnprocessableEntity, "reminders[0]")
	id := e.create("alice", map[string]any{"title": "Report"})["id"].(string)
	wantProblem(t, e.do("alice", "PATCH", "/api/v1/tasks/"+id, `{"Title":"changed"}`), http.StatusBadRequest, "Title")
	if got := e.do("alice", "GET", "/api/v1/tasks/"+id, nil).json(t); got["title"] != "Report" {
		t.Fatalf("a case-folded patch changed the task: %v", got)
	}

	// Messages for users: no Go type names, no Go time layouts.
	bodies := []string{mustJSON(p)}
	for _, body := range []string{
		`{"title":"x","due_at":"2030-01-01T09:00:00Z","reminders":[{"before":5}]}`,
		`{"title":"x","reminders":[{"at":"tomorrow"}]}`,
		`{"title":"x","reminders":[{"at":"2030-01-01T09:00:00Z","zzz":1}]}`,
		`{"title":"x","reminders":[7]}`,
	} {
		r := e.do("alice", "POST", "/api/v1/tasks", body)
		wantProblem(t, r, http.StatusUnprocessableEntity, "reminders[0]")
		bodies = append(bodies, string(r.Body))
	}
	r := e.do("", "POST", "/internal/v1/tasks/"+id+"/occurrences", `{"occurrence_at":"tomorrow"}`, "Authorization: Bearer "+testInternalToken)
	wantProblem(t, r, http.StatusBadRequest)
	bodies = append(bodies, string(r.Body))
	for _, b := range bodies {
		for _, internal := range []string{"Go struct", "reminderJSON", "2006-01-02", "Z07:00", "time.Time", "json: "} {
			if strings.Contains(b, internal) {
				t.Errorf("a problem shows Go internals (%q): %s", internal, b)
			}
		}
	}
}

// TestRulesWithoutOccurrenceAreRefused: a recurrence that never occurs after
// its start (February 30th, INTERVAL=0, UNTIL before the start) is a 422
// naming recurrence.rule, at create and at patch, and nothing is stored.
func TestRulesWithoutOccurrenceAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.create("alice", map[string]any{"title": "Report", "due_at": "2026-03-01T09:00:00Z",
		"recurrence": map[string]string{"rule": "FREQ=DAILY"}})["id"].(string)
	for _, rule := range []string{
		"FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30",
		"FREQ=DAILY;INTERVAL=0",
		"FREQ=DAILY;UNTIL=20260201T000000Z",
	} {
		t.Run(rule, func(t *testing.T) {
			rec := map[string]any{"rule": rule}
			wantProblem(t, e.do("alice", "POST", "/api/v1/tasks", map[string]any{"title": "x", "due_at": "2026-03-01T09:00:00Z", "recurrence": rec}),
				http.StatusUnprocessableEntity, "recurrence.rule")
			wantProblem(t, e.do("alice", "PATCH", "/api/v1/tasks/"+id, map[string]any{"recurrence": rec}),
				http.StatusUnprocessableEntity, "recurrence.rule")
		})
	}
	got := e.do("alice", "GET", "/api/v1/tasks", nil).json(t)["items"].([]any)
	if len(got) != 1 || got[0].(map[string]any)["recurrence"].(map[string]any)["rule"] != "FREQ=DAILY" {
		t.Fatalf("refused requests changed the tasks: %v", got)
	}
}
