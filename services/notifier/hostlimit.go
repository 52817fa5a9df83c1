package notifier

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// HostLimits bound the webhook deliveries to one target host, however many
// users registered webhooks there: without them, one reminder fanned out to
// many users' webhooks on one host would hit it at the workers' full speed.
// A delivery over a limit is put off (no attempt is counted) until the host
// has room again.
type HostLimits struct {
	Rate        float64 // WEBHOOK_HOST_RATE: deliveries a second to one host (default 5)
	Burst       int     // WEBHOOK_HOST_BURST: deliveries at once above the rate (default 10)
	Concurrency int     // WEBHOOK_HOST_CONCURRENCY: requests in flight to one host (default 2)
}

func (l HostLimits) withDefaults() HostLimits {
	if l.Rate <= 0 {
		l.Rate = 5
	}
	if l.Burst <= 0 {
		l.Burst = 10
	}
	if l.Concurrency <= 0 {
		l.Concurrency = 2
	}
	return l
}

// throttledError is a delivery put off by its host's limits.
type throttledError struct {
	host    string
	reason  string // "rate" or "concurrency"
	retryIn time.Duration
}

func (e *throttledError) Error() string {
	return fmt.Sprintf("webhook host %s is at its %s limit; put off by %s", e.host, e.reason, e.retryIn.Round(time.Millisecond))
}

// hostLimiter keeps each host's rate (golang.org/x/time/rate's token
// bucket) and requests in flight.
type hostLimiter struct {
	l     HostLimits
	mu    sync.Mutex
	hosts map[string]*hostState
}

type hostState struct {
	rate     *rate.Limiter
	inFlight int
	used     time.Time
}

// forgetAfter is how long an idle host's state is kept: its bucket is full
// again long before.
const forgetAfter = 10 * time.Minute

func newHostLimiter(l HostLimits) *hostLimiter {
	return &hostLimiter{l: l.withDefaults(), hosts: map[string]*hostState{}}
}

// targetHost is the host a webhook URL is delivered to (lower case, without
// port: one machine's limits whatever the port).
func targetHost(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return target
	}
	return strings.ToLower(u.Hostname())
}

// acquire takes a place for one delivery to host: release gives it back
// once the request is done. Without room it returns the error that puts the
// delivery off, with a little jitter so that put-off deliveries do not all
// come back at once.
func (h *hostLimiter) acquire(host string, now time.Time) (release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.hosts) > 1024 {
		for k, st := range h.hosts {
			if st.inFlight == 0 && now.Sub(st.used) > forgetAfter {
				delete(h.hosts, k)
			}
		}
	}
	st := h.hosts[host]
	if st == nil {
		st = &hostState{rate: rate.NewLimiter(rate.Limit(h.l.Rate), h.l.Burst)}
		h.hosts[host] = st
	}
	st.used = now
	jitter := rand.N(time.Second/time.Duration(max(1, int(h.l.Rate))) + 1) //nolint:gosec // jitter, not a secret
	if st.inFlight >= h.l.Concurrency {
		return nil, &throttledError{host: host, reason: "concurrency", retryIn: 500*time.Millisecond + jitter}
	}
	r := st.rate.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, &throttledError{host: host, reason: "rate", retryIn: d + jitter}
	}
	st.inFlight++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		st.inFlight--
	}, nil
}
