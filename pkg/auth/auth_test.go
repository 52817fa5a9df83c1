package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/todo-platform/todo/pkg/auth"
)

const secret = "a-test-secret-of-at-least-32-bytes!!"

// jwksServer is a real JWKS endpoint over HTTP whose key set can be
// rotated, counting its fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	fetches int
	hang    bool // answer nothing until the client gives up
}

func newJWKS(t *testing.T, keys ...map[string]string) *jwksServer {
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetches++
		if s.hang {
			s.mu.Unlock()
			<-r.Context().Done()
			s.mu.Lock()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) rotate(keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) fetched() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(t *testing.T, kid string) (*rsa.PrivateKey, map[string]string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k, map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(t *testing.T, kid string) (*ecdsa.PrivateKey, map[string]string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	raw := pub.Bytes() // 0x04 || X || Y
	return k, map[string]string{"kty": "EC", "use": "sig", "crv": "P-256", "kid": kid, "x": b64(raw[1:33]), "y": b64(raw[33:])}
}

func claims(sub string, ttl time.Duration) jwt.RegisteredClaims {
	now := time.Now()
	return jwt.RegisteredClaims{
		Subject: sub, Issuer: auth.DefaultIssuer, Audience: jwt.ClaimStrings{auth.DefaultAudience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
}

func sign(t *testing.T, m jwt.SigningMethod, kid string, key any, c jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifier(t *testing.T, c auth.Config) *auth.Verifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // ends the key set's refreshing
	v, err := auth.NewVerifier(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// rejected checks that tok is refused with ErrInvalidToken and a reason
// containing want.
func rejected(t *testing.T, v *auth.Verifier, tok, want string) {
	t.Helper()
	c, err := v.Verify(tok)
	if !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("accepted (%+v, %v), want it refused: %s", c, err, want)
		return
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("refused with %q, want the reason %q", err, want)
	}
}

// TestJWKS verifies tokens against a real JWKS endpoint: the key of the
// token's kid, a rotated key set (fetched again for the new kid), an
// unknown kid, and the algorithm pinned by the configuration, never chosen
// by the token.
func TestJWKS(t *testing.T) {
	t.Parallel()
	k1, jwk1 := rsaJWK(t, "k1")
	k2, jwk2 := rsaJWK(t, "k2")
	ec, jwkEC := ecJWK(t, "e1")
	srv := newJWKS(t, jwk1, jwkEC)
	v := verifier(t, auth.Config{JWKSURL: srv.URL})

	good := sign(t, jwt.SigningMethodRS256, "k1", k1, claims("alice", time.Hour))
	c, err := v.Verify(good)
	if err != nil || c.UserID != "alice" {
		t.Fatalf("Verify = %+v, %v", c, err)
	}

	t.Run("refused", func(t *testing.T) {
		pubDER, err := x509.MarshalPKIXPublicKey(&k1.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
		parts := strings.Split(good, ".")
		for _, c := range []struct {
			name, token, reason string
		}{
			{"signed by another key under the same kid", sign(t, jwt.SigningMethodRS256, "k1", k2, claims("alice", time.Hour)), "signature"},
			{"tampered payload", parts[0] + "." + b64([]byte(`{"sub":"mallory","iss":"todo-platform","aud":"todo-api","exp":9999999999}`)) + "." + parts[2], "signature"},
			// The algorithm is the configuration's (RS256), not the token's:
			{"ES256 with a published key", sign(t, jwt.SigningMethodES256, "e1", ec, claims("alice", time.Hour)), "algorithm"},
			{"HS256 keyed with the public key", sign(t, jwt.SigningMethodHS256, "k1", pubPEM, claims("alice", time.Hour)), "algorithm"},
			{"HS256 with no secret configured", sign(t, jwt.SigningMethodHS256, "", []byte(secret), claims("alice", time.Hour)), "algorithm"},
			{"alg none", sign(t, jwt.SigningMethodNone, "k1", jwt.UnsafeAllowNoneSignatureType, claims("alice", time.Hour)), "algorithm"},
			{"no kid, signed by an unpublished key", sign(t, jwt.SigningMethodRS256, "", k2, claims("alice", time.Hour)), "signature"},
			{"expired", sign(t, jwt.SigningMethodRS256, "k1", k1, claims("alice", -time.Hour)), "expired"},
			{"no subject", sign(t, jwt.SigningMethodRS256, "k1", k1, claims("", time.Hour)), "subject"},
		} {
			t.Run(c.name, func(t *testing.T) { rejected(t, v, c.token, c.reason) })
		}
	})

	// A token without a kid is checked against every published key (keyfunc's
	// rule): signed by one of them, it passes.
	if c, err := v.Verify(sign(t, jwt.SigningMethodRS256, "", k1, claims("alice", time.Hour))); err != nil || c.UserID != "alice" {
		t.Errorf("no kid, signed by a published key: %+v, %v", c, err)
	}

	t.Run("pinned to ES256", func(t *testing.T) {
		ves := verifier(t, auth.Config{JWKSURL: srv.URL, Algorithms: []string{"ES256"}})
		if c, err := ves.Verify(sign(t, jwt.SigningMethodES256, "e1", ec, claims("bob", time.Hour))); err != nil || c.UserID != "bob" {
			t.Errorf("ES256 token: %+v, %v", c, err)
		}
		rejected(t, ves, good, "algorithm")
	})

	// Rotation: the issuer publishes k2 and withdraws k1. A token of the new
	// kid makes the verifier fetch the set again at once.
	before := srv.fetched()
	srv.rotate(jwk2)
	c, err = v.Verify(sign(t, jwt.SigningMethodRS256, "k2", k2, claims("carol", time.Hour)))
	if err != nil || c.UserID != "carol" {
		t.Fatalf("token of the rotated key: %+v, %v", c, err)
	}
	if srv.fetched() == before {
		t.Error("the key set was not fetched again for the new kid")
	}
	// An unknown kid is refused, without waiting.
	start := time.Now()
	rejected(t, v, sign(t, jwt.SigningMethodRS256, "k9", k2, claims("carol", time.Hour)), "signature or algorithm")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing an unknown kid took %v", d)
	}
}

// TestUnknownKIDWhileTheIssuerHangs: tokens with made-up kids, sent while
// the issuer's JWKS endpoint answers nothing, are refused within the fetch
// timeout; only one of them fetches. (The library's defaults held each such
// request for up to a minute.)
func TestUnknownKIDWhileTheIssuerHangs(t *testing.T) {
	t.Parallel()
	k1, jwk1 := rsaJWK(t, "k1")
	srv := newJWKS(t, jwk1)
	v := verifier(t, auth.Config{JWKSURL: srv.URL})
	srv.mu.Lock()
	srv.hang = true
	before := srv.fetches
	srv.mu.Unlock()

	start := time.Now()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rejected(t, v, sign(t, jwt.SigningMethodRS256, fmt.Sprintf("made-up-%d", i), k1, claims("mallory", time.Hour)), "signature or algorithm")
		}()
	}
	wg.Wait()
	// The bound is the fetch timeout plus room for a busy machine, far
	// below the minute the requests waited before.
	if d := time.Since(start); d > auth.JWKSFetchTimeout+15*time.Second {
		t.Errorf("20 tokens with unknown kids took %v to refuse", d)
	}
	if n := srv.fetched() - before; n != 1 {
		t.Errorf("the unknown kids fetched the key set %d times, want 1", n)
	}
}

// TestHS256 verifies the shared-secret tokens (make token's).
func TestHS256(t *testing.T) {
	t.Parallel()
	v := verifier(t, auth.Config{Secret: secret})
	tok, err := auth.IssueHS256(secret, "alice", "", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(tok); err != nil || c.UserID != "alice" || time.Until(c.ExpiresAt) < 59*time.Minute {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	other, _ := auth.IssueHS256("another-secret-of-at-least-32-bytes!", "alice", "", "", time.Hour)
	wrongAud, _ := auth.IssueHS256(secret, "alice", "", "someone-else", time.Hour)
	wrongIss, _ := auth.IssueHS256(secret, "alice", "elsewhere", "", time.Hour)
	noExp := claims("alice", time.Hour)
	noExp.ExpiresAt = nil
	noAud := claims("alice", time.Hour)
	noAud.Audience = nil
	noIss := claims("alice", time.Hour)
	noIss.Issuer = ""
	noAudIss := noIss
	noAudIss.Audience = nil
	rsaKey, _ := rsaJWK(t, "k1")
	for _, c := range []struct{ name, token, reason string }{
		{"another secret", other, "signature"},
		{"wrong audience", wrongAud, "audience"},
		{"wrong issuer", wrongIss, "issuer"},
		{"no exp", sign(t, jwt.SigningMethodHS256, "", []byte(secret), noExp), "lacks a required claim (exp)"},
		{"no aud", sign(t, jwt.SigningMethodHS256, "", []byte(secret), noAud), "lacks a required claim (aud)"},
		{"no iss", sign(t, jwt.SigningMethodHS256, "", []byte(secret), noIss), "lacks a required claim (iss)"},
		{"no aud nor iss", sign(t, jwt.SigningMethodHS256, "", []byte(secret), noAudIss), "lacks a required claim (aud, iss)"},
		{"RS256 without a JWKS", sign(t, jwt.SigningMethodRS256, "k1", rsaKey, claims("alice", time.Hour)), "algorithm"},
		{"not a JWT", "not.a.jwt", "malformed"},
		{"unprintable subject", sign(t, jwt.SigningMethodHS256, "", []byte(secret), claims("al\x00ice", time.Hour)), "unprintable"},
	} {
		t.Run(c.name, func(t *testing.T) { rejected(t, v, c.token, c.reason) })
	}
	// Clock skew within the leeway is tolerated.
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, "", []byte(secret), claims("alice", -10*time.Second))); err != nil {
		t.Errorf("a token expired 10 s ago (leeway 30 s): %v", err)
	}
}

func TestNewVerifierRefusesBadConfigs(t *testing.T) {
	t.Parallel()
	srv := newJWKS(t)
	for _, c := range []struct {
		name string
		cfg  auth.Config
		want string
	}{
		{"nothing", auth.Config{}, "no JWT key"},
		{"short secret", auth.Config{Secret: "short"}, "32 bytes"},
		{"HMAC pinned for a JWKS", auth.Config{JWKSURL: srv.URL, Algorithms: []string{"HS256"}}, "not an asymmetric"},
		{"none pinned", auth.Config{JWKSURL: srv.URL, Algorithms: []string{"none"}}, "not an asymmetric"},
		{"unknown algorithm", auth.Config{JWKSURL: srv.URL, Algorithms: []string{"RS999"}}, "unknown algorithm"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := auth.NewVerifier(context.Background(), c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("NewVerifier = %v, want an error about %q", err, c.want)
			}
		})
	}
	if _, err := auth.NewVerifier(context.Background(), auth.Config{}); !errors.Is(err, auth.ErrNotConfigured) {
		t.Errorf("no key: %v, want ErrNotConfigured", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"JWT_JWKS_URL": "https://issuer/jwks", "JWT_ALGORITHMS": " RS256, ES256 ,,", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a"}
	c := auth.ConfigFromEnv(func(k string) string { return env[k] })
	if c.JWKSURL != "https://issuer/jwks" || strings.Join(c.Algorithms, "|") != "RS256|ES256" || c.Issuer != "i" || c.Audience != "a" {
		t.Errorf("ConfigFromEnv = %+v", c)
	}
}

// TestMiddleware: no token or a bad one is a 401 problem with a
// WWW-Authenticate challenge; a good one reaches the handler with its user.
func TestMiddleware(t *testing.T) {
	t.Parallel()
	v := verifier(t, auth.Config{Secret: secret})
	h := auth.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("user=" + auth.UserID(r.Context())))
	}))
	tok, _ := auth.IssueHS256(secret, "alice", "", "", time.Hour)
	for _, c := range []struct {
		name, header string
		status       int
		body         string
	}{
		{"no header", "", http.StatusUnauthorized, "Bearer"},
		{"another scheme", "Basic " + tok, http.StatusUnauthorized, "Bearer"},
		{"bad token", "Bearer nonsense", http.StatusUnauthorized, "malformed"},
		{"good token, any case of the scheme", "bearer " + tok, http.StatusOK, "user=alice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/x", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.status || !strings.Contains(w.Body.String(), c.body) {
				t.Errorf("%d %s, want %d with %q", w.Code, w.Body, c.status, c.body)
			}
			if c.status == http.StatusUnauthorized {
				if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
				}
				if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q", ct)
				}
			}
		})
	}
}
