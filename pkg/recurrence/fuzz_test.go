package recurrence_test

import (
	"errors"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/recurrence"
)

// callBound is how long one call may take. The search for an occurrence is
// bounded (SearchYears), which takes milliseconds even for an empty series;
// a call that outlasts the bound is a hang.
const callBound = 15 * time.Second

// bounded runs fn and fails the test when it does not return within callBound
// (the goroutine is left behind: the test binary is about to report anyway).
func bounded(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(callBound):
		t.Fatalf("%s did not return within %s", what, callBound)
	}
}

var fuzzRules = []string{
	"FREQ=DAILY",
	"rrule:freq=weekly;byday=mo,we,fr",
	"FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
	"FREQ=MONTHLY;BYMONTHDAY=31",
	"FREQ=MONTHLY;BYMONTHDAY=-1",
	"FREQ=MONTHLY;BYDAY=2SU",
	"FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
	"FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
	"FREQ=YEARLY;BYWEEKNO=53;BYDAY=TH",
	"FREQ=YEARLY;BYYEARDAY=-1",
	"FREQ=YEARLY;BYEASTER=0",
	"FREQ=DAILY;COUNT=3",
	"FREQ=DAILY;UNTIL=20260603T235959Z",
	"FREQ=DAILY;UNTIL=20260603",
	"FREQ=HOURLY;INTERVAL=2;BYHOUR=5",
	"FREQ=HOURLY;INTERVAL=5;BYHOUR=1,13",
	"FREQ=HOURLY;BYSETPOS=2",
	"FREQ=HOURLY;BYMINUTE=0,30;BYSETPOS=2",
	"FREQ=DAILY;BYHOUR=9,17;BYMINUTE=0,30;BYSETPOS=-1",
	"FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
	"FREQ=WEEKLY;WKST=SU;BYDAY=SU,SA;INTERVAL=3",
	"FREQ=DAILY;INTERVAL=1000;COUNT=10000",
	"FREQ=MINUTELY",
	"FREQ=DAILY;BYSECOND=1",
	"DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY",
	"FREQ=DAILY;;",
	"FREQ=DAILY;BYDAY=+54MO",
	"FREQ=DAILY;INTERVAL=-1",
	"",
}

// fuzzZones has whole-hour, half-hour and 45-minute offsets, both
// hemispheres, a zone that skipped a day, and names that are not zones.
var fuzzZones = []string{
	"UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
	"America/St_Johns", "Pacific/Chatham", "Pacific/Apia", "Asia/Kathmandu", "Mars/Olympus", "",
}

func FuzzNormalizeRule(f *testing.F) {
	for _, r := range fuzzRules {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, rule string) {
		var (
			norm string
			err  error
		)
		bounded(t, "NormalizeRule", func() { norm, err = recurrence.NormalizeRule(rule) })
		if err != nil {
			if norm != "" {
				t.Fatalf("NormalizeRule(%q) = %q with error %v", rule, norm, err)
			}
			return
		}
		// The stored rule is normalized again by every later edit of the
		// task: it must come back unchanged.
		again, err := recurrence.NormalizeRule(norm)
		if err != nil {
			t.Fatalf("NormalizeRule(%q) = %q, which does not normalize: %v", rule, norm, err)
		}
		if again != norm {
			t.Fatalf("NormalizeRule(%q) = %q, which normalizes to %q", rule, norm, again)
		}
	})
}

// The due times of the fuzz inputs lie in the years the task domain accepts.
var (
	minDue = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxDue = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

func FuzzNext(f *testing.F) {
	due := time.Date(2026, 3, 28, 8, 0, 0, 0, time.UTC).Unix()
	for i, r := range fuzzRules {
		f.Add(r, uint8(i), due, int64(i)*3600*7, i%2 == 0, uint16(i%4))
	}
	f.Add("FREQ=DAILY", uint8(1), time.Date(2026, 10, 24, 7, 0, 0, 0, time.UTC).Unix(), int64(-86400), true, uint16(1))
	f.Add("FREQ=YEARLY", uint8(0), maxDue, int64(0), false, uint16(0))
	f.Add("FREQ=HOURLY;BYHOUR=3", uint8(3), minDue, int64(1)<<40, true, uint16(0))
	f.Fuzz(func(t *testing.T, rule string, zone uint8, dueUnix, completedOffset int64, completion bool, done uint16) {
		dueUnix = minDue + mod(dueUnix, maxDue-minDue+1)
		due := time.Unix(dueUnix, 0).UTC()
		// A completion up to ten years either side of the due time, within
		// the accepted years.
		const tenYears = 10 * 366 * 24 * 3600
		completedUnix := min(max(dueUnix+mod(completedOffset, 2*tenYears+1)-tenYears, minDue), maxDue)
		completed := time.Unix(completedUnix, 0).UTC()
		anchor := recurrence.AnchorDue
		if completion {
			anchor = recurrence.AnchorCompletion
		}
		z := fuzzZones[int(zone)%len(fuzzZones)]

		var (
			next time.Time
			err  error
		)
		bounded(t, "Next", func() { next, err = recurrence.Next(rule, anchor, z, due, completed, int(done)) })
		if err != nil {
			if !next.IsZero() {
				t.Fatalf("Next returned %v with error %v", next, err)
			}
			if errors.Is(err, recurrence.ErrNoOccurrence) {
				if _, perr := recurrence.NormalizeRule(rule); perr != nil {
					t.Fatalf("ErrNoOccurrence for a rule NormalizeRule rejects: %v", perr)
				}
			}
			return
		}
		if next.Location() != time.UTC {
			t.Errorf("Next returned a time in %s, want UTC", next.Location())
		}
		if anchor == recurrence.AnchorDue && !next.After(due) {
			t.Fatalf("Next(%q, due, %s, %s) = %s: not after the due time", rule, z, due, next)
		}
		if anchor == recurrence.AnchorCompletion && !next.After(completed) {
			t.Fatalf("Next(%q, completion, %s, due %s, completed %s) = %s: not after the completion", rule, z, due, completed, next)
		}
		if _, err := recurrence.NormalizeRule(rule); err != nil {
			t.Fatalf("Next computed %s for a rule NormalizeRule rejects: %v", next, err)
		}
	})
}

// mod is the non-negative remainder of a by m > 0.
func mod(a, m int64) int64 {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}
