package local

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/pglocal"
)

// The roles of the local database, as in production: the owner, which the
// migrations run as, and the services' runtime role, which owns nothing and
// holds only the grants each service's migrations give it.
const (
	OwnerRole   = "todo_owner"
	RuntimeRole = "todo_app"
)

// Files in the data folder (mode 0600) with the local backends' passwords.
const (
	PostgresPasswordFile = "postgres-password"
	OwnerPasswordFile    = "database-owner-password"
	RuntimePasswordFile  = "database-app-password"
	KafkaPasswordFile    = "kafka-password"
)

// prepareDatabase makes the roles (or sets their passwords) and the
// database on the cluster, as its superuser, and hands the database and
// the objects in its schemas to the owner: a database made before the
// roles existed belonged to the superuser.
func prepareDatabase(ctx context.Context, cluster *pglocal.Cluster, name, ownerPassword, runtimePassword string) error {
	conn, err := pgx.Connect(ctx, cluster.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to local PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, r := range []struct{ role, password string }{{OwnerRole, ownerPassword}, {RuntimeRole, runtimePassword}} {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", r.role).Scan(&exists); err != nil {
			return err
		}
		verb := "ALTER"
		if !exists {
			verb = "CREATE"
		}
		// NOSUPERUSER NOCREATEDB NOCREATEROLE: what a new role is; said
		// again for a role that an older data folder may hold.
		stmt := verb + " ROLE " + pgx.Identifier{r.role}.Sanitize() + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD " + pglocal.QuoteLiteral(r.password)
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s role %s: %w", verb, r.role, err)
		}
	}
	db, owner := pgx.Identifier{name}.Sanitize(), pgx.Identifier{OwnerRole}.Sanitize()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+db+" OWNER "+owner); err != nil {
			return fmt.Errorf("create database %s: %w", name, err)
		}
		return nil
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+db+" OWNER TO "+owner); err != nil {
		return fmt.Errorf("hand database %s to %s: %w", name, OwnerRole, err)
	}
	in, err := pgx.Connect(ctx, cluster.URL(name))
	if err != nil {
		return fmt.Errorf("connect to database %s: %w", name, err)
	}
	defer in.Close(context.WithoutCancel(ctx))
	if _, err := in.Exec(ctx, fmt.Sprintf(handOver, OwnerRole)); err != nil {
		return fmt.Errorf("hand the schemas of %s to %s: %w", name, OwnerRole, err)
	}
	return nil
}

// handOver gives the role %[1]s the services' schemas and what is in them
// (tables with their indexes and sequences, other sequences, functions),
// where another role owns them. It changes nothing on later starts.
const handOver = `DO $$
DECLARE
    r record;
    owner regrole := '%[1]s'::regrole;
    mine text := $q$n.nspname NOT LIKE 'pg\_%%' AND n.nspname NOT IN ('information_schema', 'public')$q$;
BEGIN
    FOR r IN EXECUTE 'SELECT n.nspname AS name FROM pg_namespace n WHERE ' || mine || ' AND n.nspowner <> $1' USING owner LOOP
        EXECUTE format('ALTER SCHEMA %%I OWNER TO %%I', r.name, owner);
    END LOOP;
    FOR r IN EXECUTE 'SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE ' || mine || ' AND c.relkind IN (''r'', ''p'', ''v'', ''m'') AND c.relowner <> $1' USING owner LOOP
        EXECUTE format('ALTER TABLE %%s OWNER TO %%I', r.name, owner);
    END LOOP;
    FOR r IN EXECUTE 'SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE ' || mine || ' AND c.relkind = ''S'' AND c.relowner <> $1
        AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN (''a'', ''i''))' USING owner LOOP
        EXECUTE format('ALTER SEQUENCE %%s OWNER TO %%I', r.name, owner);
    END LOOP;
    FOR r IN EXECUTE 'SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE ' || mine || ' AND p.proowner <> $1' USING owner LOOP
        EXECUTE format('ALTER FUNCTION %%s OWNER TO %%I', r.name, owner);
    END LOOP;
END $$`
