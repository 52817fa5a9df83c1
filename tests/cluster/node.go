package cluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/todo-platform/todo/tests/toolchain"
)

// containerdConfig is containerd's CRI configuration. Everything lives under
// the state folder, network namespaces too (so a stop finds them among the
// mounts); restrict_oom_score_adj is needed where the process lacks
// CAP_SYS_RESOURCE; the registry on loopback is reached over plain HTTP.
const containerdConfig = `version = 2
root = "{{dir}}/containerd/root"
state = "{{dir}}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{{dir}}/containerd/containerd.sock"

[ttrpc]
  address = "{{dir}}/containerd/containerd.sock.ttrpc"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{{dir}}/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{pause}}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{{cnibin}}"
    conf_dir = "{{dir}}/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."{{registry}}"]
    endpoint = ["http://{{registry}}"]
`

// cniConfig puts pods on the node's bridge, addressed from the pod range
// (the node keeps the gateway address), with hairpin on so that a pod
// reaches itself through its Service.
const cniConfig = `{
  "cniVersion": "1.0.0",
  "name": "todo-cluster",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "{{bridge}}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "{{dir}}/cni/ipam",
        "ranges": [[{"subnet": "{{podcidr}}", "rangeStart": "198.18.1.1", "rangeEnd": "198.18.255.254", "gateway": "{{nodeip}}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
`

func (c *Cluster) expand(s string) string {
	return strings.NewReplacer(
		"{{dir}}", c.dir, "{{pause}}", c.State.Images["pause"], "{{registry}}", Registry, "{{cnibin}}", CNIBinDir,
		"{{bridge}}", Bridge, "{{podcidr}}", PodCIDR, "{{nodeip}}", NodeIP, "{{dns}}", DNSServiceIP,
		"{{domain}}", ClusterDomain, "{{node}}", NodeName, "{{servicecidr}}", ServiceCIDR,
	).Replace(s)
}

// configure finds tool's binary and a free port for each of names, and
// writes conf/<file>: tmpl expanded, each {{name}} replaced by its port.
func (c *Cluster) configure(ctx context.Context, tool, file, tmpl string, names ...string) (bin, confPath string, ports []int, err error) {
	if bin, err = toolchain.Path(tool); err != nil {
		return "", "", nil, err
	}
	if ports, err = toolchain.FreePorts(ctx, len(names)); err != nil {
		return "", "", nil, err
	}
	var pairs []string
	for i, name := range names {
		pairs = append(pairs, "{{"+name+"}}", strconv.Itoa(ports[i]))
	}
	confPath = filepath.Join(c.dir, "conf", file)
	if err := os.WriteFile(confPath, []byte(strings.NewReplacer(pairs...).Replace(c.expand(tmpl))), 0o600); err != nil {
		return "", "", nil, err
	}
	return bin, confPath, ports, nil
}

// startContainerd writes the CNI and containerd configuration and runs
// containerd.
func (c *Cluster) startContainerd(ctx context.Context) error {
	for _, d := range []string{"containerd", "cni/net.d", "cni/ipam"} {
		if err := os.MkdirAll(filepath.Join(c.dir, d), 0o750); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(c.dir, "cni", "net.d", "10-todo.conflist"), []byte(c.expand(cniConfig)), 0o600); err != nil {
		return err
	}
	conf := filepath.Join(c.dir, "containerd", "config.toml")
	if err := os.WriteFile(conf, []byte(c.expand(containerdConfig)), 0o600); err != nil {
		return err
	}
	sock := filepath.Join(c.dir, "containerd", "containerd.sock")
	_ = os.Remove(sock)
	p, err := c.start("containerd", "containerd", "--config", conf)
	if err != nil {
		return err
	}
	return waitFor(p, time.Minute, func() error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", sock)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// kubeletConfig is the node's kubelet: cgroupfs (cgroups v1 here) under the
// cluster's own cgroup, TLS serving with a certificate of the cluster CA,
// webhook authentication and authorization, the cluster DNS, no swap check,
// no node allocatable enforcement, and no upstream resolver for pods (the
// cluster answers its own names only).
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /{{cgroup}}
cgroupsPerQOS: true
failSwapOn: false
containerRuntimeEndpoint: unix://{{dir}}/containerd/containerd.sock
enforceNodeAllocatable: []
localStorageCapacityIsolation: false
address: {{nodeip}}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {{healthz}}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {{dir}}/pki/ca.crt
authorization:
  mode: Webhook
clusterDNS: [{{dns}}]
clusterDomain: {{domain}}
resolvConf: {{dir}}/conf/resolv.conf
tlsCertFile: {{dir}}/pki/kubelet.crt
tlsPrivateKeyFile: {{dir}}/pki/kubelet.key
podLogsDir: {{dir}}/pod-logs
volumePluginDir: {{dir}}/kubelet/volume-plugins
serializeImagePulls: false
evictionHard:
  memory.available: "1%"
  nodefs.available: "1%"
  imagefs.available: "1%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 110
`

// startKubelet runs the kubelet and waits until the node is Ready.
func (c *Cluster) startKubelet(ctx context.Context) error {
	bin, confPath, ports, err := c.configure(ctx, toolchain.Kubelet, "kubelet.yaml", strings.ReplaceAll(kubeletConfig, "{{cgroup}}", cgroupName), "healthz")
	if err != nil {
		return err
	}
	resolv := "# The local cluster's pods resolve cluster names only (CoreDNS); no upstream resolver.\noptions ndots:5\n"
	if err := os.WriteFile(filepath.Join(c.dir, "conf", "resolv.conf"), []byte(resolv), 0o644); err != nil { //nolint:gosec // G306: read by the pods' resolver.
		return err
	}
	if err := prepareCgroupRoot(); err != nil {
		return err
	}
	for _, d := range []string{"kubelet", "pod-logs"} {
		if err := os.MkdirAll(filepath.Join(c.dir, d), 0o750); err != nil {
			return err
		}
	}
	p, err := c.start("kubelet", bin,
		"--config="+confPath,
		"--kubeconfig="+filepath.Join(c.dir, "conf", "kubelet.kubeconfig"),
		"--root-dir="+filepath.Join(c.dir, "kubelet"),
		"--hostname-override="+NodeName,
		"--node-ip="+NodeIP,
		"--v=1",
	)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	if err := waitFor(p, 2*time.Minute, func() error {
		return httpOK(ctx, hc, "http://127.0.0.1:"+strconv.Itoa(ports[0])+"/healthz", "")
	}); err != nil {
		return err
	}
	return waitFor(p, 2*time.Minute, func() error {
		out, err := c.kubectl(ctx, "", "get", "node", NodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "True" {
			return fmt.Errorf("node %s Ready=%q", NodeName, out)
		}
		return nil
	})
}

// kubeProxyConfig routes Service traffic with iptables. It leaves the host's
// conntrack table size alone and serves NodePorts on the node address only.
const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: {{dir}}/conf/kube-proxy.kubeconfig
clusterCIDR: {{podcidr}}
hostnameOverride: {{node}}
bindAddress: {{nodeip}}
healthzBindAddress: 127.0.0.1:{{healthz}}
metricsBindAddress: 127.0.0.1:{{metrics}}
nodePortAddresses: ["{{nodeip}}/32"]
conntrack:
  maxPerCore: 0
`

// startKubeProxy runs kube-proxy and waits until it serves its health.
func (c *Cluster) startKubeProxy(ctx context.Context) error {
	bin, confPath, ports, err := c.configure(ctx, toolchain.KubeProxy, "kube-proxy.yaml", kubeProxyConfig, "healthz", "metrics")
	if err != nil {
		return err
	}
	p, err := c.start("kube-proxy", bin, "--config="+confPath, "--v=0")
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	return waitFor(p, 2*time.Minute, func() error {
		return httpOK(ctx, hc, "http://127.0.0.1:"+strconv.Itoa(ports[0])+"/healthz", "")
	})
}
