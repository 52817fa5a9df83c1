package pgnotify_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/pgnotify"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestListenGetsNotifications: a Notifier's NOTIFY reaches Listen, also
// after the listening connection was killed (it reconnects, and wakes once
// on reconnecting, for what it may have missed).
func TestListenGetsNotifications(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx, cancel := context.WithCancel(context.Background())
	wakes := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() {
		done <- pgnotify.Listen(ctx, pgnotify.ListenConfig{
			Conn: pool.Config().ConnConfig, Channel: "things", Name: "pgnotify test", MinBackoff: 10 * time.Millisecond,
		}, func() { wakes <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Listen returned %v", err)
		}
	})
	woken := func(what string) {
		t.Helper()
		select {
		case <-wakes:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake-up: %s", what)
		}
	}
	drain := func() {
		for {
			select {
			case <-wakes:
			default:
				return
			}
		}
	}
	listener := func() (pid int) {
		err := pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = 'pgnotify test' AND datname = current_database()`).Scan(&pid)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		return pid
	}
	woken("on connecting")
	first := listener()
	if first == 0 {
		t.Fatal("no listening connection named by ListenConfig.Name")
	}
	n := pgnotify.NewNotifier(pool, "things")
	n.Notify()
	woken("after Notify")

	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, first); err != nil {
		t.Fatal(err)
	}
	woken("on reconnecting")
	drain()
	if p := listener(); p == first || p == 0 {
		t.Fatalf("listening connection %d after killing %d", p, first)
	}
	n.Notify()
	woken("after Notify, reconnected")
}

// TestNotifierCoalesces: a burst of Notify calls costs far fewer NOTIFYs
// than calls, and the last call is still followed by one.
func TestNotifierCoalesces(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "LISTEN burst"); err != nil {
		t.Fatal(err)
	}
	n := pgnotify.NewNotifier(pool, "burst")
	for range 1000 {
		n.Notify()
	}
	got := 0
	for {
		wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			break
		}
		got++
	}
	if got == 0 || got > 100 {
		t.Errorf("%d notifications for 1000 calls: want at least one, and coalesced", got)
	}
	var nilNotifier *pgnotify.Notifier
	nilNotifier.Notify() // does nothing
}
