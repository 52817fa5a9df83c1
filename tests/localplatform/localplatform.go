// Package localplatform runs the whole platform as `make up` does
// (services/local), on free loopback ports and in a throwaway data folder,
// for the browser tests and the web app's benchmark.
package localplatform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/todo-platform/todo/services/local"
)

// addrKeys are the settings of the platform's listening addresses; those
// ending in _PORT take a port alone.
var addrKeys = []string{"LOCAL_ADDR", "TASKAPI_ADDR", "RECURRING_ADDR", "NOTIFIER_ADDR", "AUDIT_ADDR", "REALTIME_ADDR",
	"LOCAL_PG_PORT", "LOCAL_KAFKA_PORT",
	"TASKAPI_METRICS_ADDR", "RECURRING_METRICS_ADDR", "NOTIFIER_METRICS_ADDR", "AUDIT_METRICS_ADDR", "REALTIME_METRICS_ADDR"}

// Platform is a running platform.
type Platform struct {
	Addr   string              // the one origin (host:port): the app, the API and the socket
	Getenv func(string) string // its environment, for `todo-local token` and the like
	out    *syncBuffer         // what it printed
	done   chan error          // local.Run's result
	cancel context.CancelFunc  // stops it
	dir    string              // its data folder
	once   sync.Once
	err    error // how it ended, once stopped
}

// Start runs the platform with vars over the defaults (free addresses, a
// fresh data folder named after prefix, no external PostgreSQL or broker)
// and waits, up to within, until it says it is up.
func Start(ctx context.Context, prefix string, vars map[string]string, within time.Duration) (*Platform, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	// The local PostgreSQL runs as the postgres user, which must enter it.
	if err := os.Chmod(dir, 0o755); err != nil { //nolint:gosec // PostgreSQL runs as postgres when root
		_ = os.RemoveAll(dir)
		return nil, err
	}
	env := map[string]string{"LOCAL_DATA_DIR": dir, "DATABASE_URL": "", "KAFKA_BROKERS": ""}
	for _, k := range addrKeys {
		a, err := freeAddr(ctx)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		if strings.HasSuffix(k, "_PORT") {
			a = a[strings.LastIndex(a, ":")+1:]
		}
		env[k] = a
	}
	for k, v := range vars {
		env[k] = v
	}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	rctx, cancel := context.WithCancel(ctx)
	p := &Platform{Addr: env["LOCAL_ADDR"], Getenv: getenv, out: &syncBuffer{}, done: make(chan error, 1), cancel: cancel, dir: dir}
	go func() { p.done <- local.Run(rctx, []string{"todo-local", "up"}, getenv, p.out, p.out) }()
	for deadline := time.Now().Add(within); !strings.Contains(p.out.String(), "todo platform is up"); {
		select {
		case err := <-p.done:
			p.done <- err
			_ = p.Stop()
			return nil, fmt.Errorf("the platform ended early: %w\n%s", err, p.out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.Stop()
			return nil, fmt.Errorf("the platform is not up after %v:\n%s", within, p.out)
		}
	}
	return p, nil
}

// Stop stops the platform, waits for it and removes its data folder; it
// returns how the platform ended. Calling it again returns the same.
func (p *Platform) Stop() error {
	p.once.Do(func() {
		p.cancel()
		p.err = <-p.done
		_ = os.RemoveAll(p.dir)
	})
	return p.err
}

// Output is what the platform printed so far.
func (p *Platform) Output() string { return p.out.String() }

// Token is a development token of user on the platform.
func (p *Platform) Token(ctx context.Context, user string) (string, error) {
	var b bytes.Buffer
	if err := local.Run(ctx, []string{"todo-local", "token", user}, p.Getenv, &b, &b); err != nil {
		return "", errors.Join(err, errors.New(b.String()))
	}
	return strings.TrimSpace(b.String()), nil
}

func freeAddr(ctx context.Context) (string, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// syncBuffer is a bytes.Buffer safe for the platform's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
