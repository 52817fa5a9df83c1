package servicetest

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Service is a service running in the test as its binary runs it: its Run
// with an environment.
type Service struct {
	Out     *Buffer // what it printed, on stdout and stderr
	stop    func() error
	checked bool // Stop was called: its caller checks Run's error
}

// Start runs run(args) with env as its environment until the test ends or
// Stop is called, and waits (up to timeout) until GET http://addr/readyz
// answers 200; it fails the test if Run ends first or readiness does not
// come. When the test ends, Run must have returned nil, unless the test
// called Stop and so checks that itself.
func Start(tb testing.TB, run RunFunc, args []string, env map[string]string, addr string, timeout time.Duration) *Service {
	tb.Helper()
	s := &Service{Out: &Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, s.Out, s.Out) }()
	var once sync.Once
	var err error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				tb.Errorf("%s did not stop within 30s\n%s", args[0], s.Out)
			}
		})
		return err
	}
	tb.Cleanup(func() {
		if err := s.stop(); err != nil && !s.checked {
			tb.Errorf("%s ended with %v\n%s", args[0], err, s.Out)
		}
	})
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-done:
			done <- err
			tb.Fatalf("%s ended early: %v\n%s", args[0], err, s.Out)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not ready within %s\n%s", args[0], timeout, s.Out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the service (once; later calls answer the same) and returns
// what its Run returned.
func (s *Service) Stop() error {
	s.checked = true
	return s.stop()
}
