// Command realtimebench is the realtime service's benchmark. It opens many
// concurrent WebSocket connections (up to -conns, spread over -users users)
// to realtime replicas and reports:
//
//   - memory per idle connection: the servers' RSS and Go heap (plus
//     stacks) before and after the connections, divided by their number.
//     Each replica runs as a child process (this binary, "serve" mode,
//     calling realtime.Run), so that its figures are its own; the clients
//     run in other child processes ("clients" mode), reported separately.
//     Several replicas, because a process may hold at most RLIMIT_NOFILE
//     descriptors and the hard limit cannot always be raised (it is 20,000
//     in some containers);
//   - fan-out: the time from publishing one event for a user to its arrival
//     on every connection of that user;
//   - commit → client delay under a steady write load: tasks created over
//     HTTP on taskapi (in-process, with its outbox relay) → outbox → Kafka
//     (kfake, in-process) → realtime → the user's sockets.
//
// The database is a throwaway durable PostgreSQL (pkg/pglocal), or
// BENCH_DATABASE_URL's. Each client process dials from its own loopback
// source address (127.0.0.2, 127.0.0.3, …), so that ephemeral ports do not
// run out (about 28k per address).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == clientsCommand {
		if err := clients(context.Background(), os.Args[2:], os.Getenv, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "realtimebench clients:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == serveCommand {
		if err := serve(context.Background(), os.Getenv, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "realtimebench serve:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "realtimebench:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	conns       int
	users       int
	replicas    int
	dialWorkers int
	fanout      int
	activeUsers int
	rate        float64
	warmup      time.Duration
	duration    time.Duration
	partitions  int
	pgDir       string
	syncCommit  string
	jsonPath    string
	settle      time.Duration
}

// parseFlags has the shape of every bench's (taskbench, reminderbench,
// eventbench): a flag set of the bench's own flags, one line each, then
// their checks; only the shape is shared.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.conns, "conns", 50_000, "WebSocket connections to open (as many as the machine allows up to this)")
	fs.IntVar(&c.users, "users", 5_000, "users the connections are spread over (connection i is user i mod -users)")
	fs.IntVar(&c.replicas, "replicas", 0, "realtime replicas (child processes), each with its own client process and source address 127.0.0.2, …; 0: enough for -conns at 16,000 connections per process (a process's descriptors are capped here)")
	fs.IntVar(&c.dialWorkers, "dial-workers", 128, "connections being opened at once")
	fs.IntVar(&c.fanout, "fanout", 200, "fan-out samples: one event each, for one user, one at a time")
	fs.IntVar(&c.activeUsers, "active-users", 100, "users whose connections are read (fan-out and latency); the others stay idle")
	fs.Float64Var(&c.rate, "rate", 100, "task creations per second over HTTP during the latency phase")
	fs.DurationVar(&c.warmup, "warmup", 5*time.Second, "write load before the latency phase (not measured)")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "latency phase duration")
	fs.IntVar(&c.partitions, "partitions", 12, "partitions of each topic on the in-process broker")
	fs.DurationVar(&c.settle, "settle", 3*time.Second, "wait after opening the connections before measuring memory")
	fs.StringVar(&c.pgDir, "pgdir", "", "run the private PostgreSQL in this folder and keep it (default: a temporary folder, removed)")
	fs.StringVar(&c.syncCommit, "synchronous-commit", "on", "synchronous_commit of the private PostgreSQL: on (each commit waits for its WAL flush) or off")
	fs.StringVar(&c.jsonPath, "json", "", "also write the figures as JSON to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	switch {
	case c.conns < 1 || c.users < 1 || c.replicas < 0 || c.dialWorkers < 1:
		return c, errors.New("-conns, -users and -dial-workers must be at least 1")
	case c.activeUsers < 1 || c.activeUsers > c.users:
		return c, errors.New("-active-users must be between 1 and -users")
	case c.rate <= 0 || c.duration <= 0:
		return c, errors.New("-rate and -duration must be positive")
	case c.syncCommit != "on" && c.syncCommit != "off":
		return c, errors.New("-synchronous-commit: want on or off")
	case c.partitions < 1:
		return c, errors.New("-partitions must be at least 1")
	}
	if c.replicas == 0 {
		c.replicas = (c.conns + 15_999) / 16_000
	}
	if c.replicas > 200 {
		return c, errors.New("-replicas: at most 200")
	}
	return c, nil
}

// run opens as every command's run does (signals, then flags); what
// follows is this bench's own.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	rep := &report{Started: time.Now().UTC().Format(time.RFC3339), GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), GoVersion: runtime.Version()}
	b := &bench{cfg: cfg, rep: rep, progress: stderr, getenv: getenv}
	defer b.close()
	if err := b.setup(ctx); err != nil {
		return err
	}
	if rep.ServerBefore, err = b.serverMemory(ctx); err != nil {
		return err
	}
	if err := b.connect(ctx); err != nil {
		return err
	}
	if err := b.measureMemory(ctx); err != nil {
		return err
	}
	if err := b.measureFanout(ctx); err != nil {
		return err
	}
	if err := b.measureLatency(ctx); err != nil {
		return err
	}
	rep.print(stdout)
	if cfg.jsonPath != "" {
		return rep.writeJSON(cfg.jsonPath)
	}
	return nil
}
