package recurring

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Outcomes of asking taskapi for an occurrence.
var (
	// ErrTaskGone says the completed task was deleted: its series ends.
	ErrTaskGone = errors.New("the task no longer exists")
	// ErrNotRecurring says the task has lost its recurrence: no successor.
	ErrNotRecurring = errors.New("the task is not recurring")
)

// TaskAPI calls taskapi's internal API.
type TaskAPI struct {
	base   string
	token  string
	client *http.Client
}

// NewTaskAPI returns a client of the taskapi at base (e.g. http://taskapi:8080)
// that authenticates with the internal token.
func NewTaskAPI(base, token string, client *http.Client) *TaskAPI {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &TaskAPI{base: strings.TrimRight(base, "/"), token: token, client: client}
}

// StatusError is an answer of taskapi that is neither success nor one of the
// outcomes above.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("taskapi answered %d: %s", e.Status, e.Body)
}

// CreateOccurrence asks taskapi for the occurrence of previous's series at
// at, as previous's successor, and returns the successor's id and whether
// this call created it. taskapi gives a task at most one successor.
func (c *TaskAPI) CreateOccurrence(ctx context.Context, previous string, at time.Time) (id string, created bool, err error) {
	body, err := json.Marshal(map[string]string{"occurrence_at": at.UTC().Format(time.RFC3339)})
	if err != nil {
		return "", false, err
	}
	target := c.base + "/internal/v1/tasks/" + url.PathEscape(previous) + "/occurrences"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return "", false, fmt.Errorf("create occurrence of %s: %w", previous, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.client.Do(req)
	if err != nil {
		return "", false, fmt.Errorf("create occurrence of %s: %w", previous, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", false, fmt.Errorf("create occurrence of %s: read answer: %w", previous, err)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated:
		var t struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &t); err != nil || t.ID == "" {
			return "", false, fmt.Errorf("create occurrence of %s: answer without a task id: %.200s", previous, b)
		}
		return t.ID, resp.StatusCode == http.StatusCreated, nil
	case http.StatusNotFound:
		return "", false, ErrTaskGone
	case http.StatusConflict:
		return "", false, ErrNotRecurring
	}
	msg := string(b)
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return "", false, fmt.Errorf("create occurrence of %s: %w", previous, &StatusError{Status: resp.StatusCode, Body: msg})
}
