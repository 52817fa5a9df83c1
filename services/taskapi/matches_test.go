package taskapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/taskapi"
)

// TestMatchesRules: the words a search marks in a page's tasks, without a
// database: stems, words as written, the word being typed, quotes, and
// excluded words.
func TestMatchesRules(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		q, title, want string // want: the title marked with [brackets]; "" for no match
	}{
		{"receipt", "Pay the receipts", "Pay the [receipts]"},
		{"receipts", "One receipt", "One [receipt]"},
		{"running", "Ran and runs", "Ran and [runs]"},
		{"lisb", "Flight to Lisbon", "Flight to [Lisbon]"},
		{"LISB", "Flight to lisbon", "Flight to [lisbon]"},
		{"the", "Pay the receipts, then rest", "Pay [the] receipts, [then] rest"},
		{"pay the", "Pay the receipts", "[Pay] [the] receipts"},
		{`"flight to"`, "Flight to Lisbon", "[Flight] [to] Lisbon"},
		{"-lisbon flight", "Flight to Lisbon", "[Flight] to Lisbon"},
		{"shoes or receipts", "Pay or receipts", "Pay or [receipts]"},
		{"shoes -", "Running shoes", "Running [shoes]"},
		{"e-mail", "Send the e-mail", "Send the [e]-[mail]"},
		{"Bob", "Bob's receipts", "[Bob]'s receipts"},
		{"café-lait", "Café lait", "[Café] [lait]"}, // a hyphen inside a word excludes nothing
		{"café", "Café au lait", "[Café] au lait"},
		{"zzz", "Pay the receipts", ""},
		{`"`, "Pay", ""},
	} {
		m := taskapi.Matches(c.q, []*task.Task{{ID: "1", Title: c.title}})
		got := ""
		if mm, ok := m["1"]; ok {
			got = marked(mm.Title)
		}
		if got != c.want {
			t.Errorf("q=%q in %q marks %q, want %q", c.q, c.title, got, c.want)
		}
	}
}

// TestMatchesPassages: a long description gives at most two passages around
// its first marked words; a short one is shown whole.
func TestMatchesPassages(t *testing.T) {
	t.Parallel()
	words := func(prefix string, n int) string {
		var b []string
		for i := range n {
			b = append(b, fmt.Sprintf("%s%d", prefix, i))
		}
		return strings.Join(b, " ")
	}
	long := words("a", 100) + " passport " + words("b", 100) + " Lisbon " + words("c", 100) + " passport " + words("d", 10)
	m := taskapi.Matches("passport lisbon", []*task.Task{{ID: "1", Title: "Trip", Description: long}})["1"]
	got := marked(m.Description)
	if strings.Join(m.Fields, ",") != "description" || strings.Count(got, "[") != 2 || strings.Count(got, " … ") != 1 ||
		!strings.Contains(got, "a99 [passport] b0") || !strings.Contains(got, "b99 [Lisbon] c0") || len(strings.Fields(got)) > 2*20+1 {
		t.Errorf("passages %q (fields %v)", got, m.Fields)
	}
	short := "buy new laces, for the marathon "
	if got := marked(taskapi.Matches("lace", []*task.Task{{ID: "1", Description: short}})["1"].Description); got != "buy new [laces], for the marathon " {
		t.Errorf("a short description gives %q", got)
	}
}

// FuzzMatches: no search or text makes Matches panic; a title's segments
// are the title, in order; every segment holds text.
func FuzzMatches(f *testing.F) {
	f.Add("lisb", "Flight to Lisbon", "remember the passport")
	f.Add(`"a -b" or -c`, "a b c", "")
	f.Add("-", "\uE000", "x\xffy")
	f.Fuzz(func(t *testing.T, q, title, description string) {
		m, ok := taskapi.Matches(q, []*task.Task{{ID: "1", Title: title, Description: description}})["1"]
		if !ok {
			return
		}
		if len(m.Fields) == 0 {
			t.Fatalf("a match without fields: %+v", m)
		}
		var b strings.Builder
		for _, s := range append(m.Title, m.Description...) {
			if s.Text == "" {
				t.Fatalf("an empty segment: %+v", m)
			}
		}
		for _, s := range m.Title {
			b.WriteString(s.Text)
		}
		if m.Title != nil && b.String() != title {
			t.Fatalf("title segments %q of %q", b.String(), title)
		}
	})
}

// BenchmarkMatches: the snippets of a page of 50 tasks, each with a
// 200-word description.
func BenchmarkMatches(b *testing.B) {
	var page []*task.Task
	for i := range 50 {
		d := strings.Repeat("filler words about nothing much ", 20) + "remember the passport for Lisbon " + strings.Repeat("and more words after that ", 20)
		page = append(page, &task.Task{ID: fmt.Sprint(i), Title: fmt.Sprintf("Flight %d to Lisbon", i), Description: d})
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(taskapi.Matches("lisb", page)) != 50 {
			b.Fatal("no match")
		}
	}
}

// TestMatchesInDescriptions: a description's words are marked through their
// English stems only, as the search column holds them: a stop word is not
// marked there, a prefix of a stem is.
func TestMatchesInDescriptions(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ q, description, want string }{
		{"the", "remember the passports", ""},
		{"passp", "remember the passports", "remember the [passports]"},
		{"passports", "one passport", "one [passport]"},
		{"runn", "running late", ""}, // "running" is stemmed to "run"
		{"run", "running late", "[running] late"},
	} {
		got := ""
		if m, ok := taskapi.Matches(c.q, []*task.Task{{ID: "1", Title: "x", Description: c.description}})["1"]; ok {
			got = marked(m.Description)
		}
		if got != c.want {
			t.Errorf("q=%q in %q marks %q, want %q", c.q, c.description, got, c.want)
		}
	}
}
