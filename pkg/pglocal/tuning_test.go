package pglocal_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/pglocal"
)

// TestTunedServer: a durable cluster given memory runs with the tuned
// configuration, sized to that memory; one without keeps PostgreSQL's
// defaults.
func TestTunedServer(t *testing.T) {
	if _, err := pglocal.BinDir(); err != nil {
		t.Skip(err) // make test installs PostgreSQL first; see the README
	}
	mem, err := pglocal.MachineMemory()
	if err != nil || mem < 1<<30 {
		t.Fatalf("MachineMemory: %d, %v", mem, err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		memory int64
		want   map[string]string
	}{
		{2 << 30, map[string]string{"shared_buffers": "512MB", "effective_cache_size": "1536MB", "random_page_cost": "1.1", "work_mem": "16MB", "max_wal_size": "4GB", "jit": "off"}},
		{0, map[string]string{"shared_buffers": "128MB", "effective_cache_size": "4GB", "random_page_cost": "4", "work_mem": "4MB", "max_wal_size": "1GB", "jit": "on"}},
	} {
		dir, err := os.MkdirTemp("", "pglocal-tuned-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil { //nolint:gosec // the postgres user enters it
			t.Fatal(err)
		}
		cl, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Durable: true, Memory: c.memory})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, cl.URL("postgres"))
		if err != nil {
			_ = cl.Stop()
			t.Fatal(err)
		}
		for name, want := range c.want {
			var got string
			if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil {
				t.Error(err)
			} else if got != want {
				t.Errorf("memory %d: %s = %s, want %s", c.memory, name, got, want)
			}
		}
		_ = conn.Close(ctx)
		if err := cl.Stop(); err != nil {
			t.Error(err)
		}
	}
}
