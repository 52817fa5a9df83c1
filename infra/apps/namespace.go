package apps

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/config"
	"github.com/todo-platform/todo/infra/kube"
)

// NamespaceArgs configures NewNamespace.
type NamespaceArgs struct {
	Name     string
	Provider *kubernetes.Provider
}

// Namespace is the services' namespace. Pod Security admission enforces the
// "baseline" level (the Dapr sidecar's injected container is not
// "restricted"-clean on every version) and warns and audits "restricted",
// which the services' own pods meet.
type Namespace struct {
	pulumi.ResourceState
	Name pulumi.StringOutput
}

// NewNamespace creates the namespace.
func NewNamespace(ctx *pulumi.Context, name string, args *NamespaceArgs, opts ...pulumi.ResourceOption) (*Namespace, error) {
	n := &Namespace{}
	if err := ctx.RegisterComponentResource("todo:apps:Namespace", name, n, opts...); err != nil {
		return nil, err
	}
	ns, err := kube.NewNamespace(ctx, name, args.Name, kube.Merge(kube.Labels("todo", "services"), pulumi.StringMap{
		"pod-security.kubernetes.io/enforce": pulumi.String("baseline"),
		"pod-security.kubernetes.io/warn":    pulumi.String("restricted"),
		"pod-security.kubernetes.io/audit":   pulumi.String("restricted"),
	}), pulumi.Parent(n), pulumi.Provider(args.Provider))
	if err != nil {
		return nil, err
	}
	n.Name = ns.Metadata.Name().Elem()
	if err := ctx.RegisterResourceOutputs(n, pulumi.Map{"name": n.Name}); err != nil {
		return nil, err
	}
	return n, nil
}

// IngressControllerArgs configures NewIngressController.
type IngressControllerArgs struct {
	Namespace string
	ClassName string
	Chart     config.Chart
	// ServiceAnnotations configure the cloud load balancer.
	ServiceAnnotations map[string]string
	SkipAwait          bool
	Provider           *kubernetes.Provider
}

// IngressController is ingress-nginx, for clusters without an ingress
// controller of their own.
type IngressController struct {
	pulumi.ResourceState
	// Stage lists the resources to depend on: the namespace and the chart.
	Stage []pulumi.Resource
}

// NewIngressController installs ingress-nginx behind a cloud load balancer.
func NewIngressController(ctx *pulumi.Context, name string, args *IngressControllerArgs, opts ...pulumi.ResourceOption) (*IngressController, error) {
	ic := &IngressController{}
	if err := ctx.RegisterComponentResource("todo:apps:IngressController", name, ic, opts...); err != nil {
		return nil, err
	}
	ns, err := kube.NewNamespace(ctx, name, args.Namespace, kube.Labels("ingress-nginx", "ingress"), pulumi.Parent(ic), pulumi.Provider(args.Provider))
	if err != nil {
		return nil, err
	}
	chart, err := kube.NewChart(ctx, name, &kube.ChartArgs{
		Source:    args.Chart,
		Namespace: ns.Metadata.Name().Elem(),
		SkipAwait: args.SkipAwait,
		Values: pulumi.Map{
			"controller": pulumi.Map{
				"replicaCount": pulumi.Int(2),
				"ingressClassResource": pulumi.Map{
					"name":    pulumi.String(args.ClassName),
					"default": pulumi.Bool(true),
				},
				"service": pulumi.Map{
					"externalTrafficPolicy": pulumi.String("Local"),
					"annotations":           pulumi.ToStringMap(args.ServiceAnnotations),
				},
				"metrics": pulumi.Map{"enabled": pulumi.Bool(true)},
			},
		},
	}, pulumi.Parent(ic), pulumi.Providers(args.Provider))
	if err != nil {
		return nil, err
	}
	ic.Stage = []pulumi.Resource{ns, chart}
	if err := ctx.RegisterResourceOutputs(ic, pulumi.Map{}); err != nil {
		return nil, err
	}
	return ic, nil
}
