package task

import (
	"encoding/json"
	"fmt"
)

// Priority orders tasks by importance; a higher value is more important.
type Priority int16

// The priorities, from least to most important.
const (
	PriorityNone Priority = iota
	PriorityLow
	PriorityMedium
	PriorityHigh
	PriorityUrgent
)

var priorityNames = [...]string{"none", "low", "medium", "high", "urgent"}

// PriorityNames lists the priority names from least to most important.
func PriorityNames() []string { return append([]string(nil), priorityNames[:]...) }

// String returns the wire name of p.
func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return fmt.Sprintf("priority(%d)", int16(p))
	}
	return priorityNames[p]
}

// ParsePriority returns the priority named s.
func ParsePriority(s string) (Priority, error) {
	for i, n := range priorityNames {
		if n == s {
			return Priority(i), nil //nolint:gosec // i < len(priorityNames), which is 5
		}
	}
	return 0, fmt.Errorf("unknown priority %q (want one of none, low, medium, high, urgent)", s)
}

// MarshalJSON writes p as its name.
func (p Priority) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

// UnmarshalJSON reads p from its name.
func (p *Priority) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("priority must be a string: one of none, low, medium, high, urgent")
	}
	v, err := ParsePriority(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}
