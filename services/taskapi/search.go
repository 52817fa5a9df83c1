package taskapi

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kljensen/snowball/english"

	"github.com/todo-platform/todo/pkg/task"
)

// Segment is a piece of a search snippet: Match marks the words the search
// found. A client shows the pieces as text, the matches highlighted; the
// server never sends markup.
type Segment struct {
	Text  string `json:"text"`
	Match bool   `json:"match,omitempty"`
}

// Match says which fields of a task a search found, with a snippet of each:
// the whole title, and the passages of the description around the words.
type Match struct {
	Fields      []string  `json:"fields"`
	Title       []Segment `json:"title,omitempty"`
	Description []Segment `json:"description,omitempty"`
}

// The description's passages: at most two, of about passageWords words
// each, joined by passageGap; a description of up to passageWords words is
// shown whole.
const (
	passageWords  = 20
	passageBefore = 6
	maxPassages   = 2
	passageGap    = " … "
)

// highlighter marks in a task's text the words a search found. The
// database finds the tasks (the search column, its GIN index); the page's
// snippets are made here, from the rows the list already read, so that a
// search costs what a list does. It follows the search column's own rules
// (migration 006): a word is marked when its English stem is the stem of a
// searched word ("receipt" marks "receipts") or starts with the word being
// typed ("passp" marks "passports"); in a title also when it is a searched
// word as written (stop words such as "the") or starts with the word being
// typed as written ("lisb" marks "Lisbon"). Excluded words (-word) and the
// operator "or" mark nothing.
type highlighter struct {
	words  map[string]bool    // searched words, lower case
	stems  map[string]bool    // their stems, stop words left out
	prefix string             // the word being typed, lower case; "" when none
	cache  [2]map[string]bool // a text word's verdict, by its lower case: in a title, in a description
	stemOf map[string]string  // a text word's English stem, by its lower case
}

// newHighlighter reads a search in the web-search syntax of the list's q.
func newHighlighter(q string) *highlighter {
	h := &highlighter{words: map[string]bool{}, stems: map[string]bool{}, cache: [2]map[string]bool{{}, {}}, stemOf: map[string]string{}}
	if _, last, ok := typedPrefix(q); ok {
		h.prefix = last
	}
	quoted := false
	for i := 0; i < len(q); {
		r, n := utf8.DecodeRuneInString(q[i:])
		if r == '"' {
			quoted = !quoted
			i += n
			continue
		}
		if !isWordRune(r) {
			i += n
			continue
		}
		j := i + wordLen(q[i:])
		w := strings.ToLower(q[i:j])
		before, _ := utf8.DecodeLastRuneInString(q[:max(i-1, 0)])
		excluded := !quoted && i > 0 && q[i-1] == '-' && (i == 1 || !isWordRune(before))
		if !excluded && (quoted || w != "or") {
			h.words[w] = true
			if !english.IsStopWord(w) {
				h.stems[english.Stem(w, false)] = true
			}
		}
		i = j
	}
	return h
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// wordLen is the length in bytes of the word that s starts with.
func wordLen(s string) int {
	for i, r := range s {
		if !isWordRune(r) {
			return i
		}
	}
	return len(s)
}

// The fields of a task, as the search column holds them.
const (
	inTitle       = 0
	inDescription = 1
)

// marks says whether a word of a task's field is one the search found.
func (h *highlighter) marks(word string, field int) bool {
	w := strings.ToLower(word)
	if v, ok := h.cache[field][w]; ok {
		return v
	}
	v := field == inTitle && (h.words[w] || h.typed(w))
	if !v && (len(h.stems) > 0 || h.prefix != "") && !english.IsStopWord(w) {
		stem, ok := h.stemOf[w]
		if !ok {
			stem = english.Stem(w, false)
			h.stemOf[w] = stem
		}
		v = h.stems[stem] || h.typed(stem)
	}
	h.cache[field][w] = v
	return v
}

// typed says whether s starts with the word being typed.
func (h *highlighter) typed(s string) bool { return h.prefix != "" && strings.HasPrefix(s, h.prefix) }

// span is a marked word's place in a text, in bytes.
type span struct{ start, end int }

// find returns the places of the marked words of s and the places of all
// its words' starts (for cutting passages).
func (h *highlighter) find(s string, field int) (marked []span, words []int) {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isWordRune(r) {
			i += n
			continue
		}
		j := i + wordLen(s[i:])
		words = append(words, i)
		if h.marks(s[i:j], field) {
			marked = append(marked, span{i, j})
		}
		i = j
	}
	return marked, words
}

// cut makes the segments of s[from:to] with its marked words.
func cut(segs []Segment, s string, from, to int, marked []span) []Segment {
	at := from
	for _, m := range marked {
		if m.start < from || m.end > to {
			continue
		}
		segs = appendSegment(segs, s[at:m.start], false)
		segs = appendSegment(segs, s[m.start:m.end], true)
		at = m.end
	}
	return appendSegment(segs, s[at:to], false)
}

// title is the whole title with its marked words; ok says whether any is.
func (h *highlighter) title(s string) ([]Segment, bool) {
	marked, _ := h.find(s, inTitle)
	if len(marked) == 0 {
		return nil, false
	}
	return cut(nil, s, 0, len(s), marked), true
}

// description is the description, or for a long one up to two passages
// around its first marked words; ok says whether any word is marked.
func (h *highlighter) description(s string) ([]Segment, bool) {
	marked, words := h.find(s, inDescription)
	if len(marked) == 0 {
		return nil, false
	}
	if len(words) <= passageWords {
		return cut(nil, s, 0, len(s), marked), true
	}
	// wordIndex is the index in words of a byte offset's word.
	wordIndex := func(at int) int {
		lo, hi := 0, len(words)
		for lo < hi {
			mid := (lo + hi) / 2
			if words[mid] <= at {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return lo - 1
	}
	var segs []Segment
	passages, lastWord := 0, -1
	for _, m := range marked {
		if passages == maxPassages {
			break
		}
		w := wordIndex(m.start)
		if w <= lastWord {
			continue // within the passage before
		}
		first := max(w-passageBefore, lastWord+1)
		last := min(first+passageWords-1, len(words)-1)
		end := len(s)
		if last+1 < len(words) {
			end = words[last+1]
		}
		end = len(strings.TrimRightFunc(s[:end], unicode.IsSpace))
		if passages > 0 {
			segs = appendSegment(segs, passageGap, false)
		}
		segs = cut(segs, s, words[first], max(end, m.end), marked)
		passages, lastWord = passages+1, last
	}
	return segs, true
}

// Matches returns, for the tasks of a page found by search q (the q
// parameter of a list), which fields the search found and their snippets.
// Tasks without a marked word are left out.
func Matches(q string, tasks []*task.Task) map[string]Match {
	if q == "" || len(tasks) == 0 {
		return nil
	}
	h := newHighlighter(q)
	out := map[string]Match{}
	for _, t := range tasks {
		var m Match
		if segs, ok := h.title(t.Title); ok {
			m.Fields, m.Title = append(m.Fields, "title"), segs
		}
		if segs, ok := h.description(t.Description); ok {
			m.Fields, m.Description = append(m.Fields, "description"), segs
		}
		if len(m.Fields) > 0 {
			out[t.ID] = m
		}
	}
	return out
}

// appendSegment adds a piece, merged into the last one when of its kind.
func appendSegment(segs []Segment, text string, match bool) []Segment {
	if text == "" {
		return segs
	}
	if n := len(segs); n > 0 && segs[n-1].Match == match {
		segs[n-1].Text += text
		return segs
	}
	return append(segs, Segment{Text: text, Match: match})
}
