package taskapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/todo-platform/todo/services/taskapi"
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

type snippetItem struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Match *taskapi.Match
}

func searchItems(t *testing.T, e *env, user, query string) []snippetItem {
	t.Helper()
	r := e.do(user, "GET", "/api/v1/tasks?sort=title&"+query, nil)
	wantStatus(t, r, http.StatusOK)
	var page struct {
		Items   []snippetItem            `json:"items"`
		Matches map[string]taskapi.Match `json:"matches"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatal(err)
	}
	for i, it := range page.Items {
		if m, ok := page.Matches[it.ID]; ok {
			page.Items[i].Match = &m
		}
	}
	if len(page.Matches) > len(page.Items) {
		t.Errorf("%d matches for %d tasks", len(page.Matches), len(page.Items))
	}
	return page.Items
}

// marked is a snippet written with [brackets] around the matches.
func marked(segs []taskapi.Segment) string {
	var b strings.Builder
	for _, s := range segs {
		if s.Match {
			b.WriteString("[" + s.Text + "]")
		} else {
			b.WriteString(s.Text)
		}
	}
	return b.String()
}

// TestSearchSnippets: a search says which field it found (title,
// description, or both) with snippets whose matches are marked as data,
// never as markup; stems, prefixes and stop words are marked too; a long
// description gives a passage around the match; a list without a search
// has no snippets.
func TestSearchSnippets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	long := strings.Repeat("filler words about nothing much ", 60) + "remember the passport for Lisbon " + strings.Repeat("and more words after that ", 60)
	for _, task := range []map[string]any{
		{"title": "Pay the receipts"},
		{"title": "Flight to Lisbon", "description": long},
		{"title": "Running shoes", "description": "buy new laces for the marathon"},
		{"title": "<b>bold</b> <script>alert(1)</script> invoice", "description": "<img src=x onerror=alert(1)> invoice"},
		{"title": "Odd \uE000marker\uE001 chars invoice"},
	} {
		e.create("alice", task)
	}
	e.create("bob", map[string]any{"title": "Bob's receipts", "description": "receipts"})

	for _, c := range []struct {
		q                         string
		want                      []string // titles, sorted
		fields                    map[string]string
		title, description        map[string]string // marked snippets by task title
		descriptionContains       map[string]string
		descriptionShorterThanAll bool
	}{
		{q: "receipt", want: []string{"Pay the receipts"}, fields: map[string]string{"Pay the receipts": "title"},
			title: map[string]string{"Pay the receipts": "Pay the [receipts]"}},
		{q: "lisb", want: []string{"Flight to Lisbon"}, fields: map[string]string{"Flight to Lisbon": "title,description"},
			title: map[string]string{"Flight to Lisbon": "Flight to [Lisbon]"}, descriptionContains: map[string]string{"Flight to Lisbon": "passport for [Lisbon]"}},
		{q: "passport", want: []string{"Flight to Lisbon"}, fields: map[string]string{"Flight to Lisbon": "description"},
			descriptionContains: map[string]string{"Flight to Lisbon": "[passport]"}, descriptionShorterThanAll: true},
		{q: "lace", want: []string{"Running shoes"}, fields: map[string]string{"Running shoes": "description"},
			description: map[string]string{"Running shoes": "buy new [laces] for the marathon"}},
		{q: "shoes laces", want: []string{"Running shoes"}, fields: map[string]string{"Running shoes": "title,description"},
			title: map[string]string{"Running shoes": "Running [shoes]"}, description: map[string]string{"Running shoes": "buy new [laces] for the marathon"}},
		// A stop word is found as written in titles only; in descriptions
		// words are found through their English stems (so a prefix too).
		{q: "the", want: []string{"Pay the receipts"}, fields: map[string]string{"Pay the receipts": "title"},
			title: map[string]string{"Pay the receipts": "Pay [the] receipts"}},
		{q: "passp", want: []string{"Flight to Lisbon"}, fields: map[string]string{"Flight to Lisbon": "description"},
			descriptionContains: map[string]string{"Flight to Lisbon": "[passport] for Lisbon"}},
		{q: "marat", want: []string{"Running shoes"}, fields: map[string]string{"Running shoes": "description"},
			description: map[string]string{"Running shoes": "buy new laces for the [marathon]"}},
		{q: "invoice", want: []string{"<b>bold</b> <script>alert(1)</script> invoice", "Odd \uE000marker\uE001 chars invoice"},
			fields: map[string]string{"<b>bold</b> <script>alert(1)</script> invoice": "title,description", "Odd \uE000marker\uE001 chars invoice": "title"},
			title: map[string]string{
				"<b>bold</b> <script>alert(1)</script> invoice": "<b>bold</b> <script>alert(1)</script> [invoice]",
				"Odd \uE000marker\uE001 chars invoice":          "Odd \uE000marker\uE001 chars [invoice]",
			},
			// The passage may start inside the tag: it is text all the same.
			descriptionContains: map[string]string{"<b>bold</b> <script>alert(1)</script> invoice": "src=x onerror=alert(1)> [invoice]"}},
	} {
		items := searchItems(t, e, "alice", "q="+url.QueryEscape(c.q))
		var got []string
		for _, it := range items {
			got = append(got, it.Title)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("q=%s finds %q, want %q", c.q, got, c.want)
			continue
		}
		for _, it := range items {
			if it.Match == nil {
				t.Errorf("q=%s: %q has no match", c.q, it.Title)
				continue
			}
			if f := strings.Join(it.Match.Fields, ","); c.fields[it.Title] != "" && f != c.fields[it.Title] {
				t.Errorf("q=%s: %q matched in %s, want %s", c.q, it.Title, f, c.fields[it.Title])
			}
			if w, ok := c.title[it.Title]; ok && marked(it.Match.Title) != w {
				t.Errorf("q=%s: title snippet %q, want %q", c.q, marked(it.Match.Title), w)
			}
			if w, ok := c.description[it.Title]; ok && marked(it.Match.Description) != w {
				t.Errorf("q=%s: description snippet %q, want %q", c.q, marked(it.Match.Description), w)
			}
			if w, ok := c.descriptionContains[it.Title]; ok && !strings.Contains(marked(it.Match.Description), w) {
				t.Errorf("q=%s: description snippet %q does not hold %q", c.q, marked(it.Match.Description), w)
			}
			if c.descriptionShorterThanAll && len(marked(it.Match.Description)) > 400 {
				t.Errorf("q=%s: the snippet is %d bytes of a %d-byte description", c.q, len(marked(it.Match.Description)), len(long))
			}
		}
	}
	// Without a search, no snippets; bob's search sees only his own.
	for _, it := range searchItems(t, e, "alice", "") {
		if it.Match != nil {
			t.Errorf("a list without q has a match: %+v", it)
		}
	}
	if items := searchItems(t, e, "bob", "q=receipt"); len(items) != 1 || items[0].Match == nil || marked(items[0].Match.Description) != "[receipts]" {
		t.Errorf("bob's search: %+v", items)
	}
	// Page by page, each page has its own snippets.
	r := e.do("alice", "GET", "/api/v1/tasks?sort=title&limit=1&q=invoice", nil)
	first := r.json(t)
	next, _ := first["next_cursor"].(string)
	second := searchItems(t, e, "alice", "limit=1&q=invoice&cursor="+url.QueryEscape(next))
	if len(second) != 1 || second[0].Match == nil || marked(second[0].Match.Title) != "Odd \uE000marker\uE001 chars [invoice]" {
		t.Errorf("the second page: %+v", second)
	}
}
