// Package dbtest gives each test a fresh PostgreSQL database with a service's
// migrations applied. The server is TEST_DATABASE_URL's when that is set (the
// role needs CREATEDB), otherwise a throwaway cluster that this package starts
// from the machine's PostgreSQL binaries once per test binary.
//
// RuntimePool and RuntimeURL connect as a runtime role that owns nothing and
// holds only the services' grants (database.GrantRuntime), as the services
// run in production; with TEST_DATABASE_URL its role then also needs
// CREATEROLE.
//
// A package that uses it stops the cluster in its TestMain:
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
package dbtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/pglocal"
)

var (
	mu        sync.Mutex
	serverURL string // URL of the maintenance database of the server
	cluster   *pglocal.Cluster
	templates = map[string]string{} // migration set hash -> template database
	seq       atomic.Int64
	runtime   string // the runtime role, once made
)

// Main runs the tests and then stops the throwaway cluster, if one was started.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	if cluster != nil {
		if err := cluster.Remove(); err != nil {
			fmt.Fprintln(os.Stderr, "dbtest: stop cluster:", err)
		}
	} else if serverURL != "" {
		// A shared server (TEST_DATABASE_URL): drop the templates made here.
		ctx := context.Background()
		if c, err := pgx.Connect(ctx, serverURL); err == nil {
			for _, name := range templates {
				_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			}
			if runtime != "" {
				// Its grants went with the test databases (each test's cleanup).
				_, _ = c.Exec(ctx, "DROP ROLE IF EXISTS "+runtime)
			}
			_ = c.Close(ctx)
		}
	}
	mu.Unlock()
	os.Exit(code)
}

func server(tb testing.TB) string {
	if serverURL != "" {
		return serverURL
	}
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		serverURL = u
		return u
	}
	dir, err := os.MkdirTemp("", "todo-test-pg-")
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: dir})
	if err != nil {
		_ = os.RemoveAll(dir)
		tb.Fatalf("dbtest: start a throwaway PostgreSQL (or set TEST_DATABASE_URL): %v", err)
	}
	cluster = c
	serverURL = c.URL("postgres")
	return serverURL
}

// prepare returns the server and the template of migrations, making them on
// first use.
func prepare(tb testing.TB, migrations []database.Migrations) (string, string) {
	mu.Lock()
	defer mu.Unlock()
	srv := server(tb)
	return srv, template(tb, srv, migrations)
}

// withDB returns u with its database replaced by db.
func withDB(tb testing.TB, u, db string) string {
	p, err := url.Parse(u)
	if err != nil {
		tb.Fatalf("dbtest: parse server URL: %v", err)
	}
	p.Path = "/" + db
	return p.String()
}

// URL creates a fresh database holding the given migrations and returns its
// URL; the database is dropped when the test ends.
func URL(tb testing.TB, migrations ...database.Migrations) string {
	tb.Helper()
	srv, tmpl := prepare(tb, migrations)

	name := fmt.Sprintf("t_%d_%d", os.Getpid(), seq.Add(1))
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, srv)
	if err != nil {
		tb.Fatalf("dbtest: connect: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl)); err != nil {
		tb.Fatalf("dbtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(ctx, srv)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDB(tb, srv, name)
}

// Pool is URL plus a pool to the new database, closed when the test ends.
func Pool(tb testing.TB, migrations ...database.Migrations) *pgxpool.Pool {
	tb.Helper()
	u := URL(tb, migrations...)
	pool, err := database.Connect(context.Background(), u)
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// Count runs sql, a query of one integer (a count), on pool and returns
// its result.
func Count(tb testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	tb.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		tb.Fatalf("dbtest: %s: %v", sql, err)
	}
	return n
}

// template returns a database with the migrations applied, made once per
// process and migration set (CREATE DATABASE … TEMPLATE copies it fast).
func template(tb testing.TB, srv string, migrations []database.Migrations) string {
	h := sha256.New()
	for _, m := range migrations {
		fmt.Fprintf(h, "schema %s\n", m.Schema)
		files, _ := fs.Glob(m.FS, "*.sql")
		sort.Strings(files)
		for _, f := range files {
			b, _ := fs.ReadFile(m.FS, f)
			fmt.Fprintf(h, "%s %x\n", f, sha256.Sum256(b))
		}
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	if name, ok := templates[key]; ok {
		return name
	}
	name := fmt.Sprintf("tmpl_%d_%s", os.Getpid(), key)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, srv)
	if err != nil {
		tb.Fatalf("dbtest: connect: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("dbtest: create template: %v", err)
	}
	u := withDB(tb, srv, name)
	for _, m := range migrations {
		if _, err := database.Migrate(ctx, u, m, nil); err != nil {
			tb.Fatalf("dbtest: %v", err)
		}
	}
	templates[key] = name
	return name
}

// runtimePassword is the password of the runtime role of the tests.
const runtimePassword = "runtime-role-of-the-tests"

// RuntimeURL returns the URL of the database of u (a URL from URL) as the
// runtime role, after granting it what migrations grant
// (database.GrantRuntime): a role that owns nothing there, as a service runs
// in production.
func RuntimeURL(tb testing.TB, u string, migrations ...database.Migrations) string {
	tb.Helper()
	role := RuntimeRole(tb)
	for _, m := range migrations {
		if err := database.GrantRuntime(context.Background(), u, m, role); err != nil {
			tb.Fatalf("dbtest: %v", err)
		}
	}
	p, err := url.Parse(u)
	if err != nil {
		tb.Fatalf("dbtest: parse URL: %v", err)
	}
	p.User = url.UserPassword(role, runtimePassword)
	return p.String()
}

// RuntimeRole returns the name of the runtime role of the tests (see
// RuntimeURL), making it on first use: a login role that owns nothing.
func RuntimeRole(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	mu.Lock()
	defer mu.Unlock()
	server(tb)
	if runtime == "" {
		name := fmt.Sprintf("runtime_%d", os.Getpid())
		admin, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			tb.Fatalf("dbtest: connect: %v", err)
		}
		_, err = admin.Exec(ctx, "CREATE ROLE "+name+" LOGIN PASSWORD '"+runtimePassword+"'")
		_ = admin.Close(ctx)
		if err != nil {
			tb.Fatalf("dbtest: create the runtime role (TEST_DATABASE_URL's role needs CREATEROLE): %v", err)
		}
		runtime = name
	}
	return runtime
}

// RuntimePool is a fresh database holding migrations (see URL), and a pool
// to it as the runtime role (see RuntimeURL), closed when the test ends.
func RuntimePool(tb testing.TB, migrations ...database.Migrations) *pgxpool.Pool {
	tb.Helper()
	u := RuntimeURL(tb, URL(tb, migrations...), migrations...)
	pool, err := database.Connect(context.Background(), u)
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}
