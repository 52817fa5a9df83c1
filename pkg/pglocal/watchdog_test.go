package pglocal_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/pkg/pglocal"
)

// TestWatchdogStopsTheServerOfAKilledProcess: a process that started a
// cluster and is then killed with SIGKILL (as a test binary at its
// timeout) leaves no PostgreSQL running: the watchdog stops it.
func TestWatchdogStopsTheServerOfAKilledProcess(t *testing.T) {
	if _, err := pglocal.BinDir(); err != nil {
		t.Skip(err) // make test installs PostgreSQL first; see the README
	}
	// Not t.TempDir: its parent folder is private, and the postgres user
	// must enter this one.
	dir, err := os.MkdirTemp("", "pglocal-watchdog-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { //nolint:gosec // the postgres user enters it
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestWatchdogChild$", "-test.v") //nolint:gosec // this test binary
	cmd.Env = append(os.Environ(), "PGLOCAL_WATCHDOG_CHILD="+filepath.Join(dir, "pg"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var port string
	var said []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "PORT "); ok {
			port = p
			break
		}
		said = append(said, sc.Text())
	}
	if port == "" {
		_ = cmd.Wait()
		t.Fatalf("the child did not start a cluster:\n%s\n%s", strings.Join(said, "\n"), stderr.String())
	}
	addr := "127.0.0.1:" + port
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
		t.Fatalf("the child's server does not listen: %v", err)
	} else {
		_ = c.Close()
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return // stopped
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			// Do not leave it running ourselves.
			_ = pglocal.StopDir(context.Background(), filepath.Join(dir, "pg"))
			t.Fatal("the server still runs 30 s after its process was killed")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestWatchdogChild is the killed process of the test above.
func TestWatchdogChild(t *testing.T) {
	dir := os.Getenv("PGLOCAL_WATCHDOG_CHILD")
	if dir == "" {
		t.Skip("the child of TestWatchdogStopsTheServerOfAKilledProcess")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("PORT %d\n", c.Port())
	time.Sleep(2 * time.Minute) // until killed
}
