package task

import "time"

// Snapshot is the JSON form of a task, version 1: the body of the API's task
// responses and the data of every task event. Field names are snake_case and
// times RFC 3339 in UTC. Adding a field is compatible; renaming or removing
// one needs a new event type version.
type Snapshot struct {
	ID           string      `json:"id"`
	OwnerID      string      `json:"owner_id"`
	Title        string      `json:"title"`
	Description  string      `json:"description"`
	Status       Status      `json:"status"`
	Priority     Priority    `json:"priority"`
	Tags         []string    `json:"tags"`
	DueAt        *time.Time  `json:"due_at"`
	TimeZone     string      `json:"time_zone"`
	Reminders    []Reminder  `json:"reminders"`
	Recurrence   *Recurrence `json:"recurrence"`
	SeriesID     *string     `json:"series_id"`
	OccurrenceAt *time.Time  `json:"occurrence_at"`
	CreatedAt    time.Time   `json:"created_at"`
	UpdatedAt    time.Time   `json:"updated_at"`
	CompletedAt  *time.Time  `json:"completed_at"`
	Version      int64       `json:"version"`
}

// Snapshot returns the JSON form of t.
func (t *Task) Snapshot() Snapshot {
	s := Snapshot{
		ID:           t.ID,
		OwnerID:      t.Owner,
		Title:        t.Title,
		Description:  t.Description,
		Status:       t.Status,
		Priority:     t.Priority,
		Tags:         t.Tags,
		DueAt:        utc(t.Due),
		TimeZone:     t.TimeZone,
		Reminders:    t.Reminders,
		Recurrence:   t.Recurrence,
		SeriesID:     t.SeriesID,
		OccurrenceAt: utc(t.OccurrenceAt),
		CreatedAt:    t.CreatedAt.UTC(),
		UpdatedAt:    t.UpdatedAt.UTC(),
		CompletedAt:  utc(t.CompletedAt),
		Version:      t.Version,
	}
	if s.Tags == nil {
		s.Tags = []string{}
	}
	if s.Reminders == nil {
		s.Reminders = []Reminder{}
	}
	return s
}

// Task returns the task s describes.
func (s Snapshot) Task() Task {
	return Task{
		ID:           s.ID,
		Owner:        s.OwnerID,
		Title:        s.Title,
		Description:  s.Description,
		Status:       s.Status,
		Priority:     s.Priority,
		Tags:         s.Tags,
		Due:          s.DueAt,
		TimeZone:     s.TimeZone,
		Reminders:    s.Reminders,
		Recurrence:   s.Recurrence,
		SeriesID:     s.SeriesID,
		OccurrenceAt: s.OccurrenceAt,
		CreatedAt:    s.CreatedAt,
		UpdatedAt:    s.UpdatedAt,
		CompletedAt:  s.CompletedAt,
		Version:      s.Version,
	}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
