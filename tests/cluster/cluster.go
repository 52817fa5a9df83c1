// Package cluster runs a one-node Kubernetes cluster on this machine, without
// Docker: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
// kube-proxy (iptables) and kubelet from the pinned Kubernetes version (built
// by `make tools`), containerd + runc + the CNI bridge plugin from the
// distribution, kube-router's network policy controller (the
// NetworkPolicies are enforced), CoreDNS as a Deployment, and an image registry (the mirror
// of the images the cluster runs, and where a stack pushes its own). Beside
// it, on the node's bridge address, run what the platform finds outside a
// cluster in production: PostgreSQL (Neon's stand-in) and a Kafka-protocol
// broker.
//
// Components talk TLS with certificates of the cluster's own CA, RBAC and the
// Node authorizer are on, service account tokens are signed and verified:
// the cluster behaves like a real one, on addresses of the 198.18.0.0/15
// test range only.
//
// `make cluster` runs it as a background process (cmd/todo-cluster); the
// end-to-end tests start it in-process with Start. Only one cluster runs on a
// machine at a time (kube-proxy owns the host's KUBE-* iptables chains).
// Stop, and Cleanup after a crash, leave nothing behind: no process (every
// one is tracked in the cluster's cgroup), mount, network namespace,
// veth/bridge, iptables chain or cgroup.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/pglocal"
	"github.com/todo-platform/todo/tests/toolchain"
)

// The cluster's fixed addresses. Pods, Services and the node use the
// 198.18.0.0/15 benchmarking range, so they never collide with a real
// network; the node's own address is the bridge's gateway.
const (
	Bridge        = "todo0"
	NodeIP        = "198.18.0.1"
	PodCIDR       = "198.18.0.0/16"
	ServiceCIDR   = "198.19.0.0/16"
	APIServiceIP  = "198.19.0.1"
	DNSServiceIP  = "198.19.0.10"
	ClusterDomain = "cluster.local"
	NodeName      = "todo-node"
	Context       = "todo-local"

	APIPort      = 6443
	PostgresPort = 5432
	KafkaPort    = 9092
	// Registry serves images on loopback: the pushing program and the
	// node's containerd both run on this machine. It speaks plain HTTP, as
	// registries on loopback do.
	Registry = "127.0.0.1:5050"

	// DatabaseUser, DatabasePassword and Database are the application's
	// login on the cluster's PostgreSQL (a development placeholder, like the
	// local stack's secrets).
	DatabaseUser     = "todo"
	DatabasePassword = "todo-local" //nolint:gosec // G101: a published development placeholder.
	Database         = "todo"

	// MirrorRepo is where the cluster puts the images it mirrors (pause,
	// CoreDNS, the Dapr control plane and sidecar).
	MirrorRepo = "todo-cluster"
)

// DatabaseURL is the application's URL of the cluster's PostgreSQL, as pods
// reach it.
func DatabaseURL() string {
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", DatabaseUser, DatabasePassword, NodeIP, PostgresPort, Database)
}

// KafkaBrokers is the cluster's Kafka-protocol broker, as pods reach it.
func KafkaBrokers() string { return net.JoinHostPort(NodeIP, strconv.Itoa(KafkaPort)) }

// DaprImages are the names of the mirrored Dapr images; each runs the
// binary of the same name at /<name>, as the Dapr chart expects.
var DaprImages = []string{"daprd", "operator", "injector", "sentry", "placement", "scheduler"}

// Options configure Start.
type Options struct {
	// Dir is the cluster's state folder (certificates, etcd, containerd,
	// kubelet, registry, PostgreSQL and Kafka data, logs). It is created
	// when missing; a folder of a stopped cluster is reused (its data
	// survive), with new certificates.
	Dir string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
	// DurableDatabase keeps PostgreSQL's fsync on (make cluster); tests
	// turn it off.
	DurableDatabase bool
	// WaitTurn, when positive, waits up to that long for another cluster on
	// this machine to stop instead of refusing at once (test binaries that
	// `go test` runs side by side take turns).
	WaitTurn time.Duration
	// DetachOnExit leaves the components running if the starting process
	// dies without Stop (the background runner, which records itself for
	// Cleanup). When false (tests), the components die with it.
	DetachOnExit bool
}

// State is what a running cluster records in <Dir>/cluster.json and what
// users of the cluster need.
type State struct {
	Dir          string            `json:"dir"`
	PID          int               `json:"pid"` // the process that runs the cluster
	Kubeconfig   string            `json:"kubeconfig"`
	Server       string            `json:"server"`
	Registry     string            `json:"registry"`
	DatabaseURL  string            `json:"databaseUrl"`
	KafkaBrokers string            `json:"kafkaBrokers"`
	DaprRegistry string            `json:"daprRegistry"` // <Registry>/<MirrorRepo>: the Dapr chart's global.registry
	DaprTag      string            `json:"daprTag"`
	DaprChart    string            `json:"daprChart"` // the Dapr chart of the same version (the stack's charts.dapr.path)
	Images       map[string]string `json:"images"`    // mirrored image -> reference by digest
	StartedAt    time.Time         `json:"startedAt"`
	IPForward    string            `json:"ipForward"` // net.ipv4.ip_forward before the cluster set it
}

// Cluster is a running cluster.
type Cluster struct {
	dir   string
	opts  Options
	procs []*toolchain.Process
	pki   *pki

	registry *http.Server
	kafka    *kfake.Cluster
	pg       *pglocal.Cluster
	etcdURL  string

	State State

	stopOnce sync.Once
	stopErr  error
}

// recordPath is the machine-wide note of the running cluster: its state
// folder and the PID that runs it, so that a second start refuses and a
// cleanup after a crash finds what to remove.
const recordPath = "/run/todo-cluster.json"

// ErrRunning says another cluster runs on this machine.
var ErrRunning = errors.New("a local cluster is already running")

// Start brings the cluster up and waits until the node is Ready and the
// cluster DNS answers. On failure everything started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, opts: opts}
	started := time.Now()
	if err := preflight(); err != nil {
		return nil, err
	}
	if err := claim(ctx, dir, opts.WaitTurn, opts.Progress); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.logf("start failed; stopping what was started")
			_ = c.Stop()
		}
	}()
	// Others may search the folder: PostgreSQL runs as its own user when
	// the cluster runs as root.
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o711); err != nil { //nolint:gosec // G302: search only, for the postgres user.
		return nil, err
	}
	for _, d := range []string{"logs", "conf", "bin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			return nil, err
		}
	}
	c.State = State{Dir: dir, PID: os.Getpid(), Registry: Registry, DatabaseURL: DatabaseURL(), KafkaBrokers: KafkaBrokers(),
		DaprRegistry: Registry + "/" + MirrorRepo, Images: map[string]string{}, StartedAt: started.UTC()}
	if c.State.DaprTag, err = toolchain.Version(toolchain.Daprd); err != nil {
		return nil, err
	}
	c.State.DaprTag = strings.TrimPrefix(c.State.DaprTag, "v")

	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"network: bridge " + Bridge + " " + NodeIP + "/16", c.network},
		{"certificates", c.certificates},
		{"image registry on " + Registry, c.startRegistry},
		{"etcd", c.startEtcd},
		{"kube-apiserver on https://" + net.JoinHostPort(NodeIP, strconv.Itoa(APIPort)), c.startAPIServer},
		{"kube-controller-manager and kube-scheduler", c.startControllers},
		{"images: pause, probe, CoreDNS, Dapr " + c.State.DaprTag + " (mirrored into the registry) and the Dapr chart", c.mirrorImages},
		{"containerd", c.startContainerd},
		{"kubelet (node " + NodeName + ")", c.startKubelet},
		{"kube-proxy (iptables)", c.startKubeProxy},
		{"network policies (kube-router's policy controller)", c.startKubeRouter},
		{"PostgreSQL on " + net.JoinHostPort(NodeIP, strconv.Itoa(PostgresPort)), c.startPostgres},
		{"Kafka-protocol broker on " + KafkaBrokers(), c.startKafka},
		{"CoreDNS on " + DNSServiceIP, c.startDNS},
	}
	for i, s := range steps {
		t := time.Now()
		c.logf("[%d/%d] %s", i+1, len(steps), s.what)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.what, err)
		}
		c.logf("      done in %s", time.Since(t).Round(10*time.Millisecond))
	}
	if err := c.writeState(); err != nil {
		return nil, err
	}
	c.logf("cluster ready in %s; kubeconfig %s", time.Since(started).Round(100*time.Millisecond), c.State.Kubeconfig)
	return c, nil
}

// Kubeconfig is the path of the admin kubeconfig (context "todo-local").
func (c *Cluster) Kubeconfig() string { return c.State.Kubeconfig }

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.opts.Progress, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (c *Cluster) sysProcAttr() *syscall.SysProcAttr {
	if c.opts.DetachOnExit {
		return &syscall.SysProcAttr{}
	}
	// Die with the starting process (a test binary killed by its timeout);
	// what outlives it (shims, containers) is in the cgroup Cleanup kills.
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

func (c *Cluster) writeState() error {
	raw, err := json.MarshalIndent(c.State, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.dir, "cluster.json"), raw, 0o600)
}

// ReadState reads the state of the cluster whose folder is dir.
func ReadState(dir string) (State, error) {
	var s State
	raw, err := os.ReadFile(filepath.Join(dir, "cluster.json")) //nolint:gosec // G304: the cluster's own state.
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(raw, &s)
}

// Stop stops every component, the pods with them, and removes what the
// cluster added to the machine (Cleanup). The state folder stays.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.logf("stopping the cluster")
		var errs []error
		// The node first, so that nothing restarts what is stopped next.
		for _, name := range []string{"kube-router", "kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager"} {
			if p := c.proc(name); p != nil {
				p.Stop(10 * time.Second)
			}
		}
		// The containers, then containerd and its shims: all in the
		// cluster's cgroup.
		if p := c.proc("containerd"); p != nil {
			p.Stop(10 * time.Second)
		}
		if err := killCgroupProcs(15 * time.Second); err != nil {
			errs = append(errs, err)
		}
		for _, name := range []string{"kube-apiserver", "etcd"} {
			if p := c.proc(name); p != nil {
				p.Stop(10 * time.Second)
			}
		}
		if c.kafka != nil {
			c.kafka.Close()
		}
		if c.pg != nil {
			if err := c.pg.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop PostgreSQL: %w", err))
			}
		}
		if c.registry != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.registry.Shutdown(ctx)
			cancel()
		}
		for _, p := range c.procs {
			p.Stop(5 * time.Second)
		}
		if err := cleanupHost(context.Background(), c.dir, c.State.IPForward, c.opts.Progress); err != nil {
			errs = append(errs, err)
		}
		c.stopErr = errors.Join(errs...)
		if c.stopErr == nil {
			c.logf("cluster stopped; nothing left running")
		}
	})
	return c.stopErr
}

func (c *Cluster) proc(name string) *toolchain.Process {
	for _, p := range c.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// startPostgres runs PostgreSQL on the node address (password logins from
// the pod network) and creates the application's login and database.
func (c *Cluster) startPostgres(ctx context.Context) error {
	pg, err := pglocal.Start(ctx, pglocal.Options{
		Dir:     filepath.Join(c.dir, "postgres"),
		Port:    PostgresPort,
		Listen:  NodeIP,
		HBA:     []string{"host all all " + PodCIDR + " scram-sha-256"},
		Durable: c.opts.DurableDatabase,
	})
	if err != nil {
		return err
	}
	c.pg = pg
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, DatabaseUser).Scan(&exists); err != nil {
		return err
	}
	// Identifiers and the password are this package's constants.
	if !exists {
		if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, DatabaseUser, DatabasePassword)); err != nil {
			return err
		}
	}
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, Database).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, Database, DatabaseUser)); err != nil {
			return err
		}
	}
	return nil
}

// startKafka runs the Kafka-protocol broker (kfake) on the node address with
// the platform's topics.
func (c *Cluster) startKafka(context.Context) error {
	dir := filepath.Join(c.dir, "kafka")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	addr := KafkaBrokers()
	k, err := kfake.NewCluster(
		kfake.Ports(KafkaPort),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			var lc net.ListenConfig
			return lc.Listen(context.Background(), network, addr)
		}),
		kfake.DataDir(dir),
		kfake.SeedTopics(3, events.Topics()...),
	)
	if err != nil {
		return err
	}
	c.kafka = k
	return nil
}

// kubectl runs the cluster's kubectl with the admin kubeconfig.
func (c *Cluster) kubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	bin, err := toolchain.Path(toolchain.Kubectl)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", c.State.Kubeconfig}, args...)...) //nolint:gosec // G204: the pinned kubectl.
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Kubectl runs kubectl against the cluster and returns its output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	return c.kubectl(ctx, "", args...)
}

// Apply applies a manifest (kubectl apply --server-side).
func (c *Cluster) Apply(ctx context.Context, manifest string) error {
	_, err := c.kubectl(ctx, manifest, "apply", "--server-side", "-f", "-")
	return err
}

// TempDir makes a new state folder under the system's temporary folder that
// PostgreSQL's own user may enter (t.TempDir's parents are private). The
// caller removes it.
func TempDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o711) //nolint:gosec // G302: search only, for the postgres user.
}
