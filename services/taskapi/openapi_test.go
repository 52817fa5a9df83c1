package taskapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/taskapi"
)

var etagPattern = regexp.MustCompile(`^"[1-9][0-9]*"$`)

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// servedDocument fetches the OpenAPI document the server serves.
func servedDocument(t *testing.T, e *env) []byte {
	t.Helper()
	r := e.do("", "GET", "/api/v1/openapi.json", nil)
	wantStatus(t, r, http.StatusOK)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		t.Fatalf("the document is served as %q", r.Header.Get("Content-Type"))
	}
	return r.Body
}

// TestOpenAPICoversRouter keeps the document and the router in step: every
// route the router serves is an operation of the document, and the other way
// round.
func TestOpenAPICoversRouter(t *testing.T) {
	t.Parallel()
	h := taskapi.NewServer(taskapi.Deps{Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("NewServer returned a %T, not a chi router", h)
	}
	served := map[string]bool{}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		served[strings.ToUpper(method)+" "+normalizeRoute(route)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIFile(t), &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for key := range item {
			if slices.Contains(httpMethods, key) {
				documented[strings.ToUpper(key)+" "+path] = true
			}
		}
	}
	for op := range served {
		if !documented[op] {
			t.Errorf("the router serves %s, which openapi.json does not describe", op)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("openapi.json describes %s, which the router does not serve", op)
		}
	}
	if len(served) < 13 {
		t.Errorf("walked only %d routes: %v", len(served), served)
	}
}

// normalizeRoute turns chi's patterns ("/api/v1/*/tasks/*/{taskID}/") into
// OpenAPI paths ("/api/v1/tasks/{taskID}").
func normalizeRoute(route string) string {
	if route == "/_next/static/*" {
		return "/_next/static/{asset}"
	}
	for strings.Contains(route, "/*/") {
		route = strings.ReplaceAll(route, "/*/", "/")
	}
	route = strings.TrimSuffix(route, "/*")
	if len(route) > 1 {
		route = strings.TrimSuffix(route, "/")
	}
	return route
}

func TestNormalizeRoute(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/healthz":                            "/healthz",
		"/api/v1/*/tasks/*/":                  "/api/v1/tasks",
		"/api/v1/*/tasks/*/{taskID}/*/":       "/api/v1/tasks/{taskID}",
		"/api/v1/tasks/{taskID}/":             "/api/v1/tasks/{taskID}",
		"/api/v1/tasks/{taskID}/complete":     "/api/v1/tasks/{taskID}/complete",
		"/internal/v1/*/tasks/{taskID}/occur": "/internal/v1/tasks/{taskID}/occur",
		"/":                                   "/",
	} {
		if got := normalizeRoute(in); got != want {
			t.Errorf("normalizeRoute(%q) = %q, want %q", in, got, want)
		}
	}
}

func openAPIFile(t *testing.T) []byte {
	t.Helper()
	e := newDocEnv(t)
	return servedDocument(t, e)
}

// newDocEnv is a server for the tests that only read the document: it needs
// no database.
func newDocEnv(t *testing.T) *env {
	t.Helper()
	h := taskapi.NewServer(taskapi.Deps{Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv}
}

// TestOpenAPIDocument checks the served document is OpenAPI 3.1 whose
// references all resolve, with one unique operationId per operation and
// problem details for every error.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	body := openAPIFile(t)
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("the served document is not JSON: %v", err)
	}
	if v, _ := doc["openapi"].(string); !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Fatalf("openapi = %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Errorf("info needs a title and a version: %v", info)
	}

	// Every $ref points into the document.
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				if _, err := resolvePointer(doc, r); err != nil {
					t.Errorf("%s: $ref %s: %v", at, r, err)
				}
			}
			for k, x := range v {
				walk(at+"/"+k, x)
			}
		case []any:
			for i, x := range v {
				walk(at+"/"+strconv.Itoa(i), x)
			}
		}
	}
	walk("#", doc)

	ids := map[string]string{}
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			op := op.(map[string]any)
			where := strings.ToUpper(method) + " " + path
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s has no operationId", where)
			} else if other, dup := ids[id]; dup {
				t.Errorf("%s and %s share the operationId %s", where, other, id)
			}
			ids[id] = where
			if _, ok := op["security"]; !ok {
				t.Errorf("%s does not say which security it needs", where)
			}
			for status, resp := range op["responses"].(map[string]any) {
				code, err := strconv.Atoi(status)
				if err != nil {
					t.Errorf("%s: response %q is not a status code", where, status)
					continue
				}
				resp := resolveRef(t, doc, resp)
				content, _ := resp["content"].(map[string]any)
				if code >= 400 {
					if _, ok := content["application/problem+json"]; !ok || len(content) != 1 {
						t.Errorf("%s: %d is not application/problem+json", where, code)
					}
				}
			}
		}
	}
}

func resolveRef(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	if r, ok := m["$ref"].(string); ok {
		x, err := resolvePointer(doc, r)
		if err != nil {
			t.Fatalf("$ref %s: %v", r, err)
		}
		m, _ = x.(map[string]any)
	}
	return m
}

// resolvePointer follows a local reference ("#/components/schemas/Task").
func resolvePointer(doc any, ref string) (any, error) {
	ptr, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("not a local reference")
	}
	v := doc
	for _, tok := range strings.Split(ptr, "/")[1:] {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch x := v.(type) {
		case map[string]any:
			var found bool
			if v, found = x[tok]; !found {
				return nil, fmt.Errorf("no %q", tok)
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("no item %q", tok)
			}
			v = x[i]
		default:
			return nil, fmt.Errorf("cannot step into %T with %q", v, tok)
		}
	}
	return v, nil
}

func pointerToken(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// TestTaskSchemaIsSnapshot keeps the Task schema to the fields of
// task.Snapshot, all required.
func TestTaskSchemaIsSnapshot(t *testing.T) {
	t.Parallel()
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Required             []string                   `json:"required"`
				Properties           map[string]json.RawMessage `json:"properties"`
				AdditionalProperties *bool                      `json:"additionalProperties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIFile(t), &doc); err != nil {
		t.Fatal(err)
	}
	var fields []string
	st := reflect.TypeFor[task.Snapshot]()
	for i := range st.NumField() {
		name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
	}
	s := doc.Components.Schemas["Task"]
	var props []string
	for p := range s.Properties {
		props = append(props, p)
	}
	slices.Sort(fields)
	slices.Sort(props)
	required := slices.Sorted(slices.Values(s.Required))
	if !slices.Equal(props, fields) {
		t.Errorf("Task schema properties %v, want the snapshot's fields %v", props, fields)
	}
	if !slices.Equal(required, fields) {
		t.Errorf("Task schema requires %v, want every snapshot field %v", required, fields)
	}
	if s.AdditionalProperties == nil || *s.AdditionalProperties {
		t.Errorf("Task schema allows other properties")
	}
}

// apiDoc validates real requests and responses against the document, with
// the JSON Schema 2020-12 validator github.com/santhosh-tekuri/jsonschema.
type apiDoc struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
}

const docURL = "https://todo-platform.invalid/api/v1/openapi.json"

func loadAPIDoc(t *testing.T, body []byte) *apiDoc {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020) // OpenAPI 3.1's dialect
	c.AssertFormat()
	if err := c.AddResource(docURL, v); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	return &apiDoc{doc: doc, compiler: c, schemas: map[string]*jsonschema.Schema{}}
}

// schema compiles the schema at the JSON pointer ptr of the document.
func (d *apiDoc) schema(t testing.TB, ptr string) *jsonschema.Schema {
	t.Helper()
	if s, ok := d.schemas[ptr]; ok {
		return s
	}
	s, err := d.compiler.Compile(docURL + "#" + ptr)
	if err != nil {
		t.Fatalf("compile %s: %v", ptr, err)
	}
	d.schemas[ptr] = s
	return s
}

func (d *apiDoc) validate(t testing.TB, ptr string, body []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return d.schema(t, ptr).Validate(v)
}

// request checks body is valid for the operation's request body.
func (d *apiDoc) request(t testing.TB, method, path, contentType string, body any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	ptr := "/paths/" + pointerToken(path) + "/" + strings.ToLower(method) + "/requestBody/content/" + pointerToken(contentType) + "/schema"
	if _, err := resolvePointer(d.doc, "#"+ptr); err != nil {
		t.Fatalf("%s %s takes no %s body: %v", method, path, contentType, err)
	}
	if err := d.validate(t, ptr, b); err != nil {
		t.Errorf("%s %s: the request body %s does not match the document: %v", method, path, b, err)
	}
}

// response checks r is a response the document declares for the operation:
// a documented status, a documented content type, a body valid against its
// schema, and the documented ETag and Location headers.
func (d *apiDoc) response(t testing.TB, method, path string, r response) {
	t.Helper()
	where := fmt.Sprintf("%s %s → %d", method, path, r.Status)
	ptr := "/paths/" + pointerToken(path) + "/" + strings.ToLower(method) + "/responses/" + strconv.Itoa(r.Status)
	v, err := resolvePointer(d.doc, "#"+ptr)
	if err != nil {
		t.Errorf("%s: the document does not declare this status (%v): %s", where, err, r.Body)
		return
	}
	if m, _ := v.(map[string]any); m["$ref"] != nil {
		ptr = strings.TrimPrefix(m["$ref"].(string), "#")
		v, _ = resolvePointer(d.doc, m["$ref"].(string))
	}
	resp, _ := v.(map[string]any)
	headers, _ := resp["headers"].(map[string]any)
	for name := range headers {
		if r.Header.Get(name) == "" {
			t.Errorf("%s: no %s header", where, name)
		}
	}
	if et := r.Header.Get("ETag"); headers["ETag"] != nil && et != "" && !etagPattern.MatchString(et) {
		t.Errorf("%s: ETag %q", where, et)
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(r.Body) != 0 {
			t.Errorf("%s: a body where the document declares none: %s", where, r.Body)
		}
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if _, ok := content[mt]; !ok {
		t.Errorf("%s: content type %q is not one the document declares", where, mt)
		return
	}
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return
	}
	if err := d.validate(t, ptr+"/content/"+pointerToken(mt)+"/schema", r.Body); err != nil {
		t.Errorf("%s: the body does not match the document: %v\n%s", where, err, r.Body)
	}
}

// TestResponsesMatchOpenAPI drives every operation through the statuses it
// documents and validates what the server really sends.
func TestResponsesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := loadAPIDoc(t, servedDocument(t, e))
	const (
		tasks   = "/api/v1/tasks"
		oneTask = "/api/v1/tasks/{taskID}"
	)

	create := fullTask(
		[]any{map[string]string{"before": "1d12h"}, map[string]string{"at": "2026-11-30T18:00:00Z"}},
		map[string]string{"rule": "rrule:freq=weekly;byday=tu", "anchor": "completion"})
	d.request(t, "POST", tasks, "application/json", create)
	r := e.do("alice", "POST", tasks, create)
	wantStatus(t, r, http.StatusCreated)
	d.response(t, "POST", tasks, r)
	created := r.json(t)
	id := created["id"].(string)
	path := "/api/v1/tasks/" + id

	minimal := map[string]any{"title": "Buy milk"}
	d.request(t, "POST", tasks, "application/json", minimal)
	r = e.do("alice", "POST", tasks, minimal)
	d.response(t, "POST", tasks, r)
	plain := r.json(t)["id"].(string)

	for _, c := range []struct {
		body    string
		headers []string
		status  int
	}{
		{`{"title":`, nil, 400},
		{`{"title":"x","colour":"red"}`, nil, 400},
		{`{"title":7}`, nil, 400},
		{`[]`, nil, 400},
		{`{"title":"  ","priority":"asap","tags":["a,b"]}`, nil, 422},
		{`{"title":"x"}`, []string{"Content-Type: text/plain"}, 415},
		{`{"title":"x","description":"` + strings.Repeat("y", 70<<10) + `"}`, nil, 413},
	} {
		r := e.do("alice", "POST", tasks, c.body, c.headers...)
		wantStatus(t, r, c.status)
		d.response(t, "POST", tasks, r)
	}
	d.response(t, "POST", tasks, e.do("", "POST", tasks, minimal))
	d.response(t, "GET", tasks, e.do("", "GET", tasks, nil))

	r = e.do("alice", "GET", path, nil)
	wantStatus(t, r, http.StatusOK)
	d.response(t, "GET", oneTask, r)
	r = e.do("alice", "GET", path, nil, `If-None-Match: "1"`)
	wantStatus(t, r, http.StatusNotModified)
	d.response(t, "GET", oneTask, r)
	r = e.do("bob", "GET", path, nil)
	wantStatus(t, r, http.StatusNotFound)
	d.response(t, "GET", oneTask, r)

	// A page with a next cursor, then the last page.
	r = e.do("alice", "GET", tasks+"?limit=1&sort=title&tags=home&tags_match=any&priority=high,none&has_due=true&q=plants", nil)
	wantStatus(t, r, http.StatusOK)
	d.response(t, "GET", tasks, r)
	if m, _ := r.json(t)["matches"].(map[string]any); len(m) != 1 {
		t.Fatalf("a search's page has no matches: %s", r.Body)
	}
	r = e.do("alice", "GET", tasks+"?limit=1&sort=-created_at", nil)
	wantStatus(t, r, http.StatusOK)
	d.response(t, "GET", tasks, r)
	page := r.json(t)
	if page["next_cursor"] == nil {
		t.Fatalf("two tasks, limit 1, and no next cursor: %s", r.Body)
	}
	r = e.do("alice", "GET", tasks+"?limit=1&sort=-created_at&cursor="+page["next_cursor"].(string), nil)
	wantStatus(t, r, http.StatusOK)
	d.response(t, "GET", tasks, r)
	if r.json(t)["next_cursor"] != nil {
		t.Fatalf("the last page has a next cursor: %s", r.Body)
	}
	r = e.do("alice", "GET", tasks+"?limit=0&colour=red&overdue=maybe", nil)
	wantStatus(t, r, http.StatusBadRequest)
	d.response(t, "GET", tasks, r)

	patch := map[string]any{"priority": "urgent", "tags": []string{"q4"}, "reminders": nil, "recurrence": map[string]any{"anchor": nil}}
	d.request(t, "PATCH", oneTask, "application/merge-patch+json", patch)
	pb, _ := json.Marshal(patch)
	r = e.do("alice", "PATCH", path, pb, "Content-Type: application/merge-patch+json", `If-Match: "1"`)
	wantStatus(t, r, http.StatusOK)
	d.response(t, "PATCH", oneTask, r)
	if got := r.json(t); got["version"] != float64(2) || got["recurrence"].(map[string]any)["anchor"] != "due" {
		t.Fatalf("patched: %s", r.Body)
	}
	for _, c := range []struct {
		body    string
		headers []string
		status  int
	}{
		{`{"title":"late"}`, []string{`If-Match: "1"`}, 412},
		{`{"title":"x"}`, []string{"If-Match: yesterday"}, 400},
		{`{"status":"done"}`, nil, 400},
		{`{"title":7}`, nil, 400},
		{`{"nonsense":1}`, nil, 400},
		{`"x"`, nil, 400},
		{`{"title":null}`, nil, 422},
		{`{"due_at":null}`, nil, 422}, // a recurring task needs its due time
		{`{"title":"x"}`, []string{"Content-Type: application/json-patch+json"}, 415},
		{`{"description":"` + strings.Repeat("y", 70<<10) + `"}`, nil, 413},
	} {
		r := e.do("alice", "PATCH", path, c.body, append([]string{"Content-Type: application/merge-patch+json"}, c.headers...)...)
		wantStatus(t, r, c.status)
		d.response(t, "PATCH", oneTask, r)
	}
	d.response(t, "PATCH", oneTask, e.do("alice", "PATCH", "/api/v1/tasks/00000000-0000-0000-0000-000000000000", `{"title":"x"}`))

	for _, c := range []struct {
		op, body string
		headers  []string
		status   int
	}{
		{"complete", "", []string{`If-Match: "2"`}, 200},
		{"complete", "", nil, 200},
		{"reopen", "", []string{`If-Match: "2"`}, 412},
		{"reopen", "{}", []string{`If-Match: "3"`}, 200},
		{"complete", `{"force":true}`, nil, 400},
		{"complete", "", []string{"If-Match: soon"}, 400},
	} {
		var body any
		if c.body != "" {
			body = c.body
		}
		r := e.do("alice", "POST", path+"/"+c.op, body, c.headers...)
		wantStatus(t, r, c.status)
		d.response(t, "POST", "/api/v1/tasks/{taskID}/"+c.op, r)
	}
	d.response(t, "POST", "/api/v1/tasks/{taskID}/reopen", e.do("alice", "POST", "/api/v1/tasks/nope/reopen", nil))

	r = e.do("alice", "GET", "/api/v1/tags?status=open", nil)
	wantStatus(t, r, http.StatusOK)
	d.response(t, "GET", "/api/v1/tags", r)
	if len(r.json(t)["items"].([]any)) == 0 {
		t.Fatalf("no tags: %s", r.Body)
	}
	d.response(t, "GET", "/api/v1/tags", e.do("alice", "GET", "/api/v1/tags?status=later", nil))

	occurrences := "/internal/v1/tasks/{taskID}/occurrences"
	occ := map[string]any{"occurrence_at": "2026-12-08T08:00:00Z"}
	d.request(t, "POST", occurrences, "application/json", occ)
	internal := func(id string, body any, tok string) response {
		return e.do("", "POST", "/internal/v1/tasks/"+id+"/occurrences", body, "Authorization: Bearer "+tok)
	}
	for _, c := range []struct {
		id     string
		body   any
		tok    string
		status int
	}{
		{id, occ, testInternalToken, 201},
		{id, occ, testInternalToken, 200},
		{plain, occ, testInternalToken, 409},
		{"00000000-0000-0000-0000-000000000000", occ, testInternalToken, 404},
		{id, `{}`, testInternalToken, 400},
		{id, occ, "wrong", 401},
	} {
		r := internal(c.id, c.body, c.tok)
		wantStatus(t, r, c.status)
		d.response(t, "POST", occurrences, r)
	}

	r = e.do("alice", "DELETE", path, nil, `If-Match: "1"`)
	wantStatus(t, r, http.StatusPreconditionFailed)
	d.response(t, "DELETE", oneTask, r)
	d.response(t, "DELETE", oneTask, e.do("alice", "DELETE", path, nil, "If-Match: x"))
	r = e.do("alice", "DELETE", path, nil, `If-Match: "4"`)
	wantStatus(t, r, http.StatusNoContent)
	d.response(t, "DELETE", oneTask, r)
	d.response(t, "DELETE", oneTask, e.do("alice", "DELETE", path, nil))

	for _, p := range []string{"/healthz", "/readyz", "/api/v1/openapi.json"} {
		r := e.do("", "GET", p, nil)
		wantStatus(t, r, http.StatusOK)
		d.response(t, "GET", p, r)
	}
}

// TestSchemasRejectWrongShapes checks the schemas are not vacuous: they
// refuse what the server never sends or refuses.
func TestSchemasRejectWrongShapes(t *testing.T) {
	t.Parallel()
	d := loadAPIDoc(t, openAPIFile(t))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Format(time.RFC3339)
	valid := fmt.Sprintf(`{"id":"01936f4e-8c2a-7b3d-9e1f-2a3b4c5d6e7f","owner_id":"alice","title":"x","description":"","status":"open",
		"priority":"none","tags":[],"due_at":null,"time_zone":"UTC","reminders":[],"recurrence":null,"series_id":null,
		"occurrence_at":null,"created_at":%q,"updated_at":%q,"completed_at":null,"version":1}`, now, now)
	if err := d.validate(t, "/components/schemas/Task", []byte(valid)); err != nil {
		t.Fatalf("a valid task is refused: %v", err)
	}
	var base map[string]any
	if err := json.Unmarshal([]byte(valid), &base); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		field string
		value any
	}{
		{"id", "not-a-uuid"},
		{"status", "archived"},
		{"priority", 3},
		{"tags", []string{"Home"}},
		{"tags", []string{"a", "a"}},
		{"due_at", "tomorrow"},
		{"reminders", []any{map[string]string{"before": "15m", "at": now}}},
		{"reminders", []any{map[string]string{"before": "soon"}}},
		{"recurrence", map[string]string{"rule": "FREQ=DAILY"}},
		{"version", 0},
		{"colour", "red"},
	} {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		m[c.field] = c.value
		b, _ := json.Marshal(m)
		if err := d.validate(t, "/components/schemas/Task", b); err == nil {
			t.Errorf("Task schema accepts %s = %v", c.field, c.value)
		}
	}
	delete(base, "version")
	b, _ := json.Marshal(base)
	if err := d.validate(t, "/components/schemas/Task", b); err == nil {
		t.Errorf("Task schema accepts a task without a version")
	}
	for _, body := range []string{`{}`, `{"title":"x","status":"done"}`, `{"title":"x","reminders":[{}]}`, `{"title":"x","recurrence":{"anchor":"due"}}`} {
		if err := d.validate(t, "/components/schemas/CreateTaskRequest", []byte(body)); err == nil {
			t.Errorf("CreateTaskRequest accepts %s", body)
		}
	}
	for _, body := range []string{`{"version":3}`, `{"title":null}`, `{"recurrence":{"every":"day"}}`} {
		if err := d.validate(t, "/components/schemas/TaskPatch", []byte(body)); err == nil {
			t.Errorf("TaskPatch accepts %s", body)
		}
	}
}
