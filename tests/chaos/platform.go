package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/pglocal"
)

// services are the platform's binaries, in the order they start.
var services = []string{"taskapi", "audit", "recurring", "notifier", "realtime"}

const (
	jwtSecret     = "chaos-test-secret-0123456789abcdef!!"
	internalToken = "chaos-internal-token-0123456789"
	partitions    = 4
)

// platform is the platform as separate OS processes: PostgreSQL, the
// Kafka-protocol broker (this program, run as "broker"), and each
// service's own binary, beside its own daprd on the Dapr transport.
type platform struct {
	dir       string
	transport string // kafka or dapr
	daprd     string // daprd's path (dapr)
	sidecars  map[string]sidecarPorts
	log       io.Writer
	pg        *pglocal.Cluster
	pgOpts    pglocal.Options
	dbURL     string
	pool      *pgxpool.Pool // the harness's own, for the checks
	bins      map[string]string
	addrs     map[string]string
	kafka     string
	ctx       context.Context // the run's: its end ends the processes
	mu        sync.Mutex
	procs     map[string]*proc
	crashes   []string // processes that exited without being told to
}

// proc is one running process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	stopped bool // the harness stopped or killed it
}

// picked are the ports freePort gave, never given twice.
var picked = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freePort picks a free port below the kernel's ephemeral range (the one
// outgoing connections and ":0" listeners take their ports from), so that
// a port the harness gives a process, and gives it again when it restarts
// that process after a kill, is never taken meanwhile by one of the many
// connections the platform opens.
func freePort(ctx context.Context) (int, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				low = n
			}
		}
	}
	from := max(1024, low-16384)
	picked.Lock()
	defer picked.Unlock()
	var lc net.ListenConfig
	for range 1000 {
		port := from + rand.IntN(low-from)
		if picked.ports[port] {
			continue
		}
		l, err := lc.Listen(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		if err := l.Close(); err != nil {
			return 0, err
		}
		picked.ports[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free port in %d–%d", from, low-1)
}

// build compiles the services' binaries into dir/bin.
func build(ctx context.Context, dir string) (map[string]string, error) {
	bins := map[string]string{}
	args := []string{"build", "-o", filepath.Join(dir, "bin") + "/"}
	for _, s := range services {
		args = append(args, "./services/"+s+"/cmd/"+s)
		bins[s] = filepath.Join(dir, "bin", s)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build the services: %w", err)
	}
	return bins, nil
}

// startPlatform starts PostgreSQL, the broker and every service, and waits
// until each answers /readyz.
func startPlatform(ctx context.Context, dir, transport, daprd string, log io.Writer, say func(string, ...any)) (*platform, error) {
	p := &platform{dir: dir, transport: transport, daprd: daprd, log: log, procs: map[string]*proc{}, addrs: map[string]string{}, ctx: ctx}
	say("building the services")
	var err error
	if p.bins, err = build(ctx, dir); err != nil {
		return nil, err
	}
	say("starting PostgreSQL")
	p.pgOpts = pglocal.Options{Dir: filepath.Join(dir, "pg"), Durable: true}
	if p.pg, err = pglocal.Start(ctx, p.pgOpts); err != nil {
		return nil, err
	}
	p.pgOpts.Port = p.pg.Port()
	p.dbURL = p.pg.URL("postgres")
	if p.pool, err = database.Connect(ctx, p.dbURL); err != nil {
		return p, err
	}
	kport, err := freePort(ctx)
	if err != nil {
		return p, err
	}
	p.kafka = "127.0.0.1:" + strconv.Itoa(kport)
	say("starting the broker on %s", p.kafka)
	if err := p.startBroker(); err != nil {
		return p, err
	}
	for _, s := range services {
		port, err := freePort(ctx)
		if err != nil {
			return p, err
		}
		p.addrs[s] = "127.0.0.1:" + strconv.Itoa(port)
	}
	if transport == "dapr" {
		if err := p.allocateSidecars(ctx); err != nil {
			return p, err
		}
	}
	for _, s := range services {
		say("starting %s on %s", s, p.addrs[s])
		if err := p.start(s); err != nil {
			return p, err
		}
		if err := p.waitReady(ctx, s, 2*time.Minute); err != nil {
			return p, err
		}
		if transport == "dapr" {
			// After the app, as in a pod: daprd asks the app for its
			// subscriptions when it starts.
			say("starting %s's daprd on 127.0.0.1:%d", s, p.sidecars[s].http)
			if err := p.startSidecar(ctx, s); err != nil {
				return p, err
			}
		}
	}
	return p, nil
}

// env is the environment of service s.
func (p *platform) env(s string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"ADDR=" + p.addrs[s],
		// /metrics listens apart from the API; any free port, so that the
		// five processes (and a restarted one) never collide on the default.
		"METRICS_ADDR=127.0.0.1:0",
		"DATABASE_URL=" + p.dbURL,
		"KAFKA_BROKERS=" + p.kafka,
		"JWT_SECRET=" + jwtSecret,
		"INTERNAL_TOKEN=" + internalToken,
		"LOG_FORMAT=json",
		// The load is 8 writers from one address: far above a person's
		// use, and not what this run tests.
		"RATE_LIMIT_PER_USER=1000000", "RATE_LIMIT_PER_ADDRESS=1000000",
		"SHUTDOWN_GRACE=2s",
	}
	if p.transport == "dapr" {
		env = append(env, p.daprEnv(s)...)
	}
	switch s {
	case "recurring":
		env = append(env, "TASKAPI_URL=http://"+p.addrs["taskapi"])
	case "notifier":
		// Every user's webhook is on one loopback host: its per-host
		// limits sized to the whole run's reminders.
		env = append(env, "WEBHOOK_ALLOW_PRIVATE=true", "REMINDER_POLL=2s", "DELIVERY_MIN_BACKOFF=200ms", "DELIVERY_MAX_BACKOFF=2s",
			"DELIVERY_TIMEOUT=5s", "WEBHOOK_HOST_RATE=1000", "WEBHOOK_HOST_BURST=1000", "WEBHOOK_HOST_CONCURRENCY=16")
	}
	return env
}

func (p *platform) start(s string) error {
	cmd := exec.CommandContext(p.ctx, p.bins[s], "serve") //nolint:gosec // the binary this program built
	cmd.Env = p.env(s)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	return p.run(s, cmd)
}

// run starts cmd as the process name and watches it.
func (p *platform) run(name string, cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the harness
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	pr := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		pr.err = cmd.Wait()
		p.mu.Lock()
		if !pr.stopped {
			p.crashes = append(p.crashes, fmt.Sprintf("%s exited by itself: %v", name, pr.err))
		}
		p.mu.Unlock()
		close(pr.done)
	}()
	p.mu.Lock()
	p.procs[name] = pr
	p.mu.Unlock()
	return nil
}

// exited says whether the process name has ended.
func (p *platform) exited(name string) bool {
	p.mu.Lock()
	pr := p.procs[name]
	p.mu.Unlock()
	if pr == nil {
		return true
	}
	select {
	case <-pr.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process name and waits for it to end.
func (p *platform) signal(name string, sig syscall.Signal) {
	p.mu.Lock()
	pr := p.procs[name]
	if pr != nil {
		pr.stopped = true
	}
	p.mu.Unlock()
	if pr == nil {
		return
	}
	_ = pr.cmd.Process.Signal(sig)
	select {
	case <-pr.done:
	case <-time.After(30 * time.Second):
		_ = pr.cmd.Process.Kill()
		<-pr.done
	}
}

// freeze stops (SIGSTOP) or continues (SIGCONT) the process name.
func (p *platform) freeze(name string, stop bool) error {
	p.mu.Lock()
	pr := p.procs[name]
	p.mu.Unlock()
	if pr == nil {
		return fmt.Errorf("%s is not running", name)
	}
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	return pr.cmd.Process.Signal(sig)
}

func (p *platform) waitReady(ctx context.Context, s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addrs[s]+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (see its log)", s, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startBroker runs this program as the broker: kfake, keeping its data in
// dir/kafka across a stop (SIGTERM) and a start.
func (p *platform) startBroker() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(p.ctx, self, "broker", p.kafka, filepath.Join(p.dir, "kafka")) //nolint:gosec // this program
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := p.run("broker", cmd); err != nil {
		return err
	}
	// Ready when it accepts connections.
	d := net.Dialer{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := d.DialContext(p.ctx, "tcp", p.kafka)
		if err == nil {
			_ = c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the broker does not listen on %s", p.kafka)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends every process and PostgreSQL; the harness's data stays for a
// look unless remove.
func (p *platform) stop() {
	// The sidecars first: none then delivers to a service that is gone.
	for _, s := range services {
		p.signal(sidecarName(s), syscall.SIGTERM)
	}
	for i := len(services) - 1; i >= 0; i-- {
		p.signal(services[i], syscall.SIGTERM)
	}
	p.signal("broker", syscall.SIGTERM)
	if p.pool != nil {
		p.pool.Close()
	}
	if p.pg != nil {
		_ = p.pg.Stop()
	}
}

// runBroker is the "broker" command: kfake on addr with its data in dir,
// until SIGTERM, when it saves its data and exits.
func runBroker(addr, dir string) error {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	c, err := kfake.NewCluster(kfake.Ports(port), kfake.DataDir(dir), kfake.SeedTopics(partitions, events.Topics()...))
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	c.Close()
	return nil
}

// pgStart starts PostgreSQL again on its folder and port.
func pgStart(ctx context.Context, p *platform) (*pglocal.Cluster, error) {
	return pglocal.Start(ctx, p.pgOpts)
}

var errInvariants = errors.New("invariants broken")
