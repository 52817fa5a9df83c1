//go:build e2e

package infra

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/todo-platform/todo/infra/apps"
	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/tests/cluster"
)

// localPassphrase is the published passphrase of the local stack's
// development secrets.
const localPassphrase = "todo-local-dev"

// TestLocalStack deploys the local stack, with its real configuration, to
// the one-node cluster built here (tests/cluster) through the real Pulumi
// engine, with skipAwait off: the engine waits until every Deployment is
// Available and every migration Job Complete. Then the platform must work
// inside the cluster, reached through its Services' ClusterIPs as
// kube-proxy routes them from the node: with the dapr transport (the
// stack's own: the real Dapr control plane, every service pod with a
// sidecar the injector added and sentry certified); through a rolling update
// of every Deployment under load; after its taskapi and notifier pods are
// killed under load; and again after an up that switches to the kafka
// transport. A second up changes nothing; destroy leaves the namespace
// empty; stopping the cluster leaves nothing on the machine.
func TestLocalStack(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()

	dir, err := cluster.TempDir("todo-cluster-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	started := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Dir: dir, Progress: logWriter{t}, WaitTurn: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop the cluster: %v", err)
		}
		if left := cluster.Leftovers(context.Background(), dir); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
	})
	figures := &report{}
	figures.add("cluster start to node Ready and DNS up", time.Since(started))

	stack := engineStack(t, ctx, root, "local", localPassphrase)
	// The only differences from `make cluster && make deploy STACK=local`:
	// the cluster's state folder is the test's, and the sources are the
	// checkout's (the stack runs from a copy of the project files).
	set := map[string]string{
		"todo:cluster.kubeconfig": c.Kubeconfig(),
		"todo:charts.dapr.path":   c.State.DaprChart,
		"todo:images.source":      root,
	}
	for k, v := range set {
		if err := stack.SetConfigWithOptions(ctx, k, auto.ConfigValue{Value: v}, &auto.ConfigOptions{Path: true}); err != nil {
			t.Fatalf("config set %s: %v", k, err)
		}
	}
	secret, err := stack.GetConfig(ctx, "todo:jwtSecret")
	if err != nil {
		t.Fatal(err)
	}
	logs := newLog(t, "engine.log")
	up := func(what string, opts ...optup.Option) auto.UpResult {
		t.Helper()
		started := time.Now()
		res, err := stack.Up(ctx, append([]optup.Option{optup.ProgressStreams(logs)}, opts...)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s\n%s", what, err, logs.tail(), podReport(ctx, c))
		}
		figures.add(what, time.Since(started))
		return res
	}
	setConfig := func(key, value string) {
		t.Helper()
		if err := stack.SetConfigWithOptions(ctx, key, auto.ConfigValue{Value: value}, &auto.ConfigOptions{Path: true}); err != nil {
			t.Fatalf("config set %s: %v", key, err)
		}
	}

	// 1. The dapr transport, the stack's own.
	up("pulumi up (dapr transport) until every pod is Ready")
	p := newPlatform(t, ctx, c, secret.Value)
	p.checkPods("dapr")
	daprRestarts := p.checkDaprControlPlane()
	figures.note("Dapr control plane restarts at the first install: %v", daprRestarts)
	p.checkObjects()
	p.checkPolicies()
	p.exercise("dapr")

	// 2. A rolling update of every Deployment under load.
	load := p.startLoad("rollout")
	setConfig("todo:logLevel", "debug")
	up("pulumi up rolling every Deployment (logLevel) under load")
	rollout := load.stop()
	p.checkPods("dapr")
	figures.note("rolling update: %s", rollout)
	if rollout.failed > 0 {
		t.Errorf("rolling update: %d of %d requests failed (first: %s)", rollout.failed, rollout.total, rollout.firstErr)
	}
	p.checkWrites(rollout)

	// 3. Pods killed under load: taskapi's, then the notifier's with
	// reminders falling due while it is gone.
	load = p.startLoad("pod kill")
	reminders := p.remindersDueSoon(5, 8*time.Second)
	p.killPod("taskapi")
	p.killPod("notifier")
	killed := load.stop()
	p.checkPods("dapr")
	figures.note("pods killed under load: %s", killed)
	p.checkWrites(killed)
	p.checkRemindersOnce(reminders)
	if now := p.checkDaprControlPlane(); !maps.Equal(now, daprRestarts) {
		t.Errorf("the Dapr control plane restarted during the run: restarts %v, after the first up %v", now, daprRestarts)
	}

	// 4. The kafka transport: an up that switches eventsTransport removes
	// the sidecars; the platform works the same.
	setConfig("todo:eventsTransport", "kafka")
	up("pulumi up switching to the kafka transport")
	p.checkPods("kafka")
	p.exercise("kafka")

	// 5. Nothing changes on a second up; destroy empties the namespace.
	started = time.Now()
	if _, err := stack.Up(ctx, optup.ProgressStreams(logs), optup.ExpectNoChanges()); err != nil {
		t.Errorf("second up changed something: %v\n%s", err, logs.tail())
	}
	figures.add("second pulumi up (no changes)", time.Since(started))
	started = time.Now()
	if _, err := stack.Destroy(ctx, optdestroy.ProgressStreams(logs)); err != nil {
		t.Fatalf("destroy: %v\n%s", err, logs.tail())
	}
	figures.add("pulumi destroy", time.Since(started))
	if out, err := c.Kubectl(ctx, "get", "all,configmaps,secrets,networkpolicies,poddisruptionbudgets,jobs", "-n", "todo", "--ignore-not-found", "-o", "name"); err != nil {
		t.Errorf("after destroy: %v", err)
	} else if rest := userObjects(out); len(rest) > 0 {
		t.Errorf("after destroy the namespace todo still holds %v", rest)
	}
	t.Log("figures:\n" + figures.String())
}

// userObjects drops what Kubernetes itself puts into every namespace.
func userObjects(out string) []string {
	var rest []string
	for _, l := range strings.Fields(out) {
		if l == "configmap/kube-root-ca.crt" {
			continue
		}
		rest = append(rest, l)
	}
	return rest
}

// deployed talks to the deployed services through their ClusterIPs.
type deployed struct {
	t      *testing.T
	ctx    context.Context
	c      *cluster.Cluster
	secret string
}

func newPlatform(t *testing.T, ctx context.Context, c *cluster.Cluster, secret string) *deployed {
	return &deployed{t: t, ctx: ctx, c: c, secret: secret}
}

func (p *deployed) kubectlJSON(args ...string) map[string]any {
	p.t.Helper()
	out, err := p.c.Kubectl(p.ctx, append(args, "-o", "json")...)
	if err != nil {
		p.t.Fatal(err)
	}
	var o map[string]any
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		p.t.Fatalf("kubectl %v: %v", args, err)
	}
	return o
}

// checkPods asserts every pod of the platform is Ready without restarts,
// and each Dapr-enabled pod has a healthy daprd injected beside it.
func (p *deployed) checkPods(transport string) {
	p.t.Helper()
	// Pods of a rollout that is finishing may still be terminating.
	var problems []string
	for deadline := time.Now().Add(2 * time.Minute); ; {
		problems = p.podProblems(transport)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if len(problems) > 0 {
		p.t.Fatalf("pods (%s): %s\n%s", transport, strings.Join(problems, "; "), podReport(p.ctx, p.c))
	}
}

func (p *deployed) podProblems(transport string) []string {
	pods := p.kubectlJSON("get", "pods", "-n", "todo")
	var problems []string
	seen := map[string]int{}
	for _, pod := range arr(dig(pods, "items")) {
		name, _ := dig(pod, "metadata", "name").(string)
		app, _ := dig(pod, "metadata", "labels", "app.kubernetes.io/name").(string)
		phase, _ := dig(pod, "status", "phase").(string)
		if phase == "Succeeded" { // migration Jobs
			continue
		}
		if dig(pod, "metadata", "deletionTimestamp") != nil {
			problems = append(problems, name+" terminating")
			continue
		}
		seen[app]++
		ready := false
		for _, cond := range arr(dig(pod, "status", "conditions")) {
			if dig(cond, "type") == "Ready" && dig(cond, "status") == "True" {
				ready = true
			}
		}
		if !ready {
			problems = append(problems, name+" not Ready")
		}
		var containers []string
		for _, cs := range arr(dig(pod, "status", "containerStatuses")) {
			cn, _ := dig(cs, "name").(string)
			containers = append(containers, cn)
			if r, _ := dig(cs, "restartCount").(float64); r > 0 {
				problems = append(problems, fmt.Sprintf("%s/%s restarted %v times", name, cn, r))
			}
			if dig(cs, "ready") != true {
				problems = append(problems, fmt.Sprintf("%s/%s not ready", name, cn))
			}
		}
		hasSidecar := slices.Contains(containers, "daprd")
		if want := transport == "dapr"; hasSidecar != want {
			problems = append(problems, fmt.Sprintf("%s: daprd injected %v, want %v (containers %v)", name, hasSidecar, want, containers))
		}
	}
	for _, s := range apps.Catalog {
		if seen[s.Name] == 0 {
			problems = append(problems, "no pod of "+s.Name)
		}
	}
	return problems
}

// checkDaprControlPlane asserts that the Dapr control plane the chart
// installed (operator, sentry, placement, sidecar injector) is Ready and
// returns each pod's restarts. Operator, sentry and injector may restart
// at the first install: they exit until the chart's "daprsystem"
// Configuration exists, which the engine creates seconds after them, once
// its CRD is established (infra/README.md, "local"). Later they must not.
func (p *deployed) checkDaprControlPlane() map[string]int {
	p.t.Helper()
	restarts := map[string]int{}
	var problems []string
	for deadline := time.Now().Add(2 * time.Minute); ; {
		clear(restarts)
		problems = problems[:0]
		seen := map[string]bool{}
		for _, pod := range arr(dig(p.kubectlJSON("get", "pods", "-n", "dapr-system"), "items")) {
			name, _ := dig(pod, "metadata", "name").(string)
			app, _ := dig(pod, "metadata", "labels", "app").(string)
			seen[app] = true
			for _, cs := range arr(dig(pod, "status", "containerStatuses")) {
				r, _ := dig(cs, "restartCount").(float64)
				restarts[name] += int(r)
				if dig(cs, "ready") != true {
					problems = append(problems, name+" not ready")
				}
			}
		}
		for _, want := range []string{"dapr-operator", "dapr-sentry", "dapr-placement-server", "dapr-sidecar-injector"} {
			if !seen[want] {
				problems = append(problems, "no pod of "+want)
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if len(problems) > 0 {
		p.t.Fatalf("Dapr control plane: %s\n%s", strings.Join(problems, "; "), podReport(p.ctx, p.c))
	}
	return restarts
}

// checkPolicies asserts that the NetworkPolicies are enforced (the cluster
// runs kube-router's policy controller): a pod in the services' namespace
// that no policy allows reaches neither PostgreSQL nor taskapi (whose
// /internal/ routes only recurring calls); a pod with recurring's labels
// reaches both, so the probe itself works.
func (p *deployed) checkPolicies() {
	p.t.Helper()
	targets := []string{
		"tcp://" + net.JoinHostPort(cluster.NodeIP, strconv.Itoa(cluster.PostgresPort)),
		p.serviceURL("taskapi") + "/internal/v1/tasks/00000000-0000-0000-0000-000000000000/occurrences",
	}
	probe := func(name string, labels map[string]string) map[string]bool {
		p.t.Helper()
		var lines []string
		for k, v := range labels {
			lines = append(lines, fmt.Sprintf("%q: %q", k, v))
		}
		args, _ := json.Marshal(append([]string{"-delay=5s"}, targets...))
		manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: todo, labels: {%s}}
spec:
  restartPolicy: Never
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: probe
    image: %s
    args: %s
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
`, name, strings.Join(lines, ", "), p.c.State.Images["probe"], args)
		if err := p.c.Apply(p.ctx, manifest); err != nil {
			p.t.Fatalf("probe pod %s: %v", name, err)
		}
		defer func() { _, _ = p.c.Kubectl(p.ctx, "delete", "pod", "-n", "todo", name, "--wait=true") }()
		p.eventually(2*time.Minute, "probe pod "+name+" done", func() bool {
			out, _ := p.c.Kubectl(p.ctx, "get", "pod", "-n", "todo", name, "-o", "jsonpath={.status.phase}")
			return out == "Succeeded" || out == "Failed"
		})
		out, err := p.c.Kubectl(p.ctx, "logs", "-n", "todo", name)
		if err != nil {
			p.t.Fatalf("probe pod %s logs: %v", name, err)
		}
		reached := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r struct {
				Target  string
				Reached bool
				Error   string
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				p.t.Fatalf("probe pod %s: %q: %v", name, line, err)
			}
			reached[r.Target] = r.Reached
		}
		p.t.Logf("probe %s: %s", name, strings.TrimSpace(out))
		return reached
	}
	intruder := probe("np-intruder", map[string]string{"app.kubernetes.io/name": "intruder"})
	caller := probe("np-recurring", map[string]string{"app.kubernetes.io/name": "recurring", "app.kubernetes.io/component": apps.ComponentServer})
	for _, target := range targets {
		if intruder[target] {
			p.t.Errorf("a pod no NetworkPolicy allows reached %s", target)
		}
		if !caller[target] {
			p.t.Errorf("a pod with recurring's labels did not reach %s: the policies or the probe are wrong", target)
		}
	}
}

// checkObjects asserts the workload objects the stack promises.
func (p *deployed) checkObjects() {
	p.t.Helper()
	for _, kind := range []string{"networkpolicies", "poddisruptionbudgets", "horizontalpodautoscalers"} {
		o := p.kubectlJSON("get", kind, "-n", "todo")
		var names []string
		for _, it := range arr(dig(o, "items")) {
			n, _ := dig(it, "metadata", "name").(string)
			names = append(names, n)
		}
		if len(names) == 0 {
			p.t.Errorf("no %s in namespace todo", kind)
		}
		p.t.Logf("%s: %v", kind, names)
	}
	jobs := p.kubectlJSON("get", "jobs", "-n", "todo")
	complete := 0
	for _, j := range arr(dig(jobs, "items")) {
		if n, _ := dig(j, "status", "succeeded").(float64); n >= 1 {
			complete++
		}
	}
	if complete != 4 {
		p.t.Errorf("%d migration Jobs complete, want 4", complete)
	}
}

// serviceURL is http://<ClusterIP>:<port> of a service.
func (p *deployed) serviceURL(name string) string {
	p.t.Helper()
	svc := p.kubectlJSON("get", "service", name, "-n", "todo")
	ip, _ := dig(svc, "spec", "clusterIP").(string)
	port, _ := dig(arr(dig(svc, "spec", "ports"))[0], "port").(float64)
	if ip == "" || !strings.HasPrefix(ip, "198.19.") {
		p.t.Fatalf("service %s: ClusterIP %q, want one in %s", name, ip, cluster.ServiceCIDR)
	}
	return fmt.Sprintf("http://%s:%d", ip, int(port))
}

func (p *deployed) token(user string) string {
	p.t.Helper()
	tok, err := auth.IssueHS256(p.secret, user, "todo-platform", "todo-api", time.Hour)
	if err != nil {
		p.t.Fatal(err)
	}
	return tok
}

// killPod deletes the (first) pod of a service and waits for its
// replacement to be Ready.
func (p *deployed) killPod(service string) {
	p.t.Helper()
	out, err := p.c.Kubectl(p.ctx, "get", "pods", "-n", "todo", "-l", "app.kubernetes.io/name="+service+",app.kubernetes.io/component="+apps.ComponentServer,
		"--field-selector=status.phase=Running", "-o", "jsonpath={.items[0].metadata.name}")
	if err != nil || out == "" {
		p.t.Fatalf("find the %s pod: %v %q", service, err, out)
	}
	started := time.Now()
	if _, err := p.c.Kubectl(p.ctx, "delete", "pod", "-n", "todo", out, "--wait=false"); err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.c.Kubectl(p.ctx, "rollout", "status", "-n", "todo", "deployment/"+service, "--timeout=180s"); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("%s pod %s deleted; replacement Ready after %s", service, out, time.Since(started).Round(100*time.Millisecond))
}

// podReport is kubectl's view of the pods, for failure messages.
func podReport(ctx context.Context, c *cluster.Cluster) string {
	out, _ := c.Kubectl(ctx, "get", "pods", "-A", "-o", "wide")
	ev, _ := c.Kubectl(ctx, "get", "events", "-A", "--sort-by=.lastTimestamp")
	lines := strings.Split(strings.TrimSpace(ev), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return out + "\nrecent events:\n" + strings.Join(lines, "\n")
}

// report collects the figures the test prints at the end.
type report struct {
	mu    sync.Mutex
	lines []string
}

func (r *report) add(what string, d time.Duration) {
	r.note("%-55s %s", what, d.Round(100*time.Millisecond))
}

func (r *report) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *report) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return "  " + strings.Join(r.lines, "\n  ")
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
