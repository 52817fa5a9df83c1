package taskapi_test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/recurrence"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/taskapi"
)

// TestOpenAPILimitsAreTheDomains: the limits the document states (maxLength,
// maxItems, maximum) are the ones the code enforces (pkg/task, recurrence,
// auth, the list's page size). They are written twice, in openapi.json and
// in Go; this test is the link between the copies. Every property of the
// table must be found at least once, so a rename cannot make it pass
// silently.
func TestOpenAPILimitsAreTheDomains(t *testing.T) {
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	// property (or parameter) name -> keyword -> the code's limit
	want := map[string]map[string]int{
		"title":       {"maxLength": task.MaxTitleLen},
		"description": {"maxLength": task.MaxDescriptionLen},
		"tags":        {"maxItems": task.MaxTags},
		"reminders":   {"maxItems": task.MaxReminders},
		"owner_id":    {"maxLength": auth.MaxUserIDLen},
		"rule":        {"maxLength": recurrence.MaxRuleLen},
		"limit":       {"maximum": taskapi.MaxLimit},
		"Tag":         {"maxLength": task.MaxTagLen}, // a schema of its own
	}
	seen := map[string]int{}
	check := func(where, name string, schema map[string]any) {
		limits, ok := want[name]
		if !ok {
			return
		}
		for kw, limit := range limits {
			v, ok := schema[kw].(float64)
			if !ok {
				continue // e.g. a "title" that is not a task's
			}
			seen[name]++
			if int(v) != limit {
				t.Errorf("%s: %s %s is %v in the document, %d in the code", where, name, kw, v, limit)
			}
		}
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok {
				for name, p := range props {
					if ps, ok := p.(map[string]any); ok {
						check(path+".properties", name, ps)
					}
				}
			}
			if name, ok := v["name"].(string); ok && v["in"] != nil { // a parameter
				if s, ok := v["schema"].(map[string]any); ok {
					check(path, name, s)
				}
			}
			for k, c := range v {
				if m, ok := c.(map[string]any); ok && path == "#.components.schemas" {
					check(path, k, m)
				}
				walk(path+"."+k, c)
			}
		case []any:
			for _, c := range v {
				walk(path, c)
			}
		}
	}
	walk("#", doc)
	for name := range want {
		if seen[name] == 0 {
			t.Errorf("no %q with a limit in the document: renamed? update this test's table", name)
		}
	}

	// The enumerations too.
	schemas := doc.(map[string]any)["components"].(map[string]any)["schemas"].(map[string]any)
	for name, values := range map[string][]string{
		"Priority": task.PriorityNames(),
		"Status":   {string(task.StatusOpen), string(task.StatusDone)},
	} {
		var got []string
		s, _ := schemas[name].(map[string]any)
		enum, _ := s["enum"].([]any)
		for _, v := range enum {
			got = append(got, fmt.Sprint(v))
		}
		if !slices.Equal(got, values) {
			t.Errorf("%s: the document lists %v, the code %v", name, got, values)
		}
	}
}
