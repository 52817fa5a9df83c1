package taskapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
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

// The snippets' markers: private-use characters, taken out of the text first.
const (
	markStart = "\uE000"
	markStop  = "\uE001"
)

// searchMatches computes the snippets of the tasks of one page (ids) only,
// never of every match of the search, so that a search costs what a list
// does plus at most one ts_headline per field of the page's rows. Each
// field's headline is made with the English configuration (stems: "receipt"
// marks "receipts") and, where that marks nothing, with the simple one
// (stop words and prefixes: "the", "lisb"). Fields found only together
// ("shoes laces" over a title and a description) both get a snippet.
const searchMatches = `WITH q AS (
	SELECT CASE WHEN $4::text IS NULL THEN websearch_to_tsquery('english', $3)
		ELSE websearch_to_tsquery('english', $3) || (websearch_to_tsquery('english', $4) && to_tsquery('simple', $5)) END AS q
), t AS (
	SELECT id, translate(title, chr(57344) || chr(57345), '') AS title,
		translate(description, chr(57344) || chr(57345), '') AS description,
		ts_filter(search, '{a}') @@ q.q AS in_title, ts_filter(search, '{b}') @@ q.q AS in_description, q.q
	FROM taskapi.tasks, q
	WHERE owner_id = $1 AND id = ANY($2::uuid[])
), h AS (
	SELECT id, title, description, q,
		CASE WHEN in_title OR NOT in_description THEN ts_headline('english', title, q, $6) END AS th,
		CASE WHEN in_description OR NOT in_title THEN ts_headline('english', description, q, $7) END AS dh
	FROM t
)
SELECT id::text,
	CASE WHEN th IS NULL OR strpos(th, chr(57344)) > 0 THEN th ELSE ts_headline('simple', title, q, $6) END AS title,
	CASE WHEN dh IS NULL OR strpos(dh, chr(57344)) > 0 OR description = '' THEN dh ELSE ts_headline('simple', description, q, $7) END AS description
FROM h`

const (
	titleHeadline       = `HighlightAll=true, StartSel=` + markStart + `, StopSel=` + markStop
	descriptionHeadline = `MaxWords=20, MinWords=8, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … ", StartSel=` + markStart + `, StopSel=` + markStop
)

// SearchMatches returns, for the tasks ids of owner found by search q (the
// q parameter of a list), which fields the search found and their
// snippets. Tasks without a marked word are left out.
func (s *Store) SearchMatches(ctx context.Context, owner, q string, ids []string) (map[string]Match, error) {
	if q == "" || len(ids) == 0 {
		return nil, nil
	}
	var rest, last *string
	if r, l, ok := typedPrefix(q); ok {
		l += ":*"
		rest, last = &r, &l
	}
	rows, err := s.pool.Query(ctx, searchMatches, owner, ids, q, rest, last, titleHeadline, descriptionHeadline)
	if err != nil {
		return nil, fmt.Errorf("search snippets: %w", err)
	}
	out := map[string]Match{}
	var id string
	var title, description *string
	_, err = pgx.ForEachRow(rows, []any{&id, &title, &description}, func() error {
		var m Match
		if segs, ok := segments(title); ok {
			m.Fields, m.Title = append(m.Fields, "title"), segs
		}
		if segs, ok := segments(description); ok {
			m.Fields, m.Description = append(m.Fields, "description"), segs
		}
		if len(m.Fields) > 0 {
			out[id] = m
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search snippets: %w", err)
	}
	return out, nil
}

// segments cuts a headline at its markers; ok says whether it marks a word.
func segments(h *string) (segs []Segment, ok bool) {
	if h == nil {
		return nil, false
	}
	s := *h
	for s != "" {
		i := strings.Index(s, markStart)
		if i < 0 {
			segs = appendSegment(segs, strings.ReplaceAll(s, markStop, ""), false)
			break
		}
		segs = appendSegment(segs, strings.ReplaceAll(s[:i], markStop, ""), false)
		s = s[i+len(markStart):]
		j := strings.Index(s, markStop)
		if j < 0 {
			j = len(s)
		}
		segs = appendSegment(segs, s[:j], true)
		ok = ok || s[:j] != ""
		s = strings.TrimPrefix(s[j:], markStop)
	}
	return segs, ok
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
