//go:build e2e

package infra

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"go.yaml.in/yaml/v3"

	"github.com/todo-platform/todo/infra/apps"
	"github.com/todo-platform/todo/infra/platform"
	"github.com/todo-platform/todo/tests/toolchain"
)

// devPassphrase is the published passphrase of the minikube stack's
// development secrets.
const devPassphrase = "todo-minikube-dev"

// TestMinikubeStack drives the real Pulumi engine (the CLI and the
// Kubernetes provider from the tools cache) through the Automation API with
// the program infra/main.go runs, the minikube stack's real configuration
// and its encrypted secrets, against a real kube-apiserver (no nodes, so
// nothing waits for readiness: skipAwait). It previews, deploys, checks the
// objects in the API server and deploys again, expecting no changes.
func TestMinikubeStack(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	daprChart := daprChartDir(t)

	started := time.Now()
	kubeconfig := toolchain.StartKubeAPIServer(t)
	t.Logf("kube-apiserver up in %s", time.Since(started).Round(time.Millisecond))
	api := newKubeClient(t, kubeconfig)

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	stack := engineStack(t, ctx, root, "minikube", devPassphrase)

	// What differs from a laptop with minikube: the cluster is the test's
	// API server, nothing waits for pods, the charts come from disk, and the
	// images go to an OCI layout instead of `minikube image load`.
	layoutDir := filepath.Join(t.TempDir(), "oci")
	set := map[string]string{
		"todo:cluster.kubeconfig":  kubeconfig,
		"todo:cluster.context":     "toolchain",
		"todo:skipAwait":           "true",
		"todo:charts.strimzi.path": filepath.Join(root, "tests", "infra", "testdata", "strimzi-kafka-operator"),
		"todo:charts.dapr.path":    daprChart,
	}
	set["todo:images.publish"] = "layout"
	set["todo:images.layoutDir"] = layoutDir
	set["todo:images.source"] = root // the five services, built as for a cluster
	for k, v := range set {
		if err := stack.SetConfigWithOptions(ctx, k, auto.ConfigValue{Value: v}, &auto.ConfigOptions{Path: true}); err != nil {
			t.Fatalf("config set %s: %v", k, err)
		}
	}

	logs := newLog(t, "engine.log")

	started = time.Now()
	prev, err := stack.Preview(ctx, optpreview.ProgressStreams(logs), optpreview.Diff())
	if err != nil {
		t.Fatalf("preview: %v\n%s", err, logs.tail())
	}
	previewTook := time.Since(started)
	if prev.ChangeSummary["create"] < 50 {
		t.Errorf("preview plans %v, want everything created", prev.ChangeSummary)
	}

	started = time.Now()
	up, err := stack.Up(ctx, optup.ProgressStreams(logs))
	if err != nil {
		t.Fatalf("up: %v\n%s", err, logs.tail())
	}
	upTook := time.Since(started)
	created := (*up.Summary.ResourceChanges)["create"]
	if up.Summary.Result != "succeeded" || created != prev.ChangeSummary["create"] {
		t.Errorf("up: %s, %v created, preview planned %d", up.Summary.Result, *up.Summary.ResourceChanges, prev.ChangeSummary["create"])
	}
	if !up.Outputs["kubeconfig"].Secret {
		t.Error("the kubeconfig output is not secret")
	}

	images := checkLayout(t, layoutDir)
	checkCluster(t, api, images)

	started = time.Now()
	again, err := stack.Up(ctx, optup.ProgressStreams(logs), optup.ExpectNoChanges())
	if err != nil {
		t.Fatalf("second up changed something: %v\n%s", err, logs.tail())
	}
	againTook := time.Since(started)
	for op, n := range *again.Summary.ResourceChanges {
		if op != "same" && n > 0 {
			t.Errorf("second up: %d %s", n, op)
		}
	}
	t.Logf("resources: %d; preview %s, up %s, second up (no changes) %s",
		created, previewTook.Round(time.Millisecond), upTook.Round(time.Millisecond), againTook.Round(time.Millisecond))
}

// checkCluster asserts that the objects the users rely on exist with the
// right content.
func checkCluster(t *testing.T, api *kubeClient, images map[string]string) {
	t.Helper()
	for _, ns := range []string{"todo", "kafka", "dapr-system"} {
		api.get(t, "/api/v1/namespaces/"+ns)
	}
	for _, crd := range []string{"kafkas.kafka.strimzi.io", "kafkatopics.kafka.strimzi.io", "kafkanodepools.kafka.strimzi.io", "components.dapr.io", "subscriptions.dapr.io", "resiliencies.dapr.io"} {
		o := api.get(t, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+crd)
		if !established(o) {
			t.Errorf("CRD %s is not established", crd)
		}
	}
	// The operators' stages: Strimzi and the Dapr control plane.
	api.get(t, "/apis/apps/v1/namespaces/kafka/deployments/strimzi-cluster-operator")
	for _, d := range []string{"dapr-operator", "dapr-sentry", "dapr-sidecar-injector"} {
		api.get(t, "/apis/apps/v1/namespaces/dapr-system/deployments/"+d)
	}
	for _, s := range []string{"dapr-placement-server", "dapr-scheduler-server"} {
		api.get(t, "/apis/apps/v1/namespaces/dapr-system/statefulsets/"+s)
	}

	// Kafka (KRaft with node pools, Strimzi's only mode since 0.48: no
	// annotations) and the topics with the stack's partitions.
	k := api.get(t, "/apis/kafka.strimzi.io/v1beta2/namespaces/kafka/kafkas/events")
	if dig(k, "metadata", "annotations", "strimzi.io/kraft") != nil {
		t.Errorf("Kafka carries the ignored strimzi.io/kraft annotation: %v", dig(k, "metadata", "annotations"))
	}
	api.get(t, "/apis/kafka.strimzi.io/v1beta2/namespaces/kafka/kafkanodepools/dual-role")
	want := map[string]float64{"task-events": 3, "reminders": 3, "task-events.dlq": 1, "reminders.dlq": 1}
	for _, topic := range arr(dig(api.get(t, "/apis/kafka.strimzi.io/v1beta2/namespaces/kafka/kafkatopics"), "items")) {
		name, _ := dig(topic, "spec", "topicName").(string)
		if p := dig(topic, "spec", "partitions"); p != want[name] {
			t.Errorf("topic %s: partitions %v, want %v", name, p, want[name])
		}
		delete(want, name)
	}
	if len(want) > 0 {
		t.Errorf("topics missing: %v", want)
	}

	// The secrets, decrypted from the stack file.
	db := api.get(t, "/api/v1/namespaces/todo/secrets/database")
	if url := b64(t, dig(db, "data", "url")); !strings.HasPrefix(url, "postgresql://") || !strings.Contains(url, "pooler") {
		t.Errorf("database url %q is not the stack's pooled Neon URL", url)
	}
	if url := b64(t, dig(db, "data", "directUrl")); strings.Contains(url, "pooler") {
		t.Errorf("database directUrl %q is the pooled URL", url)
	}
	kafkaSecret := api.get(t, "/api/v1/namespaces/todo/secrets/kafka-credentials")
	if b := b64(t, dig(kafkaSecret, "data", "brokers")); b != "events-kafka-bootstrap.kafka.svc:9092" {
		t.Errorf("kafka brokers %q", b)
	}

	// The services.
	for _, svc := range apps.Catalog {
		d := api.get(t, "/apis/apps/v1/namespaces/todo/deployments/"+svc.Name)
		pod := dig(d, "spec", "template")
		if dig(pod, "metadata", "annotations", "dapr.io/app-id") != svc.Name {
			t.Errorf("%s: Dapr annotations %v", svc.Name, dig(pod, "metadata", "annotations"))
		}
		c := arr(dig(pod, "spec", "containers"))[0]
		image, _ := dig(c, "image").(string)
		if want := "todo.local/" + svc.Name + "@" + images["todo.local/"+svc.Name]; image != want {
			t.Errorf("%s: image %q, want the built image %q", svc.Name, image, want)
		}
		if dig(c, "securityContext", "readOnlyRootFilesystem") != true || dig(pod, "spec", "securityContext", "runAsNonRoot") != true {
			t.Errorf("%s: security contexts %v / %v", svc.Name, dig(c, "securityContext"), dig(pod, "spec", "securityContext"))
		}
		if dig(c, "readinessProbe", "httpGet", "path") != "/readyz" {
			t.Errorf("%s: readiness probe %v", svc.Name, dig(c, "readinessProbe"))
		}
		api.get(t, "/api/v1/namespaces/todo/services/"+svc.Name)
		api.get(t, "/apis/policy/v1/namespaces/todo/poddisruptionbudgets/"+svc.Name)
		api.get(t, "/apis/networking.k8s.io/v1/namespaces/todo/networkpolicies/"+svc.Name)
	}
	jobs := arr(dig(api.get(t, "/apis/batch/v1/namespaces/todo/jobs?labelSelector=app.kubernetes.io/component%3Dmigration"), "items"))
	if len(jobs) != 4 {
		t.Errorf("%d migration Jobs, want 4", len(jobs))
	}
	api.get(t, "/apis/networking.k8s.io/v1/namespaces/todo/networkpolicies/default-deny")
	ing := api.get(t, "/apis/networking.k8s.io/v1/namespaces/todo/ingresses/todo")
	if dig(ing, "spec", "ingressClassName") != "nginx" {
		t.Errorf("ingress class %v", dig(ing, "spec", "ingressClassName"))
	}

	// Dapr components, pointing at the right secrets.
	var names []string
	for _, c := range arr(dig(api.get(t, "/apis/dapr.io/v1alpha1/namespaces/todo/components"), "items")) {
		names = append(names, dig(c, "metadata", "name").(string))
	}
	slices.Sort(names)
	// No state store: no service uses Dapr's state API.
	if !slices.Equal(names, []string{"pubsub", "pubsub-realtime", "secretstore"}) {
		t.Errorf("Dapr components %v", names)
	}
	subs := arr(dig(api.get(t, "/apis/dapr.io/v2alpha1/namespaces/todo/subscriptions"), "items"))
	if len(subs) == 0 {
		t.Error("no Dapr subscriptions")
	}
	api.get(t, "/apis/dapr.io/v1alpha1/namespaces/todo/resiliencies/todo")
}

// checkLayout asserts that every service image is in the OCI layout and
// returns their digests by name.
func checkLayout(t *testing.T, dir string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	var got []string
	digests := map[string]string{}
	for _, m := range idx.Manifests {
		name := m.Annotations["org.opencontainers.image.ref.name"]
		got = append(got, name)
		digests[name] = m.Digest
	}
	slices.Sort(got)
	var want []string
	for _, s := range apps.Catalog {
		want = append(want, "todo.local/"+s.Name)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("OCI layout holds %v, want %v", got, want)
	}
	return digests
}

// daprChartDir is the Dapr chart shipped in the github.com/dapr/dapr module
// (the version daprd is built from).
func daprChartDir(t *testing.T) string {
	t.Helper()
	v, err := toolchain.Version(toolchain.Daprd)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/dapr/dapr@"+v).Output()
	if err != nil {
		t.Fatalf("go mod download github.com/dapr/dapr@%s: %v", v, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download: %s", out)
	}
	return filepath.Join(m.Dir, "charts", "dapr")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// kubeClient reads objects from the API server with the kubeconfig's token.
type kubeClient struct {
	server, token string
	http          *http.Client
}

func newKubeClient(t *testing.T, path string) *kubeClient {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		Clusters []struct {
			Cluster struct {
				Server string `yaml:"server"`
				CA     string `yaml:"certificate-authority-data"`
			} `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			User struct {
				Token string `yaml:"token"`
			} `yaml:"user"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal(raw, &kc); err != nil || len(kc.Clusters) == 0 || len(kc.Users) == 0 {
		t.Fatalf("kubeconfig %s: %v", path, err)
	}
	ca, err := base64.StdEncoding.DecodeString(kc.Clusters[0].Cluster.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &kubeClient{
		server: kc.Clusters[0].Cluster.Server,
		token:  kc.Users[0].User.Token,
		http: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		},
	}
}

func (k *kubeClient) get(t *testing.T, path string) map[string]any {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, k.server+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+k.token)
	resp, err := k.http.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s", path, resp.Status)
		return map[string]any{}
	}
	var o map[string]any
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return o
}

func established(crd map[string]any) bool {
	for _, c := range arr(dig(crd, "status", "conditions")) {
		if dig(c, "type") == "Established" && dig(c, "status") == "True" {
			return true
		}
	}
	return false
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func arr(v any) []any {
	a, _ := v.([]any)
	return a
}

func b64(t *testing.T, v any) string {
	t.Helper()
	s, _ := v.(string)
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Errorf("base64 %q: %v", s, err)
	}
	return string(raw)
}

// engineLog keeps the engine's progress in a file of the test's temporary
// directory, and its tail for failure messages.
type engineLog struct {
	mu   sync.Mutex
	f    *os.File
	last []string
}

func newLog(t *testing.T, name string) *engineLog {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &engineLog{f: f}
}

func (l *engineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		l.last = append(l.last, sc.Text())
		if len(l.last) > 60 {
			l.last = l.last[1:]
		}
	}
	return l.f.Write(p)
}

func (l *engineLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("last engine output:\n%s", strings.Join(l.last, "\n"))
}

// engineStack makes the real Pulumi engine (the CLI and the Kubernetes
// provider from the tools cache) run platform.Program for a stack through
// the Automation API: a local file backend, the passphrase secrets provider,
// and copies of Pulumi.yaml and the stack file, so that the test's config
// changes never touch the checkout.
func engineStack(t *testing.T, ctx context.Context, root, name, passphrase string) auto.Stack {
	t.Helper()
	pulumiBin, err := toolchain.Path(toolchain.Pulumi)
	if err != nil {
		t.Fatal(err)
	}
	plugin, err := toolchain.Path(toolchain.PulumiKubernetes)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	copyFile(t, filepath.Join(root, "Pulumi.yaml"), filepath.Join(work, "Pulumi.yaml"))
	copyFile(t, filepath.Join(root, "stacks", "Pulumi."+name+".yaml"), filepath.Join(work, "stacks", "Pulumi."+name+".yaml"))
	// Pulumi.yaml's main (the program's directory) must exist, although the
	// program runs in this process.
	if err := os.Mkdir(filepath.Join(work, "infra"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"PULUMI_BACKEND_URL":       "file://" + filepath.ToSlash(t.TempDir()),
		"PULUMI_CONFIG_PASSPHRASE": passphrase,
		"PULUMI_SKIP_UPDATE_CHECK": "true",
		"PULUMI_HOME":              t.TempDir(),
		// The Kubernetes provider is found on PATH (an "ambient" plugin).
		"PATH": filepath.Dir(plugin) + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: filepath.Dir(filepath.Dir(pulumiBin)), SkipVersionCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	stack, err := auto.UpsertStackInlineSource(ctx, name, "todo", platform.Program,
		auto.WorkDir(work), auto.EnvVars(env), auto.Pulumi(cli), auto.SecretsProvider("passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	return stack
}
