package web_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/todo-platform/todo/pkg/web"
)

// TestInternalUnavailableDatabase: a database that cannot be reached, or
// that is shutting down, is answered 503 with Retry-After; any other
// failure stays a 500 that says only "internal error".
func TestInternalUnavailableDatabase(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, refused := pgx.Connect(ctx, fmt.Sprintf("postgres://todo@%s/todo?connect_timeout=5", addr))
	if refused == nil {
		t.Fatal("connected to a closed port")
	}
	for _, tc := range []struct {
		name   string
		err    error
		status int
	}{
		{"connection refused", fmt.Errorf("create task: %w", refused), http.StatusServiceUnavailable},
		{"server shutting down", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, http.StatusServiceUnavailable},
		{"too many connections", &pgconn.PgError{Code: "53300", Message: "too many connections"}, http.StatusServiceUnavailable},
		{"a constraint", &pgconn.PgError{Code: "23505", Message: "duplicate key"}, http.StatusInternalServerError},
		{"anything else", errors.New("boom"), http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			web.Internal(w, httptest.NewRequest(http.MethodPost, "/api/v1/tasks", nil), tc.err)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			retry := w.Header().Get("Retry-After")
			if (tc.status == http.StatusServiceUnavailable) != (retry == "5") {
				t.Errorf("Retry-After %q with status %d", retry, w.Code)
			}
			if w.Header().Get("Content-Type") != web.ProblemContentType {
				t.Errorf("content type %q", w.Header().Get("Content-Type"))
			}
		})
	}
}
