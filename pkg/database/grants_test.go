package database_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/database/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// ledger is a schema of two tables: the runtime role may append to one and
// read the other.
var ledger = database.Migrations{
	Schema: "ledger",
	FS: fstest.MapFS{"001_tables.sql": {Data: []byte(`
		CREATE TABLE lines (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, amount int NOT NULL);
		CREATE TABLE rates (name text PRIMARY KEY, rate int NOT NULL);`)}},
	Grants: []string{"SELECT, INSERT ON lines", "SELECT ON rates"},
}

// TestGrantRuntime: the runtime role gets exactly the grants, whatever it
// held before in the schema; the migrating role itself is refused as the
// runtime role.
func TestGrantRuntime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := dbtest.URL(t, ledger)
	role := dbtest.RuntimeRole(t)
	admin, err := pgx.Connect(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// A grant from before, which the service no longer needs.
	if _, err := admin.Exec(ctx, "GRANT USAGE ON SCHEMA ledger TO "+role+"; GRANT UPDATE, DELETE, TRUNCATE ON ledger.lines, ledger.rates TO "+role); err != nil {
		t.Fatal(err)
	}
	app, err := pgx.Connect(ctx, dbtest.RuntimeURL(t, owner, ledger))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	for stmt, allowed := range map[string]bool{
		"INSERT INTO ledger.lines (amount) VALUES (1)":   true,
		"SELECT count(*) FROM ledger.lines":              true,
		"SELECT count(*) FROM ledger.rates":              true,
		"UPDATE ledger.lines SET amount = 2":             false,
		"DELETE FROM ledger.lines":                       false,
		"TRUNCATE ledger.lines":                          false,
		"INSERT INTO ledger.rates VALUES ('eur', 1)":     false,
		"DELETE FROM ledger.rates":                       false,
		"ALTER TABLE ledger.lines ADD COLUMN note text":  false,
		"CREATE TABLE ledger.more (x int)":               false,
		"SELECT count(*) FROM ledger.schema_version":     false,
		"ALTER TABLE ledger.lines DISABLE TRIGGER ALL":   false,
		"DROP TABLE ledger.rates":                        false,
		"CREATE INDEX lines_amount ON ledger.lines (id)": false,
	} {
		_, err := app.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		switch {
		case allowed && err != nil:
			t.Errorf("%s: %v, want it allowed", stmt, err)
		case !allowed && (!errors.As(err, &pgErr) || pgErr.Code != "42501"):
			t.Errorf("%s: %v, want permission denied", stmt, err)
		}
	}
	var self string
	if err := admin.QueryRow(ctx, "SELECT current_user").Scan(&self); err != nil {
		t.Fatal(err)
	}
	if err := database.GrantRuntime(ctx, owner, ledger, self); !errors.Is(err, database.ErrRuntimeRoleOwns) {
		t.Errorf("GrantRuntime to the owner itself: %v, want ErrRuntimeRoleOwns", err)
	}
}
