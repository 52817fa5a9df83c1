package taskapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/services/taskapi"
)

// userRoutes lists every route of the user API (method and pattern), walked
// from the router itself so that a new route cannot escape these tests.
func userRoutes(t *testing.T) [][2]string {
	t.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	h := taskapi.NewServer(taskapi.Deps{Verifier: v, Log: nil, Registry: prometheus.NewRegistry()})
	var out [][2]string
	err = chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/api/v1/") && route != "/api/v1/openapi.json" {
			out = append(out, [2]string{method, strings.TrimSuffix(route, "/")})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 8 {
		t.Fatalf("walked only %d user routes: %v", len(out), out)
	}
	return out
}

// TestIsolation: user B can neither see nor change anything of user A's, on
// every route of the API; for B, A's tasks do not exist (404, never 403).
func TestIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.create("alice", map[string]any{"title": "Alice's secret", "description": "classified", "tags": []string{"private"},
		"due_at": "2026-12-01T09:00:00Z", "recurrence": map[string]string{"rule": "FREQ=DAILY"}})
	id := a["id"].(string)
	before := e.do("alice", "GET", "/api/v1/tasks/"+id, nil).Body

	bodies := map[string]string{"POST": `{"title":"x"}`, "PATCH": `{"title":"Bob was here"}`}
	for _, rt := range userRoutes(t) {
		method, pattern := rt[0], rt[1]
		path := strings.ReplaceAll(pattern, "{taskID}", id)
		var body any
		if b, ok := bodies[method]; ok && strings.Contains(pattern, "{taskID}") && method == "PATCH" {
			body = b
		}
		t.Run(method+" "+pattern, func(t *testing.T) {
			r := e.do("bob", method, path, body, `If-Match: "1"`)
			switch {
			case strings.Contains(pattern, "{taskID}"):
				wantProblem(t, r, http.StatusNotFound)
			case method == "GET":
				wantStatus(t, r, http.StatusOK)
				if s := string(r.Body); strings.Contains(s, id) || strings.Contains(s, "private") || strings.Contains(s, "secret") {
					t.Fatalf("bob sees alice's data: %s", s)
				}
			}
			// Without a token, every route is closed.
			wantProblem(t, e.do("", method, path, body), http.StatusUnauthorized)
		})
	}
	// Bob's search and filters find nothing of Alice's either.
	for _, q := range []string{"q=secret", "q=classified", "tags=private", "status=open", "sort=-due_at"} {
		r := e.do("bob", "GET", "/api/v1/tasks?"+q, nil)
		wantStatus(t, r, 200)
		if strings.Contains(string(r.Body), id) {
			t.Fatalf("bob found alice's task with %s", q)
		}
	}
	// Bob creating tasks of his own does not touch Alice's.
	e.create("bob", map[string]any{"title": "Alice's secret"})
	if after := e.do("alice", "GET", "/api/v1/tasks/"+id, nil).Body; string(after) != string(before) {
		t.Fatalf("alice's task changed:\nbefore %s\nafter  %s", before, after)
	}
	// The internal API cannot be reached with a user's token.
	wantProblem(t, e.do("bob", "POST", "/internal/v1/tasks/"+id+"/occurrences", `{"occurrence_at":"2026-12-02T09:00:00Z"}`), 401)
}

// TestTokens: only well-formed, unexpired HS256 tokens with the right issuer,
// audience and a subject are accepted; the answer says why not.
func TestTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now()
	sign := func(method jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "alice", "iss": auth.DefaultIssuer, "aud": auth.DefaultAudience, "exp": now.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	secret := []byte(testSecret)
	cases := []struct {
		name, token, want string
	}{
		{"expired", sign(jwt.SigningMethodHS256, secret, with("exp", now.Add(-time.Hour).Unix())), "expired"},
		{"no exp", sign(jwt.SigningMethodHS256, secret, with("exp", nil)), "exp"},
		{"not yet valid", sign(jwt.SigningMethodHS256, secret, with("nbf", now.Add(time.Hour).Unix())), "not valid yet"},
		{"wrong issuer", sign(jwt.SigningMethodHS256, secret, with("iss", "evil")), "issuer"},
		{"wrong audience", sign(jwt.SigningMethodHS256, secret, with("aud", "other-api")), "audience"},
		{"no subject", sign(jwt.SigningMethodHS256, secret, with("sub", nil)), "subject"},
		{"wrong secret", sign(jwt.SigningMethodHS256, []byte("another-secret-another-secret-0123456"), good()), "signature"},
		{"HS512 not pinned", sign(jwt.SigningMethodHS512, secret, good()), "signature or algorithm"},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good()), "signature or algorithm"},
		{"garbage", "not.a.jwt", "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("", "GET", "/api/v1/tasks", nil, "Authorization: Bearer "+c.token)
			p := wantProblem(t, r, http.StatusUnauthorized)
			if d := fmt.Sprint(p["detail"]); !strings.Contains(d, c.want) {
				t.Fatalf("detail %q does not say %q", d, c.want)
			}
			if !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_token") {
				t.Fatalf("WWW-Authenticate: %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	wantProblem(t, e.do("", "GET", "/api/v1/tasks", nil, "Authorization: Basic YWxpY2U6eA=="), 401)
	r := e.do("", "GET", "/api/v1/tasks", nil, "Authorization: Bearer "+sign(jwt.SigningMethodHS256, secret, good()))
	wantStatus(t, r, 200)
}
