package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// words are the vocabulary of seeded titles and descriptions and of search
// queries. Earlier words are picked more often (see skewed), as in real task
// lists, so that searches hit both common and rare words.
var words = strings.Fields(`
	review call email send update plan fix check write prepare meeting report
	book order pay buy schedule team project budget draft client invoice
	follow up sync release deploy test design document notes agenda slides
	renew cancel confirm submit approve sign contract doctor dentist appointment
	groceries laundry clean kitchen garden car service insurance taxes bank
	passport visa flight hotel trip birthday gift party dinner lunch coffee
	gym run yoga swim bike walk dog cat vet school homework teacher parents
	kids pickup dropoff library books read article blog post newsletter
	podcast video record edit publish backup laptop phone password account
	subscription license renewal quarterly monthly weekly daily annual
	roadmap milestone sprint backlog ticket bug feature refactor migration
	database server cluster network firewall certificate monitoring alert
	dashboard metrics latency incident postmortem oncall rotation hiring
	interview candidate offer onboarding training workshop conference talk
	proposal estimate quote vendor supplier shipment delivery warehouse
	inventory audit compliance policy security privacy legal contract review
	feedback survey customer support refund complaint partner marketing
	campaign launch website landing analytics seo social ads brand logo
	photo album print frame paint wall furniture sofa plumber electrician
	roof window heating boiler filter repair replace install upgrade
	mortgage rent lease landlord utility electricity water internet bill
	pension savings investment portfolio stocks crypto loan credit card
	anniversary wedding guest list invitations venue catering music flowers
	recipe bake bread cake soup salad vegetables fruit market farm
	volunteer charity donation community neighbor meetup club board vote
	exam study course lecture thesis research paper experiment lab data
	model pipeline notebook python golang kubernetes terraform pulumi kafka
	postgres redis cache queue worker cron job script automation cleanup
	archive folder files share drive spreadsheet presentation memo minutes
`)

// tagSet is the vocabulary of seeded tags (already in canonical form).
var tagSet = []string{
	"work", "home", "personal", "urgent", "errands", "finance", "health",
	"family", "shopping", "travel", "reading", "learning", "fitness", "garden",
	"car", "house", "kids", "pets", "admin", "bills", "calls", "email",
	"meetings", "projects", "ideas", "someday", "waiting", "q3-planning",
	"side-project", "volunteering",
}

// zones are the users' home time zones.
var zones = []string{
	"Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "Europe/London",
	"America/Los_Angeles", "Asia/Kolkata", "Australia/Sydney", "America/Sao_Paulo",
	"Africa/Nairobi", "Europe/Paris", "Asia/Singapore", "America/Chicago",
	"Pacific/Auckland", "Europe/Madrid", "America/Toronto",
}

// rules are recurrence rules as users write them; the seed stores their
// canonical form (recurrence.NormalizeRule), as the API does.
var rules = []string{
	"FREQ=DAILY",
	"FREQ=DAILY;INTERVAL=2",
	"FREQ=WEEKLY",
	"FREQ=WEEKLY;BYDAY=MO",
	"FREQ=WEEKLY;BYDAY=MO,WE,FR",
	"FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
	"FREQ=MONTHLY;BYMONTHDAY=1",
	"FREQ=MONTHLY;BYDAY=-1FR",
	"FREQ=YEARLY",
	"FREQ=DAILY;COUNT=30",
}

// reminderBefore are the "before" durations of seeded reminders, written as
// task.FormatDuration writes them.
var reminderBefore = []string{"15m", "30m", "1h", "2h", "1d"}

// skewed picks an index below n, favouring small ones (density ∝ 1/√x).
func skewed(r *rand.Rand, n int) int {
	return int(float64(n) * math.Pow(r.Float64(), 2))
}

// phrase joins k words picked by skewed; capital makes the first upper case.
func phrase(r *rand.Rand, k int, capital bool) string {
	var b strings.Builder
	for i := range k {
		w := words[skewed(r, len(words))]
		if i > 0 {
			b.WriteByte(' ')
		} else if capital {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		b.WriteString(w)
	}
	return b.String()
}

// pickTags returns 0 to 4 distinct tags, sorted (the canonical order).
func pickTags(r *rand.Rand) []string {
	var n int
	switch x := r.IntN(100); {
	case x < 30:
		n = 0
	case x < 60:
		n = 1
	case x < 80:
		n = 2
	case x < 92:
		n = 3
	default:
		n = 4
	}
	tags := make([]string, 0, n)
	for len(tags) < n {
		t := tagSet[skewed(r, len(tagSet))]
		dup := false
		for _, have := range tags {
			dup = dup || have == t
		}
		if !dup {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return tags
}

// pickPriority returns a priority 0 (none) to 4 (urgent), mostly low ones.
func pickPriority(r *rand.Rand) int16 {
	switch x := r.IntN(100); {
	case x < 35:
		return 0
	case x < 60:
		return 1
	case x < 80:
		return 2
	case x < 95:
		return 3
	default:
		return 4
	}
}
