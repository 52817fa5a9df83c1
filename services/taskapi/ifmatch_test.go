package taskapi

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// FuzzIfMatch: ifMatch never panics; it demands a version only for exactly
// one strong entity tag "<n>" (n ≥ 1), and a weak or foreign tag demands
// NoVersion.
func FuzzIfMatch(f *testing.F) {
	for _, s := range []string{`"1"`, `W/"1"`, `"1`, `*`, `"1", "2"`, `"abc"`, `"+1"`, ` "7" `, `W/`, `""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest(http.MethodPatch, "/x", nil)
		r.Header["If-Match"] = []string{h}
		v, err := ifMatch(r)
		trimmed := strings.TrimSpace(h)
		switch {
		case err != nil:
			if v != 0 {
				t.Fatalf("ifMatch(%q) = %d with error %v", h, v, err)
			}
		case v == 0:
			if trimmed != "" && trimmed != "*" {
				t.Fatalf("ifMatch(%q) demands nothing", h)
			}
		case v == NoVersion:
			if !strings.HasSuffix(trimmed, `"`) {
				t.Fatalf("ifMatch(%q) = NoVersion for a malformed tag", h)
			}
		case v > 0:
			if trimmed != `"`+strconv.FormatInt(v, 10)+`"` {
				t.Fatalf("ifMatch(%q) = %d", h, v)
			}
		default:
			t.Fatalf("ifMatch(%q) = %d", h, v)
		}
	})
}
