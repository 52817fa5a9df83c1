package taskapi_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/services/taskapi"
)

// schemaOf describes every table, column, index, constraint, trigger and
// function of schema, one line each, sorted.
func schemaOf(t *testing.T, url, schema string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const q = `
	SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' null=' || is_nullable ||
	       ' default=' || coalesce(column_default, '') || ' generated=' || coalesce(generation_expression, '')
	  FROM information_schema.columns WHERE table_schema = $1
	UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = $1
	UNION ALL SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid)
	  FROM pg_constraint WHERE connamespace = $1::regnamespace
	UNION ALL SELECT 'trigger ' || tgrelid::regclass || ' ' || pg_get_triggerdef(oid)
	  FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text LIKE $1 || '.%'
	UNION ALL SELECT 'function ' || proname || ' ' || md5(prosrc) FROM pg_proc WHERE pronamespace = $1::regnamespace
	ORDER BY 1`
	rows, err := conn.Query(ctx, q, schema)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestMigrationsFreshEqualsUpgraded: a database migrated one release at a
// time, with data in it, ends up with the same schema as a fresh one, and
// keeps its data.
func TestMigrationsFreshEqualsUpgraded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	files, err := fs.Glob(taskapi.Migrations.FS, "*.sql")
	if err != nil || len(files) < 2 {
		t.Fatalf("migrations: %v %v", files, err)
	}

	fresh := dbtest.URL(t)
	if v, err := database.Migrate(ctx, fresh, taskapi.Migrations, nil); err != nil || int(v) != len(files) {
		t.Fatalf("fresh migrate: version %d, %v", v, err)
	}

	upgraded := dbtest.URL(t)
	if _, err := database.MigrateTo(ctx, upgraded, taskapi.Migrations, 1, nil); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, upgraded)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO taskapi.tasks (id, owner_id, title, tags, created_at, updated_at)
		VALUES ('01900000-0000-7000-8000-000000000001', 'alice', 'Kept across upgrades', '{a,b}', now(), now())`); err != nil {
		t.Fatal(err)
	}
	for v := 2; v <= len(files); v++ {
		if _, err := database.MigrateTo(ctx, upgraded, taskapi.Migrations, int32(v), nil); err != nil {
			t.Fatalf("upgrade to %d: %v", v, err)
		}
	}
	// Migrating again is a no-op.
	if _, err := database.Migrate(ctx, upgraded, taskapi.Migrations, nil); err != nil {
		t.Fatal(err)
	}

	a, b := schemaOf(t, fresh, "taskapi"), schemaOf(t, upgraded, "taskapi")
	if a != b {
		t.Fatalf("schemas differ:\nfresh:\n%s\n\nupgraded:\n%s", a, b)
	}
	if !strings.Contains(a, "index CREATE INDEX tasks_owner_search") {
		t.Fatalf("schema dump misses the search index:\n%s", a)
	}
	var title string
	var matches bool
	err = conn.QueryRow(ctx, `SELECT title, search @@ websearch_to_tsquery('simple', 'upgrades') FROM taskapi.tasks`).Scan(&title, &matches)
	if err != nil || title != "Kept across upgrades" || !matches {
		t.Fatalf("data after upgrade: %q search=%v err=%v", title, matches, err)
	}
}
