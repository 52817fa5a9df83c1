// Package cluster provides the Kubernetes cluster of a stack: an existing
// minikube context, the local cluster of `make cluster`, or an AKS, GKE or DOKS cluster with its node pools and
// container registry. Every cloud returns the same shape (kubeconfig,
// Kubernetes provider, registry), so everything downstream is cloud-agnostic.
package cluster

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/config"
)

// ClusterArgs configures NewCluster.
type ClusterArgs struct {
	Config *config.Config
}

// Cluster is a Kubernetes cluster ready to deploy to.
type Cluster struct {
	pulumi.ResourceState

	// Kubeconfig reaches the cluster (secret).
	Kubeconfig pulumi.StringOutput
	// Provider deploys to the cluster; every Kubernetes resource uses it.
	Provider *kubernetes.Provider

	// Registry is where images are pushed ("host/path"); empty on minikube.
	Registry pulumi.StringOutput
	// RegistryUsername and RegistryPassword push to Registry; both empty
	// means the local Docker credentials are used.
	RegistryUsername pulumi.StringOutput
	RegistryPassword pulumi.StringOutput
	// RegistryLogin, when set, fetches short-lived push credentials for
	// Registry at push time (after the registry exists).
	RegistryLogin func(ctx context.Context, registry string) (user, pass string, err error)
	// PullSecret is a .dockerconfigjson the pods need to pull from Registry,
	// when the nodes cannot pull by themselves (HasPullSecret).
	PullSecret    pulumi.StringOutput
	HasPullSecret bool

	// ID is the cloud's id of the cluster (empty on minikube).
	ID pulumi.StringOutput
	// Network is the cluster's private network (DOKS VPC); empty elsewhere.
	Network pulumi.StringOutput
	// ResourceGroup is the Azure resource group (aks only).
	ResourceGroup pulumi.StringOutput
	// Region is where the cluster runs ("" on minikube).
	Region string

	context string // kubeconfig context (minikube)
}

// NewCluster creates (or, on minikube, adopts) the stack's cluster.
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	c := &Cluster{}
	if err := ctx.RegisterComponentResource("todo:cluster:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	cfg := args.Config
	c.Region = cfg.Cluster.Region
	empty := pulumi.String("").ToStringOutput()
	c.Registry, c.RegistryUsername, c.RegistryPassword = empty, empty, empty
	c.PullSecret, c.ID, c.Network, c.ResourceGroup = empty, empty, empty, empty

	var err error
	switch cfg.Cloud {
	case config.Minikube:
		err = c.minikube(ctx, name, cfg)
	case config.Local:
		err = c.local(ctx, name, cfg)
	case config.AKS:
		err = c.aks(ctx, name, cfg)
	case config.GKE:
		err = c.gke(ctx, name, cfg)
	case config.DOKS:
		err = c.doks(ctx, name, cfg)
	default:
		err = fmt.Errorf("unknown cloud %q", cfg.Cloud)
	}
	if err != nil {
		return nil, err
	}

	var kubeContext pulumi.StringPtrInput
	if c.context != "" {
		kubeContext = pulumi.String(c.context)
	}
	c.Provider, err = kubernetes.NewProvider(ctx, name, &kubernetes.ProviderArgs{
		Kubeconfig:               c.Kubeconfig,
		Context:                  kubeContext,
		EnableServerSideApply:    pulumi.Bool(true),
		SuppressHelmHookWarnings: pulumi.Bool(true),
	}, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}

	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"kubeconfig": c.Kubeconfig,
		"registry":   c.Registry,
		"id":         c.ID,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// secret marks s as secret.
func secret(s pulumi.StringInput) pulumi.StringOutput {
	return pulumi.ToSecret(s).(pulumi.StringOutput)
}
