package cluster

import (
	"fmt"

	"github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/config"
)

// doks creates a DOKS cluster (HA control plane, an autoscaling default pool
// and a worker pool) and a DigitalOcean container registry. DOKS' registry
// integration only patches the default service account, so the registry's
// read credentials are handed to the workloads as a pull secret.
func (c *Cluster) doks(ctx *pulumi.Context, name string, cfg *config.Config) error {
	cl := cfg.Cluster
	parent := pulumi.Parent(c)
	tags := pulumi.StringArray{pulumi.String("todo"), pulumi.String("todo-" + cfg.Stack)}

	versions := digitalocean.GetKubernetesVersionsOutput(ctx, digitalocean.GetKubernetesVersionsOutputArgs{
		VersionPrefix: pulumi.String(cl.KubernetesVersion),
	}, pulumi.Parent(c))

	sys := cl.SystemPool
	k8s, err := digitalocean.NewKubernetesCluster(ctx, name, &digitalocean.KubernetesClusterArgs{
		Name:         pulumi.String(fmt.Sprintf("%s-%s", cfg.Project, cfg.Stack)),
		Region:       pulumi.String(cl.Region),
		Version:      versions.LatestVersion(),
		Ha:           pulumi.Bool(true),
		AutoUpgrade:  pulumi.Bool(true),
		SurgeUpgrade: pulumi.Bool(true),
		MaintenancePolicy: &digitalocean.KubernetesClusterMaintenancePolicyArgs{
			Day:       pulumi.String("sunday"),
			StartTime: pulumi.String("03:00"),
		},
		NodePool: &digitalocean.KubernetesClusterNodePoolArgs{
			Name:      pulumi.String("system"),
			Size:      pulumi.String(sys.MachineType),
			AutoScale: pulumi.Bool(true),
			MinNodes:  pulumi.Int(sys.MinCount),
			MaxNodes:  pulumi.Int(sys.MaxCount),
			Labels:    pulumi.StringMap{"todo.dev/pool": pulumi.String("system")},
		},
		Tags: tags,
	}, parent, pulumi.IgnoreChanges([]string{"version"})) // auto-upgrade moves the version
	if err != nil {
		return err
	}

	pool := cl.NodePool
	if _, err := digitalocean.NewKubernetesNodePool(ctx, name+"-workers", &digitalocean.KubernetesNodePoolArgs{
		ClusterId: k8s.ID(),
		Name:      pulumi.String("workers"),
		Size:      pulumi.String(pool.MachineType),
		AutoScale: pulumi.Bool(true),
		MinNodes:  pulumi.Int(pool.MinCount),
		MaxNodes:  pulumi.Int(pool.MaxCount),
		Labels:    pulumi.StringMap{"todo.dev/pool": pulumi.String("workers")},
		Tags:      tags,
	}, parent); err != nil {
		return err
	}

	registry, err := digitalocean.NewContainerRegistry(ctx, name, &digitalocean.ContainerRegistryArgs{
		Name:                 pulumi.String(cl.RegistryName),
		SubscriptionTierSlug: pulumi.String(cl.RegistrySKU),
		Region:               pulumi.String(cl.Region),
	}, parent)
	if err != nil {
		return err
	}
	// Credentials of the registry: read-write to push, read-only to pull.
	credentials := func(use string, write bool) (*digitalocean.ContainerRegistryDockerCredentials, error) {
		return digitalocean.NewContainerRegistryDockerCredentials(ctx, name+"-"+use, &digitalocean.ContainerRegistryDockerCredentialsArgs{
			RegistryName: registry.Name,
			Write:        pulumi.Bool(write),
		}, parent)
	}
	push, err := credentials("push", true)
	if err != nil {
		return err
	}
	pull, err := credentials("pull", false)
	if err != nil {
		return err
	}

	c.Kubeconfig = secret(k8s.KubeConfigs.Index(pulumi.Int(0)).RawConfig().Elem())
	c.Registry = pulumi.Sprintf("%s/%s", registry.ServerUrl, registry.Name)
	user := push.DockerCredentials.ApplyT(func(js string) (string, error) {
		u, _, err := DockerConfigAuth(js)
		return u, err
	}).(pulumi.StringOutput)
	pass := push.DockerCredentials.ApplyT(func(js string) (string, error) {
		_, p, err := DockerConfigAuth(js)
		return p, err
	}).(pulumi.StringOutput)
	c.RegistryUsername = secret(user)
	c.RegistryPassword = secret(pass)
	c.PullSecret = secret(pull.DockerCredentials)
	c.HasPullSecret = true
	c.ID = k8s.ID().ToStringOutput()
	c.Network = k8s.VpcUuid
	return nil
}
