package taskapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestSearchAsYouType: search stems English words ("receipt" finds
// "receipts") and takes the word being typed as a prefix ("lisb" finds
// "Lisbon"), keeping the web-search syntax.
func TestSearchAsYouType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, task := range []map[string]any{
		{"title": "Pay the receipts"},
		{"title": "Flight to Lisbon"},
		{"title": "Running shoes", "description": "buy new laces"},
	} {
		e.create("alice", task)
	}
	e.create("bob", map[string]any{"title": "Bob's receipts"})
	for q, want := range map[string][]string{
		"receipt":            {"Pay the receipts"},
		"receipts":           {"Pay the receipts"},
		"lisb":               {"Flight to Lisbon"},
		"l":                  {"Flight to Lisbon", "Running shoes"},
		"runn":               {"Running shoes"},
		"run":                {"Running shoes"},
		"lace":               {"Running shoes"},
		`"flight to"`:        {"Flight to Lisbon"},
		"-lisbon flight":     nil,
		"shoes or receipts":  {"Pay the receipts", "Running shoes"},
		"pay rec":            {"Pay the receipts"},
		"the":                {"Pay the receipts"},
		"zzz":                nil,
		`receipts "unclosed`: nil,
	} {
		r := e.do("alice", "GET", "/api/v1/tasks?sort=title&q="+url.QueryEscape(q), nil)
		wantStatus(t, r, http.StatusOK)
		var got []string
		for _, it := range r.json(t)["items"].([]any) {
			got = append(got, it.(map[string]any)["title"].(string))
		}
		if !slices.Equal(got, want) {
			t.Errorf("q=%s finds %q, want %q", q, got, want)
		}
		if slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "Bob") }) {
			t.Errorf("q=%s finds bob's task", q)
		}
	}
}
