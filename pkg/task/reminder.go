package task

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reminder asks for a notification either a duration before the task's due
// instant (Before >= 0; 0 is at the due time) or at an absolute instant
// (At != nil); exactly one is set.
type Reminder struct {
	Before time.Duration
	At     *time.Time
}

// FireAt returns when r fires for a task due at due (nil when r is relative
// and the task has no due instant).
func (r Reminder) FireAt(due *time.Time) *time.Time {
	if r.At != nil {
		at := *r.At
		return &at
	}
	if due == nil {
		return nil
	}
	at := due.Add(-r.Before)
	return &at
}

type reminderJSON struct {
	Before *string    `json:"before,omitempty"`
	At     *time.Time `json:"at,omitempty"`
}

// MarshalJSON writes {"before":"15m"} or {"at":"2026-01-02T15:04:05Z"}.
func (r Reminder) MarshalJSON() ([]byte, error) {
	if r.At != nil {
		at := r.At.UTC()
		return json.Marshal(reminderJSON{At: &at})
	}
	s := FormatDuration(r.Before)
	return json.Marshal(reminderJSON{Before: &s})
}

// UnmarshalJSON reads a reminder; it rejects objects with both or neither
// field and unknown fields (names match exactly), with messages for users.
func (r *Reminder) UnmarshalJSON(b []byte) error {
	const shape = `a reminder is {"before": "15m"} or {"at": "<RFC 3339 time>"}`
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return errors.New(shape)
	}
	var v struct{ Before, At *string }
	for _, k := range slices.Sorted(maps.Keys(m)) {
		raw := m[k]
		var dst **string
		switch k {
		case "before":
			dst = &v.Before
		case "at":
			dst = &v.At
		default:
			return fmt.Errorf("%s: unknown field %q", shape, k)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("%s: %q must be a string", shape, k)
		}
	}
	switch {
	case v.Before != nil && v.At != nil:
		return errors.New(`a reminder has either "before" or "at", not both`)
	case v.Before != nil:
		d, err := ParseDuration(*v.Before)
		if err != nil {
			return err
		}
		*r = Reminder{Before: d}
	case v.At != nil:
		t, err := time.Parse(time.RFC3339, *v.At)
		if err != nil {
			return fmt.Errorf(`a reminder's "at" must be an RFC 3339 time such as 2026-01-31T09:00:00+01:00, not %q`, *v.At)
		}
		at := t.UTC()
		if y := at.Year(); y < 0 || y > 9999 {
			// MarshalJSON could not write it back.
			return errors.New(`a reminder's "at" must fall in the years 0000 to 9999 (UTC)`)
		}
		*r = Reminder{At: &at}
	default:
		return errors.New(`a reminder needs "before" (a duration such as "15m", "2h", "1d") or "at" (an RFC 3339 time)`)
	}
	return nil
}

// ParseDuration parses a Go duration ("1h30m") that may also use days ("d")
// and weeks ("w"), as in "1d12h" or "2w". Fractions are allowed only for the
// units Go's time.ParseDuration knows.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var b strings.Builder
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		j := i
		for j < len(s) && (s[j] < '0' || s[j] > '9') && s[j] != '.' {
			j++
		}
		num, unit := s[:i], s[i:j]
		s = s[j:]
		if unit == "d" || unit == "w" {
			n, err := strconv.ParseInt(num, 10, 32)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("invalid duration %q: days and weeks take a whole number", orig)
			}
			h := n * 24
			if unit == "w" {
				h *= 7
			}
			fmt.Fprintf(&b, "%dh", h)
			continue
		}
		b.WriteString(num)
		b.WriteString(unit)
	}
	d, err := time.ParseDuration(b.String())
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use units such as 30s, 15m, 2h, 1d, 1w", orig)
	}
	return d, nil
}

// FormatDuration writes d in the shortest form ParseDuration reads back:
// whole weeks and days first, then Go's h/m/s without zero parts.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	// The magnitude as unsigned: -d overflows for the most negative duration.
	m := uint64(d) //nolint:gosec // two's complement on purpose; negated below
	if d < 0 {
		b.WriteByte('-')
		m = -m
	}
	const day = uint64(24 * time.Hour)
	if w := m / (7 * day); w > 0 && m%(7*day) == 0 {
		fmt.Fprintf(&b, "%dw", w)
		return b.String()
	}
	if days := m / day; days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		m %= day
	}
	if m > 0 {
		s := time.Duration(m).String() //nolint:gosec // m < 24h here
		s = strings.Replace(s, "h0m0s", "h", 1)
		s = strings.Replace(s, "m0s", "m", 1)
		b.WriteString(s)
	}
	return b.String()
}
