package audit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/todo-platform/todo/pkg/web"
)

// Page sizes of the audit list.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

var listParams = []string{"task_id", "since", "until", "limit", "cursor"}

// ParseQuery reads the query string of GET /api/v1/audit and returns every
// problem with it as field problems.
func ParseQuery(v url.Values) (Query, []web.FieldProblem) {
	q := Query{Limit: DefaultLimit}
	var problems []web.FieldProblem
	add := func(field, format string, a ...any) {
		problems = append(problems, web.FieldProblem{Field: field, Message: fmt.Sprintf(format, a...)})
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(listParams, k) {
			add(k, "is not a query parameter of the audit list (known: %s)", strings.Join(listParams, ", "))
		} else if len(v[k]) > 1 {
			add(k, "is given more than once")
		}
	}
	if s := v.Get("task_id"); s != "" {
		if _, err := uuid.Parse(s); err != nil {
			add("task_id", "must be a task id (a UUID)")
		} else {
			q.TaskID = strings.ToLower(s)
		}
	}
	parseTime := func(name string) *time.Time {
		s := v.Get(name)
		if s == "" {
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			add(name, "must be an RFC 3339 time, e.g. 2026-03-29T09:00:00Z")
			return nil
		}
		return &t
	}
	q.Since, q.Until = parseTime("since"), parseTime("until")
	if q.Since != nil && q.Until != nil && !q.Until.After(*q.Since) {
		add("until", "must be after since")
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			add("limit", "must be a whole number from 1 to %d", MaxLimit)
		} else {
			q.Limit = n
		}
	}
	if s := v.Get("cursor"); s != "" {
		c, err := decodeCursor(s)
		if err != nil {
			add("cursor", "is not a cursor this API issued")
		} else {
			q.After = c
		}
	}
	return q, problems
}

func encodeCursor(c *Cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var c Cursor
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Time.IsZero() || c.Seq <= 0 {
		return nil, fmt.Errorf("incomplete cursor")
	}
	return &c, nil
}
