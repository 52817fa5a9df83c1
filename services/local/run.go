// Package local runs the whole platform in one process for development: the
// services, each through its own Run, on loopback ports, against a PostgreSQL
// it starts itself when DATABASE_URL is not set. It is what `make up` runs.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/pglocal"
	"github.com/todo-platform/todo/services/audit"
	"github.com/todo-platform/todo/services/notifier"
	"github.com/todo-platform/todo/services/realtime"
	"github.com/todo-platform/todo/services/recurring"
	"github.com/todo-platform/todo/services/taskapi"
)

// Defaults of the local platform.
const (
	DefaultDataDir     = ".data"
	DefaultPGPort      = 54329
	DefaultAddr        = "127.0.0.1:8080"
	DefaultTaskAPIAddr = "127.0.0.1:8085"
	DefaultRecurAddr   = "127.0.0.1:8081"
	DefaultNotifyAddr  = "127.0.0.1:8082"
	DefaultAuditAddr   = "127.0.0.1:8083"
	DefaultRealtime    = "127.0.0.1:8084"
	// The services' /metrics, each on a port of its own (METRICS_ADDR),
	// 918x beside their 808x.
	DefaultTaskAPIMetrics  = "127.0.0.1:9185"
	DefaultRecurMetrics    = "127.0.0.1:9181"
	DefaultNotifyMetrics   = "127.0.0.1:9182"
	DefaultAuditMetrics    = "127.0.0.1:9183"
	DefaultRealtimeMetrics = "127.0.0.1:9184"
	databaseName           = "todo"
)

const usage = `usage:
  todo-local [up]              run the platform until Ctrl-C
  todo-local token [-ttl 24h] USER
                               print a development token for USER

environment:
  DATABASE_URL     use this PostgreSQL instead of starting one (may be a pooler)
  DATABASE_DIRECT_URL  with DATABASE_URL: the same database without a
                   transaction-mode pooler, for migrations and LISTEN
                   (default DATABASE_URL)
  LOCAL_DATA_DIR   state folder (default .data): PostgreSQL and Kafka data, dev secrets
  LOCAL_PG_PORT    port of the local PostgreSQL (default 54329)
  LOCAL_ADDR       the platform's one origin: the web app at /, the APIs at
                   /api/v1/..., the socket at /ws (default 127.0.0.1:8080)
  TASKAPI_ADDR     listen address of taskapi (default 127.0.0.1:8085)
  RECURRING_ADDR   listen address of recurring (default 127.0.0.1:8081)
  NOTIFIER_ADDR    listen address of notifier (default 127.0.0.1:8082)
  AUDIT_ADDR       listen address of audit (default 127.0.0.1:8083)
  REALTIME_ADDR    listen address of realtime (default 127.0.0.1:8084)
  TASKAPI_METRICS_ADDR, RECURRING_METRICS_ADDR, NOTIFIER_METRICS_ADDR,
  AUDIT_METRICS_ADDR, REALTIME_METRICS_ADDR
                   where each service serves /metrics (default
                   127.0.0.1:9185, :9181, :9182, :9183, :9184)
  WEBHOOK_ALLOW_PRIVATE
                   true: webhooks may target this machine and private
                   networks (default false, as in production)
  SMTP_ADDR        the notifier's SMTP server for e-mail reminders (with
                   SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM); unset: no e-mail
  LOCAL_KAFKA_PORT port of the embedded Kafka broker (default 19092)
  KAFKA_BROKERS    use this Kafka instead of the embedded one (with KAFKA_TLS,
                   KAFKA_SASL_MECHANISM, KAFKA_USERNAME, KAFKA_PASSWORD)
  LOG_FORMAT       text (default here) or json
  LOCAL_LOG        terminal: the services' logs on the terminal instead of
                   in LOCAL_DATA_DIR/platform.log (warnings and errors are
                   on the terminal either way)
`

// Run runs the local platform (args[1] "up", the default) or prints a token
// (args[1] "token").
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "up"
	if len(args) > 1 {
		cmd, args = args[1], args[2:]
	} else {
		args = nil
	}
	dataDir := getenv("LOCAL_DATA_DIR")
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	switch cmd {
	case "up":
		return up(ctx, dataDir, getenv, stdout, stderr)
	case "token":
		return printToken(dataDir, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// secret returns the development secret called name, made on first use and
// kept in the data folder so that tokens survive restarts. The file is for
// the user alone (0600; a looser one is tightened).
func secret(dataDir, name string) (string, error) {
	p := filepath.Join(dataDir, name)
	b, err := os.ReadFile(p) //nolint:gosec // the runner's own secret file
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return "", fmt.Errorf("make %s private: %w", p, err)
			}
		}
		return strings.TrimSpace(string(b)), nil
	}
	// 0755: as root, PostgreSQL runs as the postgres user, which must enter it.
	if err := os.MkdirAll(dataDir, 0o755); err != nil { //nolint:gosec // see above
		return "", fmt.Errorf("create %s: %w", dataDir, err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	s := hex.EncodeToString(raw[:])
	if err := os.WriteFile(p, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	return s, nil
}

func printToken(dataDir string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, usage)
		return errors.New("token needs one USER, e.g. `make token USER=alice`")
	}
	sec, err := secret(dataDir, "jwt-secret")
	if err != nil {
		return err
	}
	tok, err := auth.IssueHS256(sec, fs.Arg(0), "", "", *ttl)
	if err != nil {
		return fmt.Errorf("USER %q: %w", fs.Arg(0), err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func up(ctx context.Context, dataDir string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	say := func(format string, a ...any) { fmt.Fprintf(stdout, "todo-local: "+format+"\n", a...) }

	jwtSecret, err := secret(dataDir, "jwt-secret")
	if err != nil {
		return err
	}
	internalToken, err := secret(dataDir, "internal-token")
	if err != nil {
		return err
	}

	// DATABASE_DIRECT_URL reaches the server without a transaction-mode
	// pooler: the migrations and the LISTENing connections use it.
	// ownerURL, when set, is the owner's: the migrations run as the owner
	// first, and the services as the runtime role.
	dbURL, directURL, ownerURL := getenv("DATABASE_URL"), getenv("DATABASE_DIRECT_URL"), ""
	if dbURL == "" {
		port := DefaultPGPort
		if p := getenv("LOCAL_PG_PORT"); p != "" {
			if _, err := fmt.Sscan(p, &port); err != nil {
				return fmt.Errorf("LOCAL_PG_PORT=%q: want a port number", p)
			}
		}
		// Every login over TCP needs its role's password: the superuser's,
		// the owner's and the services' are in the data folder (0600).
		var passwords [3]string
		for i, f := range []string{PostgresPasswordFile, OwnerPasswordFile, RuntimePasswordFile} {
			if passwords[i], err = secret(dataDir, f); err != nil {
				return err
			}
		}
		pgDir := filepath.Join(dataDir, "postgres")
		say("starting PostgreSQL in %s on 127.0.0.1:%d (data kept across restarts; set DATABASE_URL to use another server)", pgDir, port)
		// Configured as in production (see the README), for a server that
		// shares the machine: a quarter of its memory, at most 4 GB.
		memory, err := pglocal.MachineMemory()
		if err != nil {
			return fmt.Errorf("size PostgreSQL to this machine: %w", err)
		}
		cluster, err := pglocal.Start(ctx, pglocal.Options{Dir: pgDir, Port: port, Durable: true, Password: passwords[0], Memory: min(memory/4, 4<<30)})
		if err != nil {
			return err
		}
		defer func() {
			say("stopping PostgreSQL")
			if err := cluster.Stop(); err != nil {
				fmt.Fprintln(stderr, "todo-local: stop PostgreSQL:", err)
			}
		}()
		if err := prepareDatabase(ctx, cluster, databaseName, passwords[1], passwords[2]); err != nil {
			return err
		}
		ownerURL = cluster.RoleURL(OwnerRole, passwords[1], databaseName)
		dbURL, directURL = cluster.RoleURL(RuntimeRole, passwords[2], databaseName), ""
	}
	if directURL == "" {
		directURL = dbURL
	}

	logFormat := getenv("LOG_FORMAT")
	if logFormat == "" {
		logFormat = "text"
	}
	addr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	frontAddr := addr("LOCAL_ADDR", DefaultAddr)
	taskAddr := addr("TASKAPI_ADDR", DefaultTaskAPIAddr)
	recurAddr := addr("RECURRING_ADDR", DefaultRecurAddr)
	auditAddr := addr("AUDIT_ADDR", DefaultAuditAddr)
	notifyAddr := addr("NOTIFIER_ADDR", DefaultNotifyAddr)
	realtimeAddr := addr("REALTIME_ADDR", DefaultRealtime)
	metrics := map[string]string{
		"taskapi":   addr("TASKAPI_METRICS_ADDR", DefaultTaskAPIMetrics),
		"recurring": addr("RECURRING_METRICS_ADDR", DefaultRecurMetrics),
		"notifier":  addr("NOTIFIER_METRICS_ADDR", DefaultNotifyMetrics),
		"audit":     addr("AUDIT_METRICS_ADDR", DefaultAuditMetrics),
		"realtime":  addr("REALTIME_METRICS_ADDR", DefaultRealtimeMetrics),
	}
	env := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return getenv(k)
		}
	}
	// The services' logs go to a file; the terminal shows the banner and
	// the warnings and errors (LOCAL_LOG=terminal: every line here).
	svcOut, svcErr := stdout, stderr
	logPath := filepath.Join(dataDir, "platform.log")
	if getenv("LOCAL_LOG") != "terminal" {
		f, err := openLog(logPath)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		svcOut = &logSplit{file: f, term: stdout}
		svcErr = &logSplit{file: f, term: stderr}
	} else {
		logPath = "this terminal (LOCAL_LOG=terminal)"
	}

	// The one origin is taken first, so that a busy port says so at once.
	frontLn, err := (&net.ListenConfig{}).Listen(ctx, "tcp", frontAddr)
	if err != nil {
		return fmt.Errorf("the platform's address %s is taken or invalid (%w): set LOCAL_ADDR to another, e.g. LOCAL_ADDR=127.0.0.1:8090 make up", frontAddr, err)
	}
	defer func() { _ = frontLn.Close() }()
	for _, a := range []struct{ name, addr string }{
		{"TASKAPI_ADDR", taskAddr}, {"RECURRING_ADDR", recurAddr}, {"NOTIFIER_ADDR", notifyAddr}, {"AUDIT_ADDR", auditAddr}, {"REALTIME_ADDR", realtimeAddr},
		{"TASKAPI_METRICS_ADDR", metrics["taskapi"]}, {"RECURRING_METRICS_ADDR", metrics["recurring"]}, {"NOTIFIER_METRICS_ADDR", metrics["notifier"]},
		{"AUDIT_METRICS_ADDR", metrics["audit"]}, {"REALTIME_METRICS_ADDR", metrics["realtime"]},
	} {
		l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", a.addr)
		if err != nil {
			return fmt.Errorf("%s=%s is taken or invalid (%w): set %s to another address", a.name, a.addr, err, a.name)
		}
		_ = l.Close()
	}
	brk, err := startBroker(ctx, dataDir, getenv, logFormat, svcOut, say)
	if err != nil {
		return err
	}
	defer brk.close(say)
	// Sign-in: the development OpenID provider on the front, whose tokens
	// every service verifies through its JWKS, as in production; the HS256
	// tokens of `make token` stay valid for curl.
	issuer := "http://" + frontAddr + OIDCPath
	oidcHandler, err := newDevOIDC(issuer, dataDir, []string{"http://" + frontAddr})
	if err != nil {
		return err
	}
	common := map[string]string{
		"DATABASE_URL": dbURL, "DATABASE_DIRECT_URL": directURL, "JWT_SECRET": jwtSecret, "INTERNAL_TOKEN": internalToken,
		"JWT_JWKS_URL": issuer + "/keys", "JWT_ALGORITHMS": "RS256", "JWT_ISSUER": auth.DefaultIssuer + "," + issuer,
		"LOG_FORMAT": logFormat,
	}
	for k, v := range brk.env() {
		common[k] = v
	}
	services := []struct {
		name string
		run  func(context.Context, []string, func(string) string, io.Writer, io.Writer) error
		env  map[string]string
	}{
		// The web app opens /ws on its own origin, the front.
		{"taskapi", taskapi.Run, map[string]string{"ADDR": taskAddr, "OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": WebClientID}},
		// recurring calls taskapi's internal API, and retries until it answers.
		{"recurring", recurring.Run, map[string]string{"ADDR": recurAddr, "TASKAPI_URL": "http://" + taskAddr}},
		{"audit", audit.Run, map[string]string{"ADDR": auditAddr}},
		// WEBHOOK_ALLOW_PRIVATE (the caller's; default false) lets
		// webhooks target this machine and private networks.
		{"notifier", notifier.Run, map[string]string{"ADDR": notifyAddr}},
		// The web app, on the front's origin, may open the socket.
		{"realtime", realtime.Run, map[string]string{"ADDR": realtimeAddr, "REALTIME_ALLOWED_ORIGINS": origins(frontAddr)}},
	}

	if ownerURL != "" {
		// The migrations, as the owner, which grants the runtime role what
		// each service needs; then the services run as that role.
		for _, s := range services {
			if s.name == "realtime" { // no database
				continue
			}
			vars := map[string]string{}
			for k, v := range common {
				vars[k] = v
			}
			for k, v := range s.env {
				vars[k] = v
			}
			vars["DATABASE_URL"], vars["DATABASE_DIRECT_URL"], vars["DATABASE_RUNTIME_ROLE"] = ownerURL, ownerURL, RuntimeRole
			if err := s.run(ctx, []string{s.name, "migrate"}, env(vars), svcOut, svcErr); err != nil {
				return fmt.Errorf("%s migrate: %w", s.name, err)
			}
		}
		common["MIGRATE_ON_START"] = "false"
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(services)+1)
	// The front: the routing table of the Ingress, on one address.
	front, err := newFront(map[string]string{
		"taskapi": "http://" + taskAddr, "notifier": "http://" + notifyAddr, "audit": "http://" + auditAddr, "realtime": "http://" + realtimeAddr,
	}, map[string]http.Handler{OIDCPath: oidcHandler})
	if err != nil {
		return err
	}
	frontSrv := &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := frontSrv.Serve(frontLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("front: %w", err)
			cancel()
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = frontSrv.Shutdown(sctx)
	}()
	origin := "http://" + frontAddr
	for _, s := range services {
		vars := map[string]string{}
		for k, v := range common {
			vars[k] = v
		}
		for k, v := range s.env {
			vars[k] = v
		}
		vars["METRICS_ADDR"] = metrics[s.name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.run(ctx, []string{s.name}, env(vars), svcOut, svcErr); err != nil {
				errc <- fmt.Errorf("%s: %w", s.name, err)
				cancel()
			}
		}()
	}

	base := "http://" + taskAddr
	for _, target := range []string{base, "http://" + recurAddr, "http://" + auditAddr, "http://" + notifyAddr, "http://" + realtimeAddr} {
		if err := waitReady(ctx, target+"/readyz", 60*time.Second); err != nil {
			cancel()
			wg.Wait()
			select {
			case e := <-errc:
				return e
			default:
				return err
			}
		}
	}

	tok, _ := auth.IssueHS256(jwtSecret, "alice", "", "", 24*time.Hour)
	fmt.Fprintf(stdout, `
┌─ todo platform is up ─────────────────────────────────────────────
│ open            %[9]s/   (the web app; sign in with any user name)
│                 one origin, as behind the Ingress (pkg/routes):
│                 %[9]s/api/v1/...   %[10]s/ws
│ task API        %[9]s/api/v1/tasks   (OpenAPI: %[9]s/api/v1/openapi.json)
│ notifications   %[9]s/api/v1/notifications  %[9]s/api/v1/webhooks
│                 (OpenAPI: %[9]s/api/v1/openapi/notifier.json)
│ audit log       %[9]s/api/v1/audit   (OpenAPI: %[9]s/api/v1/openapi/audit.json)
│ live updates    %[10]s/ws   (WebSocket; first message {"type":"auth","token":"…"})
│ sign-in         %[9]s/oidc   (development OpenID provider: code + PKCE, no password)
│ the services    taskapi %[1]s  recurring %[6]s  notifier %[7]s
│                 audit %[5]s  realtime %[8]s
│                 each answers /healthz and /readyz
│ metrics         %[13]s   (/metrics)
│ logs            %[12]s   (warnings and errors also here)
│ database        %[2]s%[14]s
│ kafka broker    %[4]s
│                 topics task-events, reminders (+ .dlq); taskapi's and notifier's outbox relays
│                 publish to it; recurring, notifier, audit and realtime read it
│
│ development token for user "alice" (24 h; another: %[11]smake token USER=bob TTL=1h):
│ %[3]s
│
│ try:  TOKEN=$(%[11]smake -s token USER=alice)
│       curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
│         %[9]s/api/v1/tasks -d '{"title":"Try the platform","priority":"high"}'
└─ Ctrl-C stops everything ───────────────────────────────────────
`, base, redactURL(dbURL), tok, brk.desc, "http://"+auditAddr, "http://"+recurAddr, "http://"+notifyAddr, "ws://"+realtimeAddr, origin, "ws://"+frontAddr, tokenHint(dataDir), logPath,
		fmt.Sprintf("taskapi %s  recurring %s  notifier %s\n│                 audit %s  realtime %s",
			metrics["taskapi"], metrics["recurring"], metrics["notifier"], metrics["audit"], metrics["realtime"]),
		dbNote(ownerURL != "", dataDir))

	<-ctx.Done()
	say("shutting down")
	wg.Wait()
	select {
	case e := <-errc:
		return e
	default:
		return nil
	}
}

// dbNote tells where the local database's passwords are, when it is the
// runner's own.
func dbNote(own bool, dataDir string) string {
	if !own {
		return ""
	}
	return fmt.Sprintf("\n│                 the services as %s, the migrations as %s; passwords (and postgres's)\n│                 in %s", RuntimeRole, OwnerRole,
		filepath.Join(dataDir, "{"+RuntimePasswordFile+","+OwnerPasswordFile+","+PostgresPasswordFile+"}"))
}

// openLog opens the services' log file for appending.
func openLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { //nolint:gosec // as the data folder (see secret)
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // the runner's own log
	if err != nil {
		return nil, fmt.Errorf("open the log %s: %w", path, err)
	}
	return f, nil
}

// tokenHint is what `make token` needs before it to sign with this data
// folder's secret.
func tokenHint(dataDir string) string {
	if dataDir == DefaultDataDir {
		return ""
	}
	return "LOCAL_DATA_DIR=" + dataDir + " "
}

// origins are the origin host patterns of the web page served at taskAddr.
func origins(taskAddr string) string {
	host, port, err := net.SplitHostPort(taskAddr)
	if err != nil {
		return taskAddr
	}
	if host == "127.0.0.1" || host == "localhost" || host == "" || host == "0.0.0.0" {
		return "127.0.0.1:" + port + ",localhost:" + port
	}
	return net.JoinHostPort(host, port)
}

// waitReady polls target until it answers 200, ctx ends or timeout passes.
func waitReady(ctx context.Context, target string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s", target, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// redactURL hides a password in a connection URL.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}
