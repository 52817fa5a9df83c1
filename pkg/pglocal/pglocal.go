// Package pglocal runs a private PostgreSQL server from the machine's own
// PostgreSQL binaries (initdb, pg_ctl): the database of `make up` when no
// DATABASE_URL is given, and the throwaway cluster of the tests. As root it runs
// the server as the "postgres" user, since initdb refuses to run as root.
package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres says the PostgreSQL server binaries are not installed.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found: install them (Debian: apt-get install postgresql) or set DATABASE_URL")

// Options tune a cluster.
type Options struct {
	// Dir holds the cluster's data ("<Dir>/data") and its log; it is created
	// when missing and reused when it already holds a cluster.
	Dir string
	// Port to listen on; 0 picks a free one.
	Port int
	// Listen is the address to listen on (listen_addresses): 127.0.0.1 when
	// empty. The server also listens on a Unix socket in its data folder.
	Listen string
	// HBA are extra pg_hba.conf lines (after initdb's, which trust local and
	// loopback connections), e.g. "host all all 198.18.0.0/16 scram-sha-256".
	HBA []string
	// Durable keeps fsync on. Tests turn it off: the cluster is thrown away.
	Durable bool
	// Memory, when set, configures the server as a production user would
	// for a machine that gives it this many bytes (see Tuned); ThisMachine
	// gives it the whole machine's memory; zero keeps PostgreSQL's own
	// defaults.
	Memory int64
	// Settings are extra postgresql.conf settings (name -> value).
	Settings map[string]string
	// Password, when set, locks the TCP port: it becomes the password of
	// the postgres superuser, and every TCP login must give its role's
	// password (scram-sha-256), so that other users of the machine cannot
	// connect. Only the server's own Unix socket, in its data folder
	// (mode 0700: the server's user and root only), stays trusted. Without
	// it the server trusts every local connection (tests' throwaway
	// clusters).
	Password string
}

// Cluster is a running local server.
type Cluster struct {
	dir, bin string
	port     int
	host     string
	password string
	cred     *syscall.Credential
	watchdog *os.Process // stops the server when this process is gone
}

// BinDir finds the directory holding initdb and pg_ctl: $PG_BIN, then PATH,
// then the newest /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
		return "", fmt.Errorf("PG_BIN=%s has no initdb: %w", d, ErrNoPostgres)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start initializes (when needed) and starts a cluster in opts.Dir, waiting
// until it accepts connections. A cluster left running in that folder by a
// previous process is stopped and started again.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	listen := opts.Listen
	if listen == "" {
		listen = "127.0.0.1"
	}
	c := &Cluster{dir: dir, bin: bin, port: opts.Port, host: listen, password: opts.Password}
	if c.cred, err = serverCredential(); err != nil {
		return nil, err
	}
	// The postgres user (as root) must enter the folder.
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // see above
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if err := c.chown(dir); err != nil {
		return nil, err
	}
	if err := c.reachable(dir); err != nil {
		return nil, err
	}
	data := c.dataDir()
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.run(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
			return nil, fmt.Errorf("initdb: %w", err)
		}
	}
	hba := writeHBA
	if opts.Password != "" {
		hba = writeLockedHBA
	}
	if err := hba(filepath.Join(data, "pg_hba.conf"), opts.HBA); err != nil {
		return nil, err
	}
	if pidFile := filepath.Join(data, "postmaster.pid"); fileExists(pidFile) {
		// A server left behind (or a stale pid file): stop it, ignore errors.
		_ = c.run(ctx, "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
	}
	pickPort := c.port == 0
	settings := map[string]string{
		"listen_addresses":        listen,
		"unix_socket_directories": data,
		"max_connections":         "300",
		"log_min_messages":        "warning",
		"log_min_error_statement": "panic",
		"log_statement":           "none",
		"timezone":                "UTC",
	}
	if opts.Memory == ThisMachine {
		if opts.Memory, err = MachineMemory(); err != nil {
			return nil, fmt.Errorf("size PostgreSQL to this machine: %w", err)
		}
	}
	if opts.Memory > 0 {
		maps.Copy(settings, Tuned(opts.Memory))
	}
	if !opts.Durable {
		// A throwaway cluster: nothing is written to be recovered.
		maps.Copy(settings, map[string]string{
			"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
			"wal_level": "minimal", "max_wal_senders": "0", "shared_buffers": "256MB", "max_wal_size": "2GB",
		})
	}
	if opts.Password != "" {
		settings["password_encryption"] = "scram-sha-256"
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	logFile := filepath.Join(dir, "postgres.log")
	// A port picked here was free a moment ago; another process (a test
	// binary starting its own cluster) may take it first. Then pick again.
	for attempt := 1; ; attempt++ {
		if pickPort {
			if c.port, err = freePort(ctx); err != nil {
				return nil, err
			}
		}
		settings["port"] = strconv.Itoa(c.port)
		err := c.run(ctx, "pg_ctl", "-D", data, "-l", logFile, "-o", options(settings), "-w", "-t", "60", "start")
		if err == nil && opts.Password != "" {
			// Also on a cluster made before it had a password.
			if err := c.setPassword(ctx); err != nil {
				_ = c.Stop()
				return nil, err
			}
		}
		if err == nil {
			c.watch()
			return c, nil
		}
		tail, _ := os.ReadFile(logFile) //nolint:gosec // the server log this package wrote
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		if pickPort && attempt < 5 && bytes.Contains(tail, []byte("could not create any TCP/IP sockets")) {
			continue
		}
		return nil, fmt.Errorf("start PostgreSQL: %w\n%s", err, tail)
	}
}

// options renders settings as postgres command-line options, sorted.
func options(settings map[string]string) string {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var o strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&o, "-c %s=%s ", k, settings[k])
	}
	return o.String()
}

// URL is the connection URL of database db on the cluster, as the postgres
// superuser: over TCP when the server listens on 127.0.0.1 (with the
// password of Options, if any), else on its Unix socket.
func (c *Cluster) URL(db string) string {
	if c.host != "127.0.0.1" {
		return c.SocketURL(db)
	}
	return c.RoleURL("postgres", c.password, db)
}

// RoleURL is the TCP connection URL of database db as role with password
// (none: the server must trust the connection).
func (c *Cluster) RoleURL(role, password, db string) string {
	u := url.URL{Scheme: "postgres", User: url.User(role), Host: net.JoinHostPort(c.host, strconv.Itoa(c.port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	if password != "" {
		u.User = url.UserPassword(role, password)
	}
	return u.String()
}

// SocketURL is the connection URL of database db as the postgres superuser
// on the server's Unix socket, which only the server's user and root reach.
func (c *Cluster) SocketURL(db string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", db, c.dataDir(), c.port)
}

// setPassword gives the postgres superuser the cluster's password, through
// the Unix socket.
func (c *Cluster) setPassword(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.SocketURL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to set the password: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "ALTER ROLE postgres PASSWORD "+QuoteLiteral(c.password)); err != nil {
		return fmt.Errorf("set the password of postgres: %w", err)
	}
	return nil
}

// QuoteLiteral quotes s as an SQL string literal (standard conforming
// strings, as every supported server has): for the statements that take
// no parameters, such as ALTER ROLE … PASSWORD.
func QuoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// hbaMarker starts the block of pg_hba.conf lines that Options.HBA manages.
const hbaMarker = "# pglocal: Options.HBA"

// writeLockedHBA replaces pg_hba.conf with the rules of a cluster with a
// password: its own Unix socket trusted (the data folder is the server
// user's alone), every TCP login by password (scram-sha-256), then lines.
func writeLockedHBA(path string, lines []string) error {
	text := "# Written by pglocal (Options.Password): replaced at every start.\n" +
		"# The Unix socket is in the data folder, which only the server's user enters.\n" +
		"local all all trust\n" +
		"host all all 127.0.0.1/32 scram-sha-256\n" +
		"host all all ::1/128 scram-sha-256\n"
	if len(lines) > 0 {
		text += hbaMarker + "\n" + strings.Join(lines, "\n") + "\n"
	}
	return os.WriteFile(path, []byte(text), 0o600)
}

// writeHBA replaces the managed block at the end of pg_hba.conf with lines.
func writeHBA(path string, lines []string) error {
	raw, err := os.ReadFile(path) //nolint:gosec // G304: the cluster's own pg_hba.conf.
	if err != nil {
		return fmt.Errorf("read pg_hba.conf: %w", err)
	}
	text := string(raw)
	if i := strings.Index(text, hbaMarker); i >= 0 {
		text = text[:i]
	}
	if len(lines) > 0 {
		text = strings.TrimRight(text, "\n") + "\n" + hbaMarker + "\n" + strings.Join(lines, "\n") + "\n"
	}
	if text == string(raw) {
		return nil
	}
	return os.WriteFile(path, []byte(text), 0o600)
}

// StopDir stops a server left running in dir (a Dir of Options) by a
// process that is gone; it does nothing when none runs there.
func StopDir(ctx context.Context, dir string) error {
	data := filepath.Join(dir, "data")
	if !fileExists(filepath.Join(data, "postmaster.pid")) {
		return nil
	}
	bin, err := BinDir()
	if err != nil {
		return err
	}
	c := &Cluster{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		if fi, err := os.Stat(data); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				c.cred = &syscall.Credential{Uid: st.Uid, Gid: st.Gid}
			}
		}
	}
	return c.run(ctx, "pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "60", "stop")
}

// Port is the TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// Stop shuts the server down (fast mode: running transactions are rolled back).
func (c *Cluster) Stop() error {
	c.unwatch()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "stop")
}

// watch starts the watchdog: a shell in a session of its own that waits
// for this process to be gone and then stops the server (immediate mode).
// So a test binary killed by its timeout, or `make up` killed with -9,
// leaves no PostgreSQL running. Without a shell there is no watchdog.
func (c *Cluster) watch() {
	script := `while [ -d "/proc/$1" ]; do sleep 1; done; exec "$2" -D "$3" -m immediate stop`
	// Not tied to any context: it must outlive everything here.
	cmd := exec.CommandContext(context.Background(), "/bin/sh", "-c", script, "pglocal-watchdog", strconv.Itoa(os.Getpid()), filepath.Join(c.bin, "pg_ctl"), c.dataDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: c.cred}
	if err := cmd.Start(); err != nil {
		return
	}
	c.watchdog = cmd.Process
	go func() { _ = cmd.Wait() }()
}

// unwatch ends the watchdog: the server is being stopped on purpose.
func (c *Cluster) unwatch() {
	if c.watchdog != nil {
		_ = c.watchdog.Kill()
		c.watchdog = nil
	}
}

// Crash stops the server as a crash would (immediate mode: no checkpoint,
// every connection cut; the next start recovers from the WAL). Start with
// the same Dir and Port starts it again.
func (c *Cluster) Crash() error {
	c.unwatch()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-m", "immediate", "-w", "stop")
}

// Remove stops the server and deletes its folder.
func (c *Cluster) Remove() error {
	err := c.Stop()
	return errors.Join(err, os.RemoveAll(c.dir))
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("hand %s to the postgres user: %w", path, err)
	}
	return nil
}

// reachable checks that the postgres user can reach dir: every folder above
// it must be searchable by others (or belong to postgres).
func (c *Cluster) reachable(dir string) error {
	if c.cred == nil {
		return nil
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		ownedByPostgres := ok && st.Uid == c.cred.Uid
		if fi.Mode().Perm()&0o001 == 0 && !ownedByPostgres {
			return fmt.Errorf("PostgreSQL runs as the postgres user, which cannot enter %s (mode %v): "+
				"allow it with `chmod o+x %s`, put the data folder elsewhere, or set DATABASE_URL", p, fi.Mode().Perm(), p)
		}
		if p == "/" || p == "." {
			return nil
		}
	}
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
