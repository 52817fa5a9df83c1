// Command webbench is the web app's benchmark (make bench-web): it runs the
// whole platform as `make up` does, on free loopback ports in a throwaway
// data folder, and drives the web app in Chromium with Playwright
// (services/web/e2e/bench.mjs), which prints the first-load JavaScript per
// route, the time to the first 50 of 10,000 tasks, and the delay of a
// change from one tab to another.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/todo-platform/todo/services/local"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "webbench:", err)
		os.Exit(1)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func freeAddr(ctx context.Context) (string, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("webbench", flag.ContinueOnError)
	tasks := fs.Int("tasks", 10000, "tasks seeded for the bench user")
	changes := fs.Int("changes", 50, "changes made in one tab and timed in another")
	web := fs.String("web", "services/web", "the web app's folder (with node_modules)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "todo-webbench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if err := os.Chmod(dir, 0o755); err != nil { //nolint:gosec // PostgreSQL runs as postgres when root
		return err
	}
	// The seeding posts thousands of tasks as one user from this machine:
	// limits that fit it (the defaults are for the public internet).
	vars := map[string]string{"LOCAL_DATA_DIR": dir, "DATABASE_URL": "", "KAFKA_BROKERS": "", "LOG_FORMAT": "json",
		"RATE_LIMIT_PER_USER": "1000000", "RATE_LIMIT_PER_ADDRESS": "1000000"}
	for _, k := range []string{"LOCAL_ADDR", "TASKAPI_ADDR", "RECURRING_ADDR", "NOTIFIER_ADDR", "AUDIT_ADDR", "REALTIME_ADDR", "LOCAL_PG_PORT", "LOCAL_KAFKA_PORT",
		"TASKAPI_METRICS_ADDR", "RECURRING_METRICS_ADDR", "NOTIFIER_METRICS_ADDR", "AUDIT_METRICS_ADDR", "REALTIME_METRICS_ADDR"} {
		a, err := freeAddr(ctx)
		if err != nil {
			return err
		}
		if strings.HasSuffix(k, "_PORT") {
			a = a[strings.LastIndex(a, ":")+1:]
		}
		vars[k] = a
	}
	getenv := func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	var tok bytes.Buffer
	if err := local.Run(ctx, []string{"todo-local", "token", "bench"}, getenv, &tok, stderr); err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(ctx)
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- local.Run(pctx, []string{"todo-local", "up"}, getenv, out, out) }()
	defer func() {
		cancel()
		<-done
	}()
	for deadline := time.Now().Add(3 * time.Minute); !strings.Contains(out.String(), "todo platform is up"); {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("the platform ended early: %w\n%s", err, out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("the platform is not up after 3 minutes")
		}
	}
	fmt.Fprintf(stdout, "platform up at http://%s/ (%d tasks to seed, %d changes)\n", vars["LOCAL_ADDR"], *tasks, *changes)
	cmd := exec.CommandContext(ctx, "node", filepath.Join("e2e", "bench.mjs"))
	cmd.Dir, cmd.Stdout, cmd.Stderr = *web, stdout, stderr
	cmd.Env = append(os.Environ(), "BASE_URL=http://"+vars["LOCAL_ADDR"], "BENCH_TOKEN="+strings.TrimSpace(tok.String()),
		"BENCH_USER=bench", fmt.Sprintf("TASKS=%d", *tasks), fmt.Sprintf("CHANGES=%d", *changes))
	return cmd.Run()
}
