// Package recurrence computes the occurrences of recurring tasks: an RFC 5545
// RRULE with a DTSTART in an IANA time zone, stepped in local wall time so that
// a task due daily at 09:00 stays at 09:00 across daylight-saving changes. The
// rule arithmetic is github.com/teambition/rrule-go's.
package recurrence

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/teambition/rrule-go"
)

// Anchor says what the next occurrence of a series counts from.
type Anchor string

// The anchors of a recurrence.
const (
	// AnchorDue steps from the previous occurrence's due date: a weekly task
	// completed late is still due on the rule's next date.
	AnchorDue Anchor = "due"
	// AnchorCompletion restarts the rule at the completion time (at the due
	// date's time of day): "water the plants 3 days after I last did".
	AnchorCompletion Anchor = "completion"
)

// Valid reports whether a is a known anchor.
func (a Anchor) Valid() bool { return a == AnchorDue || a == AnchorCompletion }

// ErrNoOccurrence says a rule yields no (further) occurrence.
var ErrNoOccurrence = errors.New("the rule has no further occurrence")

// SearchYears bounds the search for an occurrence: a series whose next
// occurrence is not within SearchYears years (at least; see bounded) is
// treated as ended. The rule library looks for an occurrence period by
// period up to the year 9999, which for an empty series (an HOURLY rule on
// February 30th) takes most of a CPU second; bounded searches cost a few
// hundred years of periods at most.
const SearchYears = 100

// ErrNoOccurrenceWithin says the bounded search found no occurrence: the
// rule has none, or none within SearchYears years. It is an ErrNoOccurrence.
var ErrNoOccurrenceWithin = fmt.Errorf("%w within %d years", ErrNoOccurrence, SearchYears)

// gregorianCycle is the period of the Gregorian calendar in years: dates,
// weekdays and leap days repeat every 400 years (146,097 days, 20,871 weeks).
const gregorianCycle = 400

// maxYear is the rule library's last year: its search for an occurrence
// stops there.
const maxYear = 9999

// MaxRuleLen bounds a rule's text.
const MaxRuleLen = 500

// maxCount and maxInterval bound a rule so that computing an occurrence stays
// cheap (the library walks the series from DTSTART).
const (
	maxCount    = 10_000
	maxInterval = 1_000
)

var zones sync.Map // name -> *time.Location

// LoadZone returns the IANA time zone called name, with a clear error when
// there is none. Zones are cached: time.LoadLocation reads and parses files.
func LoadZone(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	if name == "" || name == "Local" || strings.ContainsAny(name, "\x00") {
		return nil, fmt.Errorf("%q is not an IANA time zone name (such as Europe/Berlin or UTC)", name)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone name (such as Europe/Berlin or UTC)", name)
	}
	zones.Store(name, l)
	return l, nil
}

// NormalizeRule checks a rule's syntax and returns its canonical text
// ("FREQ=WEEKLY;BYDAY=MO"). It accepts an optional "RRULE:" prefix and any
// letter case. DTSTART may not be part of the rule: it is the task's due date.
func NormalizeRule(rule string) (string, error) {
	opt, err := parse(canonical(rule), time.UTC)
	if err != nil {
		return "", err
	}
	return opt.RRuleString(), nil
}

// parse reads a rule's canonical text (see canonical) in loc. New and Next
// use it too, so that they accept exactly the rules NormalizeRule does.
func parse(s string, loc *time.Location) (opt *rrule.ROption, err error) {
	switch {
	case s == "":
		return nil, errors.New(`is required, e.g. "FREQ=WEEKLY;BYDAY=MO"`)
	case len(s) > MaxRuleLen:
		return nil, fmt.Errorf("is longer than %d characters", MaxRuleLen)
	case strings.ContainsAny(s, "\r\n"):
		return nil, errors.New("must be a single RRULE line")
	case strings.Contains(s, "DTSTART"):
		return nil, errors.New("must not hold DTSTART: the task's due_at and time_zone are the series' start")
	}
	defer func() {
		if r := recover(); r != nil {
			opt, err = nil, fmt.Errorf("is not a valid RRULE: %v", r)
		}
	}()
	opt, err = rrule.StrToROptionInLocation(s, loc)
	if err != nil {
		return nil, fmt.Errorf("is not a valid RRULE: %w", err)
	}
	// The library reads INTERVAL=0 as no INTERVAL (1); RFC 5545 wants a
	// positive integer.
	for part := range strings.SplitSeq(s, ";") {
		if v, ok := strings.CutPrefix(part, "INTERVAL="); ok && strings.Trim(v, "0+") == "" {
			return nil, fmt.Errorf("INTERVAL must be between 1 and %d", maxInterval)
		}
	}
	switch {
	case opt.Freq == rrule.SECONDLY || opt.Freq == rrule.MINUTELY:
		return nil, errors.New("FREQ must be HOURLY, DAILY, WEEKLY, MONTHLY or YEARLY")
	case opt.Interval < 0 || opt.Interval > maxInterval:
		return nil, fmt.Errorf("INTERVAL must be between 1 and %d", maxInterval)
	case opt.Count < 0 || opt.Count > maxCount:
		return nil, fmt.Errorf("COUNT must be between 1 and %d", maxCount)
	case len(opt.Bysecond) > 0:
		return nil, errors.New("BYSECOND is not supported: occurrences fall on whole minutes")
	}
	if err := checkSetPos(opt); err != nil {
		return nil, err
	}
	// The library checks the BY* bounds when it builds a rule: build one now
	// so that the rule's text alone is known to be valid.
	probe := *opt
	probe.Dtstart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := rrule.NewRRule(probe); err != nil {
		return nil, fmt.Errorf("is not a valid RRULE: %w", err)
	}
	return opt, nil
}

// checkSetPos rejects a BYSETPOS that no position of an HOURLY or DAILY period
// can hold. Such a series is empty, and the library would look for its first
// occurrence period by period up to the year 9999, which takes minutes when
// the periods are hours.
func checkSetPos(opt *rrule.ROption) error {
	if len(opt.Bysetpos) == 0 {
		return nil
	}
	var n int // occurrences in one period
	period := "hour"
	switch opt.Freq {
	case rrule.HOURLY:
		n = max(len(opt.Byminute), 1)
	case rrule.DAILY:
		n = max(len(opt.Byhour), 1) * max(len(opt.Byminute), 1)
		period = "day"
	default:
		return nil
	}
	for _, p := range opt.Bysetpos {
		if p != 0 && p >= -n && p <= n {
			return nil
		}
	}
	return fmt.Errorf("BYSETPOS selects none of the %d occurrences of each %s: the rule has no occurrence", n, period)
}

// checkHours rejects an HOURLY rule whose BYHOUR no step of INTERVAL hours
// from start reaches: the library would step through the hours forever.
func checkHours(opt *rrule.ROption, start time.Time) error {
	if opt.Freq != rrule.HOURLY || len(opt.Byhour) == 0 {
		return nil
	}
	step := max(opt.Interval, 1)
	g := gcd(step, 24)
	h0 := start.Hour()
	for _, h := range opt.Byhour {
		if ((h-h0)%g+g)%g == 0 {
			return nil
		}
	}
	return fmt.Errorf("BYHOUR is never reached by steps of %d hours from %02d:00: the rule has no occurrence", step, h0)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// canonical strips what NormalizeRule tolerates around a rule's text.
func canonical(rule string) string {
	return strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(rule)), "RRULE:")
}

// Series is a rule anchored at a DTSTART in a time zone.
type Series struct {
	opt  rrule.ROption
	rule *rrule.RRule
	loc  *time.Location
}

// New builds the series of rule starting at dtstart, stepped in loc's wall
// time. A rule with no occurrence at or after dtstart within the bounded
// search (February 30th, UNTIL before the start) is refused: the error says
// "the rule has no occurrence".
func New(rule string, dtstart time.Time, loc *time.Location) (*Series, error) {
	opt, err := parse(canonical(rule), loc)
	if err != nil {
		return nil, err
	}
	dtstart = dtstart.In(loc)
	if !opt.Until.IsZero() && opt.Until.Before(dtstart) {
		return nil, errors.New("UNTIL is before the start (due_at): the rule has no occurrence")
	}
	s, err := newSeries(opt, dtstart, loc)
	if err != nil {
		return nil, err
	}
	if _, err := s.after(dtstart, true); err != nil {
		if errors.Is(err, ErrNoOccurrence) {
			return nil, fmt.Errorf("the rule has no occurrence within %d years of the start (due_at)", SearchYears)
		}
		return nil, err
	}
	return s, nil
}

func newSeries(opt *rrule.ROption, dtstart time.Time, loc *time.Location) (s *Series, err error) {
	if err := checkHours(opt, dtstart); err != nil {
		return nil, err
	}
	opt.Dtstart = dtstart
	r, err := build(*opt)
	if err != nil {
		return nil, err
	}
	return &Series{opt: *opt, rule: r, loc: loc}, nil
}

func build(opt rrule.ROption) (r *rrule.RRule, err error) {
	defer func() {
		if v := recover(); v != nil {
			r, err = nil, fmt.Errorf("is not a valid RRULE: %v", v)
		}
	}()
	r, err = rrule.NewRRule(opt)
	if err != nil {
		return nil, fmt.Errorf("is not a valid RRULE: %w", err)
	}
	return r, nil
}

// After returns the first occurrence strictly after t, or ErrNoOccurrence
// when COUNT or UNTIL have ended the series, or ErrNoOccurrenceWithin when
// the bounded search found none.
func (s *Series) After(t time.Time) (time.Time, error) { return s.after(t, false) }

// after is After, or the first occurrence at or after t when inclusive.
//
// The search is bounded: it first runs on a probe, the same series moved
// by whole Gregorian cycles (which changes no date, weekday or leap day) so
// that t lands between SearchYears and SearchYears+400 years before the
// library's last year, where the library's own search stops. When the probe
// finds nothing, neither would the real series in those years; when it
// finds an occurrence, the real search stops at the same one, moved back.
func (s *Series) after(t time.Time, inclusive bool) (next time.Time, err error) {
	defer func() {
		if r := recover(); r != nil {
			next, err = time.Time{}, fmt.Errorf("compute occurrence: %v", r)
		}
	}()
	t = t.In(s.loc)
	if years := shiftYears(t.Year()); years != 0 {
		probe := s.opt
		probe.Dtstart = shift(probe.Dtstart, years)
		if !probe.Until.IsZero() {
			probe.Until = shift(probe.Until, years)
		}
		pr, err := build(probe)
		if err != nil {
			return time.Time{}, err
		}
		if pr.After(shift(t, years), inclusive).IsZero() {
			if !s.opt.Until.IsZero() && s.opt.Until.Before(shift(t, SearchYears)) {
				return time.Time{}, ErrNoOccurrence // UNTIL ended it
			}
			return time.Time{}, ErrNoOccurrenceWithin
		}
	}
	n := s.rule.After(t, inclusive)
	if n.IsZero() {
		return time.Time{}, ErrNoOccurrence
	}
	return n.UTC(), nil
}

// shiftYears is the whole number of Gregorian cycles, in years, that moves
// year into (maxYear-SearchYears-400, maxYear-SearchYears].
func shiftYears(year int) int {
	d := maxYear - SearchYears - year
	k := d / gregorianCycle
	if d < 0 && d%gregorianCycle != 0 {
		k--
	}
	return k * gregorianCycle
}

// shift moves t by years on its wall clock, in its location.
func shift(t time.Time, years int) time.Time {
	return time.Date(t.Year()+years, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

// Next returns the occurrence that follows one due at due and completed at
// completed, under anchor. done is the number of occurrences so far, this one
// included: a rule with COUNT ends once done reaches it, and UNTIL ends it too.
//
// For AnchorDue it is the rule's next date after due: the rule restarts at
// due, the previous occurrence. For AnchorCompletion the rule restarts on the
// completion's local date at due's local time of day, and the next occurrence
// is its first one after both that restart and the completion: a task done
// "every 3 days" early on the 5th is next due on the 8th.
func Next(rule string, anchor Anchor, zone string, due, completed time.Time, done int) (time.Time, error) {
	loc, err := LoadZone(zone)
	if err != nil {
		return time.Time{}, err
	}
	opt, err := parse(canonical(rule), loc)
	if err != nil {
		return time.Time{}, err
	}
	if opt.Count > 0 && done >= opt.Count {
		return time.Time{}, ErrNoOccurrence
	}
	// The series restarts at this occurrence, so its COUNT would restart too:
	// done has counted the occurrences instead.
	opt.Count = 0
	start, after := due.In(loc), due
	if anchor == AnchorCompletion {
		d, c := due.In(loc), completed.In(loc)
		start = time.Date(c.Year(), c.Month(), c.Day(), d.Hour(), d.Minute(), d.Second(), 0, loc)
		after = start
		if c.After(after) {
			after = c
		}
	}
	s, err := newSeries(opt, start, loc)
	if err != nil {
		return time.Time{}, err
	}
	return s.After(after)
}
