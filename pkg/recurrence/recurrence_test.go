package recurrence_test

import (
	"errors"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/recurrence"
)

// at parses an RFC 3339 time; the offsets in the tables say which side of a
// daylight-saving change an instant is on.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNext(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		rule      string
		anchor    recurrence.Anchor
		zone      string
		due       string
		completed string // "" means at due
		done      int
		want      string // "" expects ErrNoOccurrence
	}{
		// A daily task at 09:00 in Berlin stays at 09:00 local time: its
		// UTC hour moves from 08 to 07 in March and back in October.
		{"berlin daily across the spring change", "FREQ=DAILY", recurrence.AnchorDue, "Europe/Berlin",
			"2026-03-28T09:00:00+01:00", "", 1, "2026-03-29T09:00:00+02:00"},
		{"berlin daily across the autumn change", "FREQ=DAILY", recurrence.AnchorDue, "Europe/Berlin",
			"2026-10-24T09:00:00+02:00", "", 1, "2026-10-25T09:00:00+01:00"},
		{"berlin weekly across the spring change", "FREQ=WEEKLY", recurrence.AnchorDue, "Europe/Berlin",
			"2026-03-23T09:00:00+01:00", "", 1, "2026-03-30T09:00:00+02:00"},
		{"new york daily across the spring change", "FREQ=DAILY", recurrence.AnchorDue, "America/New_York",
			"2026-03-07T08:30:00-05:00", "", 1, "2026-03-08T08:30:00-04:00"},
		{"new york daily across the autumn change", "FREQ=DAILY", recurrence.AnchorDue, "America/New_York",
			"2026-10-31T08:30:00-04:00", "", 1, "2026-11-01T08:30:00-05:00"},
		{"new york monthly on the second sunday", "FREQ=MONTHLY;BYDAY=2SU", recurrence.AnchorDue, "America/New_York",
			"2026-02-08T10:00:00-05:00", "", 1, "2026-03-08T10:00:00-04:00"},
		// Sydney is on the southern side: summer time ends in April and
		// starts in October.
		{"sydney daily as summer time ends", "FREQ=DAILY", recurrence.AnchorDue, "Australia/Sydney",
			"2026-04-04T07:00:00+11:00", "", 1, "2026-04-05T07:00:00+10:00"},
		{"sydney daily as summer time starts", "FREQ=DAILY", recurrence.AnchorDue, "Australia/Sydney",
			"2026-10-03T07:00:00+10:00", "", 1, "2026-10-04T07:00:00+11:00"},

		{"weekly byday picks the next listed day", "FREQ=WEEKLY;BYDAY=MO,WE,FR", recurrence.AnchorDue, "UTC",
			"2026-06-01T09:00:00Z", "", 1, "2026-06-03T09:00:00Z"},
		{"weekly byday wraps to the next week", "FREQ=WEEKLY;BYDAY=MO,WE,FR", recurrence.AnchorDue, "UTC",
			"2026-06-05T09:00:00Z", "", 1, "2026-06-08T09:00:00Z"},
		{"every other tuesday", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", recurrence.AnchorDue, "Europe/Berlin",
			"2026-06-02T18:00:00+02:00", "", 1, "2026-06-16T18:00:00+02:00"},
		{"a late completion keeps the due schedule", "FREQ=WEEKLY;BYDAY=MO", recurrence.AnchorDue, "UTC",
			"2026-06-01T09:00:00Z", "2026-06-10T12:00:00Z", 1, "2026-06-08T09:00:00Z"},

		{"monthly on the 31st skips february", "FREQ=MONTHLY;BYMONTHDAY=31", recurrence.AnchorDue, "UTC",
			"2026-01-31T12:00:00Z", "", 1, "2026-03-31T12:00:00Z"},
		{"monthly on the 31st skips april", "FREQ=MONTHLY;BYMONTHDAY=31", recurrence.AnchorDue, "UTC",
			"2026-03-31T12:00:00Z", "", 1, "2026-05-31T12:00:00Z"},
		{"monthly on the 31st keeps july and august", "FREQ=MONTHLY;BYMONTHDAY=31", recurrence.AnchorDue, "UTC",
			"2026-07-31T12:00:00Z", "", 1, "2026-08-31T12:00:00Z"},
		{"monthly on the last day", "FREQ=MONTHLY;BYMONTHDAY=-1", recurrence.AnchorDue, "UTC",
			"2026-01-31T12:00:00Z", "", 1, "2026-02-28T12:00:00Z"},
		{"yearly on february 29th waits for a leap year", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", recurrence.AnchorDue, "UTC",
			"2024-02-29T08:00:00Z", "", 1, "2028-02-29T08:00:00Z"},

		{"count: the second of three", "FREQ=DAILY;COUNT=3", recurrence.AnchorDue, "UTC",
			"2026-06-01T09:00:00Z", "", 1, "2026-06-02T09:00:00Z"},
		{"count: the third of three", "FREQ=DAILY;COUNT=3", recurrence.AnchorDue, "UTC",
			"2026-06-02T09:00:00Z", "", 2, "2026-06-03T09:00:00Z"},
		{"count: three done end the series", "FREQ=DAILY;COUNT=3", recurrence.AnchorDue, "UTC",
			"2026-06-03T09:00:00Z", "", 3, ""},
		{"until: an occurrence before it", "FREQ=DAILY;UNTIL=20260603T235959Z", recurrence.AnchorDue, "UTC",
			"2026-06-02T09:00:00Z", "", 1, "2026-06-03T09:00:00Z"},
		{"until: none after it", "FREQ=DAILY;UNTIL=20260603T235959Z", recurrence.AnchorDue, "UTC",
			"2026-06-03T09:00:00Z", "", 1, ""},

		// Anchor completion restarts the rule on the completion's local date
		// at the due time of day.
		{"completion: three days after a late completion", "FREQ=DAILY;INTERVAL=3", recurrence.AnchorCompletion, "Europe/Berlin",
			"2026-06-01T09:00:00+02:00", "2026-06-05T18:30:00+02:00", 1, "2026-06-08T09:00:00+02:00"},
		{"completion: early in the day still counts from that day", "FREQ=DAILY;INTERVAL=3", recurrence.AnchorCompletion, "Europe/Berlin",
			"2026-06-01T09:00:00+02:00", "2026-06-05T07:00:00+02:00", 1, "2026-06-08T09:00:00+02:00"},
		{"completion: the local date, not the UTC one", "FREQ=DAILY;INTERVAL=2", recurrence.AnchorCompletion, "Australia/Sydney",
			"2026-06-01T08:00:00+10:00", "2026-06-05T23:30:00Z", 1, "2026-06-08T08:00:00+10:00"},
		{"completion: across the autumn change in new york", "FREQ=WEEKLY", recurrence.AnchorCompletion, "America/New_York",
			"2026-10-20T08:30:00-04:00", "2026-10-27T20:00:00-04:00", 1, "2026-11-03T08:30:00-05:00"},
		{"completion: weekly byday after completion", "FREQ=WEEKLY;BYDAY=MO,TH", recurrence.AnchorCompletion, "UTC",
			"2026-06-01T09:00:00Z", "2026-06-09T10:00:00Z", 1, "2026-06-11T09:00:00Z"},
		{"completion: count ends the series", "FREQ=DAILY;COUNT=2", recurrence.AnchorCompletion, "UTC",
			"2026-06-01T09:00:00Z", "2026-06-03T10:00:00Z", 2, ""},
		{"completion: until ends the series", "FREQ=DAILY;UNTIL=20260603T000000Z", recurrence.AnchorCompletion, "UTC",
			"2026-06-01T09:00:00Z", "2026-06-03T10:00:00Z", 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			due := at(t, c.due)
			completed := due
			if c.completed != "" {
				completed = at(t, c.completed)
			}
			got, err := recurrence.Next(c.rule, c.anchor, c.zone, due, completed, c.done)
			if c.want == "" {
				if !errors.Is(err, recurrence.ErrNoOccurrence) {
					t.Fatalf("Next = %v, %v; want ErrNoOccurrence", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			want := at(t, c.want)
			if !got.Equal(want) {
				loc, _ := recurrence.LoadZone(c.zone)
				t.Fatalf("Next = %s (%s), want %s", got.Format(time.RFC3339), got.In(loc).Format(time.RFC3339), want.Format(time.RFC3339))
			}
			if got.Location() != time.UTC {
				t.Errorf("Next returned a time in %s, want UTC", got.Location())
			}
		})
	}
}

// TestDailyWalkKeepsWallTime follows a daily series occurrence by occurrence
// through both changes of a year: the local time never moves, the UTC hour does.
func TestDailyWalkKeepsWallTime(t *testing.T) {
	t.Parallel()
	for _, zone := range []string{"Europe/Berlin", "America/New_York", "Australia/Sydney"} {
		t.Run(zone, func(t *testing.T) {
			t.Parallel()
			loc, err := recurrence.LoadZone(zone)
			if err != nil {
				t.Fatal(err)
			}
			due := time.Date(2026, 1, 1, 9, 0, 0, 0, loc)
			utcHours := map[int]bool{}
			for i := 1; i <= 365; i++ {
				next, err := recurrence.Next("FREQ=DAILY", recurrence.AnchorDue, zone, due, due, i)
				if err != nil {
					t.Fatalf("occurrence %d: %v", i, err)
				}
				local := next.In(loc)
				if local.Hour() != 9 || local.Minute() != 0 {
					t.Fatalf("occurrence %d at %s local, want 09:00", i, local.Format(time.RFC3339))
				}
				if d := local.Sub(due.In(loc)); d < 23*time.Hour || d > 25*time.Hour {
					t.Fatalf("occurrence %d is %s after the previous one", i, d)
				}
				utcHours[next.Hour()] = true
				due = next
			}
			if len(utcHours) != 2 {
				t.Errorf("UTC hours over a year: %v, want two (standard and summer time)", utcHours)
			}
		})
	}
}

func TestNormalizeRule(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string // want "" expects an error
	}{
		{"FREQ=WEEKLY;BYDAY=MO", "FREQ=WEEKLY;BYDAY=MO"},
		{"  rrule:freq=weekly;byday=tu  ", "FREQ=WEEKLY;BYDAY=TU"},
		{"FREQ=MONTHLY;BYMONTHDAY=31", "FREQ=MONTHLY;BYMONTHDAY=31"},
		{"FREQ=DAILY;INTERVAL=2;COUNT=5", "FREQ=DAILY;INTERVAL=2;COUNT=5"},
		{"FREQ=DAILY;UNTIL=20261231T235959Z", "FREQ=DAILY;UNTIL=20261231T235959Z"},
		{"", ""},
		{"FREQ=SOMETIMES", ""},
		{"FREQ=MINUTELY", ""},
		{"FREQ=SECONDLY", ""},
		{"FREQ=DAILY;BYSECOND=5", ""},
		{"FREQ=DAILY;INTERVAL=1001", ""},
		{"FREQ=DAILY;COUNT=10001", ""},
		{"FREQ=DAILY;COUNT=-1", ""},
		{"DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY", ""},
		{"FREQ=DAILY;DTSTART=20260101T090000Z", ""},
		{"FREQ=DAILY\nFREQ=WEEKLY", ""},
		{"FREQ=MONTHLY;BYMONTHDAY=32", ""},
		{"BYDAY=MO", ""},
		// A position no day or hour can hold: the series would be empty.
		{"FREQ=DAILY;BYSETPOS=2", ""},
		{"FREQ=HOURLY;BYSETPOS=-2", ""},
		{"FREQ=DAILY;BYHOUR=8,12;BYSETPOS=2", "FREQ=DAILY;BYSETPOS=2;BYHOUR=8,12"},
	}
	for _, c := range cases {
		got, err := recurrence.NormalizeRule(c.in)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("NormalizeRule(%q) = %q, want an error", c.in, got)
		case c.want != "" && err != nil:
			t.Errorf("NormalizeRule(%q): %v", c.in, err)
		case got != c.want:
			t.Errorf("NormalizeRule(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestRulesThatNeverOccur checks rules whose series is empty, or that the
// rule library would walk without end, fail fast instead of hanging.
func TestRulesThatNeverOccur(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for _, rule := range []string{
		"FREQ=HOURLY;INTERVAL=2;BYHOUR=5",    // from 08:00 only even hours
		"FREQ=HOURLY;INTERVAL=24;BYHOUR=5",   // always 08:00
		"FREQ=HOURLY;INTERVAL=1000;BYHOUR=3", // 1000 h = 41 d 16 h: only 0, 8, 16
		"FREQ=HOURLY;BYSETPOS=2",             // one occurrence per hour
		"FREQ=DAILY;BYSETPOS=-3;BYHOUR=1,2",  // two occurrences per day
	} {
		t.Run(rule, func(t *testing.T) {
			t.Parallel()
			for _, anchor := range []recurrence.Anchor{recurrence.AnchorDue, recurrence.AnchorCompletion} {
				done := make(chan error, 1)
				go func() {
					_, err := recurrence.Next(rule, anchor, "UTC", due, due.Add(time.Hour), 1)
					done <- err
				}()
				select {
				case err := <-done:
					if err == nil {
						t.Errorf("anchor %s: Next found an occurrence of a rule that has none", anchor)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("anchor %s: Next did not return within 5 s", anchor)
				}
			}
			if _, err := recurrence.New(rule, due, time.UTC); err == nil {
				t.Errorf("New accepted a rule without occurrences")
			}
		})
	}
	// Reachable hours are fine.
	next, err := recurrence.Next("FREQ=HOURLY;INTERVAL=2;BYHOUR=6,10", recurrence.AnchorDue, "UTC", due, due, 1)
	if err != nil || !next.Equal(due.Add(2*time.Hour)) {
		t.Errorf("Next = %v, %v; want %v", next, err, due.Add(2*time.Hour))
	}
}

func TestLoadZone(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney"} {
		if _, err := recurrence.LoadZone(name); err != nil {
			t.Errorf("LoadZone(%q): %v", name, err)
		}
	}
	for _, name := range []string{"", "Local", "Mars/Olympus", "../../etc/passwd", "Europe/Berlin\x00"} {
		if _, err := recurrence.LoadZone(name); err == nil {
			t.Errorf("LoadZone(%q) succeeded", name)
		}
	}
}
