// Package database opens PostgreSQL connection pools and applies a service's
// embedded, versioned migrations (github.com/jackc/tern). Every service owns
// one PostgreSQL schema, named after it, and keeps its migration version there.
package database

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// ErrNoURL says no database URL was configured.
var ErrNoURL = errors.New("DATABASE_URL is not set")

// DefaultMaxConns is the pool size when the URL does not set pool_max_conns.
// pgxpool's own default (the number of CPUs, at least 4) starves reads behind
// writes waiting for their commit flush; the task API benchmark measured 16
// as the best of 4, 16 and 32 on a 2-core machine.
const DefaultMaxConns = 16

// Connect opens a pool to url and checks that the server answers. The pool
// holds DefaultMaxConns connections unless url sets pool_max_conns.
func Connect(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := parse(url)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxConnIdleTime == 0 {
		cfg.MaxConnIdleTime = 5 * time.Minute
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("reach database %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

// ConnConfig parses url into the configuration of a single connection (a
// listener's, say). The pool's settings it may carry (pool_max_conns, …)
// are dropped.
func ConnConfig(url string) (*pgx.ConnConfig, error) {
	cfg, err := parse(url)
	if err != nil {
		return nil, err
	}
	return cfg.ConnConfig, nil
}

// parse parses url with a connect timeout of 10 s unless it sets one.
func parse(url string) (*pgxpool.Config, error) {
	if url == "" {
		return nil, ErrNoURL
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included: keep it out.
		return nil, errors.New("parse database URL: malformed URL (check the scheme, host and the escaping of the password)")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	return cfg, nil
}

// Migrations are one service's embedded migrations: files named
// "NNN_name.sql" in FS, applied in order into Schema.
type Migrations struct {
	Schema string
	FS     fs.FS
	// Data is what the migrations, text/template templates, may use:
	// {{ .Name }} stands for Data["Name"] (see With).
	Data map[string]any
	// Grants are all the service's runtime role may do in Schema (see
	// Grant and GrantRuntime): each the privileges and objects of one
	// GRANT, as "SELECT, INSERT ON entries" or "USAGE ON SEQUENCE
	// outbox_id_seq".
	Grants []string
}

// With returns m with Data[name] set to v, for a migration that says
// {{ .name }}: SQL that one package defines for many services (such as
// consume.TableSQL) is written once.
func (m Migrations) With(name string, v any) Migrations {
	data := make(map[string]any, len(m.Data)+1)
	for k, x := range m.Data {
		data[k] = x
	}
	data[name] = v
	m.Data = data
	return m
}

// Grant returns m with grants added to its Grants: what the service's
// runtime role needs.
func (m Migrations) Grant(grants ...string) Migrations {
	m.Grants = append(append([]string(nil), m.Grants...), grants...)
	return m
}

// Embedded returns the migrations of schema held in the folder dir of fsys
// (a service's embedded files: //go:embed migrations/*.sql).
func Embedded(schema string, fsys fs.FS, dir string) Migrations {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(fmt.Sprintf("migrations of %s: %v", schema, err)) // a build mistake: the embed pattern names dir
	}
	return Migrations{Schema: schema, FS: sub}
}

// ErrRuntimeRoleOwns says the runtime role is the role that migrates: it
// would own the tables, and could alter, truncate or drop them.
var ErrRuntimeRoleOwns = errors.New("the runtime role (DATABASE_RUNTIME_ROLE) is the role that runs the migrations: give the services a role of their own")

// GrantRuntime gives role, the role the service runs as, exactly m.Grants
// in m.Schema (and USAGE on the schema), on a connection to url as the
// schema's owner, the role that migrates: whatever else role held on the
// schema's tables and sequences is revoked first. The runtime role owns
// nothing, so it can neither change the schema nor truncate, alter or drop
// a table, nor disable a trigger. The role must exist (the platform does
// not create roles).
func GrantRuntime(ctx context.Context, url string, m Migrations, role string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return errors.New("parse database URL: malformed URL (check the scheme, host and the escaping of the password)")
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{m.Schema}.Sanitize()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect for grants: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var self bool
	if err := conn.QueryRow(ctx, "SELECT $1 = current_user", role).Scan(&self); err != nil {
		return fmt.Errorf("grants of %s: %w", m.Schema, err)
	}
	if self {
		return ErrRuntimeRoleOwns
	}
	schema, r := pgx.Identifier{m.Schema}.Sanitize(), pgx.Identifier{role}.Sanitize()
	stmts := []string{
		"REVOKE ALL ON ALL TABLES IN SCHEMA " + schema + " FROM " + r,
		"REVOKE ALL ON ALL SEQUENCES IN SCHEMA " + schema + " FROM " + r,
		"GRANT USAGE ON SCHEMA " + schema + " TO " + r,
	}
	for _, g := range m.Grants {
		stmts = append(stmts, "GRANT "+g+" TO "+r)
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("grants of %s to %s: %s: %w", m.Schema, role, s, err)
			}
		}
		return nil
	})
}

// Migrate applies every pending migration of m on a dedicated connection to
// url and returns the version reached. Migrations of all services on one
// database are serialized by an advisory lock.
func Migrate(ctx context.Context, url string, m Migrations, log *slog.Logger) (int32, error) {
	return MigrateTo(ctx, url, m, -1, log)
}

// MigrateTo is Migrate up to version target (-1: the latest).
func MigrateTo(ctx context.Context, url string, m Migrations, target int32, log *slog.Logger) (int32, error) {
	if url == "" {
		return 0, ErrNoURL
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return 0, errors.New("parse database URL: malformed URL (check the scheme, host and the escaping of the password)")
	}
	// Unqualified names in the migrations are the service's own. Set at
	// connect time, the search path survives the RESET ALL that tern runs
	// after each migration.
	cfg.RuntimeParams["search_path"] = pgx.Identifier{m.Schema}.Sanitize() + ", public"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("connect for migrations: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{m.Schema}.Sanitize()); err != nil {
		return 0, fmt.Errorf("create schema %s: %w", m.Schema, err)
	}
	mig, err := migrate.NewMigrator(ctx, conn, pgx.Identifier{m.Schema, "schema_version"}.Sanitize())
	if err != nil {
		return 0, fmt.Errorf("prepare migrations of %s: %w", m.Schema, err)
	}
	for k, v := range m.Data {
		mig.Data[k] = v
	}
	if err := mig.LoadMigrations(m.FS); err != nil {
		return 0, fmt.Errorf("load migrations of %s: %w", m.Schema, err)
	}
	if log != nil {
		mig.OnStart = func(seq int32, name, direction, _ string) {
			log.Info("migrating", "schema", m.Schema, "version", seq, "name", name, "direction", direction)
		}
	}
	if target < 0 {
		err = mig.Migrate(ctx)
	} else {
		err = mig.MigrateTo(ctx, target)
	}
	if err != nil {
		return 0, fmt.Errorf("migrate %s: %w", m.Schema, err)
	}
	v, err := mig.GetCurrentVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read migration version of %s: %w", m.Schema, err)
	}
	return v, nil
}
