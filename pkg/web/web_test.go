package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/pkg/web"
)

type inner struct {
	Rule string `json:"rule"`
}

type request struct {
	Title     string          `json:"title"`
	Count     int             `json:"count"`
	Tags      []string        `json:"tags"`
	Inner     *inner          `json:"recurrence"`
	List      []inner         `json:"list"`
	Reminders []task.Reminder `json:"reminders"` // decodes itself
}

func post(body, contentType string) *http.Request {
	r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/x", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

// TestDecode: every way a body can be wrong is a *RequestError with the
// status and, where there is one, the field a client can act on; the kind of
// failure is a sentinel (errors.Is), whatever encoding/json's messages say.
func TestDecode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, body, ct string
		max            int64
		status         int
		kind           error
		field          string
	}{
		{name: "fine", body: `{"title":"x","count":2,"tags":["a"],"recurrence":{"rule":"r"},"reminders":[{"before":"15m"}]}`, ct: "application/json"},
		{name: "+json type", body: `{"title":"x"}`, ct: "application/merge-patch+json"},
		{name: "no type", body: `{"title":"x"}`},
		{name: "not JSON type", body: `{"title":"x"}`, ct: "text/plain", status: 415, kind: web.ErrMediaType},
		{name: "empty", body: "  ", status: 400, kind: web.ErrEmpty},
		{name: "syntax", body: `{"title":}`, status: 400, kind: web.ErrSyntax},
		{name: "truncated", body: `{"title":"x"`, status: 400, kind: web.ErrSyntax},
		{name: "unknown field", body: `{"title":"x","colour":"red"}`, status: 400, kind: web.ErrUnknownField, field: "colour"},
		{name: "unknown nested field", body: `{"recurrence":{"rule":"r","when":1}}`, status: 400, kind: web.ErrUnknownField, field: "recurrence.when"},
		{name: "unknown field in a list", body: `{"list":[{"rule":"r"},{"rul":"r"}]}`, status: 400, kind: web.ErrUnknownField, field: "list.1.rul"},
		{name: "unknown field of a self-decoding type", body: `{"reminders":[{"before":"15m","x":1}]}`, status: 400},
		{name: "wrong type", body: `{"count":"two"}`, status: 400, kind: web.ErrWrongType, field: "count"},
		{name: "wrong nested type", body: `{"recurrence":{"rule":5}}`, status: 400, kind: web.ErrWrongType, field: "recurrence.rule"},
		{name: "not an object", body: `[1,2]`, status: 400, kind: web.ErrWrongType},
		{name: "two values", body: `{"title":"x"} {"title":"y"}`, status: 400, kind: web.ErrTrailingData},
		{name: "trailing garbage", body: `{"title":"x"} ]`, status: 400, kind: web.ErrTrailingData},
		{name: "too large", body: `{"title":"` + strings.Repeat("x", 100) + `"}`, max: 50, status: 413, kind: web.ErrTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			_, err := web.Decode[request](w, post(c.body, c.ct), c.max)
			if c.status == 0 {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			var re *web.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("Decode = %v, want a *RequestError", err)
			}
			if re.Status != c.status || re.Field != c.field || re.Detail == "" {
				t.Errorf("got status %d field %q detail %q, want %d %q", re.Status, re.Field, re.Detail, c.status, c.field)
			}
			if c.kind != nil && !errors.Is(err, c.kind) {
				t.Errorf("%v is not %v", err, c.kind)
			}
			p := re.Problem()
			if p.Status != c.status || (c.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != c.field)) {
				t.Errorf("problem %+v", p)
			}
		})
	}
}

// TestWriteProblem: RFC 9457 members, the request id and path, a title for
// every status (499 too, which net/http does not name).
func TestWriteProblem(t *testing.T) {
	t.Parallel()
	var seen *http.Request
	h := web.RequestIDs(slog.New(slog.DiscardHandler))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		p := web.NewProblem(http.StatusUnprocessableEntity, "the task is not valid")
		p.Errors = []web.FieldProblem{{Field: "title", Message: "is required"}}
		web.WriteProblem(w, r, p)
	}))
	w := httptest.NewRecorder()
	r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/api/v1/tasks", nil)
	r.Header.Set(web.RequestIDHeader, "req-1")
	h.ServeHTTP(w, r)
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if w.Code != 422 || w.Header().Get("Content-Type") != web.ProblemContentType || w.Header().Get(web.RequestIDHeader) != "req-1" ||
		got["type"] != "about:blank" || got["title"] != "Unprocessable Entity" || got["status"] != 422.0 ||
		got["instance"] != "/api/v1/tasks" || got["request_id"] != "req-1" || got["detail"] != "the task is not valid" {
		t.Errorf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("problem headers %v, want nosniff and no-store", w.Header())
	}
	if web.RequestID(seen.Context()) != "req-1" {
		t.Errorf("request id in the context: %q", web.RequestID(seen.Context()))
	}
	for status, title := range map[int]string{499: "Client Closed Request", 404: "Not Found", 599: "Status 599"} {
		w := httptest.NewRecorder()
		web.Fail(w, httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil), status, "x")
		var p web.Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Title != title || p.Status != status {
			t.Errorf("status %d: %s (%v), want the title %q", status, w.Body, err, title)
		}
	}
}

// TestRequestIDs: a sane caller id is kept; anything else is replaced.
func TestRequestIDs(t *testing.T) {
	t.Parallel()
	h := web.RequestIDs(slog.New(slog.DiscardHandler))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for in, keep := range map[string]bool{"abc-1_2.3:4": true, "": false, "has space": false, strings.Repeat("a", 129): false, "<script>": false} {
		w := httptest.NewRecorder()
		r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
		r.Header.Set(web.RequestIDHeader, in)
		h.ServeHTTP(w, r)
		out := w.Header().Get(web.RequestIDHeader)
		if (out == in) != keep || out == "" {
			t.Errorf("%q -> %q", in, out)
		}
	}
}

// TestRecover: a panic is a 500 "internal error" with the stack logged; the
// client sees nothing of it. http.ErrAbortHandler passes through.
func TestRecover(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	h := web.RequestIDs(log)(web.Recover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("secret detail") })))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/boom", nil))
	if w.Code != 500 || !strings.Contains(w.Body.String(), "internal error") || strings.Contains(w.Body.String(), "secret") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "secret detail") || !strings.Contains(logs.String(), "request_id=") {
		t.Errorf("log: %s", logs.String())
	}
	abort := web.Recover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler { //nolint:errorlint // the very value net/http checks
			t.Errorf("recovered %v, want http.ErrAbortHandler passed on", v)
		}
	}()
	abort.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil))
}

// TestObserve: requests are counted by route pattern (not the raw path,
// which would let clients grow the metric without bound) and status.
func TestObserve(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	hist := web.RequestDuration(reg)
	r := chi.NewRouter()
	r.Use(web.Observe(hist))
	r.Get("/tasks/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, id := range []string{"a", "b", "c"} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/tasks/"+id, nil))
	}
	want := `http_request_duration_seconds_count{code="418",method="GET",route="/tasks/{id}"} 3`
	var found bool
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if n := len(mf.GetMetric()); n != 1 {
			t.Errorf("%d series, want 1 (one route pattern)", n)
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == "/tasks/{id}" && labels["code"] == "418" && m.GetHistogram().GetSampleCount() == 3 {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no %s", want)
	}
}

// TestEncode: JSON with its length, and a value that cannot be encoded is
// a 500, not half a body.
func TestEncode(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	web.Encode(w, httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil), http.StatusCreated, map[string]int{"a": 1})
	if w.Code != 201 || w.Body.String() != "{\"a\":1}\n" || w.Header().Get("Content-Length") != "8" || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("%d %v %q", w.Code, w.Header(), w.Body)
	}
	// A user's data: never sniffed as another type, never kept in a cache.
	if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options %q, want nosniff", got)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	// A handler that chose its own caching keeps it.
	w = httptest.NewRecorder()
	w.Header().Set("Cache-Control", "private, max-age=60")
	web.Encode(w, httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil), http.StatusOK, 1)
	if got := w.Header().Get("Cache-Control"); got != "private, max-age=60" {
		t.Errorf("Cache-Control %q, want the handler's own", got)
	}
	w = httptest.NewRecorder()
	web.Encode(w, httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil), http.StatusOK, map[string]any{"f": func() {}})
	if w.Code != 500 || !strings.Contains(w.Body.String(), "internal error") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}
