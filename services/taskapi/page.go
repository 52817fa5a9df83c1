package taskapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// page is the web page that uses the API: sign in with a token, add, filter,
// search, complete and delete tasks.
//
//go:embed web/index.html
var page []byte

// pageCSP allows the page's own inline style and script, by hash, and
// requests to this origin only (the realtime socket's origin is added by
// newPage when it is elsewhere).
var pageCSP = func() string {
	hashes := func(tag string) string {
		re := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`)
		out := ""
		for _, m := range re.FindAllSubmatch(page, -1) {
			sum := sha256.Sum256(m[1])
			out += " 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		}
		return out
	}
	return "default-src 'none'; connect-src 'self'; img-src 'self'; style-src" + hashes("style") +
		"; script-src" + hashes("script") + "; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}()

// realtimeMeta is where the page learns the realtime socket's URL.
var realtimeMeta = []byte(`<meta name="todo-realtime" content="">`)

// ValidateRealtimeURL checks REALTIME_URL: a ws:// or wss:// URL with a
// host, or "" (the page then uses /ws on its own host, as behind the
// platform's Ingress).
func ValidateRealtimeURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("REALTIME_URL=%q: want the realtime socket's ws:// or wss:// URL, e.g. wss://todo.example.com/ws", s)
	}
	return nil
}

// newPage returns the page handler; realtime is the socket's URL (see
// ValidateRealtimeURL).
func newPage(realtime string) http.HandlerFunc {
	body, csp := page, pageCSP
	if ValidateRealtimeURL(realtime) == nil && realtime != "" {
		u, _ := url.Parse(realtime)
		body = bytes.Replace(page, realtimeMeta, []byte(`<meta name="todo-realtime" content="`+html.EscapeString(realtime)+`">`), 1)
		csp = strings.Replace(csp, "connect-src 'self'", "connect-src 'self' "+u.Scheme+"://"+u.Host, 1)
	}
	return func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
	}
}
