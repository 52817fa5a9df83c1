package platform

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v3"

	"github.com/todo-platform/todo/infra/config"
)

var workflows = []string{
	filepath.Join("..", "..", ".github", "workflows", "pull-request.yml"),
	filepath.Join("..", "..", ".github", "workflows", "deploy.yml"),
}

// TestWorkflowsLint checks the CI workflows with actionlint (syntax,
// expressions, job and step references, the inputs of known actions).
func TestWorkflowsLint(t *testing.T) {
	t.Parallel()
	linter, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := linter.LintFiles(workflows, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Error(e)
	}
}

// workflow is the part of a GitHub workflow these tests read.
type workflow struct {
	Jobs map[string]struct {
		Strategy struct {
			Matrix struct {
				Include []map[string]string `yaml:"include"`
			} `yaml:"matrix"`
		} `yaml:"strategy"`
		Steps []step `yaml:"steps"`
	} `yaml:"jobs"`
}

type step struct {
	Name string            `yaml:"name"`
	If   string            `yaml:"if"`
	Uses string            `yaml:"uses"`
	With map[string]string `yaml:"with"`
}

func readWorkflow(t *testing.T, path string) workflow {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(raw, &w); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return w
}

// TestWorkflowsPinned: every action is used at a version, never a moving
// branch or @latest, and the tools the jobs install are pinned too.
func TestWorkflowsPinned(t *testing.T) {
	t.Parallel()
	for _, path := range workflows {
		w := readWorkflow(t, path)
		for job, j := range w.Jobs {
			for _, s := range j.Steps {
				if s.Uses == "" {
					continue
				}
				action, ref, _ := strings.Cut(s.Uses, "@")
				if ref == "" || slices.Contains([]string{"latest", "main", "master", "HEAD"}, ref) {
					t.Errorf("%s %s: %s is not pinned to a version", filepath.Base(path), job, s.Uses)
				}
				pin := map[string]string{
					"pulumi/actions":         "pulumi-version",
					"medyagh/setup-minikube": "minikube-version",
				}[action]
				if pin != "" && s.With[pin] == "" {
					t.Errorf("%s %s: %s without %s installs whatever is newest", filepath.Base(path), job, s.Uses, pin)
				}
			}
		}
	}
}

// TestPreviewLikeDeploy: the gke preview job installs
// gke-gcloud-auth-plugin as the deploy job does; without it the gke
// kubeconfig cannot authenticate and the preview loses its server-side
// diff.
func TestPreviewLikeDeploy(t *testing.T) {
	t.Parallel()
	for _, path := range workflows {
		w := readWorkflow(t, path)
		for job, j := range w.Jobs {
			if !slices.ContainsFunc(j.Steps, func(s step) bool { return strings.HasPrefix(s.Uses, "pulumi/actions@") }) {
				continue
			}
			plugin := false
			for _, s := range j.Steps {
				if strings.HasPrefix(s.Uses, "google-github-actions/setup-gcloud@") &&
					strings.Contains(s.With["install_components"], "gke-gcloud-auth-plugin") &&
					(s.If == "" || strings.Contains(s.If, "'gke'")) {
					plugin = true
				}
			}
			if !plugin {
				t.Errorf("%s %s: runs pulumi without gke-gcloud-auth-plugin for the gke stack", filepath.Base(path), job)
			}
		}
	}
}

// TestPreviewSecretsList: the preview job skips a stack whose required
// secrets are not in its stack file; its per-stack list must be what the
// program requires.
func TestPreviewSecretsList(t *testing.T) {
	t.Parallel()
	w := readWorkflow(t, workflows[0])
	listed := map[string][]string{}
	for _, in := range w.Jobs["preview"].Strategy.Matrix.Include {
		listed[in["stack"]] = strings.Fields(in["secrets"])
	}
	for _, stack := range []string{"minikube", "aks", "gke", "doks"} {
		got, ok := listed[stack]
		if !ok {
			t.Errorf("the preview matrix has no %s", stack)
			continue
		}
		want := requiredSecrets(t, stack)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the preview checks the secrets %v; the program requires %v", stack, got, want)
		}
	}
}

// requiredSecrets are the secrets the program refuses to run without, for
// a stack file as it is (minikube: none, its file holds them all).
func requiredSecrets(t *testing.T, stack string) []string {
	t.Helper()
	sc := loadStack(t, stack)
	isSecret := func(k string) bool { return slices.Contains(sc.secretKeys, k) }
	lookup := func(k string) (string, bool) { v, ok := sc.values[k]; return v, ok }
	_, err := config.Parse("todo", stack, lookup, isSecret)
	var keys []string
	var walk func(err error)
	walk = func(err error) {
		var ce *config.Error
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
		} else if errors.As(err, &ce) && strings.Contains(ce.Msg, "required secret is not set") {
			keys = append(keys, strings.TrimPrefix(ce.Key, "todo:"))
		} else if err != nil {
			t.Errorf("%s: %v", stack, err)
		}
	}
	walk(err)
	sort.Strings(keys)
	return keys
}

// TestAKSPreviewRole: the aks preview runs with the custom role of
// infra/cluster/aks-preview-role.json (Reader plus list actions). Every
// Azure function the program calls must be allowed by it; a new list*
// call fails here until its action is added to the role.
func TestAKSPreviewRole(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "cluster", "aks-preview-role.json"))
	if err != nil {
		t.Fatal(err)
	}
	var role struct {
		Actions          []string `json:"Actions"`
		AssignableScopes []string `json:"AssignableScopes"`
	}
	if err := json.Unmarshal(raw, &role); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(role.Actions, "*/read") {
		t.Error("the preview role cannot read (*/read)")
	}
	for _, a := range role.Actions {
		if strings.Contains(a, "write") || strings.Contains(a, "delete") || a == "*" {
			t.Errorf("the preview role may change things: %s", a)
		}
	}
	// The Azure action each function needs; "" = none (answered locally).
	needs := map[string]string{
		"azure-native:authorization:getClientConfig":                      "",
		"azure-native:containerservice:listManagedClusterUserCredentials": "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action",
		"azure-native:eventhub:listNamespaceKeys":                         "Microsoft.EventHub/namespaces/authorizationRules/listKeys/action",
	}
	res, err := run(t, "aks", prepare(t, "aks"))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, call := range res.calls {
		if !strings.HasPrefix(call, "azure-native:") {
			continue
		}
		seen++
		action, known := needs[call]
		switch {
		case !known:
			t.Errorf("the program calls %s: add the Azure action it needs to the preview role and to this test", call)
		case action != "" && !slices.Contains(role.Actions, action):
			t.Errorf("the program calls %s, which needs %s: not in the preview role", call, action)
		}
	}
	if seen == 0 {
		t.Error("no Azure function calls recorded")
	}
}
