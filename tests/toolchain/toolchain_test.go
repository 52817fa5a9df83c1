//go:build e2e

package toolchain_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/tests/toolchain"
)

// These tests check that `make tools` produced working binaries. With the
// e2e tag a missing tool is a failure, not a skip.

func TestKubeAPIServerListsNamespaces(t *testing.T) {
	start := time.Now()
	kubeconfig := toolchain.StartKubeAPIServer(t)
	t.Logf("etcd + kube-apiserver ready in %s; kubeconfig %s", time.Since(start).Round(time.Millisecond), kubeconfig)

	server, caPEM, token := readKubeconfig(t, kubeconfig)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("kubeconfig %s: certificate-authority-data holds no certificate", kubeconfig)
	}
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	defer client.CloseIdleConnections()

	// The API server creates its system namespaces right after it became
	// ready; give it a moment.
	want := []string{"default", "kube-system"}
	var names []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		names = listNamespaces(t, client, server, token)
		if containsAll(names, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !containsAll(names, want) {
		t.Fatalf("GET /api/v1/namespaces = %v, want it to include %v", names, want)
	}
	t.Logf("namespaces: %v", names)

	// Without credentials the request must be refused: the kubeconfig's
	// token is what grants access.
	resp, err := client.Get(server + "/api/v1/namespaces")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous GET /api/v1/namespaces: %s, want 401 or 403", resp.Status)
	}
}

func listNamespaces(t *testing.T, client *http.Client, server, token string) []string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, server+"/api/v1/namespaces", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET /api/v1/namespaces: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/namespaces: %s", resp.Status)
	}
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatalf("GET /api/v1/namespaces: decoding: %v", err)
	}
	if list.Kind != "NamespaceList" {
		t.Fatalf("GET /api/v1/namespaces: kind %q, want NamespaceList", list.Kind)
	}
	names := make([]string, 0, len(list.Items))
	for _, it := range list.Items {
		names = append(names, it.Metadata.Name)
	}
	return names
}

func containsAll(have, want []string) bool {
	set := map[string]bool{}
	for _, h := range have {
		set[h] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

// readKubeconfig extracts the server, CA and token from the kubeconfig
// written by StartKubeAPIServer (a single cluster and user).
func readKubeconfig(t *testing.T, path string) (server string, caPEM []byte, token string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), ": ")
		if !ok {
			continue
		}
		switch key {
		case "server":
			server = value
		case "certificate-authority-data":
			if caPEM, err = base64.StdEncoding.DecodeString(value); err != nil {
				t.Fatalf("kubeconfig %s: certificate-authority-data: %v", path, err)
			}
		case "token":
			token = value
		}
	}
	if server == "" || caPEM == nil || token == "" {
		t.Fatalf("kubeconfig %s: missing server, certificate-authority-data or token", path)
	}
	return server, caPEM, token
}

// toolPath returns a tool's binary or fails the test, naming the tool and
// telling to run `make tools`.
func toolPath(t *testing.T, tool string) string {
	t.Helper()
	p, err := toolchain.Path(tool)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func pinnedVersion(t *testing.T, tool string) string {
	t.Helper()
	v, err := toolchain.Version(tool)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// run runs a tool with an isolated Pulumi home and returns its output.
func run(t *testing.T, timeout time.Duration, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(),
		"PULUMI_HOME="+t.TempDir(),
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPulumiVersion(t *testing.T) {
	bin := toolPath(t, toolchain.Pulumi)
	want := pinnedVersion(t, toolchain.Pulumi)
	out := strings.TrimSpace(run(t, time.Minute, bin, "version"))
	if out != want {
		t.Fatalf("%s version = %q, want %q", bin, out, want)
	}
}

// The provider has no version flag: it reports its version to the Pulumi
// engine (GetPluginInfo and the version in its schema). Have the Pulumi CLI
// load it as a plugin and read the schema back.
func TestPulumiKubernetesProviderVersion(t *testing.T) {
	pulumi := toolPath(t, toolchain.Pulumi)
	provider := toolPath(t, toolchain.PulumiKubernetes)
	want, err := toolchain.PluginVersion()
	if err != nil {
		t.Fatal(err)
	}
	out := run(t, 2*time.Minute, pulumi, "package", "get-schema", provider)
	var schema struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal([]byte(out), &schema); err != nil {
		t.Fatalf("pulumi package get-schema %s: not a schema: %v\n%.500s", provider, err, out)
	}
	if schema.Name != "kubernetes" || schema.Version != want {
		t.Fatalf("pulumi package get-schema %s: name %q version %q, want kubernetes %s",
			provider, schema.Name, schema.Version, want)
	}
}

func TestDaprdVersion(t *testing.T) {
	bin := toolPath(t, toolchain.Daprd)
	want := strings.TrimPrefix(pinnedVersion(t, toolchain.Daprd), "v")
	out := strings.TrimSpace(run(t, time.Minute, bin, "--version"))
	if out != want {
		t.Fatalf("%s --version = %q, want %q", bin, out, want)
	}
}

func TestEtcdVersion(t *testing.T) {
	bin := toolPath(t, toolchain.Etcd)
	want := strings.TrimPrefix(pinnedVersion(t, toolchain.Etcd), "v")
	out := run(t, time.Minute, bin, "--version")
	if !strings.Contains(out, "etcd Version: "+want) {
		t.Fatalf("%s --version = %q, want etcd Version: %s", bin, out, want)
	}
}

func TestKubeAPIServerVersion(t *testing.T) {
	bin := toolPath(t, toolchain.KubeAPIServer)
	want := pinnedVersion(t, toolchain.KubeAPIServer)
	out := strings.TrimSpace(run(t, time.Minute, bin, "--version"))
	if out != "Kubernetes "+want {
		t.Fatalf("%s --version = %q, want %q", bin, out, "Kubernetes "+want)
	}
}
