package notifier

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Webhook headers (see README.md for the verification scheme).
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"
)

// ErrPrivateTarget says a webhook URL resolves to an address that is not
// public (loopback, private, link-local, ...).
var ErrPrivateTarget = errors.New("the webhook target is not a public address")

// nonPublic are the ranges a webhook may not reach unless the operator
// allows it, beside what netip.Addr's own predicates catch.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated): ::127.0.0.1 embeds an IPv4 address
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may embed any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/32"),       // Teredo: embeds an IPv4 server and client address
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: may embed any IPv4 address
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated), still routed inside some networks
}

// PublicAddr reports whether a webhook may be sent to ip.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// ParseWebhookURL checks the form of a webhook URL: absolute http or https,
// a host, no credentials, at most 2048 bytes.
func ParseWebhookURL(raw string) (*url.URL, error) {
	if len(raw) > 2048 {
		return nil, errors.New("the url is longer than 2048 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("the url is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("the url must use http or https")
	case u.Hostname() == "":
		return nil, errors.New("the url has no host")
	case u.User != nil:
		return nil, errors.New("the url must not carry credentials")
	case u.Fragment != "":
		return nil, errors.New("the url must not have a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("the url's port is not valid")
		}
	}
	return u, nil
}

// CheckWebhookTarget resolves u's host and refuses it when any of its
// addresses is not public (unless allowPrivate).
func CheckWebhookTarget(ctx context.Context, u *url.URL, allowPrivate bool) error {
	if allowPrivate {
		return nil
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(ips) == 0 {
			return fmt.Errorf("the url's host %q does not resolve", host)
		}
		addrs = ips
	}
	for _, ip := range addrs {
		if !PublicAddr(ip) {
			return fmt.Errorf("%w: %s resolves to %s", ErrPrivateTarget, host, ip)
		}
	}
	return nil
}

// NewWebhookSecret returns a new signing secret.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + hex.EncodeToString(b)
}

// Sign returns the Webhook-Signature value of body sent at timestamp (Unix
// seconds): "v1=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a webhook's signature header against body and timestamp
// with secret, and that the timestamp is within tolerance of now.
func Verify(secret, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	want := Sign(secret, ts, body)
	for _, s := range strings.Split(signature, " ") {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}

// WebhookSender posts signed webhooks.
type WebhookSender struct {
	client *http.Client
	now    func() time.Time
}

// NewWebhookSender returns a sender whose requests time out after timeout.
// Unless allowPrivate, its dialer refuses every non-public address, so a
// host whose DNS changed after registration is still refused.
func NewWebhookSender(timeout time.Duration, allowPrivate bool) *WebhookSender {
	d := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		d.Control = refusePrivate
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the check
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	return &WebhookSender{
		client: &http.Client{
			Transport: tr,
			Timeout:   timeout,
			// A redirect is a failed delivery: following it would send the
			// signed body somewhere nobody registered.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now: time.Now,
	}
}

func refusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("webhook dial %s: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !PublicAddr(ip) {
		return fmt.Errorf("%w: %s", ErrPrivateTarget, host)
	}
	return nil
}

// Send posts body to target, signed with secret, with id as Webhook-Id. A
// 2xx answer is success; anything else is an error.
func (s *WebhookSender) Send(ctx context.Context, id, target, secret string, body []byte) error {
	ts := s.now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("webhook request: %w", err))
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("User-Agent", "todo-notifier/1")
	req.Header.Set(HeaderWebhookID, id)
	req.Header.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderWebhookSignature, Sign(secret, ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrPrivateTarget) {
			return permanent(err)
		}
		return fmt.Errorf("webhook post: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

type permanentError struct{ error }

func (e *permanentError) Unwrap() error { return e.error }

// permanent marks a delivery error that retrying cannot cure.
func permanent(err error) error { return &permanentError{err} }
