package notifier

import "context"

// SetBeforeCommit makes every round of f run fn before it commits.
func SetBeforeCommit(f *Firer, fn func(ctx context.Context) error) { f.beforeCommit = fn }
