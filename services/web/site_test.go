package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestBuildIsFresh fails when dist/ was built from other sources than the
// ones in this folder: rebuild it (make web-build) and commit it.
func TestBuildIsFresh(t *testing.T) {
	t.Parallel()
	got, err := SourceDigest(".")
	if err != nil {
		t.Fatal(err)
	}
	if built := BuiltDigest(); got != built {
		t.Fatalf("services/web/dist is stale: built from sources %q, the sources are now %q; run `make web-build` and commit services/web/dist", built, got)
	}
}

// response is what a GET answered.
type response struct {
	StatusCode int
	Header     http.Header
	body       string
}

func get(t *testing.T, h http.Handler, target string) response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

func body(_ *testing.T, r response) string { return r.body }

func TestIndexHasAStrictPolicy(t *testing.T) {
	t.Parallel()
	h, err := Handler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := get(t, h, "/")
	page := body(t, r)
	if r.StatusCode != http.StatusOK || !strings.Contains(page, "<html") {
		t.Fatalf("GET / = %d", r.StatusCode)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("index.html Cache-Control %q, want no-cache", cc)
	}
	policy := r.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "connect-src 'self';", "style-src 'self';"} {
		if !strings.Contains(policy, want) {
			t.Errorf("CSP %q lacks %q", policy, want)
		}
	}
	if strings.Contains(policy, "unsafe-inline") || strings.Contains(policy, "unsafe-eval") {
		t.Errorf("CSP %q allows inline code without hashes", policy)
	}
	// Every inline script of the page is allowed by its hash, and only those.
	inline := regexp.MustCompile(`(?s)<script(\s[^>]*)?>(.*?)</script>`).FindAllStringSubmatch(page, -1)
	n := 0
	for _, m := range inline {
		if strings.Contains(m[1], "src=") {
			continue
		}
		n++
		sum := sha256.Sum256([]byte(m[2]))
		if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(policy, h) {
			t.Errorf("inline script %.40q… is not allowed by the CSP", m[2])
		}
	}
	if n == 0 {
		t.Error("no inline scripts: the test checks nothing")
	}
	if got := strings.Count(policy, "'sha256-"); got != n {
		t.Errorf("CSP allows %d hashes for %d inline scripts", got, n)
	}
}

func TestAssetsAreCachedForLong(t *testing.T) {
	t.Parallel()
	h, err := Handler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	page := body(t, get(t, h, "/"))
	src := regexp.MustCompile(`src="(/_next/static/[^"]+\.js)"`).FindStringSubmatch(page)
	if src == nil {
		t.Fatal("the page loads no script from /_next/static/")
	}
	r := get(t, h, src[1])
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", src[1], r.StatusCode)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("%s Cache-Control %q", src[1], cc)
	}
	if ct := r.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("%s Content-Type %q", src[1], ct)
	}
	for _, p := range []string{"/nope", "/SOURCES.sha256", "/../site.go"} {
		if r := get(t, h, p); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, r.StatusCode)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d", rec.Code)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	h, err := Handler(Options{
		RealtimeURL: "ws://127.0.0.1:8084/ws",
		OIDC:        &OIDC{Issuer: "http://127.0.0.1:9000/oidc", ClientID: "todo-web"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := get(t, h, ConfigPath)
	var cfg struct {
		OIDC struct {
			Authority string `json:"authority"`
			ClientID  string `json:"client_id"`
		} `json:"oidc"`
		RealtimeURL string `json:"realtime_url"`
	}
	if err := json.Unmarshal([]byte(body(t, r)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OIDC.Authority != "http://127.0.0.1:9000/oidc" || cfg.OIDC.ClientID != "todo-web" || cfg.RealtimeURL != "ws://127.0.0.1:8084/ws" {
		t.Errorf("config %+v", cfg)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("config Cache-Control %q", cc)
	}
	policy := get(t, h, "/").Header.Get("Content-Security-Policy")
	if !strings.Contains(policy, "connect-src 'self' ws://127.0.0.1:8084 http://127.0.0.1:9000;") {
		t.Errorf("CSP %q does not allow the socket and the provider", policy)
	}

	for _, bad := range []Options{
		{RealtimeURL: "http://x/ws"},
		{OIDC: &OIDC{Issuer: "/relative", ClientID: "x"}},
		{OIDC: &OIDC{Issuer: "https://id.example.com"}},
	} {
		if _, err := Handler(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
