package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// checkSeed reads seeded tasks of every kind back through the API and sends
// each an empty merge patch: the API re-validates the whole task (rule, zone,
// reminders, tags) and, since the seed stores the canonical form, must find
// nothing to change and keep the version.
func checkSeed(ctx context.Context, rn *runner, pool *pgxpool.Pool, users []*user) (int, error) {
	checked := 0
	for _, u := range []*user{users[0], users[len(users)-1]} {
		rows, err := pool.Query(ctx, `
			(SELECT id::text FROM taskapi.tasks WHERE owner_id = $1 AND recurrence_rule IS NOT NULL LIMIT 4)
			UNION ALL (SELECT id::text FROM taskapi.tasks WHERE owner_id = $1 AND reminders <> '[]' LIMIT 4)
			UNION ALL (SELECT id::text FROM taskapi.tasks WHERE owner_id = $1 AND status = 'done' LIMIT 4)
			UNION ALL (SELECT id::text FROM taskapi.tasks WHERE owner_id = $1 AND due_at IS NULL LIMIT 4)
			UNION ALL (SELECT id::text FROM taskapi.tasks WHERE owner_id = $1 AND cardinality(tags) >= 3 LIMIT 4)`, u.id)
		if err != nil {
			return checked, fmt.Errorf("seed check: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return checked, fmt.Errorf("seed check: %w", err)
		}
		for _, id := range ids {
			if err := checkTask(ctx, rn, u, id); err != nil {
				return checked, fmt.Errorf("seed check of task %s of %s: %w", id, u.id, err)
			}
			checked++
		}
	}
	return checked, nil
}

func checkTask(ctx context.Context, rn *runner, u *user, id string) error {
	rec := newRecorder()
	a, buf := rn.send(ctx, rec, opGet, time.Now(), http.MethodGet, "/api/v1/tasks/"+id, u, nil, 0, true)
	defer release(buf)
	if a.status != http.StatusOK {
		return fmt.Errorf("GET answered %d: %s", a.status, a.body)
	}
	var got struct {
		ID      string `json:"id"`
		OwnerID string `json:"owner_id"`
		Version int64  `json:"version"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil {
		return fmt.Errorf("GET body: %w", err)
	}
	if got.ID != id || got.OwnerID != u.id || got.Version != a.version {
		return fmt.Errorf("GET returned %+v (ETag %d)", got, a.version)
	}
	p, pbuf := rn.send(ctx, rec, opPatch, time.Now(), http.MethodPatch, "/api/v1/tasks/"+id, u, []byte("{}"), got.Version, true)
	defer release(pbuf)
	if p.status != http.StatusOK {
		return fmt.Errorf("an empty merge patch answered %d: %s", p.status, p.body)
	}
	if p.version != got.Version {
		return fmt.Errorf("an empty merge patch changed the version %d to %d: the stored task is not in canonical form", got.Version, p.version)
	}
	return nil
}
