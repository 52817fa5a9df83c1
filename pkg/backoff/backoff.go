// Package backoff spaces out retries: exponential waits with jitter, and a
// sleep that ends with its context. The relay, the Kafka consumer groups and
// the consumer runtime share it.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay is the wait before attempt n (1, 2, …): exponential from lo, capped at
// hi, with jitter (between half and all of it) so that instances do not
// retry in step.
func Delay(n int, lo, hi time.Duration) time.Duration {
	d := hi
	if n >= 1 && n < 32 {
		if e := lo << (n - 1); e > 0 && e < hi {
			d = e
		}
	}
	return d/2 + rand.N(d/2+1) //nolint:gosec // jitter, not a secret
}

// Sleep waits d or until ctx ends; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
