package task_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/todo-platform/todo/pkg/recurrence"
	"github.com/todo-platform/todo/pkg/task"
)

var fuzzZones = []string{"", "UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kathmandu", "Mars/Olympus", "Local"}

// FuzzNormalize builds task fields from random text: Normalize never panics,
// and what it accepts is canonical (it normalizes to itself) and within the
// limits.
func FuzzNormalize(f *testing.F) {
	due := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC).Unix()
	f.Add("  Water the plants  ", "the ones on the balcony", "Home\n#garden\nhome\n  Weekly Chores ", `[{"before":"15m"},{"at":"2026-11-30T18:00:00Z"},{"before":"15m"}]`, true, due, uint8(2), "rrule:freq=weekly;byday=tu", "")
	f.Add("", "", "", "", false, int64(0), uint8(0), "", "")
	f.Add("x", "", "a,b\n\n##two\n# #three\n#", `[{"before":"1d"}]`, false, due, uint8(1), "", "")
	f.Add("x", "", "##two\n# #three\n#\t#four", "", false, due, uint8(1), "", "")
	f.Add("x", "y", "", `[{"at":"9999-12-31T23:30:00Z"},{"at":"1969-12-31T23:59:59Z"}]`, false, due, uint8(1), "", "")
	f.Add("x", "y", "", `[{"before":"15m"}]`, true, int64(253402300799), uint8(5), "FREQ=YEARLY", "")
	f.Add("x", "y", "", "", true, due, uint8(2), "FREQ=DAILY;BYSETPOS=2", "")
	f.Add("x", "\x00", "UPPER\nİstanbul\n\u00a0nbsp\u00a0", `[{"at":"9999-12-31T23:30:00-01:00"},{"before":"-1h"},{"before":"367d"}]`, true, due, uint8(3), "FREQ=DAILY;COUNT=3", "completion")
	f.Add(strings.Repeat("é", 501), strings.Repeat("x", 10_001), strings.Repeat("t\n", 25), `[{"before":"1m"},{"before":"2m"},{"before":"3m"},{"before":"4m"},{"before":"5m"},{"before":"6m"},{"before":"7m"},{"before":"8m"},{"before":"9m"},{"before":"10m"},{"before":"11m"}]`, true, due, uint8(4), "FREQ=HOURLY;INTERVAL=2;BYHOUR=5", "sometimes")
	f.Add("\xff", "\xfe", "\xfd", `[{"at":"0000-01-01T00:00:00+01:00"}]`, true, int64(-1)<<40, uint8(6), "FREQ=MONTHLY;BYMONTHDAY=31", "due")
	f.Fuzz(func(t *testing.T, title, description, tags, reminders string, hasDue bool, dueUnix int64, zone uint8, rule, anchor string) {
		fields := task.Fields{
			Title:       title,
			Description: description,
			Priority:    task.Priority(int16(dueUnix % 7)),
			TimeZone:    fuzzZones[int(zone)%len(fuzzZones)],
		}
		if tags != "" {
			fields.Tags = strings.Split(tags, "\n")
		}
		var raws []json.RawMessage
		if json.Unmarshal([]byte(reminders), &raws) == nil {
			for _, raw := range raws {
				var r task.Reminder
				if r.UnmarshalJSON(raw) == nil {
					fields.Reminders = append(fields.Reminders, r)
				}
			}
		}
		// The random instant is the due time, or else one more reminder.
		d := time.Unix(dueUnix%(400_000*365*86400), dueUnix%1e9).UTC()
		if hasDue {
			fields.Due = &d
		} else {
			fields.Reminders = append(fields.Reminders, task.Reminder{At: &d})
		}
		if rule != "" || anchor != "" {
			fields.Recurrence = &task.Recurrence{Rule: rule, Anchor: recurrence.Anchor(anchor)}
		}

		err := task.Normalize(&fields)
		if err != nil {
			var ve *task.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 || !errors.Is(err, task.ErrInvalid) {
				t.Fatalf("Normalize: %v (%T), want a *ValidationError with problems", err, err)
			}
			return
		}

		again := clone(fields)
		if err := task.Normalize(&again); err != nil {
			t.Fatalf("normalized fields %+v do not normalize again: %v", fields, err)
		}
		if !reflect.DeepEqual(again, fields) {
			t.Fatalf("Normalize is not idempotent:\n once  %+v\n twice %+v", fields, again)
		}

		if fields.Title == "" || fields.Title != strings.TrimSpace(fields.Title) || utf8.RuneCountInString(fields.Title) > task.MaxTitleLen {
			t.Errorf("title %q", fields.Title)
		}
		if utf8.RuneCountInString(fields.Description) > task.MaxDescriptionLen {
			t.Errorf("description of %d characters", utf8.RuneCountInString(fields.Description))
		}
		if !slices.IsSorted(fields.Tags) || len(slices.Compact(slices.Clone(fields.Tags))) != len(fields.Tags) || len(fields.Tags) > task.MaxTags {
			t.Errorf("tags %q are not sorted, unique and at most %d", fields.Tags, task.MaxTags)
		}
		for _, tag := range fields.Tags {
			if n, msg := task.NormalizeTag(tag); n != tag || msg != "" || utf8.RuneCountInString(tag) > task.MaxTagLen {
				t.Errorf("tag %q is not canonical: %q %q", tag, n, msg)
			}
		}
		if len(fields.Reminders) > task.MaxReminders {
			t.Errorf("%d reminders", len(fields.Reminders))
		}
		if fields.TimeZone == "" {
			t.Errorf("no time zone")
		}
		if fields.Recurrence != nil && fields.Due == nil {
			t.Errorf("a recurrence without due_at")
		}
		// What Normalize accepts can be stored and sent: as a snapshot it
		// encodes to JSON.
		tk := task.Task{ID: "id", Owner: "owner", Status: task.StatusOpen, Version: 1}
		tk.Apply(fields)
		if _, err := json.Marshal(tk.Snapshot()); err != nil {
			t.Fatalf("a normalized task does not encode: %v", err)
		}
	})
}

// clone copies f deeply: Normalize edits the recurrence it points to.
func clone(f task.Fields) task.Fields {
	c := f
	c.Tags = slices.Clone(f.Tags)
	c.Reminders = slices.Clone(f.Reminders)
	if f.Due != nil {
		d := *f.Due
		c.Due = &d
	}
	if f.Recurrence != nil {
		r := *f.Recurrence
		c.Recurrence = &r
	}
	return c
}

// FuzzReminderJSON decodes random JSON as a reminder: no panic, and a decoded
// reminder encodes to JSON that decodes to the same reminder.
func FuzzReminderJSON(f *testing.F) {
	for _, s := range []string{
		`{"before":"15m"}`, `{"before":"1d12h"}`, `{"before":"2w"}`, `{"at":"2026-01-02T15:04:05Z"}`,
		`{"at":"2026-01-02T15:04:05.123456789+05:30"}`, `{"before":"15m","at":"2026-01-02T15:04:05Z"}`, `{}`, `null`,
		`{"before":null}`, `{"before":"soon"}`, `{"every":"1d"}`, `[]`, `{"before":"-9223372036854775808ns"}`,
		`{"at":"9999-12-31T23:30:00-01:00"}`, `{"at":"0000-01-01T00:00:00+01:00"}`, `{"before":"0s"}`, `{"before":"1.5h"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r task.Reminder
		if err := r.UnmarshalJSON(data); err != nil {
			return
		}
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("reminder %+v decoded from %q does not encode: %v", r, data, err)
		}
		var back task.Reminder
		if err := back.UnmarshalJSON(b); err != nil {
			t.Fatalf("reminder %+v encodes to %s, which does not decode: %v", r, b, err)
		}
		if !sameReminder(r, back) {
			t.Fatalf("reminder %+v encodes to %s, which decodes to %+v", r, b, back)
		}
	})
}

func sameReminder(a, b task.Reminder) bool {
	if (a.At == nil) != (b.At == nil) {
		return false
	}
	if a.At != nil {
		return a.At.Equal(*b.At) && a.Before == b.Before
	}
	return a.Before == b.Before
}

// FuzzParseDuration parses random text as a duration without panicking, and
// checks every duration FormatDuration writes parses back to itself.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"15m", "1d", "1d12h", "2w", "1w2d3h4m5s", "1.5h", "500ms", "0", "0s", "-1h", "+2d", "1.5d", "d", "", "1e3s",
		"99999999999d", "2562047h47m16.854775807s", "-9223372036854775808ns", ".5h", "5.h", "1µs", "1us"} {
		f.Add(s, int64(len(s))*int64(time.Hour))
	}
	f.Add("", int64(1<<63-1))
	f.Add("", int64(-1<<63))
	f.Fuzz(func(t *testing.T, s string, n int64) {
		if d, err := task.ParseDuration(s); err == nil {
			if back, err := task.ParseDuration(task.FormatDuration(d)); err != nil || back != d {
				t.Fatalf("ParseDuration(%q) = %s; FormatDuration = %q, which parses to %s, %v", s, d, task.FormatDuration(d), back, err)
			}
		}
		d := time.Duration(n)
		text := task.FormatDuration(d)
		back, err := task.ParseDuration(text)
		if err != nil || back != d {
			t.Fatalf("FormatDuration(%d) = %q, which parses to %d, %v", n, text, back, err)
		}
	})
}
