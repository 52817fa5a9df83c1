package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/todo-platform/todo/tests/daprd"
)

// The tokens between each service and its sidecar: the sidecar's API
// token (DAPR_API_TOKEN) and the one it presents to the app
// (APP_API_TOKEN).
const (
	daprAPIToken = "chaos-dapr-api-token"
	daprAppToken = "chaos-dapr-app-token"
)

// sidecarPorts are the ports of one service's daprd, kept across its
// restarts: the service knows the HTTP port from its start.
type sidecarPorts struct{ http, grpc, metrics int }

// sidecarName is the process name of service s's daprd.
func sidecarName(s string) string { return "daprd-" + s }

// allocateSidecars picks each service's sidecar ports.
func (p *platform) allocateSidecars(ctx context.Context) error {
	p.sidecars = map[string]sidecarPorts{}
	for _, s := range services {
		var ports [3]int
		for i := range ports {
			port, err := freePort(ctx)
			if err != nil {
				return err
			}
			ports[i] = port
		}
		p.sidecars[s] = sidecarPorts{http: ports[0], grpc: ports[1], metrics: ports[2]}
	}
	return nil
}

// startSidecar starts (or starts again) service s's daprd beside it, with
// the component in dir/dapr/s, and waits until it is healthy.
func (p *platform) startSidecar(ctx context.Context, s string) error {
	res := filepath.Join(p.dir, "dapr", s)
	if err := os.MkdirAll(res, 0o750); err != nil {
		return err
	}
	// realtime broadcasts: its group is its own and starts at the newest
	// offset, as the stacks' "{podName}" group does for each replica.
	group, offset := s, "oldest"
	if s == "realtime" {
		group, offset = "realtime-chaos", "newest"
	}
	if err := os.WriteFile(filepath.Join(res, "pubsub.yaml"), daprd.Component(p.kafka, group, "chaos-"+s, offset), 0o600); err != nil {
		return err
	}
	_, appPort, _ := net.SplitHostPort(p.addrs[s])
	ports := p.sidecars[s]
	cmd := exec.CommandContext(p.ctx, p.daprd, //nolint:gosec // daprd from the project's tool cache
		"--app-id", s, "--app-port", appPort, "--app-protocol", "http",
		"--dapr-http-port", strconv.Itoa(ports.http), "--dapr-grpc-port", strconv.Itoa(ports.grpc),
		"--metrics-port", strconv.Itoa(ports.metrics), "--dapr-listen-addresses", "127.0.0.1",
		"--resources-path", res, "--placement-host-address", "", "--scheduler-host-address", "",
		"--log-level", "warn",
	)
	cmd.Env = append(os.Environ(), "DAPR_HOST_IP=127.0.0.1", "DAPR_API_TOKEN="+daprAPIToken, "APP_API_TOKEN="+daprAppToken)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	name := sidecarName(s)
	if err := p.run(name, cmd); err != nil {
		return err
	}
	health := "http://127.0.0.1:" + strconv.Itoa(ports.http) + "/v1.0/healthz"
	for deadline := time.Now().Add(time.Minute); ; {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, health, nil)
		req.Header.Set("dapr-api-token", daprAPIToken)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
		}
		if p.exited(name) {
			return fmt.Errorf("%s exited before it was healthy (see the log)", name)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after a minute (see the log)", name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// daprEnv is the environment that puts service s on the Dapr transport,
// beside its sidecar.
func (p *platform) daprEnv(s string) []string {
	return []string{
		"EVENTS_TRANSPORT=dapr",
		"DAPR_HTTP_PORT=" + strconv.Itoa(p.sidecars[s].http),
		"DAPR_API_TOKEN=" + daprAPIToken,
		"APP_API_TOKEN=" + daprAppToken,
	}
}
