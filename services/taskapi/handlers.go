package taskapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-chi/chi/v5"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/pkg/web"
)

// maxTaskBody bounds a create or patch body: a full task is well under it.
const maxTaskBody = 64 << 10

func etag(t *task.Task) string { return `"` + strconv.FormatInt(t.Version, 10) + `"` }

// NoVersion is the version an If-Match that can match no task demands: every
// change guarded by it fails with 412.
const NoVersion int64 = -1

// ifMatch reads the version an If-Match header demands (0: none given, or
// "*"). If-Match compares entity tags strongly (RFC 9110, section 13.1.1): a
// weak tag (W/"3") or a well-formed tag this API never sends matches no
// version (NoVersion, answered 412 with the current ETag); a malformed
// header ("3, an unterminated "3, a list) is a 400.
func ifMatch(r *http.Request) (int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	tag, weak := strings.CutPrefix(h, "W/")
	if !entityTag(tag) {
		return 0, errors.New(`If-Match must be one ETag this API sent, such as "3" (quotes included)`)
	}
	v, err := strconv.ParseInt(tag[1:len(tag)-1], 10, 64)
	if weak || err != nil || v < 1 || etag(&task.Task{Version: v}) != tag {
		return NoVersion, nil
	}
	return v, nil
}

// entityTag reports whether s is one opaque-tag of RFC 9110 (section 8.8.3):
// a quoted string of etagc (no quote, no space, no control character).
func entityTag(s string) bool {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return false
	}
	for _, c := range []byte(s[1 : len(s)-1]) {
		if c != 0x21 && (c < 0x23 || c == 0x7f) {
			return false
		}
	}
	return true
}

func writeTask(w http.ResponseWriter, r *http.Request, status int, t *task.Task) {
	w.Header().Set("ETag", etag(t))
	web.Encode(w, r, status, t.Snapshot())
}

func handleCreateTask(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := web.Decode[createTaskRequest](w, r, maxTaskBody)
		if err != nil {
			fail(w, r, err)
			return
		}
		var ve task.ValidationError
		f := req.fields(&ve)
		addProblems(&ve, task.Normalize(&f))
		if err := ve.Err(); err != nil {
			fail(w, r, err)
			return
		}
		t, err := store.Create(r.Context(), auth.UserID(r.Context()), f)
		if err != nil {
			fail(w, r, err)
			return
		}
		w.Header().Set("Location", "/api/v1/tasks/"+t.ID)
		writeTask(w, r, http.StatusCreated, t)
	}
}

func handleGetTask(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, err := store.Get(r.Context(), auth.UserID(r.Context()), chi.URLParam(r, "taskID"))
		if err != nil {
			fail(w, r, err)
			return
		}
		if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag(t) {
			w.Header().Set("ETag", etag(t))
			w.WriteHeader(http.StatusNotModified)
			return
		}
		writeTask(w, r, http.StatusOK, t)
	}
}

func handleListTasks(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := web.Query(r)
		if err != nil {
			fail(w, r, err)
			return
		}
		q, err := ParseListQuery(v)
		if err != nil {
			// A bad query string is a bad request, not an invalid task.
			p := web.NewProblem(http.StatusBadRequest, "the list query is not valid: see errors")
			var ve *task.ValidationError
			if errors.As(err, &ve) {
				p.Errors = fieldProblems(ve)
			}
			web.WriteProblem(w, r, p)
			return
		}
		ts, next, err := store.List(r.Context(), auth.UserID(r.Context()), q)
		if err != nil {
			fail(w, r, err)
			return
		}
		resp := listResponse{Items: make([]taskResponse, len(ts))}
		for i, t := range ts {
			resp.Items[i] = t.Snapshot()
		}
		// What a search found in each task, with snippets: of this page only.
		resp.Matches = Matches(q.Q, ts)
		if next != "" {
			resp.NextCursor = &next
		}
		web.Encode(w, r, http.StatusOK, resp)
	}
}

// handlePatchTask applies an RFC 7396 JSON merge patch to a task's editable
// fields. If-Match guards against lost updates: a stale version gets 412 and
// the stored task is left as it was.
func handlePatchTask(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, _ := mime.ParseMediaType(ct)
			if mt != "application/merge-patch+json" && mt != "application/json" {
				web.Fail(w, r, http.StatusUnsupportedMediaType, "a patch is a JSON merge patch: Content-Type: application/merge-patch+json")
				return
			}
		}
		version, err := ifMatch(r)
		if err != nil {
			fail(w, r, &web.RequestError{Status: http.StatusBadRequest, Detail: err.Error()})
			return
		}
		body, err := web.ReadBody(w, r, maxTaskBody)
		if err != nil {
			fail(w, r, err)
			return
		}
		if err := checkPatch(body); err != nil {
			fail(w, r, err)
			return
		}
		t, err := store.Update(r.Context(), auth.UserID(r.Context()), chi.URLParam(r, "taskID"), version,
			func(cur task.Fields) (task.Fields, error) { return applyPatch(cur, body) })
		if err != nil {
			failChange(w, r, t, err)
			return
		}
		writeTask(w, r, http.StatusOK, t)
	}
}

// addProblems appends the field problems of err, a *task.ValidationError or
// nil, to ve.
func addProblems(ve *task.ValidationError, err error) {
	var more *task.ValidationError
	if errors.As(err, &more) {
		ve.Problems = append(ve.Problems, more.Problems...)
	}
}

// failChange answers a failed change; a 412 carries the current ETag so the
// client knows which version it now faces.
func failChange(w http.ResponseWriter, r *http.Request, current *task.Task, err error) {
	if errors.Is(err, task.ErrVersionMismatch) && current != nil {
		w.Header().Set("ETag", etag(current))
	}
	fail(w, r, err)
}

// checkPatch rejects a patch that is not a JSON object or names read-only or
// unknown fields, before any database work.
func checkPatch(body []byte) error {
	var doc map[string]json.RawMessage
	if err := web.Unmarshal(body, &doc); err != nil {
		var re *web.RequestError
		if errors.As(err, &re) && errors.Is(err, web.ErrWrongType) && re.Field == "" {
			return &web.RequestError{Status: http.StatusBadRequest, Detail: "a merge patch must be a JSON object"}
		}
		return err
	}
	if doc == nil {
		return &web.RequestError{Status: http.StatusBadRequest, Detail: "a merge patch must be a JSON object"}
	}
	var ve task.ValidationError
	for k := range doc {
		if why, ok := readOnlyFields[k]; ok {
			ve.Add(k, "is read-only: it %s", why)
		}
	}
	if len(ve.Problems) > 0 {
		return &patchError{ve}
	}
	return nil
}

// patchError is a patch naming read-only fields: a 400, with field problems.
type patchError struct{ task.ValidationError }

func applyPatch(cur task.Fields, patch []byte) (task.Fields, error) {
	doc, err := json.Marshal(requestOf(cur))
	if err != nil {
		return task.Fields{}, err
	}
	merged, err := jsonpatch.MergePatch(doc, patch)
	if err != nil {
		return task.Fields{}, &web.RequestError{Status: http.StatusBadRequest, Detail: "the merge patch could not be applied: " + err.Error()}
	}
	var req taskFieldsRequest
	if err := web.Unmarshal(merged, &req); err != nil {
		return task.Fields{}, err
	}
	var ve task.ValidationError
	f := req.fields(&ve)
	addProblems(&ve, task.Normalize(&f))
	if err := ve.Err(); err != nil {
		return task.Fields{}, err
	}
	return f, nil
}

// handleCommand serves POST /tasks/{id}/complete and /reopen.
func handleCommand(cmd func(r *http.Request, owner, id string, version int64) (*task.Task, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		version, err := ifMatch(r)
		if err != nil {
			fail(w, r, &web.RequestError{Status: http.StatusBadRequest, Detail: err.Error()})
			return
		}
		// Commands take no body (an empty object is tolerated); refuse one
		// rather than ignore it, chunked or not.
		b, err := web.ReadBody(w, r, 1024)
		if err != nil {
			fail(w, r, err)
			return
		}
		if b = bytes.TrimSpace(b); len(b) > 0 && string(b) != "{}" {
			web.Fail(w, r, http.StatusBadRequest, "this command takes no request body")
			return
		}
		t, err := cmd(r, auth.UserID(r.Context()), chi.URLParam(r, "taskID"), version)
		if err != nil {
			failChange(w, r, t, err)
			return
		}
		writeTask(w, r, http.StatusOK, t)
	}
}

func handleDeleteTask(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		version, err := ifMatch(r)
		if err != nil {
			fail(w, r, &web.RequestError{Status: http.StatusBadRequest, Detail: err.Error()})
			return
		}
		if err := store.Delete(r.Context(), auth.UserID(r.Context()), chi.URLParam(r, "taskID"), version); err != nil {
			fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func handleListTags(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var status task.Status
		v, err := web.Query(r)
		if err != nil {
			fail(w, r, err)
			return
		}
		for k := range v {
			if k != "status" {
				fail(w, r, &web.RequestError{Status: http.StatusBadRequest, Field: k, Detail: "unknown query parameter " + strconv.Quote(k) + " (known: status)"})
				return
			}
		}
		if s := v.Get("status"); s != "" {
			status = task.Status(s)
			if !status.Valid() {
				fail(w, r, &web.RequestError{Status: http.StatusBadRequest, Field: "status", Detail: `status must be "open" or "done"`})
				return
			}
		}
		tags, err := store.Tags(r.Context(), auth.UserID(r.Context()), status)
		if err != nil {
			fail(w, r, err)
			return
		}
		if tags == nil {
			tags = []TagCount{}
		}
		web.Encode(w, r, http.StatusOK, tagsResponse{Items: tags})
	}
}

// handleCreateOccurrence is the recurring service's call: create the next
// occurrence of the series of task {taskID}, due at occurrence_at.
// Idempotent: 201 when it was created, 200 with the existing one otherwise.
func handleCreateOccurrence(store *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := web.Decode[occurrenceRequest](w, r, 4<<10)
		if err != nil {
			fail(w, r, err)
			return
		}
		if y := req.OccurrenceAt.UTC().Year(); req.OccurrenceAt.IsZero() || y < 1970 || y > 9999 {
			fail(w, r, &web.RequestError{Status: http.StatusBadRequest, Field: "occurrence_at", Detail: "occurrence_at is required: an RFC 3339 time between the years 1970 and 9999"})
			return
		}
		t, created, err := store.CreateOccurrence(r.Context(), chi.URLParam(r, "taskID"), req.OccurrenceAt)
		if err != nil {
			fail(w, r, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		writeTask(w, r, status, t)
	}
}
