package taskapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/services/taskapi"
)

// TestConcurrentChanges: changes of one task that race each other are all
// kept when they do not ask for a version (each on the version before it,
// one event each, versions without gaps), and exactly one wins among those
// that ask for the same version with If-Match; the others get 412.
func TestConcurrentChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.create("alice", map[string]any{"title": "raced"})["id"].(string)

	const n = 16
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			statuses[i] = e.do("alice", http.MethodPatch, "/api/v1/tasks/"+id, map[string]any{"title": fmt.Sprintf("raced %d", i)}).Status
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("patch %d without If-Match: %d", i, s)
		}
	}
	r := e.do("alice", http.MethodGet, "/api/v1/tasks/"+id, nil)
	if v := r.json(t)["version"].(float64); v != n+1 {
		t.Errorf("version %v after %d patches, want %d", v, n, n+1)
	}
	versions := func() []int {
		rows, err := e.pool.Query(context.Background(), `SELECT (event->'data'->>'version')::int FROM `+taskapi.OutboxTable+
			` WHERE event->>'type' = $1 AND event->'data'->>'id' = $2 ORDER BY id`, events.TypeTaskUpdated, id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	got := versions()
	slices.Sort(got)
	var want []int
	for v := 2; v <= n+1; v++ {
		want = append(want, v)
	}
	if !slices.Equal(got, want) {
		t.Errorf("update events of versions %v, want %v", got, want)
	}

	// The same version asked for by all: one wins.
	for i := range n {
		wg.Go(func() {
			statuses[i] = e.do("alice", http.MethodPatch, "/api/v1/tasks/"+id, map[string]any{"title": fmt.Sprintf("once %d", i)},
				fmt.Sprintf(`If-Match: "%d"`, n+1)).Status
		})
	}
	wg.Wait()
	won, refused := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			won++
		case http.StatusPreconditionFailed:
			refused++
		}
	}
	if won != 1 || refused != n-1 {
		t.Errorf("with If-Match: %d won, %d refused (statuses %v)", won, refused, statuses)
	}
	if got := versions(); len(got) != n+1 {
		t.Errorf("%d update events, want %d", len(got), n+1)
	}
}
