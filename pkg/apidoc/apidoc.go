// Package apidoc checks a service against its OpenAPI 3.1 document in
// tests: the router serves exactly the documented operations, and real
// responses have a documented status and a body valid against its schema
// (JSON Schema 2020-12, github.com/santhosh-tekuri/jsonschema).
package apidoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Doc is a parsed OpenAPI document with its schemas compiled on demand.
type Doc struct {
	doc      map[string]any
	url      string
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
}

// Load parses body, an OpenAPI 3.1 document, and fails t unless it is one.
func Load(t testing.TB, body []byte) *Doc {
	t.Helper()
	const url = "https://todo-platform.invalid/openapi.json"
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020) // OpenAPI 3.1's dialect
	c.AssertFormat()
	if err := c.AddResource(url, v); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi = %q, want 3.1.x", v)
	}
	return &Doc{doc: doc, url: url, compiler: c, schemas: map[string]*jsonschema.Schema{}}
}

// Operations are the document's operations as "METHOD /path".
func (d *Doc) Operations() map[string]bool {
	ops := map[string]bool{}
	paths, _ := d.doc["paths"].(map[string]any)
	for p, item := range paths {
		m, _ := item.(map[string]any)
		for k := range m {
			if slices.Contains(methods, k) {
				ops[strings.ToUpper(k)+" "+p] = true
			}
		}
	}
	return ops
}

// Routes are the operations router h serves, as "METHOD /path" with
// chi's patterns turned into OpenAPI paths.
func Routes(t testing.TB, h http.Handler) map[string]bool {
	t.Helper()
	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("the handler is a %T, not a chi router", h)
	}
	served := map[string]bool{}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		for strings.Contains(route, "/*/") {
			route = strings.ReplaceAll(route, "/*/", "/")
		}
		route = strings.TrimSuffix(route, "/*")
		if len(route) > 1 {
			route = strings.TrimSuffix(route, "/")
		}
		served[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return served
}

// CoversRouter fails t unless h serves exactly the document's operations.
func (d *Doc) CoversRouter(t testing.TB, h http.Handler) {
	t.Helper()
	served, documented := Routes(t, h), d.Operations()
	for op := range served {
		if !documented[op] {
			t.Errorf("the router serves %s, which the document does not describe", op)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("the document describes %s, which the router does not serve", op)
		}
	}
}

// Response fails t unless status is documented for the operation and body
// (JSON, or empty where no content is documented) matches its schema.
func (d *Doc) Response(t testing.TB, method, path string, status int, body []byte) {
	t.Helper()
	where := fmt.Sprintf("%s %s → %d", method, path, status)
	ptr := "/paths/" + token(path) + "/" + strings.ToLower(method) + "/responses/" + strconv.Itoa(status)
	v, err := d.resolve(ptr)
	if err != nil {
		t.Errorf("%s: the document does not declare this status: %s", where, body)
		return
	}
	if m, _ := v.(map[string]any); m["$ref"] != nil {
		ptr = strings.TrimPrefix(m["$ref"].(string), "#")
		if v, err = d.resolve(ptr); err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
	}
	resp, _ := v.(map[string]any)
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(body) != 0 {
			t.Errorf("%s: a body where the document declares none: %s", where, body)
		}
		return
	}
	var mt string
	for _, c := range []string{"application/json", "application/problem+json"} {
		if _, ok := content[c]; ok {
			mt = c
		}
	}
	if mt == "" {
		return
	}
	s, ok := d.schemas[ptr+mt]
	if !ok {
		if s, err = d.compiler.Compile(d.url + "#" + ptr + "/content/" + token(mt) + "/schema"); err != nil {
			t.Fatalf("%s: compile the schema: %v", where, err)
		}
		d.schemas[ptr+mt] = s
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s: the body is not JSON: %s", where, body)
		return
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("%s: the body does not match the document: %v\n%s", where, err, body)
	}
}

func (d *Doc) resolve(ptr string) (any, error) {
	var v any = d.doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("no %s in the document", ptr)
		}
		if v, ok = m[tok]; !ok {
			return nil, fmt.Errorf("no %s in the document", ptr)
		}
	}
	return v, nil
}

// token escapes s as a JSON pointer token.
func token(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
