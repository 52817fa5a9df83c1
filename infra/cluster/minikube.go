package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"go.yaml.in/yaml/v3"

	"github.com/todo-platform/todo/infra/config"
)

// minikube adopts an existing kubeconfig context: nothing is created. Of
// the kubeconfig file only the chosen context, its cluster and its user go
// into the state (as a secret): the file's other contexts, perhaps with
// cloud credentials, stay out of a state whose passphrase is published.
func (c *Cluster) minikube(ctx *pulumi.Context, _ string, cfg *config.Config) error {
	path := KubeconfigPath(cfg.Cluster.Kubeconfig)
	if cfg.Cluster.Kubeconfig != "" && !filepath.IsAbs(path) && ctx.RootDirectory() != "" {
		path = filepath.Join(ctx.RootDirectory(), path)
	}
	raw, err := os.ReadFile(path) //nolint:gosec // G304: the kubeconfig the stack config names.
	if err != nil {
		return &config.Error{Key: cfg.Project + ":cluster", Msg: fmt.Sprintf("kubeconfig: %v (start the cluster first: minikube start, or make cluster for the local stack; or set cluster.kubeconfig)", err)}
	}
	kc, err := MinifyKubeconfig(raw, cfg.Cluster.Context, filepath.Dir(path))
	if err != nil {
		return &config.Error{Key: cfg.Project + ":cluster", Msg: fmt.Sprintf("kubeconfig %s: %v", path, err)}
	}
	c.Kubeconfig = secret(pulumi.String(kc))
	c.context = cfg.Cluster.Context
	return nil
}

// KubeconfigPath resolves the kubeconfig file: the configured path, else the
// first file of $KUBECONFIG, else ~/.kube/config.
func KubeconfigPath(configured string) string {
	if configured != "" {
		return expandHome(configured)
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		return filepath.SplitList(env)[0]
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".kube", "config")
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		home, _ := os.UserHomeDir()
		return filepath.Join(home, rest)
	}
	return p
}

// MinifyKubeconfig returns the kubeconfig reduced to one context, its
// cluster and its user, with that context current (kubectl config view
// --minify). Relative file paths (certificates, keys, token files) are made
// absolute against dir, the kubeconfig file's directory, since the result
// no longer lives beside them.
func MinifyKubeconfig(raw []byte, context, dir string) (string, error) {
	type named struct {
		Name string         `yaml:"name"`
		Rest map[string]any `yaml:",inline"`
	}
	var kc struct {
		APIVersion string         `yaml:"apiVersion"`
		Kind       string         `yaml:"kind"`
		Contexts   []named        `yaml:"contexts"`
		Clusters   []named        `yaml:"clusters"`
		Users      []named        `yaml:"users"`
		Current    string         `yaml:"current-context"`
		Rest       map[string]any `yaml:",inline"`
	}
	if err := yaml.Unmarshal(raw, &kc); err != nil {
		return "", err
	}
	var names []string
	var ctx *named
	for i, x := range kc.Contexts {
		names = append(names, x.Name)
		if x.Name == context {
			ctx = &kc.Contexts[i]
		}
	}
	if ctx == nil {
		return "", fmt.Errorf("context %q is not in it (it has: %s)", context, strings.Join(names, ", "))
	}
	body, _ := ctx.Rest["context"].(map[string]any)
	clusterName, _ := body["cluster"].(string)
	userName, _ := body["user"].(string)
	pick := func(list []named, name, kind, field string) ([]named, error) {
		for _, x := range list {
			if x.Name == name {
				if inner, ok := x.Rest[field].(map[string]any); ok {
					absolutePaths(inner, dir)
				}
				return []named{x}, nil
			}
		}
		if name == "" {
			return nil, nil
		}
		return nil, fmt.Errorf("context %q names the %s %q, which is not in it", context, kind, name)
	}
	var err error
	if kc.Clusters, err = pick(kc.Clusters, clusterName, "cluster", "cluster"); err != nil {
		return "", err
	}
	if kc.Users, err = pick(kc.Users, userName, "user", "user"); err != nil {
		return "", err
	}
	kc.Contexts = []named{*ctx}
	kc.Current = context
	delete(kc.Rest, "preferences")
	out, err := yaml.Marshal(&kc)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// absolutePaths makes the file references of a kubeconfig cluster or user
// absolute.
func absolutePaths(m map[string]any, dir string) {
	for _, k := range []string{"certificate-authority", "client-certificate", "client-key", "tokenFile"} {
		if p, ok := m[k].(string); ok && p != "" && !filepath.IsAbs(p) && dir != "" {
			m[k] = filepath.Join(dir, p)
		}
	}
}
