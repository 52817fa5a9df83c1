// Package web serves the platform's web app: the static site that
// `npm run build` makes from the Next.js sources beside this file into
// dist/, which is committed and embedded here, so that the Go module builds
// without Node. (It is a library of assets, not a service of its own:
// taskapi serves it at "/".)
//
// Every HTML document gets a strict Content-Security-Policy: scripts from
// this origin plus the SHA-256 hashes of the document's own inline scripts
// (Next's static export writes some), no framing. Assets under
// /_next/static/ carry a content hash in their names and are cached for a
// year; documents are revalidated on every load.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"

	problem "github.com/todo-platform/todo/pkg/web"
)

//go:embed all:dist
var dist embed.FS

// ConfigPath is where the app reads its runtime configuration.
const ConfigPath = "/app-config.json"

// OIDC is the OpenID provider the app signs users in with (authorization
// code + PKCE, a public client).
type OIDC struct {
	// Issuer is the provider's issuer URL (its discovery document is at
	// Issuer + "/.well-known/openid-configuration").
	Issuer   string `json:"authority"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
}

// Options configure the site.
type Options struct {
	// OIDC is the sign-in provider; nil: the app asks for a pasted token
	// (development without a provider).
	OIDC *OIDC
	// RealtimeURL is the realtime socket (ws:// or wss://); empty: /ws on
	// the page's own host.
	RealtimeURL string
}

type document struct {
	body []byte
	csp  string
}

type site struct {
	files  fs.FS
	docs   map[string]document // by path in dist, e.g. index.html
	config []byte
}

var inlineScript = regexp.MustCompile(`(?s)<script(\s[^>]*)?>(.*?)</script>`)

// scriptHashes are the CSP sources of the inline scripts of an HTML document.
func scriptHashes(doc []byte) []string {
	var out []string
	for _, m := range inlineScript.FindAllSubmatch(doc, -1) {
		if bytes.Contains(m[1], []byte("src=")) {
			continue
		}
		sum := sha256.Sum256(m[2])
		out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return out
}

func origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("%q is not an absolute URL", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// csp is the policy of a document with inline scripts hashes; extra are the
// other origins the app talks to (the socket, the OpenID provider).
func csp(hashes, connect []string) string {
	script := "'self'"
	if len(hashes) > 0 {
		script += " " + strings.Join(hashes, " ")
	}
	conn := "'self'"
	if len(connect) > 0 {
		conn += " " + strings.Join(connect, " ")
	}
	return "default-src 'none'; script-src " + script + "; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src " +
		conn + "; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// Handler returns the site's handler: GET and HEAD of "/", the files of
// the build, and ConfigPath.
func Handler(o Options) (http.Handler, error) {
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, err
	}
	var connect []string
	cfg := map[string]any{"oidc": nil, "realtime_url": o.RealtimeURL}
	if o.RealtimeURL != "" {
		u, err := url.Parse(o.RealtimeURL)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return nil, fmt.Errorf("realtime URL %q: want ws:// or wss://", o.RealtimeURL)
		}
		connect = append(connect, u.Scheme+"://"+u.Host)
	}
	if o.OIDC != nil {
		if o.OIDC.ClientID == "" {
			return nil, fmt.Errorf("OpenID provider %s: no client id", o.OIDC.Issuer)
		}
		or, err := origin(o.OIDC.Issuer)
		if err != nil {
			return nil, fmt.Errorf("OpenID issuer: %w", err)
		}
		connect = append(connect, or)
		cfg["oidc"] = o.OIDC
	}
	s := &site{files: files, docs: map[string]document{}}
	if s.config, err = json.Marshal(cfg); err != nil {
		return nil, err
	}
	err = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".html" {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		s.docs[p] = document{body: b, csp: csp(scriptHashes(b), connect)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := s.docs["index.html"]; !ok {
		return nil, fmt.Errorf("the embedded site has no index.html: build it (cd services/web && npm ci && npm run build)")
	}
	return s, nil
}

func security(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		problem.Fail(w, r, http.StatusMethodNotAllowed, "the web app answers GET and HEAD only")
		return
	}
	h := w.Header()
	security(h)
	p := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	switch {
	case "/"+p == ConfigPath:
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(s.config)
		return
	case p == "":
		p = "index.html"
	case p == "SOURCES.sha256":
		notFound(w, r)
		return
	}
	if d, ok := s.docs[p]; ok {
		s.document(w, d, http.StatusOK)
		return
	}
	b, err := fs.ReadFile(s.files, p)
	if err != nil {
		notFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(p))
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	h.Set("Content-Type", ct)
	if strings.HasPrefix(p, "_next/static/") {
		// Their names change with their content.
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	_, _ = w.Write(b)
}

func (s *site) document(w http.ResponseWriter, d document, status int) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", d.csp)
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(d.body)
}

func notFound(w http.ResponseWriter, r *http.Request) {
	problem.Fail(w, r, http.StatusNotFound, "the web app has no file "+r.URL.Path)
}
