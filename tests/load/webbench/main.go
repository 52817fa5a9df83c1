// Command webbench is the web app's benchmark (make bench-web): it runs the
// whole platform as `make up` does, on free loopback ports in a throwaway
// data folder, and drives the web app in Chromium with Playwright
// (services/web/e2e/bench.mjs), which prints the first-load JavaScript per
// route, the time to the first 50 of 10,000 tasks, and the delay of a
// change from one tab to another.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/todo-platform/todo/tests/localplatform"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "webbench:", err)
		os.Exit(1)
	}
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
	// The seeding posts thousands of tasks as one user from this machine:
	// limits that fit it (the defaults are for the public internet).
	p, err := localplatform.Start(ctx, "todo-webbench-", map[string]string{"LOG_FORMAT": "json",
		"RATE_LIMIT_PER_USER": "1000000", "RATE_LIMIT_PER_ADDRESS": "1000000"}, 3*time.Minute)
	if err != nil {
		return err
	}
	defer func() { _ = p.Stop() }()
	tok, err := p.Token(ctx, "bench")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "platform up at http://%s/ (%d tasks to seed, %d changes)\n", p.Addr, *tasks, *changes)
	cmd := exec.CommandContext(ctx, "node", filepath.Join("e2e", "bench.mjs"))
	cmd.Dir, cmd.Stdout, cmd.Stderr = *web, stdout, stderr
	cmd.Env = append(os.Environ(), "BASE_URL=http://"+p.Addr, "BENCH_TOKEN="+tok,
		"BENCH_USER=bench", fmt.Sprintf("TASKS=%d", *tasks), fmt.Sprintf("CHANGES=%d", *changes))
	return cmd.Run()
}
