package taskapi

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"regexp"
)

// page is the web page that uses the API: sign in with a token, add, filter,
// search, complete and delete tasks.
//
//go:embed web/index.html
var page []byte

// pageCSP allows the page's own inline style and script, by hash, and
// requests to this origin only.
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

func handlePage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(page)
}
