// Package kube holds the small Kubernetes conventions every component of the
// program shares: standard labels, the await annotations of the Pulumi
// Kubernetes provider, namespaces, and installing a Helm chart from a
// repository or a local path.
package kube

import (
	"context"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv4 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v4"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/config"
)

// PartOf is the app.kubernetes.io/part-of label of everything the program
// deploys.
const PartOf = "todo"

// Labels are the recommended labels of a component of the platform.
func Labels(name, component string) pulumi.StringMap {
	return pulumi.StringMap{
		"app.kubernetes.io/name":       pulumi.String(name),
		"app.kubernetes.io/component":  pulumi.String(component),
		"app.kubernetes.io/part-of":    pulumi.String(PartOf),
		"app.kubernetes.io/managed-by": pulumi.String("pulumi"),
	}
}

// Await returns the provider annotations that control waiting for an
// object: skip waiting entirely (API servers without nodes), or wait for a
// condition (e.g. "condition=Ready" on a custom resource, which the provider
// otherwise does not wait for). Both empty means the provider's default.
func Await(skip bool, waitFor string) pulumi.StringMap {
	switch {
	case skip:
		return pulumi.StringMap{"pulumi.com/skipAwait": pulumi.String("true")}
	case waitFor != "":
		return pulumi.StringMap{"pulumi.com/waitFor": pulumi.String(waitFor)}
	}
	return pulumi.StringMap{}
}

// Merge returns the union of the maps; later keys win.
func Merge(maps ...pulumi.StringMap) pulumi.StringMap {
	out := pulumi.StringMap{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// NewNamespace creates the namespace called namespace, with labels.
func NewNamespace(ctx *pulumi.Context, name, namespace string, labels pulumi.StringMap, opts ...pulumi.ResourceOption) (*corev1.Namespace, error) {
	return corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(namespace), Labels: labels},
	}, opts...)
}

// OperatorStage is an operator stage: a namespace and the chart installed in it,
// which resources that need the chart's CRDs or webhooks depend on.
type OperatorStage struct {
	Namespace pulumi.StringOutput
	// Stage lists the resources to depend on: the namespace and the chart.
	// (Depending on the component alone is not enough: the SDK expands a
	// component to the children registered so far, which may race.)
	Stage []pulumi.Resource
}

// ChartArgs installs a chart.
type ChartArgs struct {
	Source    config.Chart
	Namespace pulumi.StringInput
	Values    pulumi.Map
	SkipAwait bool
}

// NewChart installs a Helm chart with the provider-side Chart resource (v4):
// the chart is rendered by the Kubernetes provider and every object is a
// Pulumi resource, CRDs first. The chart comes from Source.Path when set,
// otherwise from the repository (https:// or oci://) at a pinned version.
func NewChart(ctx *pulumi.Context, name string, args *ChartArgs, opts ...pulumi.ResourceOption) (*helmv4.Chart, error) {
	ca := &helmv4.ChartArgs{
		Namespace: args.Namespace,
		Values:    args.Values,
		SkipAwait: pulumi.Bool(args.SkipAwait),
	}
	switch src := args.Source; {
	case src.Path != "":
		ca.Chart = pulumi.String(src.Path)
	case strings.HasPrefix(src.Repository, "oci://"):
		ca.Chart = pulumi.String(strings.TrimSuffix(src.Repository, "/") + "/" + src.Name)
		ca.Version = pulumi.String(src.Version)
	default:
		ca.Chart = pulumi.String(args.Source.Name)
		ca.Version = pulumi.String(args.Source.Version)
		ca.RepositoryOpts = &helmv4.RepositoryOptsArgs{Repo: pulumi.String(args.Source.Repository)}
	}
	opts = append(opts, pulumi.Transforms([]pulumi.ResourceTransform{DropEmptyRules}))
	return helmv4.NewChart(ctx, name, ca, opts...)
}

// DropEmptyRules removes an empty rules list from the Roles and
// ClusterRoles a chart renders (Dapr's dapr-placement has "rules: []"). The
// API server does not keep an empty list, so the provider would otherwise
// see "+rules" and update the role on every run.
func DropEmptyRules(_ context.Context, args *pulumi.ResourceTransformArgs) *pulumi.ResourceTransformResult {
	if args.Type != "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole" && args.Type != "kubernetes:rbac.authorization.k8s.io/v1:Role" {
		return nil
	}
	rules, ok := args.Props["rules"]
	if !ok {
		return nil
	}
	if r, ok := rules.(pulumi.Array); !ok || len(r) > 0 {
		return nil
	}
	props := pulumi.Map{}
	for k, v := range args.Props {
		if k != "rules" {
			props[k] = v
		}
	}
	return &pulumi.ResourceTransformResult{Props: props, Opts: args.Opts}
}
