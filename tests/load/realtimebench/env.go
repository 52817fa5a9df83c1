package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/pglocal"
	"github.com/todo-platform/todo/services/realtime"
	"github.com/todo-platform/todo/services/taskapi"
)

// serveCommand runs this binary as the realtime server (the child).
const serveCommand = "serve"

// serve is the child: realtime.Run, plus SIGUSR1 to collect garbage and
// return freed memory to the OS before the parent reads the figures.
func serve(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			runtime.GC()
			debug.FreeOSMemory()
		}
	}()
	return realtime.Run(ctx, []string{"realtime"}, getenv, stdout, stderr)
}

// bench holds the peers and the connections.
type bench struct {
	cfg      config
	rep      *report
	progress io.Writer
	getenv   func(string) string

	broker *kfake.Cluster
	kcfg   kafka.Config
	prod   *kafka.Producer

	pg     *pglocal.Cluster
	pgDir  string
	dbURL  string
	secret string

	apiAddr   string
	apiCancel context.CancelFunc
	apiDone   chan error

	replicas []*replica
	clients  []*clientProc

	users []benchUser
	track *tracker
}

// replica is a realtime server child process.
type replica struct {
	cmd     *exec.Cmd
	done    chan error
	addr    string
	metrics string // METRICS_ADDR
}

// benchUser is one user and its token.
type benchUser struct {
	id    string
	token string
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "realtimebench: "+format+"\n", args...)
}

// raiseFileLimit lets this process and the child hold n descriptors.
func raiseFileLimit(n uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= n {
		return lim.Cur, nil
	}
	want := syscall.Rlimit{Cur: n, Max: max(n, lim.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Without the privilege to raise the hard limit, take what it allows.
		want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err2 != nil {
			return lim.Cur, fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", n, err)
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

func freeAddr() (string, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// setup starts the broker, PostgreSQL, taskapi and the realtime child.
func (b *bench) setup(ctx context.Context) error {
	limit, err := raiseFileLimit(uint64(b.cfg.conns) + 20_000)
	if err != nil {
		return err
	}
	b.rep.FileLimit = limit
	b.logf("RLIMIT_NOFILE %d; GOMAXPROCS %d", limit, runtime.GOMAXPROCS(0))

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	b.secret = hex.EncodeToString(secret)
	b.users = make([]benchUser, b.cfg.users)
	for i := range b.users {
		id := userID(i)
		tok, err := auth.IssueHS256(b.secret, id, "", "", 24*time.Hour)
		if err != nil {
			return err
		}
		b.users[i] = benchUser{id: id, token: tok}
	}

	b.broker, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(b.cfg.partitions), events.Topics()...)) //nolint:gosec // -partitions is small, checked positive
	if err != nil {
		return fmt.Errorf("start kfake: %w", err)
	}
	b.kcfg = kafka.Config{Brokers: b.broker.ListenAddrs(), ClientID: "realtimebench"}
	b.prod, err = kafka.NewProducer(b.kcfg, nil)
	if err != nil {
		return err
	}
	b.rep.Broker = fmt.Sprintf("kfake in-process, %d partitions per topic", b.cfg.partitions)

	if err := b.startDB(ctx); err != nil {
		return err
	}
	if err := b.startAPI(ctx); err != nil {
		return err
	}
	for k := 0; k < b.cfg.replicas; k++ {
		if err := b.startRealtime(ctx); err != nil {
			return err
		}
	}
	b.rep.Server = fmt.Sprintf("%d realtime replica(s), each realtime.Run in a child process of this binary; clients in %d other child processes", b.cfg.replicas, b.cfg.replicas)
	return nil
}

func (b *bench) startDB(ctx context.Context) error {
	if u := b.getenv("BENCH_DATABASE_URL"); u != "" {
		b.dbURL = u
		b.rep.Database = "BENCH_DATABASE_URL"
		return nil
	}
	b.pgDir = b.cfg.pgDir
	if b.pgDir == "" {
		d, err := os.MkdirTemp("", "realtimebench-pg-")
		if err != nil {
			return err
		}
		b.pgDir = d
	}
	b.logf("starting a private durable PostgreSQL in %s", b.pgDir)
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: b.pgDir, Durable: true, Memory: pglocal.ThisMachine, Settings: map[string]string{"synchronous_commit": b.cfg.syncCommit}})
	if err != nil {
		return err
	}
	b.pg = c
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = 'realtimebench')").Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE realtimebench"); err != nil {
			return err
		}
	}
	b.dbURL = c.URL("realtimebench")
	b.rep.Database = "private durable PostgreSQL (pglocal, fsync on, synchronous_commit " + b.cfg.syncCommit + ") in " + b.pgDir
	return nil
}

// startAPI runs taskapi.Run in this process, with its outbox relay
// publishing to the broker.
func (b *bench) startAPI(ctx context.Context) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	b.apiAddr = addr
	metricsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	env := map[string]string{
		"ADDR": addr, "METRICS_ADDR": metricsAddr, "DATABASE_URL": b.dbURL, "JWT_SECRET": b.secret, "LOG_LEVEL": "warn",
		"EVENTS_TRANSPORT": "kafka", "KAFKA_BROKERS": strings.Join(b.kcfg.Brokers, ","),
		// The write load comes from this machine: no rate limit in its way.
		"RATE_LIMIT": "off",
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.apiCancel = cancel
	b.apiDone = make(chan error, 1)
	go func() {
		b.apiDone <- taskapi.Run(actx, []string{"taskapi"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	}()
	return waitReady(ctx, "http://"+addr+"/readyz", b.apiDone)
}

// startRealtime runs one realtime replica as a child process.
func (b *bench) startRealtime(ctx context.Context) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	perUser := (b.cfg.conns+b.cfg.users-1)/b.cfg.users + 1                    // all of a user's could land on one replica
	cmd := exec.CommandContext(context.WithoutCancel(ctx), exe, serveCommand) //nolint:gosec // this very binary
	cmd.Env = append(os.Environ(),
		"ADDR="+addr, "METRICS_ADDR="+metricsAddr, "JWT_SECRET="+b.secret, "LOG_LEVEL=warn", "EVENTS_TRANSPORT=kafka",
		"KAFKA_BROKERS="+strings.Join(b.kcfg.Brokers, ","),
		"REALTIME_MAX_CONNS_PER_USER="+strconv.Itoa(max(20, perUser)),
		// Every client of this tool is on this machine, one address: the
		// caps per address and the upgrade rate fit the whole load (the
		// defaults are for the public internet).
		"REALTIME_MAX_CONNS="+strconv.Itoa(b.cfg.conns+1000),
		"REALTIME_MAX_CONNS_PER_ADDRESS="+strconv.Itoa(b.cfg.conns+1000),
		"REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS="+strconv.Itoa(b.cfg.conns+1000),
		"RATE_LIMIT_PER_ADDRESS="+strconv.Itoa(10*b.cfg.conns+100000),
		// The idle connections of this tool do not read, so they would not
		// answer pings; the heartbeat is not what is measured.
		"REALTIME_PING_INTERVAL=1h",
	)
	cmd.Stdout = b.progress
	cmd.Stderr = b.progress
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	r := &replica{cmd: cmd, done: make(chan error, 1), addr: addr, metrics: metricsAddr}
	b.replicas = append(b.replicas, r)
	go func() { r.done <- cmd.Wait() }()
	return waitReady(ctx, "http://"+addr+"/readyz", r.done)
}

func waitReady(ctx context.Context, url string, done <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-done:
			return fmt.Errorf("%s: ended before ready: %w", url, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within 60s", url)
		}
	}
}

// close stops everything, connections first.
func (b *bench) close() {
	for _, p := range b.clients {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range b.clients {
		_ = p.cmd.Wait()
	}
	for _, r := range b.replicas {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, r := range b.replicas {
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			_ = r.cmd.Process.Kill()
		}
	}
	if b.apiCancel != nil {
		b.apiCancel()
		<-b.apiDone
	}
	if b.prod != nil {
		_ = b.prod.Close()
	}
	if b.broker != nil {
		b.broker.Close()
	}
	if b.pg != nil {
		var err error
		if b.cfg.pgDir != "" {
			err = b.pg.Stop()
		} else {
			err = b.pg.Remove()
		}
		if err != nil {
			b.logf("stop PostgreSQL: %v", err)
		}
	}
}

// childMemory reads the child's RSS and Go memory figures, after it
// collected its garbage.
type childMemory struct {
	RSS        int64 `json:"rss_bytes"`
	HeapInuse  int64 `json:"heap_inuse_bytes"`
	StackInuse int64 `json:"stack_inuse_bytes"`
	Goroutines int64 `json:"goroutines"`
}

// serverMemory sums the replicas' figures.
func (b *bench) serverMemory(ctx context.Context) (childMemory, error) {
	for _, r := range b.replicas {
		_ = r.cmd.Process.Signal(syscall.SIGUSR1)
	}
	select {
	case <-time.After(3 * time.Second):
	case <-ctx.Done():
		return childMemory{}, ctx.Err()
	}
	var sum childMemory
	for _, r := range b.replicas {
		m, err := r.memory(ctx)
		if err != nil {
			return sum, err
		}
		sum.RSS += m.RSS
		sum.HeapInuse += m.HeapInuse
		sum.StackInuse += m.StackInuse
		sum.Goroutines += m.Goroutines
	}
	return sum, nil
}

func (r *replica) memory(ctx context.Context) (childMemory, error) {
	var m childMemory
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", r.cmd.Process.Pid))
	if err != nil {
		return m, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			m.RSS = kb << 10
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.metrics+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, err
	}
	defer func() { _ = resp.Body.Close() }()
	sc = bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_memstats_heap_inuse_bytes":
			m.HeapInuse = int64(v)
		case "go_memstats_stack_inuse_bytes":
			m.StackInuse = int64(v)
		case "go_goroutines":
			m.Goroutines = int64(v)
		}
	}
	if m.RSS == 0 {
		return m, errors.New("no VmRSS for the child")
	}
	return m, nil
}
