package ratelimit_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/ratelimit"
)

const secret = "ratelimit-test-secret-0123456789abcdef"

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ratelimit.ConfigFromEnv(env(nil))
	if err != nil || c.Off || c.Window != time.Minute || c.PerAddress != ratelimit.DefaultPerAddress ||
		c.PerUser != ratelimit.DefaultPerUser || c.AuthFailures != ratelimit.DefaultAuthFailures || len(c.TrustedProxies) != len(ratelimit.DefaultTrustedProxies) {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	c, err = ratelimit.ConfigFromEnv(env(map[string]string{"RATE_LIMIT_WINDOW": "10s", "RATE_LIMIT_PER_ADDRESS": "7", "RATE_LIMIT_PER_USER": "5",
		"RATE_LIMIT_AUTH_FAILURES": "3", "RATE_LIMIT_TRUSTED_PROXIES": "10.1.0.0/16, 2001:db8::/32"}))
	if err != nil || c.Window != 10*time.Second || c.PerAddress != 7 || c.PerUser != 5 || c.AuthFailures != 3 || len(c.TrustedProxies) != 2 {
		t.Fatalf("set: %+v, %v", c, err)
	}
	if c, err := ratelimit.ConfigFromEnv(env(map[string]string{"RATE_LIMIT": "off"})); err != nil || !c.Off || ratelimit.New(c, nil) != nil {
		t.Fatalf("off: %+v, %v", c, err)
	}
	if c, err := ratelimit.ConfigFromEnv(env(map[string]string{"RATE_LIMIT_TRUSTED_PROXIES": "none"})); err != nil || len(c.TrustedProxies) != 0 {
		t.Fatalf("none trusted: %+v, %v", c, err)
	}
	for _, kv := range [][2]string{
		{"RATE_LIMIT", "sometimes"}, {"RATE_LIMIT_WINDOW", "0s"}, {"RATE_LIMIT_WINDOW", "soon"},
		{"RATE_LIMIT_PER_ADDRESS", "0"}, {"RATE_LIMIT_PER_USER", "-1"}, {"RATE_LIMIT_AUTH_FAILURES", "x"},
		{"RATE_LIMIT_TRUSTED_PROXIES", "10.0.0.1"},
	} {
		if _, err := ratelimit.ConfigFromEnv(env(map[string]string{kv[0]: kv[1]})); err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s=%s: %v, want an error naming the variable", kv[0], kv[1], err)
		}
	}
}

func TestClientAddress(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"203.0.113.9:5555", nil, "203.0.113.9"},
		{"203.0.113.9:5555", []string{"198.51.100.1"}, "203.0.113.9"}, // an untrusted peer cannot name another client
		{"127.0.0.1:5555", []string{"198.51.100.1"}, "198.51.100.1"},
		{"127.0.0.1:5555", []string{"192.0.2.66, 198.51.100.1, 10.0.0.3"}, "198.51.100.1"}, // the last untrusted hop
		{"127.0.0.1:5555", []string{"192.0.2.66", "198.51.100.1"}, "198.51.100.1"},
		{"127.0.0.1:5555", []string{"junk, 198.51.100.1"}, "198.51.100.1"},
		{"127.0.0.1:5555", []string{"198.51.100.1, junk"}, "127.0.0.1"}, // a malformed hop: nothing before it is believed
		{"127.0.0.1:5555", nil, "127.0.0.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", nil, "2001:db8:1:2::/64"},
		{"[::ffff:203.0.113.9]:1", nil, "203.0.113.9"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.remote
		for _, h := range c.xff {
			r.Header.Add("X-Forwarded-For", h)
		}
		if got := ratelimit.ClientAddress(r, trusted); got != c.want {
			t.Errorf("ClientAddress(%s, %q) = %q, want %q", c.remote, c.xff, got, c.want)
		}
	}
}

// FuzzClientAddress: any peer and X-Forwarded-For give an address without
// panicking; an untrusted peer is always its own client.
func FuzzClientAddress(f *testing.F) {
	f.Add("127.0.0.1:1", "192.0.2.1, 10.0.0.1")
	f.Add("[::1]:1", "2001:db8::1")
	f.Add("203.0.113.1:80", "127.0.0.1")
	f.Add("garbage", ",,,")
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := ratelimit.ClientAddress(r, trusted)
		if ap, err := netip.ParseAddrPort(remote); err == nil && ap.Addr().Unmap().Is4() {
			if a := ap.Addr().Unmap(); !trusted[0].Contains(a) && !trusted[2].Contains(a) && got != a.String() {
				t.Fatalf("untrusted peer %s named %q as its client", remote, got)
			}
		}
		if got == "" && remote != "" {
			t.Fatalf("no address for %q", remote)
		}
	})
}

// server is an authenticated API behind the limits of cfg.
func server(t *testing.T, cfg ratelimit.Config) *httptest.Server {
	t.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	l := ratelimit.New(cfg, prometheus.NewRegistry())
	h := l.Authenticated(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(auth.UserID(r.Context())))
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// answer is a response, read and closed.
type answer struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// get sends a request as from address addr (through the loopback peer, a
// trusted proxy) with tok ("" sends none).
func get(t *testing.T, srv *httptest.Server, addr, tok string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", addr)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}
}

func tokenFor(t *testing.T, user string) string {
	t.Helper()
	tok, err := auth.IssueHS256(secret, user, "", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wantTooMany checks resp is a 429 problem+json with Retry-After, whose
// detail contains what.
func wantTooMany(t *testing.T, resp answer, what string) {
	t.Helper()
	var p struct {
		Status int
		Detail string
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Content-Type") != "application/problem+json" ||
		json.Unmarshal(resp.Body, &p) != nil || p.Status != 429 || !strings.Contains(p.Detail, what) {
		t.Fatalf("got %d %s %+v, want a 429 problem about %q", resp.StatusCode, resp.Header.Get("Content-Type"), p, what)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
}

func wantStatus(t *testing.T, resp answer, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d", resp.StatusCode, want)
	}
}

func base() ratelimit.Config {
	return ratelimit.Config{Window: time.Hour, PerAddress: 1000, PerUser: 1000, AuthFailures: 1000,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
}

func TestPerUser(t *testing.T) {
	t.Parallel()
	cfg := base()
	cfg.PerUser = 3
	srv := server(t, cfg)
	alice, bob := tokenFor(t, "alice"), tokenFor(t, "bob")
	for i := range 3 {
		wantStatus(t, get(t, srv, "192.0.2."+string(rune('1'+i)), alice), http.StatusOK) // from any address
	}
	wantTooMany(t, get(t, srv, "192.0.2.9", alice), "for this user")
	wantStatus(t, get(t, srv, "192.0.2.9", bob), http.StatusOK)
}

func TestPerAddress(t *testing.T) {
	t.Parallel()
	cfg := base()
	cfg.PerAddress = 3
	srv := server(t, cfg)
	for _, user := range []string{"a", "b", "c"} {
		wantStatus(t, get(t, srv, "192.0.2.1", tokenFor(t, user)), http.StatusOK)
	}
	wantTooMany(t, get(t, srv, "192.0.2.1", tokenFor(t, "d")), "from this address")
	wantTooMany(t, get(t, srv, "192.0.2.1", ""), "from this address")
	wantStatus(t, get(t, srv, "192.0.2.2", tokenFor(t, "d")), http.StatusOK)
}

func TestAuthFailures(t *testing.T) {
	t.Parallel()
	cfg := base()
	cfg.AuthFailures = 3
	srv := server(t, cfg)
	good := tokenFor(t, "alice")
	wantStatus(t, get(t, srv, "192.0.2.1", ""), http.StatusUnauthorized)
	wantStatus(t, get(t, srv, "192.0.2.1", "forged"), http.StatusUnauthorized)
	wantStatus(t, get(t, srv, "192.0.2.1", good), http.StatusOK) // successes do not count
	wantStatus(t, get(t, srv, "192.0.2.1", good+"x"), http.StatusUnauthorized)
	// Three refused: the address may not try again, not even with a good token.
	wantTooMany(t, get(t, srv, "192.0.2.1", good), "refused tokens")
	wantTooMany(t, get(t, srv, "192.0.2.1", "forged"), "refused tokens")
	wantStatus(t, get(t, srv, "192.0.2.2", good), http.StatusOK)
}

func TestNilLimiterLimitsNothing(t *testing.T) {
	t.Parallel()
	var l *ratelimit.Limiter
	v, err := auth.NewVerifier(context.Background(), auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.PerAddress(l.Authenticated(v)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))))
	t.Cleanup(srv.Close)
	for range 50 {
		wantStatus(t, get(t, srv, "192.0.2.1", "forged"), http.StatusUnauthorized)
	}
	wantStatus(t, get(t, srv, "192.0.2.1", tokenFor(t, "alice")), http.StatusOK)
}
