package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/todo-platform/todo/infra/config"
)

// minikube adopts an existing kubeconfig context: nothing is created, the
// kubeconfig is read from the file and kept in the state as a secret.
func (c *Cluster) minikube(ctx *pulumi.Context, _ string, cfg *config.Config) error {
	path := KubeconfigPath(cfg.Cluster.Kubeconfig)
	if cfg.Cluster.Kubeconfig != "" && !filepath.IsAbs(path) && ctx.RootDirectory() != "" {
		path = filepath.Join(ctx.RootDirectory(), path)
	}
	raw, err := os.ReadFile(path) //nolint:gosec // G304: the kubeconfig the stack config names.
	if err != nil {
		return &config.Error{Key: cfg.Project + ":cluster", Msg: fmt.Sprintf("kubeconfig: %v (start the cluster first: minikube start, or make cluster for the local stack; or set cluster.kubeconfig)", err)}
	}
	var kc struct {
		Contexts []struct {
			Name string `yaml:"name"`
		} `yaml:"contexts"`
	}
	if err := yaml.Unmarshal(raw, &kc); err != nil {
		return &config.Error{Key: cfg.Project + ":cluster", Msg: fmt.Sprintf("kubeconfig %s: %v", path, err)}
	}
	var names []string
	for _, x := range kc.Contexts {
		names = append(names, x.Name)
	}
	if !slices.Contains(names, cfg.Cluster.Context) {
		return &config.Error{Key: cfg.Project + ":cluster", Msg: fmt.Sprintf("context %q is not in %s (it has: %s)", cfg.Cluster.Context, path, strings.Join(names, ", "))}
	}
	c.Kubeconfig = secret(pulumi.String(string(raw)))
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
