//go:build e2e

package cluster_test

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/tests/cluster"
)

// TestClusterRunsPodsAndLeavesNothing starts the real one-node cluster,
// checks that it behaves like one (a Ready node; CoreDNS running as a
// non-root pod with a read-only root file system, pulled from the cluster's
// registry; its Service routed by kube-proxy from the host; cluster names
// resolved), stops it, and checks that nothing is left on the machine.
func TestClusterRunsPodsAndLeavesNothing(t *testing.T) {
	dir, err := cluster.TempDir("todo-cluster-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	started := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Dir: dir, Progress: testWriter{t}, WaitTurn: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			if err := c.Stop(); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	})
	t.Logf("cluster ready in %s", time.Since(started).Round(100*time.Millisecond))

	out, err := c.Kubectl(ctx, "get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns",
		"-o", `jsonpath={range .items[*]}{.status.phase} {.spec.containers[0].image} {.spec.securityContext.runAsUser} {.spec.containers[0].securityContext.readOnlyRootFilesystem} {.status.podIP}{"\n"}{end}`)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(out)
	if len(fields) != 5 || fields[0] != "Running" || !strings.HasPrefix(fields[1], cluster.Registry+"/") ||
		fields[2] != "65532" || fields[3] != "true" || !strings.HasPrefix(fields[4], "198.18.") {
		t.Fatalf("CoreDNS pod: %q, want Running, an image from %s, user 65532, read-only root, a pod IP in 198.18.0.0/16", out, cluster.Registry)
	}

	// The host reaches the kube-dns Service's ClusterIP through kube-proxy's
	// rules, and CoreDNS answers from the API server's Services.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(cluster.DNSServiceIP, "53"))
	}}
	var addrs []string
	for deadline := time.Now().Add(time.Minute); ; {
		lctx, lcancel := context.WithTimeout(ctx, 3*time.Second)
		addrs, err = r.LookupHost(lctx, "kubernetes.default.svc."+cluster.ClusterDomain)
		lcancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil || len(addrs) != 1 || addrs[0] != cluster.APIServiceIP {
		t.Fatalf("kubernetes.default.svc via %s: %v %v, want %s", cluster.DNSServiceIP, addrs, err, cluster.APIServiceIP)
	}

	stopped = true
	started = time.Now()
	if err := c.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("stopped in %s", time.Since(started).Round(100*time.Millisecond))
	if left := cluster.Leftovers(ctx, dir); len(left) > 0 {
		t.Fatalf("left behind after stop: %v", left)
	}
	if _, err := os.Stat("/sys/class/net/" + cluster.Bridge); err == nil {
		t.Fatal("the bridge is still there")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
