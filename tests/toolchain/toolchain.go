// Package toolchain finds and starts the heavy tools the end-to-end tests
// and the local cluster need: the Pulumi CLI, the Pulumi Kubernetes provider,
// etcd, the Kubernetes binaries, Dapr and CoreDNS.
//
// The tools are built once, from the Go module proxy, by `make tools`
// (tests/tools/build.sh) into a versioned cache outside the checkout:
//
//	${TODO_TOOLS_DIR:-$HOME/.cache/todo-platform/tools}/<tool>-<version>/bin/<binary>
//
// with the versions pinned in tests/tools/versions.env. Path finds a binary
// there (falling back to PATH); StartKubeAPIServer runs a throw-away etcd +
// kube-apiserver for one test.
//
// The package uses the standard library only.
package toolchain

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Binaries, as Path and Version know them. Each is built by one tool of
// tests/tools/build.sh: several binaries share a tool (and one build) where
// they come from one module.
const (
	Pulumi                = "pulumi"
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	KubeProxy             = "kube-proxy"
	Kubelet               = "kubelet"
	Kubectl               = "kubectl"
	PulumiKubernetes      = "pulumi-kubernetes"
	Daprd                 = "daprd"
	DaprOperator          = "operator"
	DaprInjector          = "injector"
	DaprSentry            = "sentry"
	DaprPlacement         = "placement"
	DaprScheduler         = "scheduler"
	CoreDNS               = "coredns"
	KubeRouter            = "kube-router"
)

// tool is one binary: the tool (build) that makes it, its file name and the
// versions.env key of the tool's version.
type tool struct {
	name       string // as Path takes it
	tool       string // tests/tools/build.sh tool: the cache directory <tool>-<version>
	binary     string // file name in bin/
	versionKey string // key in versions.env
}

var tools = []tool{
	{Pulumi, "pulumi", "pulumi", "PULUMI_VERSION"},
	{Etcd, "etcd", "etcd", "ETCD_VERSION"},
	{KubeAPIServer, "kubernetes", "kube-apiserver", "KUBERNETES_VERSION"},
	{KubeControllerManager, "kubernetes", "kube-controller-manager", "KUBERNETES_VERSION"},
	{KubeScheduler, "kubernetes", "kube-scheduler", "KUBERNETES_VERSION"},
	{KubeProxy, "kubernetes", "kube-proxy", "KUBERNETES_VERSION"},
	{Kubelet, "kubernetes", "kubelet", "KUBERNETES_VERSION"},
	{Kubectl, "kubernetes", "kubectl", "KUBERNETES_VERSION"},
	{PulumiKubernetes, "pulumi-kubernetes", "pulumi-resource-kubernetes", "PULUMI_KUBERNETES_VERSION"},
	{Daprd, "dapr", "daprd", "DAPR_VERSION"},
	{DaprOperator, "dapr", "operator", "DAPR_VERSION"},
	{DaprInjector, "dapr", "injector", "DAPR_VERSION"},
	{DaprSentry, "dapr", "sentry", "DAPR_VERSION"},
	{DaprPlacement, "dapr", "placement", "DAPR_VERSION"},
	{DaprScheduler, "dapr", "scheduler", "DAPR_VERSION"},
	{CoreDNS, "coredns", "coredns", "COREDNS_VERSION"},
	{KubeRouter, "kube-router", "kube-router", "KUBE_ROUTER_VERSION"},
}

// lookupTool accepts a binary's name as Path takes it, or its file name
// ("pulumi-resource-kubernetes" for "pulumi-kubernetes").
func lookupTool(name string) (tool, bool) {
	for _, t := range tools {
		if t.name == name || t.binary == name {
			return t, true
		}
	}
	return tool{}, false
}

// Tools returns the names Path accepts, in the order `make tools` builds
// them.
func Tools() []string {
	names := make([]string, len(tools))
	for i, t := range tools {
		names[i] = t.name
	}
	return names
}

// Dir returns the tools cache: $TODO_TOOLS_DIR, or
// $HOME/.cache/todo-platform/tools.
func Dir() string {
	if d := os.Getenv("TODO_TOOLS_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "todo-platform", "tools")
}

var (
	versionsOnce sync.Once
	versionsMap  map[string]string
	versionsErr  error
)

// versionsFile locates tests/tools/versions.env: next to this source file
// when the sources are available, otherwise by walking up from the working
// directory (tests run in their package directory).
func versionsFile() (string, error) {
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", "tools", "versions.env"))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			candidates = append(candidates, filepath.Join(d, "tests", "tools", "versions.env"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return c, nil
		}
	}
	return "", errors.New("toolchain: cannot find tests/tools/versions.env (run the tests from inside the checkout)")
}

func parseVersions() (map[string]string, error) {
	path, err := versionsFile()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("toolchain: %w", err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		m[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("toolchain: reading %s: %w", path, err)
	}
	return m, nil
}

func versions() (map[string]string, error) {
	versionsOnce.Do(func() { versionsMap, versionsErr = parseVersions() })
	return versionsMap, versionsErr
}

// Version returns the pinned version of a tool (as in
// tests/tools/versions.env, e.g. "v3.274.1" for "pulumi"). For
// "pulumi-kubernetes" it is the provider module version; PluginVersion gives
// the version the plugin reports to the Pulumi engine.
func Version(name string) (string, error) {
	t, ok := lookupTool(name)
	if !ok {
		return "", fmt.Errorf("toolchain: unknown tool %q (known: %s)", name, strings.Join(Tools(), ", "))
	}
	vs, err := versions()
	if err != nil {
		return "", err
	}
	v := vs[t.versionKey]
	if v == "" {
		return "", fmt.Errorf("toolchain: %s is not set in tests/tools/versions.env", t.versionKey)
	}
	return v, nil
}

// PluginVersion returns the version the Pulumi Kubernetes provider reports
// to the Pulumi engine (e.g. "4.25.0").
func PluginVersion() (string, error) {
	vs, err := versions()
	if err != nil {
		return "", err
	}
	if v := vs["PULUMI_KUBERNETES_PLUGIN_VERSION"]; v != "" {
		return v, nil
	}
	return "", errors.New("toolchain: PULUMI_KUBERNETES_PLUGIN_VERSION is not set in tests/tools/versions.env")
}

// Path returns the absolute path of a binary: one of the names above
// ("pulumi", "kubelet", "pulumi-kubernetes", "daprd", ...) or a file name
// ("pulumi-resource-kubernetes").
//
// It looks in the tools cache first (the pinned version) and then on PATH.
// When the tool is in neither, the error says to run `make tools`.
func Path(name string) (string, error) {
	t, ok := lookupTool(name)
	if !ok {
		return "", fmt.Errorf("toolchain: unknown tool %q (known: %s)", name, strings.Join(Tools(), ", "))
	}
	var cached string
	v, verr := Version(t.name)
	if verr == nil {
		cached = filepath.Join(Dir(), t.tool+"-"+v, "bin", t.binary)
		if isExecutable(cached) {
			return cached, nil
		}
	}
	if p, err := exec.LookPath(t.binary); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return p, nil
	}
	where := "the tools cache"
	if cached != "" {
		where = cached
	} else if verr != nil {
		where = fmt.Sprintf("the tools cache (%v)", verr)
	}
	what := t.binary
	if t.binary != t.tool {
		what = fmt.Sprintf("%s (tool %s)", t.binary, t.tool)
	}
	return "", fmt.Errorf("toolchain: %s is not built: not found at %s nor on PATH; run `make tools` once "+
		"(bash tests/tools/build.sh %s) to build the end-to-end test tools into %s",
		what, where, t.tool, Dir())
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}
