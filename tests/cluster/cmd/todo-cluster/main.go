// Command todo-cluster runs the local one-node Kubernetes cluster (package
// tests/cluster) in the background:
//
//	todo-cluster up      start it (prints progress, then the KUBECONFIG line)
//	todo-cluster down    stop it and remove everything it added to the machine
//	todo-cluster status  say whether it runs, and where
//	todo-cluster env     print the export line for its kubeconfig
//
// State (certificates, images, PostgreSQL and Kafka data, logs) is kept in
// -dir (default .data/cluster).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/todo-platform/todo/tests/cluster"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "todo-cluster:", err)
		os.Exit(1)
	}
}

const usage = `usage: todo-cluster up|down|status|env [-dir DIR]

  up      start the local cluster in the background (ready in about a minute
          once the tools are built; make tools)
  down    stop it; removes its processes, mounts, network and iptables chains
  status  whether it runs, its kubeconfig, registry, database and broker
  env     the export line of its kubeconfig, for eval "$(todo-cluster env)"
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd := args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".data/cluster", "the cluster's state folder")
	timeout := fs.Duration("timeout", 10*time.Minute, "up: how long to wait for the cluster")
	wait := fs.Duration("wait", 0, "up: how long to wait for another cluster on this machine to stop (default: refuse at once)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	switch cmd {
	case "up":
		return up(ctx, abs, *timeout, *wait, stdout)
	case "serve":
		return serve(abs, *wait, stdout)
	case "down":
		return down(ctx, abs, stdout)
	case "status":
		return status(abs, stdout)
	case "env":
		s, err := cluster.ReadState(abs)
		if err != nil {
			return fmt.Errorf("no cluster state in %s (make cluster): %w", abs, err)
		}
		fmt.Fprintf(stdout, "export KUBECONFIG=%s\n", s.Kubeconfig)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

// up starts `todo-cluster serve` in its own session, shows its progress and
// returns once the cluster is ready.
func up(ctx context.Context, dir string, timeout, wait time.Duration, stdout io.Writer) error {
	for deadline := time.Now().Add(wait); ; {
		d, _, ok := cluster.Running()
		if !ok || d == dir || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if d, pid, ok := cluster.Running(); ok {
		if d != dir {
			return fmt.Errorf("%w in %s (pid %d); stop it first: todo-cluster down -dir %s", cluster.ErrRunning, d, pid, d)
		}
		fmt.Fprintf(stdout, "the local cluster is already running (pid %d)\n", pid)
		return printReady(dir, stdout)
	}
	// PostgreSQL runs as its own user, which must be able to reach its
	// folder: folders made here are searchable by others (as make up's).
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // G301: see above.
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o750); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "logs", "cluster.log")
	logFile, err := os.Create(logPath) //nolint:gosec // G304: the cluster's own log.
	if err != nil {
		return err
	}
	defer logFile.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "serve", "-dir", dir, "-wait", wait.String()) //nolint:gosec // G204: this very program.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "starting the local cluster (pid %d; state %s; log %s)\n", cmd.Process.Pid, dir, logPath)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Follow the log until the ready line, the process's end or the timeout.
	f, err := os.Open(logPath) //nolint:gosec // as above
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	deadline := time.Now().Add(timeout)
	var partial string
	for {
		line, err := r.ReadString('\n')
		partial += line
		if err == nil {
			fmt.Fprint(stdout, "  "+partial)
			if strings.Contains(partial, "cluster ready in") {
				return printReady(dir, stdout)
			}
			partial = ""
			continue
		}
		select {
		case werr := <-exited:
			rest, _ := io.ReadAll(r)
			fmt.Fprint(stdout, partial+string(rest))
			return fmt.Errorf("the cluster did not start (%v); see %s", werr, logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster was not ready after %s (it goes on starting; see %s, or stop it: make cluster-down)", timeout, logPath)
		}
	}
}

func printReady(dir string, stdout io.Writer) error {
	s, err := cluster.ReadState(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `
local cluster ready (context %s; node %s)
  registry   %s (images by digest; push with images.publish=push)
  postgres   %s
  kafka      %s
  deploy     make deploy STACK=local
  stop       make cluster-down

export KUBECONFIG=%s
`, cluster.Context, cluster.NodeName, s.Registry, s.DatabaseURL, s.KafkaBrokers, s.Kubeconfig)
	return nil
}

// serve runs the cluster until SIGTERM or SIGINT.
func serve(dir string, wait time.Duration, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c, err := cluster.Start(ctx, cluster.Options{Dir: dir, Progress: stdout, DurableDatabase: true, DetachOnExit: true, WaitTurn: wait})
	if err != nil {
		return err
	}
	<-ctx.Done()
	return c.Stop()
}

// down stops the running cluster (its serve process stops the components)
// and then removes whatever is left, also after a crash.
func down(ctx context.Context, dir string, stdout io.Writer) error {
	if d, pid, ok := cluster.Running(); ok {
		dir = d
		fmt.Fprintf(stdout, "stopping the local cluster (pid %d)\n", pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(2 * time.Minute)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if alive(pid) {
			fmt.Fprintf(stdout, "pid %d did not stop in time: killing it\n", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err := cluster.Cleanup(ctx, dir, stdout); err != nil {
		return err
	}
	if left := cluster.Leftovers(ctx, dir); len(left) > 0 {
		return fmt.Errorf("left behind: %s", strings.Join(left, "; "))
	}
	fmt.Fprintln(stdout, "the local cluster is stopped; nothing is left running (data kept in "+dir+")")
	return nil
}

func status(_ string, stdout io.Writer) error {
	d, pid, ok := cluster.Running()
	if !ok {
		fmt.Fprintln(stdout, "no local cluster is running (make cluster)")
		return nil
	}
	fmt.Fprintf(stdout, "the local cluster is running (pid %d, state %s)\n", pid, d)
	return printReady(d, stdout)
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
