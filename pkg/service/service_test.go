package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/web"
)

func TestBaseFromEnv(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	b, err := BaseFromEnv(env("DATABASE_URL", "postgres://db/x"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Addr != ":8080" || b.MetricsAddr != DefaultMetricsAddr || b.DirectURL != "postgres://db/x" || !b.MigrateOnStart || b.ShutdownGrace != 15*time.Second {
		t.Fatalf("defaults: %+v", b)
	}
	b, err = BaseFromEnv(env("DATABASE_URL", "u", "DATABASE_DIRECT_URL", "d", "ADDR", ":9", "MIGRATE_ON_START", "no", "LOG_LEVEL", "debug", "LOG_FORMAT", "text"))
	if err != nil || b.DirectURL != "d" || b.Addr != ":9" || b.MigrateOnStart || b.LogLevel.String() != "DEBUG" || b.LogFormat != "text" {
		t.Fatalf("settings: %+v %v", b, err)
	}
	for _, c := range []struct {
		env  []string
		want string
	}{
		{nil, "DATABASE_URL"},
		{[]string{"DATABASE_URL", "u", "MIGRATE_ON_START", "maybe"}, "MIGRATE_ON_START"},
		{[]string{"DATABASE_URL", "u", "LOG_LEVEL", "loud"}, "LOG_LEVEL"},
		{[]string{"DATABASE_URL", "u", "LOG_FORMAT", "xml"}, "LOG_FORMAT"},
		{[]string{"DATABASE_URL", "u", "ADDR", ":9000", "METRICS_ADDR", ":9000"}, "METRICS_ADDR"},
	} {
		if _, err := BaseFromEnv(env(c.env...)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v does not name %s", c.env, err, c.want)
		}
	}
}

func TestStartRefusesUnknownCommands(t *testing.T) {
	t.Parallel()
	_, _, err := Start(context.Background(), "taskapi", []string{"taskapi", "serv"}, Base{}, io.Discard, database.Migrations{})
	if err == nil || !strings.Contains(err.Error(), "usage: taskapi [serve|migrate]") {
		t.Fatalf("error %v", err)
	}
}

func TestServeStopsWithItsBackgroundWork(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	boom := errors.New("consumer failed")
	srv := web.NewHTTPServer("127.0.0.1:0", http.NotFoundHandler(), log)
	stopped := make(chan struct{})
	err := Serve(context.Background(), srv, log, time.Second,
		func(context.Context) error { return boom },
		func(ctx context.Context) error { <-ctx.Done(); close(stopped); return nil },
	)
	if !errors.Is(err, boom) {
		t.Fatalf("Serve returned %v, want the background error", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the other background work was not stopped")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, web.NewHTTPServer("127.0.0.1:0", http.NotFoundHandler(), log), log, time.Second,
			func(ctx context.Context) error { <-ctx.Done(); return nil })
	}()
	cancel()
	returnsNil(t, "Serve", done)
}

func TestRouter(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	down := errors.New("dial tcp 10.0.0.5:5432: connection refused")
	var fail atomic.Bool
	dapr := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	r := Router(slog.New(slog.DiscardHandler), reg, PingReady(func(context.Context) error {
		if fail.Load() {
			return down
		}
		return nil
	}), dapr)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	// /metrics is not on the API's router: Metrics serves it on a port of
	// its own.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 404, "/dapr/subscribe": http.StatusTeapot, "/nowhere": 404} {
		if code, body := get(path); code != want {
			t.Errorf("GET %s: %d %s, want %d", path, code, body, want)
		}
	}
	fail.Store(true)
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, ErrDatabaseUnreachable.Error()) || strings.Contains(body, "10.0.0.5") {
		t.Errorf("readyz with the database down: %d %s (want 503, the reason, and no internal address)", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz with the database down: %d, want 200 (the process serves)", code)
	}
	if err := PingReady(func(context.Context) error { return down })(context.Background()); !errors.Is(err, ErrDatabaseUnreachable) || !errors.Is(err, down) {
		t.Errorf("PingReady's error %v is neither ErrDatabaseUnreachable nor the cause", err)
	}
}

func TestEnvReaders(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"B": "Off", "BAD_B": "maybe", "D": "90s", "NEG_D": "-1s", "I": "7", "LOW_I": "0", "TEXT_I": "x"}
	getenv := func(k string) string { return vars[k] }
	if b, err := EnvBool(getenv, "B", true); err != nil || b {
		t.Errorf("EnvBool(Off) = %v, %v", b, err)
	}
	if b, err := EnvBool(getenv, "UNSET", true); err != nil || !b {
		t.Errorf("EnvBool(unset) = %v, %v, want the default", b, err)
	}
	if _, err := EnvBool(getenv, "BAD_B", true); err == nil || !strings.Contains(err.Error(), "BAD_B") {
		t.Errorf("EnvBool(maybe): %v, want an error naming BAD_B", err)
	}
	if d, err := EnvDuration(getenv, "D", time.Second); err != nil || d != 90*time.Second {
		t.Errorf("EnvDuration(90s) = %v, %v", d, err)
	}
	if _, err := EnvDuration(getenv, "NEG_D", time.Second); err == nil || !strings.Contains(err.Error(), "NEG_D") {
		t.Errorf("EnvDuration(-1s): %v, want an error naming NEG_D", err)
	}
	if n, err := EnvInt(getenv, "I", 1, 1); err != nil || n != 7 {
		t.Errorf("EnvInt(7) = %v, %v", n, err)
	}
	for _, name := range []string{"LOW_I", "TEXT_I"} {
		if _, err := EnvInt(getenv, name, 1, 1); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("EnvInt(%s): %v, want an error naming it", name, err)
		}
	}
	s, err := ServerFromEnv(func(k string) string { return map[string]string{"SHUTDOWN_GRACE": "3s"}[k] })
	if err != nil || s.ShutdownGrace != 3*time.Second || s.Addr != ":8080" {
		t.Errorf("ServerFromEnv: %+v, %v", s, err)
	}
}

// TestMetrics: the registry is served at /metrics on its own address (and
// nothing else there), until the context ends.
func TestMetrics(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "todo_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Inc()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Metrics(addr, reg, slog.New(slog.DiscardHandler))(ctx) }()
	get := func(path string) (int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	var (
		code int
		body string
	)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code, body, err = get("/metrics"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || code != 200 || !strings.Contains(body, "todo_test_total 1") {
		t.Errorf("GET /metrics: %d %v\n%s", code, err, body)
	}
	if code, _, err := get("/healthz"); err != nil || code != 404 {
		t.Errorf("GET /healthz on the metrics address: %d %v, want 404", code, err)
	}
	cancel()
	returnsNil(t, "Metrics", done)
}

// returnsNil checks that what, whose context was just cancelled, returns
// nil on done within 10 seconds.
func returnsNil(t *testing.T, what string, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s after its context ended: %v", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return after its context ended", what)
	}
}
