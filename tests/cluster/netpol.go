package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/todo-platform/todo/tests/toolchain"
)

// kubeRouterRBAC lets kube-router's network policy controller read what it
// turns into iptables rules and ipsets.
const kubeRouterRBAC = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: todo:kube-router
rules:
- apiGroups: [""]
  resources: [namespaces, pods, services, nodes, endpoints]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: todo:kube-router
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: todo:kube-router
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: ` + kubeRouterUser + `
`

// kubeRouterUser is the identity of kube-router's client certificate.
const kubeRouterUser = "todo:kube-router"

// startKubeRouter runs kube-router's network policy controller alone (no
// routing, no service proxy, no CNI: the bridge plugin and kube-proxy do
// those), so that the NetworkPolicies are enforced, as in a cluster with a
// policy-enforcing network plugin. It filters pod traffic in its
// KUBE-ROUTER-* and KUBE-POD-FW-*/KUBE-NWPLCY-* chains with KUBE-SRC-* and
// KUBE-DST-* ipsets, which Cleanup removes.
func (c *Cluster) startKubeRouter(ctx context.Context) error {
	bin, err := toolchain.Path(toolchain.KubeRouter)
	if err != nil {
		return err
	}
	if _, err := c.kubectl(ctx, kubeRouterRBAC, "apply", "--server-side", "-f", "-"); err != nil {
		return err
	}
	ports, err := toolchain.FreePorts(ctx, 1)
	if err != nil {
		return err
	}
	p, err := c.start("kube-router", bin,
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false",
		"--kubeconfig="+filepath.Join(c.dir, "conf", "kube-router.kubeconfig"),
		"--hostname-override="+NodeName,
		"--service-cluster-ip-range="+ServiceCIDR,
		"--health-port="+strconv.Itoa(ports[0]),
		"--metrics-port=0",
		"--v=1")
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	return waitFor(p, 2*time.Minute, func() error {
		if err := httpOK(ctx, hc, "http://127.0.0.1:"+strconv.Itoa(ports[0])+"/healthz", ""); err != nil {
			return err
		}
		// Ready once its chains hang in the filter table.
		out, err := exec.CommandContext(ctx, "iptables", "-w", "-t", "filter", "-S", "FORWARD").Output()
		if err != nil {
			return err
		}
		if !strings.Contains(string(out), "KUBE-ROUTER-FORWARD") {
			return errors.New("no KUBE-ROUTER-FORWARD jump yet")
		}
		return nil
	})
}

// clusterIPSet says whether an ipset is kube-router's (IPv4 sets, and IPv6
// ones with their "inet6:" prefix).
func clusterIPSet(name string) bool {
	name = strings.TrimPrefix(name, "inet6:")
	return strings.HasPrefix(name, "KUBE-SRC-") || strings.HasPrefix(name, "KUBE-DST-")
}

// ipsets lists the cluster's ipsets on the machine.
func ipsets(ctx context.Context) ([]string, error) {
	if _, err := exec.LookPath("ipset"); err != nil {
		return nil, nil //nolint:nilerr // no ipset program: no sets
	}
	out, err := exec.CommandContext(ctx, "ipset", "list", "-n").Output()
	if err != nil {
		return nil, fmt.Errorf("ipset list -n: %w", err)
	}
	var sets []string
	for _, s := range strings.Fields(string(out)) {
		if clusterIPSet(s) {
			sets = append(sets, s)
		}
	}
	return sets, nil
}

// cleanupIPSets destroys kube-router's ipsets; the iptables rules that use
// them must be gone first.
func cleanupIPSets(ctx context.Context) error {
	sets, err := ipsets(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range sets {
		if out, err := exec.CommandContext(ctx, "ipset", "destroy", s).CombinedOutput(); err != nil { //nolint:gosec // G204: a set ipset listed.
			errs = append(errs, fmt.Errorf("ipset destroy %s: %w: %s", s, err, out))
		}
	}
	return errors.Join(errs...)
}
