package notifier_test

import (
	"errors"
	"net/netip"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/web"
	"github.com/todo-platform/todo/services/notifier"
)

// requestError checks that err is nil or a 4xx *web.RequestError.
func requestError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var re *web.RequestError
	if !errors.As(err, &re) || re.Status < 400 || re.Status > 499 || re.Detail == "" {
		t.Fatalf("error %v is not a 4xx request error", err)
	}
}

func FuzzParseSnooze(f *testing.F) {
	for _, s := range []string{`{"for":"10m"}`, `{"until":"2030-01-01T00:00:00Z"}`, `{"for":"1d2h"}`, `{}`, `{"for":"1m","until":"x"}`,
		`{"for":"9999999999999w"}`, `{"until":"2030-01-01T00:00:00+25:00"}`, `null`, `[`, ``} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		at, err := notifier.ParseSnooze(body, now)
		requestError(t, err)
		if err == nil && (!at.After(now) || at.Sub(now) > 366*24*time.Hour) {
			t.Fatalf("snooze to %v accepted", at)
		}
	})
}

func FuzzParseWebhookRequest(f *testing.F) {
	for _, s := range []string{`{"url":"https://example.com/hook"}`, `{"url":"ftp://x"}`, `{"url":"http://[::1]:99999/"}`,
		`{"url":"http://user@x/"}`, `{"url":"http://%zz/"}`, `{"url":""}`, `{}`, `nope`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := notifier.ParseWebhookRequest(body)
		requestError(t, err)
		if err == nil && (u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil) {
			t.Fatalf("url %v accepted", u)
		}
	})
}

func FuzzParseSettings(f *testing.F) {
	for _, s := range []string{`{"email":"a@b.c","channels":["email"]}`, `{"channels":[]}`, `{"channels":["sms"]}`, `{"email":"<>","channels":["in_app"]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := notifier.ParseSettings(body)
		requestError(t, err)
	})
}

func FuzzParseDeliveriesQuery(f *testing.F) {
	for _, s := range []string{"", "status=failed", "status=lost", "limit=20&cursor=eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJpIjoiMDE5MGYxYTItMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAxIn0",
		"limit=0", "limit=201", "cursor=@@", "status=sent&status=sent", "x=1", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // the handler answers 400 before parsing
		}
		status, limit, _, err := notifier.ParseDeliveriesQuery(q)
		requestError(t, err)
		if err == nil && (limit < 1 || limit > 200 || (status != "" && !slices.Contains(notifier.DeliveryStatuses, status))) {
			t.Fatalf("query %q accepted as status %q, limit %d", raw, status, limit)
		}
	})
}

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ip     string
		public bool
	}{
		{"93.184.216.34", true}, {"2606:2800:220:1:248:1893:25c8:1946", true}, {"8.8.8.8", true},
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"::1", false}, {"10.0.0.1", false}, {"172.16.5.4", false},
		{"192.168.0.1", false}, {"169.254.169.254", false}, {"fe80::1", false}, {"fd12::1", false}, {"0.0.0.0", false},
		{"::", false}, {"100.64.1.1", false}, {"224.0.0.1", false}, {"255.255.255.255", false}, {"::ffff:10.0.0.1", false},
		{"::ffff:127.0.0.1", false}, {"64:ff9b::7f00:1", false}, {"198.18.0.1", false}, {"2002:7f00:1::", false},
		{"::127.0.0.1", false}, {"::10.0.0.1", false}, {"fec0::1", false}, {"feff::1", false}, {"2001:0:4136:e378:8000:63bf:3fff:fdd2", false},
		{"2001:4860:4860::8888", true}, {"2a00:1450:4001:80b::200e", true},
	} {
		if got := notifier.PublicAddr(netip.MustParseAddr(c.ip)); got != c.public {
			t.Errorf("PublicAddr(%s) = %v, want %v", c.ip, got, c.public)
		}
	}
}

// TestSignatureScheme pins the documented scheme on a known vector.
func TestSignatureScheme(t *testing.T) {
	t.Parallel()
	got := notifier.Sign("whsec_test", 1767225600, []byte(`{"hello":"world"}`))
	// printf '%s' '1767225600.{"hello":"world"}' | openssl dgst -sha256 -hmac whsec_test
	const want = "v1=6e71b585e159805f050878ee829a4a61a8ca5280212d978c7a7f4dd927fc34aa"
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if !notifier.Verify("whsec_test", "1767225600", got, []byte(`{"hello":"world"}`), time.Unix(1767225600, 0), time.Minute) {
		t.Error("Verify refuses Sign's signature")
	}
	if notifier.Verify("whsec_test", "1767225600", got, []byte(`{"hello":"world"}`), time.Unix(1767225600+600, 0), 5*time.Minute) {
		t.Error("Verify accepts a stale timestamp")
	}
}
