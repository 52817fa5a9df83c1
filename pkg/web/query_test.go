package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestQuery(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		raw, field string
		ok         bool
	}{
		{"status=open&limit=2", "", true},
		{"q=a%20b&tags=x,y", "", true},
		{"", "", true},
		{"status=%zz", "status", false},
		{"limit=1&cursor=%%%", "cursor", false},
		{"status=open;sort=title", "status", false},
		{"%zz=1", "", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		r.URL.RawQuery = c.raw
		v, err := Query(r)
		if c.ok {
			want, _ := url.ParseQuery(c.raw)
			if err != nil || !reflect.DeepEqual(v, want) {
				t.Errorf("Query(%q) = %v, %v; want %v", c.raw, v, err, want)
			}
			continue
		}
		var re *RequestError
		if !errors.As(err, &re) || re.Status != http.StatusBadRequest || !errors.Is(err, ErrQuery) || re.Field != c.field {
			t.Errorf("Query(%q) = %v, %#v; want a 400 for field %q", c.raw, v, err, c.field)
		}
	}
}

// FuzzQuery: Query accepts exactly what url.ParseQuery decodes without
// error, with the same values, and refuses the rest with a 400.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "status=%zz", "cursor=%%%", "a=1;b=2", "%", "a=%e2%82%ac"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		r.URL.RawQuery = raw
		v, err := Query(r)
		want, werr := url.ParseQuery(raw)
		if werr == nil {
			if err != nil || !reflect.DeepEqual(v, want) {
				t.Fatalf("Query(%q) = %v, %v; want %v", raw, v, err, want)
			}
			return
		}
		var re *RequestError
		if !errors.As(err, &re) || re.Status != http.StatusBadRequest || v != nil {
			t.Fatalf("Query(%q) = %v, %v; want a 400", raw, v, err)
		}
		if !strings.Contains(re.Detail, "URL encoding") {
			t.Fatalf("detail %q", re.Detail)
		}
	})
}
