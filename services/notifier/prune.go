package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Retention of what the notifier keeps after it stops mattering.
const (
	// DeletedTaskRetention is how long a deleted task's record and its
	// reminders stay: past the topics' retention no older event of the task
	// can arrive, so nothing needs them any more.
	DeletedTaskRetention = ConsumedRetention
	// DeliveryRetention is how long finished deliveries stay (for support).
	DeliveryRetention = 30 * 24 * time.Hour
)

var pruneStatements = []struct {
	what, sql string
	age       time.Duration
}{
	{"deliveries", `DELETE FROM notifier.deliveries WHERE status <> 'pending' AND done_at < now() - make_interval(secs => $1)`, DeliveryRetention},
	{"reminders of deleted tasks", `DELETE FROM notifier.reminders r USING notifier.tasks t
		WHERE r.task_id = t.task_id AND t.deleted AND t.updated_at < now() - make_interval(secs => $1)`, DeletedTaskRetention},
	{"deleted tasks", `DELETE FROM notifier.tasks t WHERE t.deleted AND t.updated_at < now() - make_interval(secs => $1)
		AND NOT EXISTS (SELECT FROM notifier.reminders r WHERE r.task_id = t.task_id)`, DeletedTaskRetention},
}

// Prune deletes finished deliveries older than DeliveryRetention and deleted
// tasks (with their reminders) older than DeletedTaskRetention.
func (s *Store) Prune(ctx context.Context) (int64, error) {
	var n int64
	for _, st := range pruneStatements {
		tag, err := s.pool.Exec(ctx, st.sql, st.age.Seconds())
		if err != nil {
			return n, fmt.Errorf("prune %s: %w", st.what, err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

// PruneEvery prunes every interval until ctx ends; it returns nil then.
func (s *Store) PruneEvery(ctx context.Context, interval time.Duration, log *slog.Logger) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if n, err := s.Prune(ctx); err != nil && ctx.Err() == nil {
			log.Warn("pruning failed", "err", err)
		} else if n > 0 {
			log.Info("pruned old rows", "rows", n)
		}
	}
}
