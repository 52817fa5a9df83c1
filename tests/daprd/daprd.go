//go:build linux

// Package daprd runs a self-hosted daprd sidecar on loopback whose one
// component, "pubsub", is pubsub.kafka at a Kafka-protocol broker: for the
// Dapr transport's end-to-end tests (tests/dapr) and the event bench
// (tests/load/eventbench).
package daprd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/todo-platform/todo/tests/toolchain"
)

// component is the pub/sub component daprd loads.
const component = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.kafka
  version: v1
  metadata:
  - name: brokers
    value: %q
  - name: authType
    value: "none"
  - name: consumerGroup
    value: %q
  - name: clientID
    value: %q
  - name: initialOffset
    value: %q
  - name: backOffPolicy
    value: "constant"
  - name: backOffDuration
    value: "200ms"
`

// Component is the pub/sub component's YAML for brokers (comma
// separated), a consumer group, a Kafka client id and an initial offset
// ("oldest" or "newest").
func Component(brokers, group, clientID, initialOffset string) []byte {
	return fmt.Appendf(nil, component, brokers, group, clientID, initialOffset)
}

// Config is what a sidecar runs with.
type Config struct {
	Bin           string // the daprd binary
	Dir           string // its resources folder, where the component is written
	AppID         string
	Group         string    // the component's consumer group; "": AppID
	AppPort       int       // where the app listens
	HTTPPort      int       // the sidecar's HTTP port; 0: a free one
	Brokers       string    // the broker's addresses, comma separated
	ClientID      string    // the component's Kafka client id
	InitialOffset string    // "oldest" or "newest"
	APIToken      string    // DAPR_API_TOKEN, required of the sidecar's callers
	AppToken      string    // APP_API_TOKEN, sent to the app
	Log           io.Writer // daprd's output
	Within        time.Duration
}

// Sidecar is a running daprd.
type Sidecar struct {
	HTTPPort int
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Start runs daprd as c says and waits, up to c.Within, until it is healthy.
func Start(ctx context.Context, c Config) (*Sidecar, error) {
	if c.Group == "" {
		c.Group = c.AppID
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "pubsub.yaml"), Component(c.Brokers, c.Group, c.ClientID, c.InitialOffset), 0o600); err != nil {
		return nil, err
	}
	ports, err := toolchain.FreePorts(ctx, 3)
	if err != nil {
		return nil, err
	}
	if c.HTTPPort == 0 {
		c.HTTPPort = ports[2]
	}
	cmd := exec.CommandContext(ctx, c.Bin, //nolint:gosec // daprd from the project's tool cache
		"--app-id", c.AppID, "--app-port", strconv.Itoa(c.AppPort), "--app-protocol", "http",
		"--dapr-http-port", strconv.Itoa(c.HTTPPort), "--dapr-grpc-port", strconv.Itoa(ports[0]), "--metrics-port", strconv.Itoa(ports[1]),
		"--dapr-listen-addresses", "127.0.0.1", "--resources-path", c.Dir,
		"--placement-host-address", "", "--scheduler-host-address", "", "--log-level", "warn",
	)
	cmd.Env = append(os.Environ(), "DAPR_HOST_IP=127.0.0.1", "DAPR_API_TOKEN="+c.APIToken, "APP_API_TOKEN="+c.AppToken)
	cmd.Stdout, cmd.Stderr = c.Log, c.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Sidecar{HTTPPort: c.HTTPPort, cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	health := "http://127.0.0.1:" + strconv.Itoa(c.HTTPPort) + "/v1.0/healthz"
	deadline := time.Now().Add(c.Within)
	for {
		select {
		case <-s.exited:
			return nil, errors.New("daprd exited before it was healthy")
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, health, nil)
		if err != nil {
			s.Stop()
			return nil, err
		}
		req.Header.Set("dapr-api-token", c.APIToken)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("daprd not healthy within %s", c.Within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop asks daprd to stop, kills it if it has not within 10 seconds, and
// waits for it.
func (s *Sidecar) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}
