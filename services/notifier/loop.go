package notifier

import (
	"context"
	"log/slog"
	"time"

	"github.com/todo-platform/todo/pkg/backoff"
)

// drainLoop is the loop of the firing loop and the delivery worker: it calls
// drain until ctx ends and returns nil then. After a failure it calls again
// with a growing backoff (100 ms to 10 s); after a success, when wake
// fires, when poll has passed, or at the time drain returned (the next
// reminder or attempt due), whichever comes first. now is the clock that
// time is read against.
func drainLoop(ctx context.Context, log *slog.Logger, what string, poll time.Duration, wake <-chan struct{}, now func() time.Time,
	drain func(context.Context) (*time.Time, error),
) error {
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next, err := drain(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			failures++
			d := backoff.Delay(failures, 100*time.Millisecond, 10*time.Second)
			log.Warn(what+" failed; retrying", "attempt", failures, "retry_in", d.Round(time.Millisecond), "err", err)
			backoff.Sleep(ctx, d)
			continue
		}
		failures = 0
		sleep := poll
		if next != nil {
			if d := next.Sub(now()); d < sleep {
				sleep = max(d, 0)
			}
		}
		timer.Reset(sleep)
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}
