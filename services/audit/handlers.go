package audit

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/web"
)

// entryResponse is one audit entry as the API shows it. It repeats the
// fields of Entry, the row, on purpose: the API's shape is its own, and
// changes only when this type does.
type entryResponse struct {
	ID         int64           `json:"id"`
	EventID    string          `json:"event_id"`
	Type       string          `json:"type"`
	Source     string          `json:"source"`
	TaskID     string          `json:"task_id"`
	OwnerID    string          `json:"owner_id"`
	Time       time.Time       `json:"time"`
	RecordedAt time.Time       `json:"recorded_at"`
	Event      json.RawMessage `json:"event"`
}

// listResponse is a page of the audit list.
type listResponse struct {
	Items      []entryResponse `json:"items"`
	NextCursor *string         `json:"next_cursor"`
}

// handleList answers GET /api/v1/audit: the caller's own entries, newest
// first, filtered by task and time.
func handleList(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := web.Query(r)
		if err != nil {
			var re *web.RequestError
			if errors.As(err, &re) {
				web.WriteProblem(w, r, re.Problem())
				return
			}
			web.Internal(w, r, err)
			return
		}
		q, problems := ParseQuery(v)
		if len(problems) > 0 {
			p := web.NewProblem(http.StatusBadRequest, "the audit query is not valid: see errors")
			p.Errors = problems
			web.WriteProblem(w, r, p)
			return
		}
		es, next, err := store.List(r.Context(), auth.UserID(r.Context()), q)
		if err != nil {
			if r.Context().Err() != nil {
				web.Fail(w, r, 499, "request canceled")
				return
			}
			web.Internal(w, r, err)
			return
		}
		resp := listResponse{Items: make([]entryResponse, len(es))}
		for i, e := range es {
			resp.Items[i] = entryResponse{
				ID: e.Seq, EventID: e.EventID, Type: e.Type, Source: e.Source, TaskID: e.TaskID, OwnerID: e.OwnerID,
				Time: e.Time.UTC(), RecordedAt: e.RecordedAt.UTC(), Event: e.Event,
			}
		}
		if next != nil {
			c := encodeCursor(next)
			resp.NextCursor = &c
		}
		web.Encode(w, r, http.StatusOK, resp)
	}
}
