// Package web holds what every HTTP service of the platform shares: RFC 9457
// problem responses, one strict JSON decoder and one encoder, and the
// middleware installed first on every router (request id, logging, panic
// recovery, metrics).
package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/todo-platform/todo/pkg/database"
)

// ProblemContentType is the media type of RFC 9457 problem details.
const ProblemContentType = "application/problem+json"

// FieldProblem is one problem with one field of a request.
type FieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem details object, with the request id and the
// per-field problems of a rejected request as extension members.
type Problem struct {
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Status    int            `json:"status"`
	Detail    string         `json:"detail,omitempty"`
	Instance  string         `json:"instance,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
	Errors    []FieldProblem `json:"errors,omitempty"`
}

// NewProblem returns a problem with the given status, a title that is the
// status text, and detail.
func NewProblem(status int, detail string) *Problem {
	return &Problem{Type: "about:blank", Title: statusTitle(status), Status: status, Detail: detail}
}

// statusTitle is the status text, also for the statuses net/http does not
// name: 499, which the services answer to a client that went away (nginx's
// name for it), and any other.
func statusTitle(status int) string {
	if t := http.StatusText(status); t != "" {
		return t
	}
	if status == 499 {
		return "Client Closed Request"
	}
	return "Status " + strconv.Itoa(status)
}

// WriteProblem sends p as application/problem+json.
func WriteProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = statusTitle(p.Status)
	}
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	if r != nil && p.RequestID == "" {
		p.RequestID = RequestID(r.Context())
	}
	b, err := json.Marshal(p)
	if err != nil {
		slog.Error("encode problem", "err", err)
		b = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", ProblemContentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	noStore(h)
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}

// Fail sends a problem with status and detail.
func Fail(w http.ResponseWriter, r *http.Request, status int, detail string) {
	WriteProblem(w, r, NewProblem(status, detail))
}

// Internal logs err with the request's logger and sends a 500 whose body says
// only "internal error": the client never sees internals.
// A failure that says the database is unavailable (database.Unavailable) is
// not the server's fault: it is answered 503 with Retry-After, logged as a
// warning.
func Internal(w http.ResponseWriter, r *http.Request, err error) {
	if database.Unavailable(err) {
		Logger(r.Context()).Warn("database unavailable", "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterUnavailable))
		Fail(w, r, http.StatusServiceUnavailable, "the database is unavailable; retry in a few seconds")
		return
	}
	Logger(r.Context()).Error("internal error", "err", err)
	Fail(w, r, http.StatusInternalServerError, "internal error")
}

// RetryAfterUnavailable is the Retry-After, in seconds, of a 503 for an
// unavailable database.
const RetryAfterUnavailable = 5

// NotFound is the router's handler for unknown paths.
func NotFound(w http.ResponseWriter, r *http.Request) {
	Fail(w, r, http.StatusNotFound, "no such resource: "+r.URL.Path)
}

// MethodNotAllowed is the router's handler for a known path with the wrong method.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	Fail(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
}
