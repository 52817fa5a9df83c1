// Package ratelimit limits the request rate of the platform's public APIs
// per client address and per authenticated user, and the failed
// authentications per address, with github.com/go-chi/httprate's sliding
// window counters. A request over a limit gets 429 with Retry-After and a
// problem+json body. The limits are read from the environment (RATE_LIMIT_*)
// and on by default; every service with a public API installs them through
// Limiter.Authenticated.
package ratelimit

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/httprate"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/metrics"
	"github.com/todo-platform/todo/pkg/web"
)

// Defaults of the limits, per Window.
const (
	DefaultWindow       = time.Minute
	DefaultPerAddress   = 6000 // 100 a second on average: a busy office behind one address
	DefaultPerUser      = 3000 // 50 a second: far above what a person's clients send
	DefaultAuthFailures = 30   // tokens refused per address: guessing stops here
)

// DefaultTrustedProxies are the peers whose X-Forwarded-For is believed by
// default: loopback (the local runner's front) and the private ranges (an
// Ingress controller's pods).
var DefaultTrustedProxies = []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}

// Config is the limits.
type Config struct {
	Off          bool          // RATE_LIMIT=off turns every limit off
	Window       time.Duration // RATE_LIMIT_WINDOW: the sliding window of the counts
	PerAddress   int           // RATE_LIMIT_PER_ADDRESS: requests per window from one client address
	PerUser      int           // RATE_LIMIT_PER_USER: requests per window of one authenticated user
	AuthFailures int           // RATE_LIMIT_AUTH_FAILURES: refused tokens per window from one address
	// TrustedProxies (RATE_LIMIT_TRUSTED_PROXIES, comma list of CIDRs, or
	// none) are the peers whose X-Forwarded-For names the client (see
	// ClientAddress).
	TrustedProxies []netip.Prefix
}

// ConfigFromEnv reads the limits, naming the variable of any bad value.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{Window: DefaultWindow, PerAddress: DefaultPerAddress, PerUser: DefaultPerUser, AuthFailures: DefaultAuthFailures}
	switch v := strings.ToLower(strings.TrimSpace(getenv("RATE_LIMIT"))); v {
	case "", "on", "true", "1":
	case "off", "false", "0":
		c.Off = true
	default:
		return c, fmt.Errorf("RATE_LIMIT=%q: want on or off", v)
	}
	if v := strings.TrimSpace(getenv("RATE_LIMIT_WINDOW")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 24*time.Hour {
			return c, fmt.Errorf("RATE_LIMIT_WINDOW=%q: want a duration from 1s to 24h, such as 1m", v)
		}
		c.Window = d
	}
	for _, e := range []struct {
		name string
		dst  *int
	}{{"RATE_LIMIT_PER_ADDRESS", &c.PerAddress}, {"RATE_LIMIT_PER_USER", &c.PerUser}, {"RATE_LIMIT_AUTH_FAILURES", &c.AuthFailures}} {
		v := strings.TrimSpace(getenv(e.name))
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c, fmt.Errorf("%s=%q: want a whole number of requests per window, at least 1", e.name, v)
		}
		*e.dst = n
	}
	proxies := DefaultTrustedProxies
	switch v := strings.TrimSpace(getenv("RATE_LIMIT_TRUSTED_PROXIES")); v {
	case "":
	case "none":
		proxies = nil
	default:
		proxies = nil
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				proxies = append(proxies, s)
			}
		}
	}
	for _, s := range proxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return c, fmt.Errorf("RATE_LIMIT_TRUSTED_PROXIES: %q is not a CIDR such as 10.0.0.0/8", s)
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
	return c, nil
}

// Limiter applies the limits. A nil *Limiter limits nothing.
type Limiter struct {
	cfg      Config
	address  *httprate.RateLimiter
	user     *httprate.RateLimiter
	failures *failureCounter
	limited  *prometheus.CounterVec
}

// New returns the limiter of cfg, or nil when cfg is off. reg, when not
// nil, gets the counter of refused requests.
func New(cfg Config, reg prometheus.Registerer) *Limiter {
	if cfg.Off {
		return nil
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	l := &Limiter{cfg: cfg, failures: newFailureCounter(cfg.AuthFailures, cfg.Window),
		limited: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_rate_limited_total",
			Help: "Requests refused with 429 by a rate limit, by limit (address, user, auth_failures).",
		}, []string{"limit"}))}
	l.address = httprate.NewRateLimiter(cfg.PerAddress, cfg.Window,
		httprate.WithKeyFuncs(func(r *http.Request) (string, error) { return l.ClientAddress(r), nil }),
		httprate.WithLimitHandler(l.tooMany("address", "from this address", cfg.PerAddress)))
	l.user = httprate.NewRateLimiter(cfg.PerUser, cfg.Window,
		httprate.WithKeyFuncs(func(r *http.Request) (string, error) { return auth.UserID(r.Context()), nil }),
		httprate.WithLimitHandler(l.tooMany("user", "for this user", cfg.PerUser)))
	return l
}

// ClientAddress is the address of r's client: the peer, or, when the peer
// is a trusted proxy, the last address in X-Forwarded-For that is not one.
// A nil Limiter trusts no proxy.
func (l *Limiter) ClientAddress(r *http.Request) string {
	var trusted []netip.Prefix
	if l != nil {
		trusted = l.cfg.TrustedProxies
	}
	return ClientAddress(r, trusted)
}

// ClientAddress returns the client of r (see Limiter.ClientAddress). IPv6
// clients count by their /64, as one host usually holds a whole one.
func ClientAddress(r *http.Request, trusted []netip.Prefix) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	var addr netip.Addr
	if err == nil {
		addr = peer.Addr().Unmap()
	} else if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		addr = a.Unmap()
	} else {
		return r.RemoteAddr
	}
	if isTrusted(addr, trusted) {
		hops := r.Header.Values("X-Forwarded-For")
	walk:
		for i := len(hops) - 1; i >= 0; i-- {
			parts := strings.Split(hops[i], ",")
			for j := len(parts) - 1; j >= 0; j-- {
				hop, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
				if err != nil {
					break walk // a malformed hop: believe no address before it
				}
				addr = hop.Unmap()
				if !isTrusted(addr, trusted) {
					break walk
				}
			}
		}
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Authenticated returns the middleware of an authenticated API: the
// per-address limit, then the bearer token (auth.Middleware; an address
// with too many refused tokens gets 429 until its count decays), then the
// per-user limit. With a nil Limiter it is auth.Middleware alone.
func (l *Limiter) Authenticated(v *auth.Verifier) func(http.Handler) http.Handler {
	if l == nil {
		return auth.Middleware(v)
	}
	authn := auth.Middleware(v, l)
	return func(next http.Handler) http.Handler {
		return l.address.Handler(authn(l.user.Handler(next)))
	}
}

// PerAddress limits the requests of each client address (a nil Limiter:
// none).
func (l *Limiter) PerAddress(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return l.address.Handler(next)
}

var _ auth.Guard = (*Limiter)(nil)

// Blocked answers 429 and reports true when r's address has had more
// tokens refused than the limit allows within the window.
func (l *Limiter) Blocked(w http.ResponseWriter, r *http.Request) bool {
	if l == nil || l.failures.rate(l.ClientAddress(r)) < float64(l.cfg.AuthFailures) {
		return false
	}
	l.limited.WithLabelValues("auth_failures").Inc()
	TooMany(w, r, l.cfg.Window, fmt.Sprintf("too many refused tokens from this address: at most %d per %s", l.cfg.AuthFailures, l.cfg.Window))
	return true
}

// Failed counts a refused token against r's address.
func (l *Limiter) Failed(r *http.Request) {
	if l != nil {
		l.failures.add(l.ClientAddress(r))
	}
}

// FailedAddress counts a refused token against addr, a ClientAddress: for
// a token refused after the request (a WebSocket's first message).
func (l *Limiter) FailedAddress(addr string) {
	if l != nil {
		l.failures.add(addr)
	}
}

func (l *Limiter) tooMany(label, whose string, limit int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l.limited.WithLabelValues(label).Inc()
		TooMany(w, r, l.cfg.Window, fmt.Sprintf("too many requests %s: at most %d per %s", whose, limit, l.cfg.Window))
	}
}

// TooMany answers 429 Too Many Requests with Retry-After (whole seconds, at
// least 1) and a problem saying which limit.
func TooMany(w http.ResponseWriter, r *http.Request, retryAfter time.Duration, detail string) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(retryAfter.Seconds())))))
	web.Fail(w, r, http.StatusTooManyRequests, detail)
}

// failureCounter counts events per key in a sliding window, with the
// counter httprate's limiters use.
type failureCounter struct {
	counter httprate.LimitCounter
	window  time.Duration
}

func newFailureCounter(limit int, window time.Duration) *failureCounter {
	c := httprate.NewLocalLimitCounter(window)
	c.Config(limit, window)
	return &failureCounter{counter: c, window: window}
}

func (f *failureCounter) add(key string) {
	_ = f.counter.Increment(key, time.Now().UTC().Truncate(f.window))
}

// rate is the count of the current window plus the part of the previous
// one that the sliding window still covers.
func (f *failureCounter) rate(key string) float64 {
	now := time.Now().UTC()
	cur := now.Truncate(f.window)
	c, p, err := f.counter.Get(key, cur, cur.Add(-f.window))
	if err != nil {
		return 0
	}
	return float64(p)*float64(f.window-now.Sub(cur))/float64(f.window) + float64(c)
}
