package cluster

import (
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Only the chosen context, its cluster and user reach the state, and the
// file references still resolve.
func TestMinifyKubeconfig(t *testing.T) {
	t.Parallel()
	const raw = `apiVersion: v1
kind: Config
preferences: {}
current-context: prod
clusters:
- name: minikube
  cluster:
    server: https://192.168.49.2:8443
    certificate-authority: ca.crt
- name: prod
  cluster:
    server: https://prod.example
contexts:
- name: minikube
  context: {cluster: minikube, user: minikube, namespace: default}
- name: prod
  context: {cluster: prod, user: prod-admin}
users:
- name: minikube
  user:
    client-certificate: /home/u/.minikube/profiles/minikube/client.crt
    client-key: profiles/minikube/client.key
- name: prod-admin
  user:
    token: prod-admin-token
`
	dir := filepath.FromSlash("/home/u/.minikube")
	out, err := MinifyKubeconfig([]byte(raw), "minikube", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"prod", "prod-admin-token"} {
		if strings.Contains(out, leak) {
			t.Errorf("minified kubeconfig holds %q:\n%s", leak, out)
		}
	}
	var kc struct {
		Current  string `yaml:"current-context"`
		Clusters []struct {
			Cluster map[string]string `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			User map[string]string `yaml:"user"`
		} `yaml:"users"`
		Contexts []struct {
			Name string `yaml:"name"`
		} `yaml:"contexts"`
	}
	if err := yaml.Unmarshal([]byte(out), &kc); err != nil {
		t.Fatal(err)
	}
	if kc.Current != "minikube" || len(kc.Contexts) != 1 || len(kc.Clusters) != 1 || len(kc.Users) != 1 {
		t.Fatalf("minified kubeconfig:\n%s", out)
	}
	if got := kc.Clusters[0].Cluster["certificate-authority"]; got != filepath.Join(dir, "ca.crt") {
		t.Errorf("certificate-authority %q, want it absolute", got)
	}
	if got := kc.Users[0].User["client-key"]; got != filepath.Join(dir, "profiles/minikube/client.key") {
		t.Errorf("client-key %q, want it absolute", got)
	}
	if got := kc.Users[0].User["client-certificate"]; got != "/home/u/.minikube/profiles/minikube/client.crt" {
		t.Errorf("client-certificate %q changed", got)
	}

	if _, err := MinifyKubeconfig([]byte(raw), "missing", dir); err == nil || !strings.Contains(err.Error(), "minikube, prod") {
		t.Errorf("a missing context: error %v, want the contexts listed", err)
	}
}
