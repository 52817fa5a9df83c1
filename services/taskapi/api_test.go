package taskapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/services/taskapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const (
	testSecret        = "test-secret-test-secret-test-secret-0123"
	testInternalToken = "internal-token-for-tests"
)

// env is a taskapi server on a fresh database.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	pool  *pgxpool.Pool
	owner string // the database's URL as the owner of the schema
}

func newEnv(t *testing.T) *env {
	t.Helper()
	// As taskapi runs: a role that owns nothing, with taskapi's grants.
	owner := dbtest.URL(t, taskapi.Migrations)
	pool, err := database.Connect(context.Background(), dbtest.RuntimeURL(t, owner, taskapi.Migrations))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h := taskapi.NewServer(taskapi.Deps{
		Store: taskapi.NewStore(pool), Verifier: servicetest.Verifier(t, testSecret), InternalToken: testInternalToken,
		Log: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn})), Registry: prometheus.NewRegistry(),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, pool: pool, owner: owner}
}

// testLog sends the server's warnings and errors to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func token(t testing.TB, user string) string {
	t.Helper()
	return servicetest.Token(t, testSecret, user)
}

// response is a decoded answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// do sends a request as user ("" sends none) with optional headers
// ("Name: value" strings).
func (e *env) do(user, method, path string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+token(e.t, user))
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// create makes a task for user and returns its JSON.
func (e *env) create(user string, body any) map[string]any {
	e.t.Helper()
	r := e.do(user, "POST", "/api/v1/tasks", body)
	if r.Status != http.StatusCreated {
		e.t.Fatalf("create: status %d: %s", r.Status, r.Body)
	}
	return r.json(e.t)
}

func wantStatus(t testing.TB, r response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
}

// wantProblem checks r is a problem+json with status and, for each field
// named, a field problem.
func wantProblem(t testing.TB, r response, status int, fields ...string) map[string]any {
	t.Helper()
	wantStatus(t, r, status)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json: %s", ct, r.Body)
	}
	p := r.json(t)
	if int(p["status"].(float64)) != status || p["title"] == "" {
		t.Fatalf("bad problem: %s", r.Body)
	}
	errs, _ := p["errors"].([]any)
	for _, f := range fields {
		found := false
		for _, e := range errs {
			if e.(map[string]any)["field"] == f {
				found = true
			}
		}
		if !found {
			t.Fatalf("no problem with field %q in %s", f, r.Body)
		}
	}
	return p
}
