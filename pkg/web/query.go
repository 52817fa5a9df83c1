package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ErrQuery is the kind of a *RequestError for a malformed query string.
var ErrQuery = errors.New("a malformed query string")

// Query parses r's query string strictly. net/http's r.URL.Query drops a
// pair it cannot decode ("status=%zz") and keeps the rest, so that a filter
// or a cursor would silently vanish; Query instead answers a 400
// *RequestError naming the first malformed pair.
func Query(r *http.Request) (url.Values, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err == nil {
		return v, nil
	}
	bad := ""
	for pair := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if _, perr := url.ParseQuery(pair); perr != nil {
			bad = pair
			break
		}
	}
	const max = 64
	if len(bad) > max {
		bad = bad[:max] + "…"
	}
	detail := "the query string is not valid URL encoding"
	field := ""
	if bad != "" {
		detail += ": " + strconv.Quote(bad) + " (a % must start an escape such as %25, and pairs are separated by &, not ;)"
		name, _, _ := strings.Cut(bad, "=")
		if n, uerr := url.QueryUnescape(name); uerr == nil {
			field = n
		}
	}
	return nil, &RequestError{Status: http.StatusBadRequest, Detail: detail, Field: field, Kind: ErrQuery}
}
