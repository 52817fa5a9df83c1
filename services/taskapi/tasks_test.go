package taskapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// fullTask is a task that sets every field a user sets, some of them to be
// normalized (the title's spaces, the tags' case, # and duplicates), with
// reminders and recurrence.
func fullTask(reminders []any, recurrence map[string]string) map[string]any {
	return map[string]any{
		"title":       "  Water the plants  ",
		"description": "the ones on the balcony",
		"priority":    "high",
		"tags":        []string{"Home", "#garden", "home", "  Weekly Chores "},
		"due_at":      "2026-12-01T09:00:00+01:00",
		"time_zone":   "Europe/Berlin",
		"reminders":   reminders,
		"recurrence":  recurrence,
	}
}

func TestCreateAndGetTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.create("alice", fullTask(
		[]any{map[string]string{"before": "15m"}, map[string]string{"at": "2026-11-30T18:00:00Z"}, map[string]string{"before": "15m"}},
		map[string]string{"rule": "rrule:freq=weekly;byday=tu"}))
	checks := map[string]any{
		"title": "Water the plants", "priority": "high", "status": "open", "due_at": "2026-12-01T08:00:00Z",
		"time_zone": "Europe/Berlin", "version": float64(1), "owner_id": "alice",
	}
	for k, v := range checks {
		if created[k] != v {
			t.Errorf("%s = %v, want %v", k, created[k], v)
		}
	}
	if got := fmt.Sprint(created["tags"]); got != "[garden home weekly-chores]" {
		t.Errorf("tags = %s", got)
	}
	if got := fmt.Sprint(created["reminders"]); got != "[map[before:15m] map[at:2026-11-30T18:00:00Z]]" {
		t.Errorf("reminders = %s", got)
	}
	rec := created["recurrence"].(map[string]any)
	if rec["rule"] != "FREQ=WEEKLY;BYDAY=TU" || rec["anchor"] != "due" {
		t.Errorf("recurrence = %v", rec)
	}
	if created["series_id"] != created["id"] || created["occurrence_at"] != "2026-12-01T08:00:00Z" {
		t.Errorf("a recurring task starts its own series: series_id %v occurrence_at %v", created["series_id"], created["occurrence_at"])
	}

	r := e.do("alice", "GET", "/api/v1/tasks/"+created["id"].(string), nil)
	wantStatus(t, r, http.StatusOK)
	if r.Header.Get("ETag") != `"1"` {
		t.Errorf("ETag %q", r.Header.Get("ETag"))
	}
	got := r.json(t)
	for k := range created {
		if fmt.Sprint(got[k]) != fmt.Sprint(created[k]) {
			t.Errorf("read %s = %v, created %v", k, got[k], created[k])
		}
	}
	r = e.do("alice", "GET", "/api/v1/tasks/"+created["id"].(string), nil, `If-None-Match: "1"`)
	wantStatus(t, r, http.StatusNotModified)
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	long := strings.Repeat("x", 501)
	tags := make([]string, 21)
	for i := range tags {
		tags[i] = fmt.Sprint("t", i)
	}
	cases := []struct {
		name   string
		body   string
		status int
		fields []string
	}{
		{"everything wrong at once", `{"title":"  ","priority":"asap","due_at":"tomorrow","time_zone":"Mars/Olympus","tags":["a,b",""],"reminders":[{"before":"soon"}]}`,
			422, []string{"title", "priority", "due_at", "time_zone", "tags[0]", "tags[1]", "reminders[0]"}},
		{"title too long", `{"title":"` + long + `"}`, 422, []string{"title"}},
		{"too many tags", `{"title":"x","tags":` + mustJSON(tags) + `}`, 422, []string{"tags"}},
		{"relative reminder needs due", `{"title":"x","reminders":[{"before":"1h"}]}`, 422, []string{"reminders[0].before"}},
		{"negative reminder", `{"title":"x","due_at":"2030-01-01T09:00:00Z","reminders":[{"before":"-1m"}]}`, 422, []string{"reminders[0].before"}},
		{"reminder with both", `{"title":"x","due_at":"2026-01-01T00:00:00Z","reminders":[{"before":"1h","at":"2026-01-01T00:00:00Z"}]}`, 422, []string{"reminders[0]"}},
		{"recurrence needs due", `{"title":"x","recurrence":{"rule":"FREQ=DAILY"}}`, 422, []string{"recurrence"}},
		{"bad rule", `{"title":"x","due_at":"2026-01-01T00:00:00Z","recurrence":{"rule":"FREQ=SOMETIMES"}}`, 422, []string{"recurrence.rule"}},
		{"minutely rule", `{"title":"x","due_at":"2026-01-01T00:00:00Z","recurrence":{"rule":"FREQ=MINUTELY"}}`, 422, []string{"recurrence.rule"}},
		{"bad anchor", `{"title":"x","due_at":"2026-01-01T00:00:00Z","recurrence":{"rule":"FREQ=DAILY","anchor":"whenever"}}`, 422, []string{"recurrence.anchor"}},
		{"unknown field", `{"title":"x","colour":"red"}`, 400, []string{"colour"}},
		{"status is not settable", `{"title":"x","status":"done"}`, 400, []string{"status"}},
		{"wrong type", `{"title":42}`, 400, []string{"title"}},
		{"tags not an array", `{"title":"x","tags":"a"}`, 400, []string{"tags"}},
		{"not JSON", `{"title":`, 400, nil},
		{"array body", `[1,2]`, 400, nil},
		{"trailing data", `{"title":"x"} {}`, 400, nil},
		{"empty body", ``, 400, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("alice", "POST", "/api/v1/tasks", c.body)
			wantProblem(t, r, c.status, c.fields...)
		})
	}
	r := e.do("alice", "GET", "/api/v1/tasks", nil)
	if items := r.json(t)["items"].([]any); len(items) != 0 {
		t.Fatalf("rejected requests stored %d tasks", len(items))
	}
}

func TestBodyLimitAndContentType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := `{"title":"x","description":"` + strings.Repeat("y", 70<<10) + `"}`
	wantProblem(t, e.do("alice", "POST", "/api/v1/tasks", big), http.StatusRequestEntityTooLarge)
	wantProblem(t, e.do("alice", "POST", "/api/v1/tasks", `title=x`, "Content-Type: application/x-www-form-urlencoded"), http.StatusUnsupportedMediaType)
}

func TestPatchMergeAndIfMatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.create("alice", map[string]any{"title": "Report", "tags": []string{"work"}, "due_at": "2026-12-01T09:00:00Z",
		"reminders": []any{map[string]string{"before": "1h"}}, "recurrence": map[string]string{"rule": "FREQ=MONTHLY"}})
	id := c["id"].(string)
	path := "/api/v1/tasks/" + id

	r := e.do("alice", "PATCH", path, `{"priority":"urgent","tags":["work","q4"],"due_at":null,"reminders":null,"recurrence":null}`,
		"Content-Type: application/merge-patch+json", `If-Match: "1"`)
	wantStatus(t, r, http.StatusOK)
	p := r.json(t)
	if p["priority"] != "urgent" || p["due_at"] != nil || p["recurrence"] != nil || p["version"] != float64(2) ||
		fmt.Sprint(p["tags"]) != "[q4 work]" || p["title"] != "Report" || r.Header.Get("ETag") != `"2"` {
		t.Fatalf("patched task: %s", r.Body)
	}

	// A stale If-Match is refused, and nothing changes.
	r = e.do("alice", "PATCH", path, `{"title":"Lost update"}`, `If-Match: "1"`)
	wantProblem(t, r, http.StatusPreconditionFailed)
	if r.Header.Get("ETag") != `"2"` {
		t.Errorf("412 should carry the current ETag, got %q", r.Header.Get("ETag"))
	}
	if got := e.do("alice", "GET", path, nil).json(t); got["title"] != "Report" || got["version"] != float64(2) {
		t.Fatalf("stale patch changed the task: %v", got)
	}

	// A patch that changes nothing makes no new version.
	r = e.do("alice", "PATCH", path, `{"title":"Report"}`)
	wantStatus(t, r, http.StatusOK)
	if r.json(t)["version"] != float64(2) {
		t.Fatalf("no-op patch bumped the version: %s", r.Body)
	}

	wantProblem(t, e.do("alice", "PATCH", path, `{"status":"done","version":9}`), 400, "status", "version")
	wantProblem(t, e.do("alice", "PATCH", path, `{"title":null}`), 422, "title")
	wantProblem(t, e.do("alice", "PATCH", path, `{"title":7}`), 400, "title")
	wantProblem(t, e.do("alice", "PATCH", path, `{"nonsense":1}`), 400, "nonsense")
	wantProblem(t, e.do("alice", "PATCH", path, `[{"op":"replace","path":"/title","value":"x"}]`), 400)
	wantProblem(t, e.do("alice", "PATCH", path, `{"title":"x"}`, "If-Match: yesterday"), 400)
	wantProblem(t, e.do("alice", "PATCH", path, `{"title":"x"}`, "Content-Type: application/json-patch+json"), 415)
	if got := e.do("alice", "GET", path, nil).json(t); got["title"] != "Report" || got["version"] != float64(2) {
		t.Fatalf("rejected patches changed the task: %v", got)
	}
}

func TestCompleteReopenKeepFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.create("alice", map[string]any{"title": "Standup", "due_at": "2026-12-01T09:00:00Z", "time_zone": "America/New_York",
		"recurrence": map[string]string{"rule": "FREQ=DAILY", "anchor": "completion"}, "tags": []string{"team"}})
	path := "/api/v1/tasks/" + c["id"].(string)

	r := e.do("alice", "POST", path+"/complete", nil)
	wantStatus(t, r, http.StatusOK)
	done := r.json(t)
	if done["status"] != "done" || done["completed_at"] == nil || done["version"] != float64(2) {
		t.Fatalf("completed: %s", r.Body)
	}
	if rec := done["recurrence"].(map[string]any); rec["rule"] != "FREQ=DAILY" || rec["anchor"] != "completion" || fmt.Sprint(done["tags"]) != "[team]" {
		t.Fatalf("completion wiped fields: %s", r.Body)
	}
	// Completing again is a no-op.
	r = e.do("alice", "POST", path+"/complete", nil)
	wantStatus(t, r, http.StatusOK)
	if r.json(t)["version"] != float64(2) {
		t.Fatalf("second completion changed the task: %s", r.Body)
	}
	wantProblem(t, e.do("alice", "POST", path+"/reopen", nil, `If-Match: "1"`), 412)
	r = e.do("alice", "POST", path+"/reopen", nil, `If-Match: "2"`)
	wantStatus(t, r, http.StatusOK)
	if o := r.json(t); o["status"] != "open" || o["completed_at"] != nil || o["version"] != float64(3) {
		t.Fatalf("reopened: %s", r.Body)
	}
	wantProblem(t, e.do("alice", "POST", path+"/complete", `{"force":true}`), 400)
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.create("alice", map[string]any{"title": "Temp"})
	path := "/api/v1/tasks/" + c["id"].(string)
	wantProblem(t, e.do("alice", "DELETE", path, nil, `If-Match: "7"`), 412)
	wantStatus(t, e.do("alice", "GET", path, nil), 200)
	wantStatus(t, e.do("alice", "DELETE", path, nil, `If-Match: "1"`), 204)
	wantProblem(t, e.do("alice", "GET", path, nil), 404)
	wantProblem(t, e.do("alice", "DELETE", path, nil), 404)
	wantProblem(t, e.do("alice", "GET", "/api/v1/tasks/not-a-uuid", nil), 404)
}

func TestOutboxWrittenWithEveryChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.create("alice", map[string]any{"title": "Evented", "due_at": "2026-12-01T09:00:00Z"})
	path := "/api/v1/tasks/" + c["id"].(string)
	wantStatus(t, e.do("alice", "PATCH", path, `{"priority":"low"}`), 200)
	wantStatus(t, e.do("alice", "POST", path+"/complete", nil), 200)
	wantStatus(t, e.do("alice", "POST", path+"/complete", nil), 200) // no-op: no event
	wantStatus(t, e.do("alice", "POST", path+"/reopen", nil), 200)
	wantStatus(t, e.do("alice", "PATCH", path, `{"version":3}`), 400) // rejected: no event
	wantStatus(t, e.do("alice", "DELETE", path, nil), 204)

	rows, err := e.pool.Query(context.Background(), `SELECT topic, partition_key, event_id::text, event FROM taskapi.outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var types []string
	for rows.Next() {
		var topic, key, id string
		var ev map[string]any
		if err := rows.Scan(&topic, &key, &id, &ev); err != nil {
			t.Fatal(err)
		}
		if topic != "task-events" || key != "alice" || ev["id"] != id || ev["specversion"] != "1.0" ||
			ev["subject"] != c["id"] || ev["partitionkey"] != "alice" || ev["source"] != "/todo/taskapi" {
			t.Fatalf("bad outbox row: topic %s key %s event %v", topic, key, ev)
		}
		data := ev["data"].(map[string]any)
		if data["id"] != c["id"] || data["owner_id"] != "alice" {
			t.Fatalf("event data is not the task snapshot: %v", data)
		}
		types = append(types, ev["type"].(string))
	}
	want := []string{"todo.task.created.v1", "todo.task.updated.v1", "todo.task.completed.v1", "todo.task.reopened.v1", "todo.task.deleted.v1"}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
}

func TestInternalOccurrenceIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.create("alice", map[string]any{"title": "Weekly review", "due_at": "2026-12-04T16:00:00Z", "time_zone": "Europe/London",
		"reminders":  []any{map[string]string{"before": "30m"}, map[string]string{"at": "2026-12-04T08:00:00Z"}},
		"recurrence": map[string]string{"rule": "FREQ=WEEKLY;BYDAY=FR"}})
	id := c["id"].(string)
	plain := e.create("alice", map[string]any{"title": "Once"})
	call := func(task, body string, tok string) response {
		return e.do("", "POST", "/internal/v1/tasks/"+task+"/occurrences", body, "Authorization: Bearer "+tok)
	}
	body := `{"occurrence_at":"2026-12-11T16:00:00Z"}`
	wantProblem(t, call(id, body, "wrong"), 401)
	wantProblem(t, e.do("alice", "POST", "/internal/v1/tasks/"+id+"/occurrences", body), 401) // a user token is not the internal token

	r := call(id, body, testInternalToken)
	wantStatus(t, r, http.StatusCreated)
	next := r.json(t)
	if next["series_id"] != id || next["occurrence_at"] != "2026-12-11T16:00:00Z" || next["due_at"] != "2026-12-11T16:00:00Z" ||
		next["owner_id"] != "alice" || next["status"] != "open" || next["title"] != "Weekly review" ||
		fmt.Sprint(next["reminders"]) != "[map[before:30m]]" {
		t.Fatalf("next occurrence: %s", r.Body)
	}
	for range 3 {
		r = call(id, body, testInternalToken)
		wantStatus(t, r, http.StatusOK)
		if r.json(t)["id"] != next["id"] {
			t.Fatalf("a repeated call made another task: %s", r.Body)
		}
	}
	// The same task has one successor, whatever occurrence time is asked.
	r = call(id, `{"occurrence_at":"2026-12-18T16:00:00Z"}`, testInternalToken)
	wantStatus(t, r, http.StatusOK)
	if r.json(t)["id"] != next["id"] {
		t.Fatalf("a second successor was made: %s", r.Body)
	}
	wantProblem(t, call(plain["id"].(string), body, testInternalToken), 409)
	wantProblem(t, call("00000000-0000-0000-0000-000000000000", body, testInternalToken), 404)
	wantProblem(t, call(id, `{}`, testInternalToken), 400, "occurrence_at")

	list := e.do("alice", "GET", "/api/v1/tasks?limit=200", nil).json(t)["items"].([]any)
	if len(list) != 3 {
		t.Fatalf("alice has %d tasks, want 3", len(list))
	}
}

func TestListFiltersSortAndPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	prios := []string{"none", "low", "medium", "high", "urgent"}
	var ids []string
	for i := range 25 {
		body := map[string]any{"title": fmt.Sprintf("Task %02d", i), "priority": prios[i%5]}
		if i%3 != 0 {
			body["due_at"] = base.Add(time.Duration(i) * time.Hour).Format(time.RFC3339)
		}
		tags := []string{}
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		if i%5 == 0 {
			tags = append(tags, "five")
		}
		body["tags"] = tags
		if i == 7 {
			body["description"] = "remember the quarterly invoices"
		}
		ids = append(ids, e.create("alice", body)["id"].(string))
	}
	e.create("bob", map[string]any{"title": "Task of bob", "tags": []string{"even"}})
	wantStatus(t, e.do("alice", "POST", "/api/v1/tasks/"+ids[4]+"/complete", nil), 200)

	list := func(query string) []map[string]any {
		t.Helper()
		var all []map[string]any
		cursor := ""
		for page := 0; ; page++ {
			q := query
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			r := e.do("alice", "GET", "/api/v1/tasks?"+q, nil)
			wantStatus(t, r, 200)
			var body struct {
				Items      []map[string]any `json:"items"`
				NextCursor *string          `json:"next_cursor"`
			}
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			all = append(all, body.Items...)
			if body.NextCursor == nil {
				return all
			}
			cursor = *body.NextCursor
			if page > 50 {
				t.Fatal("pagination does not end")
			}
		}
	}
	titles := func(items []map[string]any) []string {
		var out []string
		for _, it := range items {
			out = append(out, strings.TrimPrefix(it["title"].(string), "Task "))
		}
		return out
	}

	all := list("limit=4&sort=title")
	if got := titles(all); len(got) != 25 || got[0] != "00" || got[24] != "24" {
		t.Fatalf("all by title: %v", got)
	}
	desc := titles(list("limit=3&sort=-title"))
	if desc[0] != "24" || desc[24] != "00" || len(desc) != 25 {
		t.Fatalf("by title desc: %v", desc)
	}
	// Due ascending: tasks without due date last, ties broken by id.
	byDue := list("limit=5&sort=due_at")
	if len(byDue) != 25 || byDue[0]["title"] != "Task 01" || byDue[15]["due_at"] == nil || byDue[16]["due_at"] != nil {
		t.Fatalf("by due: %v", titles(byDue))
	}
	byPrio := list("limit=7&sort=-priority")
	for i := 1; i < len(byPrio); i++ {
		if slices.Index(prios, byPrio[i]["priority"].(string)) > slices.Index(prios, byPrio[i-1]["priority"].(string)) {
			t.Fatalf("priority order broken at %d: %v", i, titles(byPrio))
		}
	}
	if len(byPrio) != 25 {
		t.Fatalf("by priority: %d items", len(byPrio))
	}
	for _, sortBy := range []string{"created_at", "-created_at", "updated_at", "-updated_at", "due_at", "-due_at", "priority"} {
		if got := list("limit=6&sort=" + sortBy); len(got) != 25 {
			t.Fatalf("sort %s paged %d items, want 25", sortBy, len(got))
		}
	}

	cases := []struct {
		query string
		want  int
	}{
		{"status=done", 1},
		{"status=open", 24},
		{"priority=high,urgent", 10},
		{"priority=high&priority=urgent", 10},
		{"tags=even", 13},
		{"tags=even,five", 3},
		{"tags=even,five&tags_match=any", 15},
		{"has_due=false", 9},
		{"has_due=true", 16},
		{"due_before=2026-12-01T12:00:00Z", 2},
		{"due_after=2026-12-01T20:00:00Z", 9},
		{"q=quarterly+invoices", 1},
		{"q=task", 25},
		{"q=invoices&status=done", 0},
		{"overdue=true", -1}, // counted below: open tasks due before now
	}
	now := time.Now()
	for _, c := range cases {
		want := c.want
		if c.query == "overdue=true" {
			want = 0
			for i := range 25 {
				if i%3 != 0 && i != 4 && base.Add(time.Duration(i)*time.Hour).Before(now) {
					want++
				}
			}
		}
		if got := list("limit=4&" + c.query); len(got) != want {
			t.Errorf("%s: %d tasks, want %d (%v)", c.query, len(got), want, titles(got))
		}
	}

	for _, bad := range []string{"limit=0", "limit=201", "sort=colour", "status=maybe", "priority=asap", "due_before=soon",
		"overdue=perhaps", "cursor=garbage", "tag=even", "tags_match=some"} {
		wantProblem(t, e.do("alice", "GET", "/api/v1/tasks?"+bad, nil), 400)
	}
	// A cursor from another sort is refused.
	r := e.do("alice", "GET", "/api/v1/tasks?limit=2&sort=title", nil)
	cur := *mustCursor(t, r)
	wantProblem(t, e.do("alice", "GET", "/api/v1/tasks?limit=2&sort=priority&cursor="+url.QueryEscape(cur), nil), 400, "cursor")
}

func mustCursor(t *testing.T, r response) *string {
	t.Helper()
	var body struct {
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.NextCursor == nil {
		t.Fatalf("no next cursor: %s", r.Body)
	}
	return body.NextCursor
}

func TestTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("alice", map[string]any{"title": "a", "tags": []string{"home", "work"}})
	done := e.create("alice", map[string]any{"title": "b", "tags": []string{"home"}})
	e.create("bob", map[string]any{"title": "c", "tags": []string{"secret"}})
	wantStatus(t, e.do("alice", "POST", "/api/v1/tasks/"+done["id"].(string)+"/complete", nil), 200)

	r := e.do("alice", "GET", "/api/v1/tags", nil)
	wantStatus(t, r, 200)
	if got := string(r.Body); !strings.Contains(got, `{"items":[{"tag":"home","count":2},{"tag":"work","count":1}]}`) {
		t.Fatalf("tags: %s", got)
	}
	r = e.do("alice", "GET", "/api/v1/tags?status=open", nil)
	if got := string(r.Body); !strings.Contains(got, `{"items":[{"tag":"home","count":1},{"tag":"work","count":1}]}`) {
		t.Fatalf("open tags: %s", got)
	}
	wantProblem(t, e.do("alice", "GET", "/api/v1/tags?status=x", nil), 400)
	if got := string(e.do("carol", "GET", "/api/v1/tags", nil).Body); !strings.Contains(got, `{"items":[]}`) {
		t.Fatalf("carol's tags: %s", got)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestRejectsWhatPostgreSQLCannotStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.create("alice", map[string]any{"title": "x"})
	path := "/api/v1/tasks/" + c["id"].(string)
	// Text with NUL or invalid UTF-8, tampered cursors, far-away years.
	for _, q := range []string{"q=a%00b", "q=%ff%fe", "cursor=" + url.QueryEscape("eyJzIjoiLWNyZWF0ZWRfYXQiLCJmIjoiIiwiayI6IngiLCJpIjoiMDE5MDAwMDAtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAxIn0")} {
		wantProblem(t, e.do("alice", "GET", "/api/v1/tasks?"+q, nil), 400)
	}
	wantProblem(t, e.do("alice", "GET", "/api/v1/tasks?q="+strings.Repeat("é", 201), nil), 400, "q")
	wantStatus(t, e.do("alice", "GET", "/api/v1/tasks?q="+strings.Repeat("é", 200), nil), 200)
	wantProblem(t, e.do("alice", "POST", path+"/complete", strings.Repeat(" ", 2000)+`{"x":1}`), 413)
	wantProblem(t, e.do("alice", "POST", path+"/complete", `{"x":1}`), 400)
	wantStatus(t, e.do("alice", "POST", path+"/complete", `{}`), 200)
	wantProblem(t, e.do("", "POST", "/internal/v1/tasks/"+c["id"].(string)+"/occurrences", `{"occurrence_at":"9999-12-31T23:59:59-01:00"}`,
		"Authorization: Bearer "+testInternalToken), 400, "occurrence_at")
}

// TestChangeAndEventCommitTogether: when the outbox row cannot be written,
// the change is not stored either (and the client sees a 500, not a lie).
func TestChangeAndEventCommitTogether(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.create("alice", map[string]any{"title": "Before the outage"})
	ctx := context.Background()
	owner, err := pgx.Connect(ctx, e.owner) // the schema's owner breaks it
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	if _, err := owner.Exec(ctx, `
		CREATE FUNCTION taskapi.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'outbox refused'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON taskapi.outbox FOR EACH ROW EXECUTE FUNCTION taskapi.refuse();`); err != nil {
		t.Fatal(err)
	}
	t.Log("the server logs the refused outbox row as an internal error; that is expected here")
	wantProblem(t, e.do("alice", "POST", "/api/v1/tasks", `{"title":"Lost with its event"}`), 500)
	wantProblem(t, e.do("alice", "PATCH", "/api/v1/tasks/"+c["id"].(string), `{"title":"Changed without event"}`), 500)
	wantProblem(t, e.do("alice", "POST", "/api/v1/tasks/"+c["id"].(string)+"/complete", nil), 500)
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM taskapi.tasks`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d tasks stored (%v), want only the first", n, err)
	}
	got := e.do("alice", "GET", "/api/v1/tasks/"+c["id"].(string), nil).json(t)
	if got["title"] != "Before the outage" || got["status"] != "open" || got["version"] != float64(1) {
		t.Fatalf("the task changed without its event: %v", got)
	}
}

// TestReminderAtDueTime: {"before":"0s"} (a reminder at the due time, the
// default of the task apps people use) is accepted and kept.
func TestReminderAtDueTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.create("alice", map[string]any{
		"title": "Call the bank", "due_at": "2030-01-02T09:00:00Z",
		"reminders": []any{map[string]string{"before": "0s"}, map[string]string{"before": "0m"}, map[string]string{"before": "15m"}},
	})
	if got := fmt.Sprint(created["reminders"]); got != "[map[before:0s] map[before:15m]]" {
		t.Errorf("reminders = %s, want the one at the due time (once) and 15m", got)
	}
}
