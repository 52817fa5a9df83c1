package task

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/todo-platform/todo/pkg/recurrence"
)

// FieldProblem is one problem with one field of a request.
type FieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found at once, per field.
type ValidationError struct {
	Problems []FieldProblem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return "invalid task: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true for a validation error.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Add records a problem with field.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Problems = append(e.Problems, FieldProblem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns e when it holds problems and nil otherwise.
func (e *ValidationError) Err() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Recurrence repeats a task by an RFC 5545 RRULE. Its DTSTART is the task's due
// instant in the task's time zone; Anchor says whether the next occurrence
// counts from the due date or from the completion time.
type Recurrence struct {
	Rule   string            `json:"rule"`
	Anchor recurrence.Anchor `json:"anchor"`
}

// Normalize trims and canonicalizes f in place and returns every problem with
// it at once (a *ValidationError), or nil.
func Normalize(f *Fields) error {
	var ve ValidationError

	f.Title = strings.TrimSpace(f.Title)
	switch n := utf8.RuneCountInString(f.Title); {
	case !utf8.ValidString(f.Title):
		ve.Add("title", "must be valid UTF-8")
	case n == 0:
		ve.Add("title", "is required")
	case n > MaxTitleLen:
		ve.Add("title", "is %d characters long; at most %d are allowed", n, MaxTitleLen)
	case strings.ContainsRune(f.Title, 0):
		ve.Add("title", "must not contain NUL (U+0000) characters")
	}
	switch {
	case !utf8.ValidString(f.Description):
		ve.Add("description", "must be valid UTF-8")
	case utf8.RuneCountInString(f.Description) > MaxDescriptionLen:
		ve.Add("description", "is %d characters long; at most %d are allowed", utf8.RuneCountInString(f.Description), MaxDescriptionLen)
	case strings.ContainsRune(f.Description, 0):
		ve.Add("description", "must not contain NUL (U+0000) characters")
	}
	if f.Priority < PriorityNone || f.Priority > PriorityUrgent {
		ve.Add("priority", "must be one of none, low, medium, high, urgent")
	}

	tags, problems := NormalizeTags(f.Tags)
	for _, p := range problems {
		ve.Add(p.Field, "%s", p.Message)
	}
	f.Tags = tags

	var loc *time.Location
	if f.TimeZone == "" {
		f.TimeZone = "UTC"
	}
	if l, err := recurrence.LoadZone(f.TimeZone); err != nil {
		ve.Add("time_zone", "%v", err)
	} else {
		loc = l
	}
	if f.Due != nil {
		d := f.Due.UTC().Truncate(time.Second)
		f.Due = &d
		if d.Year() < 1970 || d.Year() > 9999 {
			ve.Add("due_at", "must be between the years 1970 and 9999")
		}
	}

	if len(f.Reminders) > MaxReminders {
		ve.Add("reminders", "has %d reminders; at most %d are allowed", len(f.Reminders), MaxReminders)
	}
	seen := make(map[string]bool, len(f.Reminders))
	out := f.Reminders[:0:0]
	for i, r := range f.Reminders {
		field := fmt.Sprintf("reminders[%d]", i)
		switch {
		case r.At != nil:
			at := r.At.UTC().Truncate(time.Second)
			r.At = &at
			if at.Year() < 1970 || at.Year() > 9999 {
				ve.Add(field+".at", "must be between the years 1970 and 9999")
				continue
			}
			key := "at " + at.Format(time.RFC3339)
			if seen[key] {
				continue
			}
			seen[key] = true
		case r.Before < 0:
			ve.Add(field+".before", `must not be negative ("0s" is at the due time)`)
			continue
		case r.Before > MaxReminderBefore:
			ve.Add(field+".before", "must be at most 366d")
			continue
		default:
			if f.Due == nil {
				ve.Add(field+".before", "a reminder before the due time needs due_at")
				continue
			}
			key := "before " + r.Before.String()
			if seen[key] {
				continue
			}
			seen[key] = true
		}
		out = append(out, r)
	}
	f.Reminders = out

	if f.Recurrence != nil {
		rec := f.Recurrence
		if rec.Anchor == "" {
			rec.Anchor = recurrence.AnchorDue
		}
		if !rec.Anchor.Valid() {
			ve.Add("recurrence.anchor", `must be "due" or "completion"`)
		}
		rule, err := recurrence.NormalizeRule(rec.Rule)
		if err != nil {
			ve.Add("recurrence.rule", "%v", err)
		} else {
			rec.Rule = rule
		}
		if f.Due == nil {
			ve.Add("recurrence", "a recurring task needs due_at: it is the first occurrence (DTSTART)")
		}
		if err == nil && f.Due != nil && loc != nil {
			if _, err := recurrence.New(rec.Rule, *f.Due, loc); err != nil {
				ve.Add("recurrence.rule", "%v", err)
			}
		}
	}
	return ve.Err()
}

// NormalizeTags trims, lower-cases, collapses inner white space to "-",
// removes leading "#"s, drops duplicates and sorts. It reports tags that are
// empty, too long, or hold commas or control characters, and too many tags.
func NormalizeTags(in []string) ([]string, []FieldProblem) {
	var problems []FieldProblem
	out := make([]string, 0, len(in))
	for i, raw := range in {
		field := fmt.Sprintf("tags[%d]", i)
		t, msg := NormalizeTag(raw)
		if msg != "" {
			problems = append(problems, FieldProblem{Field: field, Message: msg})
			continue
		}
		out = append(out, t)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxTags {
		problems = append(problems, FieldProblem{Field: "tags", Message: fmt.Sprintf("has %d tags; at most %d are allowed", len(out), MaxTags)})
	}
	return out, problems
}

// NormalizeTag returns the canonical form of one tag, or a message saying why
// it cannot be a tag.
func NormalizeTag(raw string) (string, string) {
	if !utf8.ValidString(raw) {
		return "", "must be valid UTF-8"
	}
	// Every leading "#" and space goes: "##go" and "# #go" are "go" too, so
	// that a normalized tag normalizes to itself.
	t := strings.TrimLeftFunc(raw, func(r rune) bool { return r == '#' || unicode.IsSpace(r) })
	t = strings.ToLower(strings.Join(strings.Fields(t), "-"))
	switch {
	case t == "":
		return "", "must not be empty"
	case utf8.RuneCountInString(t) > MaxTagLen:
		return "", fmt.Sprintf("is longer than %d characters", MaxTagLen)
	case strings.ContainsRune(t, ','):
		return "", "must not contain a comma"
	case strings.IndexFunc(t, unicode.IsControl) >= 0:
		return "", "must not contain control characters"
	}
	return t, ""
}
