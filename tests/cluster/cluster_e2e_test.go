//go:build e2e

package cluster_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// TestCommandUpDownAfterCrash runs the cluster as `make cluster` does (the
// todo-cluster command, in the background), kills its process with SIGKILL,
// as a crash would, and checks that `make cluster-down` still removes
// everything: the orphaned components and containers, mounts, network,
// iptables chains, cgroups.
func TestCommandUpDownAfterCrash(t *testing.T) {
	dir, err := cluster.TempDir("todo-cluster-cmd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	bin := filepath.Join(t.TempDir(), "todo-cluster")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/todo-cluster").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	down := func() string {
		out, err := exec.CommandContext(ctx, bin, "down", "-dir", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("todo-cluster down: %v\n%s", err, out)
		}
		return string(out)
	}

	out, err := exec.CommandContext(ctx, bin, "up", "-dir", dir, "-wait", "30m").CombinedOutput()
	if err != nil {
		down()
		t.Fatalf("todo-cluster up: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "export KUBECONFIG="+filepath.Join(dir, "kubeconfig")) {
		t.Errorf("up does not print the KUBECONFIG line:\n%s", out)
	}
	running, pid, ok := cluster.Running()
	if !ok || running != dir {
		down()
		t.Fatalf("after up: running=%v dir=%q", ok, running)
	}
	status, err := exec.CommandContext(ctx, bin, "status").CombinedOutput()
	if err != nil || !strings.Contains(string(status), "is running") {
		t.Errorf("status: %v\n%s", err, status)
	}

	// The crash: the components and pods are orphaned, still running.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			break
		}
	}
	if left := cluster.Leftovers(ctx, dir); len(left) == 0 {
		t.Error("nothing left after killing the cluster's process: the crash was not simulated")
	}
	msg := down()
	if !strings.Contains(msg, "nothing is left running") {
		t.Errorf("down says:\n%s", msg)
	}
	if left := cluster.Leftovers(ctx, dir); len(left) > 0 {
		t.Fatalf("left behind after down: %v", left)
	}
	t.Logf("up, crash and down: clean\n%s%s", out, msg)
}
