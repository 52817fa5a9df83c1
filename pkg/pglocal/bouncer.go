package pglocal

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPgBouncer says the pgbouncer binary is not installed.
var ErrNoPgBouncer = errors.New("pgbouncer not found: install it (Debian: apt-get install pgbouncer, or `make pgbouncer-bin`) or set PGBOUNCER to its path")

// BouncerOptions tune a PgBouncer.
type BouncerOptions struct {
	// Dir holds its configuration and log; it is created when missing.
	Dir string
	// Server is the URL of the PostgreSQL server it pools (its host, port,
	// user and password; every database name is passed through).
	Server string
	// PoolMode is session, transaction (the default: Neon's pooler) or
	// statement.
	PoolMode string
	// PoolSize is the server connections per database and user (default 20).
	PoolSize int
}

// Bouncer is a running PgBouncer, a child process of this one on
// 127.0.0.1 (tests: a pooler in front of a Cluster).
type Bouncer struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed

	stopOnce sync.Once
}

// BouncerBin finds pgbouncer: $PGBOUNCER, then PATH, then /usr/sbin.
func BouncerBin() (string, error) {
	if p := os.Getenv("PGBOUNCER"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("PGBOUNCER=%s: %w", p, ErrNoPgBouncer)
		}
		return p, nil
	}
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer", nil
	}
	return "", ErrNoPgBouncer
}

// StartBouncer starts PgBouncer in front of opts.Server and waits until it
// accepts connections. It runs in the foreground as a child of this process
// that dies with it (a test binary killed by `go test -timeout` leaves no
// pooler behind); Stop ends it by its PID. As root it runs as the postgres
// user, since PgBouncer refuses to run as root.
func StartBouncer(ctx context.Context, opts BouncerOptions) (*Bouncer, error) {
	bin, err := BouncerBin()
	if err != nil {
		return nil, err
	}
	srv, err := url.Parse(opts.Server)
	if err != nil || srv.Hostname() == "" {
		return nil, errors.New("pgbouncer: the server URL needs a host")
	}
	target := map[string]string{"host": srv.Hostname(), "port": srv.Port(), "user": srv.User.Username()}
	if target["port"] == "" {
		target["port"] = "5432"
	}
	if p, ok := srv.User.Password(); ok {
		target["password"] = p
	}
	if opts.PoolMode == "" {
		opts.PoolMode = "transaction"
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 20
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // the postgres user (as root) must enter it
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	var lastErr error
	// A port picked here was free a moment ago; another process may take
	// it first. Then pick again.
	for range 5 {
		port, err := freePort(ctx)
		if err != nil {
			return nil, err
		}
		b, err := startBouncer(ctx, bin, dir, port, cred, opts, target)
		if err == nil {
			return b, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	return nil, lastErr
}

func startBouncer(ctx context.Context, bin, dir string, port int, cred *syscall.Credential, opts BouncerOptions, target map[string]string) (*Bouncer, error) {
	var db strings.Builder
	db.WriteString("* =")
	for _, k := range []string{"host", "port", "user", "password"} {
		if v := target[k]; v != "" {
			fmt.Fprintf(&db, " %s=%s", k, v)
		}
	}
	logFile := filepath.Join(dir, "pgbouncer.log")
	ini := fmt.Sprintf(`[databases]
%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = any
pool_mode = %s
default_pool_size = %d
max_client_conn = 1000
logfile = %s
log_connections = 0
log_disconnections = 0
`, db.String(), port, opts.PoolMode, opts.PoolSize, logFile)
	iniFile := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(iniFile, []byte(ini), 0o644); err != nil { //nolint:gosec // read by the postgres user as root
		return nil, fmt.Errorf("write %s: %w", iniFile, err)
	}
	for _, p := range []string{dir, iniFile} {
		if cred != nil {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("hand %s to the postgres user: %w", p, err)
			}
		}
	}
	// The pooler outlives the start's context: Stop ends it.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), bin, iniFile) //nolint:gosec // the binary found above
	cmd.Dir = dir
	out := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pgbouncer: %w", err)
	}
	b := &Bouncer{dir: dir, port: port, cmd: cmd, done: make(chan struct{})}
	go func() { b.err = cmd.Wait(); close(b.done) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-b.done:
			log, _ := os.ReadFile(logFile) //nolint:gosec // the log written above
			return nil, fmt.Errorf("pgbouncer exited at start: %w: %s%s", b.err, out.String(), tail(log))
		case <-ctx.Done():
			_ = b.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, b.URL("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(ctx)
			return b, nil
		}
		if time.Now().After(deadline) {
			_ = b.Stop()
			return nil, fmt.Errorf("pgbouncer on port %d does not answer: %w", port, err)
		}
	}
}

// URL is the URL of database db through the pooler. PgBouncer before 1.21
// keeps no prepared statements across transactions, so pgx's statement
// cache cannot be used; its statements run in cache_describe mode: each one
// travels as Parse, Bind and Execute in one message sequence, which one
// server connection runs whole. (describe_exec, which describes and then
// executes in two round trips, fails outside a transaction as soon as the
// pooler hands the second round trip to another server connection:
// "unnamed prepared statement does not exist".)
func (b *Bouncer) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&default_query_exec_mode=cache_describe", b.port, db)
}

// Port is the TCP port the pooler listens on.
func (b *Bouncer) Port() int { return b.port }

// Stop ends the pooler (SIGINT: at once, closing every connection; SIGKILL
// after 10 s) and waits for it. It may be called more than once.
func (b *Bouncer) Stop() error {
	b.stopOnce.Do(func() {
		_ = b.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-b.done:
		case <-time.After(10 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	})
	return nil
}

// Remove stops the pooler and deletes its folder.
func (b *Bouncer) Remove() error {
	return errors.Join(b.Stop(), os.RemoveAll(b.dir))
}

// serverCredential is the postgres user's when running as root (the
// servers refuse to run as root), nil otherwise.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as the postgres user, which does not exist: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("the postgres user has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// tailBuffer keeps what a child process writes (the start of it).
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.b) < 4096 {
		t.b = append(t.b, p[:min(len(p), 4096-len(t.b))]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
