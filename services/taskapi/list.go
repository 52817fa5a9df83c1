package taskapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/todo-platform/todo/pkg/recurrence"
	"github.com/todo-platform/todo/pkg/task"
)

// Page sizes of the task list.
const (
	DefaultLimit = 50
	MaxLimit     = 200
	maxQueryLen  = 200
)

// sortFields maps the sort names of the API to their key columns.
var sortFields = map[string]string{
	"created_at": "created_at",
	"updated_at": "updated_at",
	"due_at":     "due_key",
	"priority":   "priority",
	"title":      "title_key",
}

// ListQuery is a parsed task list request.
type ListQuery struct {
	Status     task.Status
	Priorities []task.Priority
	Tags       []string
	TagsAny    bool
	DueBefore  *time.Time
	DueAfter   *time.Time
	Overdue    bool
	HasDue     *bool
	Q          string
	SortField  string
	SortDesc   bool
	Limit      int
	After      *cursor
}

// cursor is the position after the last row of a page.
type cursor struct {
	Sort   string          `json:"s"`
	Filter string          `json:"f"`
	Key    json.RawMessage `json:"k"`
	ID     string          `json:"i"`
}

var listParams = []string{"status", "priority", "tags", "tags_match", "due_before", "due_after", "tz", "overdue", "has_due", "q", "sort", "limit", "cursor"}

// typedPrefix splits a search into what comes before its last word and
// that word, when the last word is plain letters and digits that a person
// may still be typing (not quoted, not excluded with -, not "or").
func typedPrefix(q string) (rest, last string, ok bool) {
	q = strings.TrimRightFunc(q, unicode.IsSpace)
	i := strings.LastIndexFunc(q, unicode.IsSpace)
	rest, last = q[:i+1], q[i+1:]
	if last == "" || strings.EqualFold(last, "or") || strings.Count(rest, `"`)%2 == 1 {
		return "", "", false
	}
	for _, r := range last {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return "", "", false
		}
	}
	return strings.TrimSpace(rest), strings.ToLower(last), true
}

// ParseListQuery reads the query string of GET /api/v1/tasks, reporting every
// problem at once.
func ParseListQuery(v url.Values) (ListQuery, error) {
	q := ListQuery{SortField: "created_at", SortDesc: true, Limit: DefaultLimit}
	var ve task.ValidationError
	for k := range v {
		if !slices.Contains(listParams, k) {
			ve.Add(k, "is not a query parameter of this list (known: %s)", strings.Join(listParams, ", "))
		}
	}
	if s := v.Get("status"); s != "" {
		q.Status = task.Status(s)
		if !q.Status.Valid() {
			ve.Add("status", `must be "open" or "done"`)
		}
	}
	for _, p := range splitList(v["priority"]) {
		pr, err := task.ParsePriority(p)
		if err != nil {
			ve.Add("priority", "%v", err)
			continue
		}
		if !slices.Contains(q.Priorities, pr) {
			q.Priorities = append(q.Priorities, pr)
		}
	}
	if raw := splitList(v["tags"]); len(raw) > 0 {
		tags, problems := task.NormalizeTags(raw)
		for _, p := range problems {
			ve.Add(strings.Replace(p.Field, "tags[", "tags (item ", 1), "%s", p.Message)
		}
		q.Tags = tags
	}
	switch m := v.Get("tags_match"); m {
	case "", "all":
	case "any":
		q.TagsAny = true
	default:
		ve.Add("tags_match", `must be "all" or "any"`)
	}
	// Dates (2026-12-04) are days of the caller's zone: tz, default UTC.
	loc := time.UTC
	if z := v.Get("tz"); z != "" {
		l, err := recurrence.LoadZone(z)
		if err != nil {
			ve.Add("tz", "must be an IANA time zone such as Europe/Berlin")
		} else {
			loc = l
		}
	}
	q.DueBefore = parseTimeParam(v, "due_before", loc, &ve)
	q.DueAfter = parseTimeParam(v, "due_after", loc, &ve)
	if b := parseBoolParam(v, "overdue", &ve); b != nil {
		q.Overdue = *b
	}
	q.HasDue = parseBoolParam(v, "has_due", &ve)
	q.Q = strings.TrimSpace(v.Get("q"))
	switch {
	case !utf8.ValidString(q.Q) || strings.ContainsRune(q.Q, 0):
		ve.Add("q", "must be text (valid UTF-8 without NUL characters)")
	case utf8.RuneCountInString(q.Q) > maxQueryLen:
		ve.Add("q", "is longer than %d characters", maxQueryLen)
	}
	if s := v.Get("sort"); s != "" {
		name := strings.TrimPrefix(s, "-")
		if _, ok := sortFields[name]; !ok {
			ve.Add("sort", "must be one of created_at, updated_at, due_at, priority, title, optionally prefixed by - for descending order")
		} else {
			q.SortField, q.SortDesc = name, strings.HasPrefix(s, "-")
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			ve.Add("limit", "must be a whole number from 1 to %d", MaxLimit)
		} else {
			q.Limit = n
		}
	}
	if s := v.Get("cursor"); s != "" {
		c, err := decodeCursor(s)
		switch {
		case err != nil:
			ve.Add("cursor", "is not a cursor this API issued")
		case c.Sort != q.sortName() || c.Filter != q.filterHash():
			ve.Add("cursor", "belongs to a list with another sort or filter; start again without it")
		default:
			q.After = c
			if _, err := q.keyArg(); err != nil {
				q.After = nil
				ve.Add("cursor", "is not a cursor this API issued")
			}
		}
	}
	if err := ve.Err(); err != nil {
		return ListQuery{}, err
	}
	return q, nil
}

func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// parseTimeParam reads an RFC 3339 time, or a date: the start of that day
// in loc (due_before a date is before that day; due_after a date is from it).
func parseTimeParam(v url.Values, name string, loc *time.Location, ve *task.ValidationError) *time.Time {
	s := v.Get(name)
	if s == "" {
		return nil
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		t := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc).UTC()
		return &t
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		ve.Add(name, "must be a date such as 2026-01-31 (a day of tz) or an RFC 3339 time such as 2026-01-31T09:00:00Z")
		return nil
	}
	return &t
}

func parseBoolParam(v url.Values, name string, ve *task.ValidationError) *bool {
	s := v.Get(name)
	if s == "" {
		return nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		ve.Add(name, "must be true or false")
		return nil
	}
	return &b
}

func (q ListQuery) sortName() string {
	if q.SortDesc {
		return "-" + q.SortField
	}
	return q.SortField
}

// filterHash identifies the filter a cursor was issued for.
func (q ListQuery) filterHash() string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s|%v|%v|%v|%v|%v|%v|%v|%s", q.Status, q.Priorities, q.Tags, q.TagsAny,
		timeKey(q.DueBefore), timeKey(q.DueAfter), q.Overdue, boolKey(q.HasDue), q.Q)
	return strconv.FormatUint(h.Sum64(), 36)
}

func timeKey(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func boolKey(b *bool) string {
	if b == nil {
		return "-"
	}
	return strconv.FormatBool(*b)
}

func decodeCursor(s string) (*cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if !validID(c.ID) || len(c.Key) == 0 {
		return nil, fmt.Errorf("incomplete cursor")
	}
	return &c, nil
}

func (c *cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// keyArg turns a cursor's key into the SQL parameter of the sort column.
func (q ListQuery) keyArg() (any, error) {
	k := q.After.Key
	switch q.SortField {
	case "priority":
		var p int16
		err := json.Unmarshal(k, &p)
		return p, err
	case "title":
		var s string
		if err := json.Unmarshal(k, &s); err != nil {
			return nil, err
		}
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return nil, errors.New("title key is not text")
		}
		return s, nil
	case "due_at":
		var t *time.Time
		if err := json.Unmarshal(k, &t); err != nil {
			return nil, err
		}
		if t == nil {
			return pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}, nil
		}
		return *t, nil
	default:
		var t time.Time
		err := json.Unmarshal(k, &t)
		return t, err
	}
}

// listRow is a task row plus the folded title (the title sort key).
type listRow struct {
	taskRow
	TitleKey string `db:"title_key"`
}

func (q ListQuery) cursorAfter(r *listRow) *cursor {
	var key any
	switch q.SortField {
	case "priority":
		key = r.Priority
	case "title":
		key = r.TitleKey
	case "due_at":
		key = r.DueAt
	case "updated_at":
		key = r.UpdatedAt
	default:
		key = r.CreatedAt
	}
	b, _ := json.Marshal(key)
	return &cursor{Sort: q.sortName(), Filter: q.filterHash(), Key: b, ID: r.ID}
}

// SQL builds the statement List runs for owner's list at time now, and
// its arguments (benchmarks explain it).
func (q ListQuery) SQL(owner string, now time.Time) (string, []any, error) {
	var b strings.Builder
	args := []any{owner}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	b.WriteString(`SELECT ` + taskColumns + `, title_key FROM taskapi.tasks WHERE owner_id = $1`)
	if q.Status != "" {
		b.WriteString(" AND status = " + arg(string(q.Status)))
	}
	if len(q.Priorities) > 0 {
		ps := make([]int16, len(q.Priorities))
		for i, p := range q.Priorities {
			ps[i] = int16(p)
		}
		b.WriteString(" AND priority = ANY(" + arg(ps) + "::smallint[])")
	}
	if len(q.Tags) > 0 {
		op := "@>"
		if q.TagsAny {
			op = "&&"
		}
		b.WriteString(" AND tags " + op + " " + arg(q.Tags) + "::text[]")
	}
	// Due-time bounds compare due_key, the column the due indexes hold:
	// coalesce(due_at, 'infinity') equals due_at wherever there is one, and
	// against a finite bound a task without one falls out either way (for a
	// lower bound, by due_key < 'infinity'). On due_at they could only filter
	// rows read in another order, never bound an index range.
	if q.DueBefore != nil {
		b.WriteString(" AND due_key < " + arg(*q.DueBefore))
	}
	if q.DueAfter != nil {
		b.WriteString(" AND due_key >= " + arg(*q.DueAfter) + " AND due_key < 'infinity'")
	}
	if q.Overdue {
		b.WriteString(" AND status = 'open' AND due_key < " + arg(now))
	}
	if q.HasDue != nil {
		if *q.HasDue {
			b.WriteString(" AND due_at IS NOT NULL")
		} else {
			b.WriteString(" AND due_at IS NULL")
		}
	}
	if q.Q != "" {
		// The web-search syntax, stemmed in English; and while a word is
		// being typed (the last one, plain), the others with it as a
		// prefix: one query (a || b), so that each row's search vector is
		// read once and the planner estimates one condition (two @@ joined
		// by OR cost a quarter more a row, measured on 10,000 tasks).
		tsq := "websearch_to_tsquery('english', " + arg(q.Q) + ")"
		if rest, last, ok := typedPrefix(q.Q); ok {
			tsq = "(" + tsq + " || (websearch_to_tsquery('english', " + arg(rest) + ") && to_tsquery('simple', " + arg(last+":*") + ")))"
		}
		b.WriteString(" AND search @@ " + tsq)
	}
	col := sortFields[q.SortField]
	dir, cmp := "ASC", ">"
	if q.SortDesc {
		dir, cmp = "DESC", "<"
	}
	if q.After != nil {
		k, err := q.keyArg()
		if err != nil {
			return "", nil, fmt.Errorf("cursor key: %w", err)
		}
		b.WriteString(fmt.Sprintf(" AND (%s, id) %s (%s, %s::uuid)", col, cmp, arg(k), arg(q.After.ID)))
	}
	b.WriteString(fmt.Sprintf(" ORDER BY %s %s, id %s LIMIT %s", col, dir, dir, arg(q.Limit+1)))
	return b.String(), args, nil
}

// List returns a page of owner's tasks matching q and the cursor of the next
// page ("" on the last page).
func (s *Store) List(ctx context.Context, owner string, q ListQuery) ([]*task.Task, string, error) {
	stmt, args, err := q.SQL(owner, s.now())
	if err != nil {
		return nil, "", err
	}
	// The best plan of a list depends on its values: a rare tag or search
	// word is found through its GIN index, a common one by walking the sort
	// order's index. A prepared statement (pgx's default) switches after
	// five runs to one generic plan for all values, which reads a common
	// word's thousands of rows through the GIN index (over 100 times
	// slower); the unnamed statement of QueryExecModeCacheDescribe is
	// planned with each list's own values, still in one round trip.
	rows, err := s.pool.Query(ctx, stmt, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
	if err != nil {
		return nil, "", fmt.Errorf("list tasks: %w", err)
	}
	rs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[listRow])
	if err != nil {
		return nil, "", fmt.Errorf("list tasks: %w", err)
	}
	next := ""
	if len(rs) > q.Limit {
		rs = rs[:q.Limit]
		next = q.cursorAfter(rs[len(rs)-1]).encode()
	}
	out := make([]*task.Task, len(rs))
	for i, r := range rs {
		out[i] = r.task()
	}
	return out, next, nil
}
