package taskapi_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/taskapi"
)

// TestDateOnlyFilters: due_before and due_after take dates, which are days
// of the caller's zone (tz), DST days included.
func TestDateOnlyFilters(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		query, before, after string
	}{
		{"due_before=2026-12-04", "2026-12-04T00:00:00Z", ""},
		{"due_before=2026-12-04&tz=Europe/Berlin", "2026-12-03T23:00:00Z", ""},
		{"due_after=2026-12-04&due_before=2026-12-05&tz=America/New_York", "2026-12-05T05:00:00Z", "2026-12-04T05:00:00Z"},
		{"due_after=2027-03-28&due_before=2027-03-29&tz=Europe/Berlin", "2027-03-28T22:00:00Z", "2027-03-27T23:00:00Z"},
		{"due_before=2026-12-04T10:00:00%2B01:00&tz=Asia/Tokyo", "2026-12-04T09:00:00Z", ""},
	} {
		v, _ := url.ParseQuery(c.query)
		q, err := taskapi.ParseListQuery(v)
		if err != nil {
			t.Errorf("%s: %v", c.query, err)
			continue
		}
		got := func(p *time.Time) string {
			if p == nil {
				return ""
			}
			return p.UTC().Format(time.RFC3339)
		}
		want := c.before
		if got(q.DueBefore) != want || got(q.DueAfter) != c.after {
			t.Errorf("%s: before %s after %s, want %s and %s", c.query, got(q.DueBefore), got(q.DueAfter), want, c.after)
		}
	}
	for _, bad := range []string{"tz=Mars/Olympus", "due_before=2026-13-01", "due_after=04.12.2026"} {
		v, _ := url.ParseQuery(bad)
		var ve *task.ValidationError
		if _, err := taskapi.ParseListQuery(v); !errors.As(err, &ve) {
			t.Errorf("%s: %v, want a field problem", bad, err)
		}
	}
}

// TestTodayInTheCallersZone lists "today" of a Tokyo user: a task due late
// in the evening there is today, though it is tomorrow's date in UTC.
func TestTodayInTheCallersZone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("alice", map[string]any{"title": "Tokyo evening", "due_at": "2030-01-02T22:30:00+09:00", "time_zone": "Asia/Tokyo"})
	e.create("alice", map[string]any{"title": "Tokyo next morning", "due_at": "2030-01-03T08:00:00+09:00", "time_zone": "Asia/Tokyo"})
	r := e.do("alice", "GET", "/api/v1/tasks?due_after=2030-01-02&due_before=2030-01-03&tz=Asia/Tokyo", nil)
	wantStatus(t, r, http.StatusOK)
	if got := fmt.Sprint(r.json(t)["items"]); !strings.Contains(got, "Tokyo evening") || strings.Contains(got, "next morning") {
		t.Errorf("today in Tokyo lists %s", got)
	}
}
