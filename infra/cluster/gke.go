package cluster

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v9/go/gcp/artifactregistry"
	"github.com/pulumi/pulumi-gcp/sdk/v9/go/gcp/container"
	"github.com/pulumi/pulumi-gcp/sdk/v9/go/gcp/organizations"
	"github.com/pulumi/pulumi-gcp/sdk/v9/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v9/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/config"
)

// gke creates a regional, VPC-native GKE cluster with Dataplane V2 (which
// enforces NetworkPolicies) and Workload Identity, two autoscaling node pools
// running as a dedicated least-privilege service account, and a Docker
// repository in Artifact Registry that the nodes may read.
func (c *Cluster) gke(ctx *pulumi.Context, name string, cfg *config.Config) error {
	cl := cfg.Cluster
	parent := pulumi.Parent(c)
	project := pulumi.String(cl.Project)
	region := pulumi.String(cl.Region)
	labels := pulumi.StringMap{"app": pulumi.String("todo"), "stack": pulumi.String(cfg.Stack)}

	nodes, err := serviceaccount.NewAccount(ctx, name+"-nodes", &serviceaccount.AccountArgs{
		Project:     project,
		AccountId:   pulumi.String(fmt.Sprintf("todo-%s-nodes", cfg.Stack)),
		DisplayName: pulumi.String(fmt.Sprintf("todo %s GKE nodes", cfg.Stack)),
	}, parent)
	if err != nil {
		return err
	}
	for _, role := range []string{"roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/monitoring.viewer"} {
		if _, err := projects.NewIAMMember(ctx, fmt.Sprintf("%s-nodes-%s", name, role[len("roles/"):]), &projects.IAMMemberArgs{
			Project: project,
			Role:    pulumi.String(role),
			Member:  nodes.Member,
		}, parent); err != nil {
			return err
		}
	}

	repo, err := artifactregistry.NewRepository(ctx, name, &artifactregistry.RepositoryArgs{
		Project:      project,
		Location:     region,
		RepositoryId: pulumi.String(cl.RegistryName),
		Format:       pulumi.String("DOCKER"),
		Description:  pulumi.String("todo platform service images"),
		Labels:       labels,
	}, parent)
	if err != nil {
		return err
	}
	if _, err := artifactregistry.NewRepositoryIamMember(ctx, name+"-nodes-pull", &artifactregistry.RepositoryIamMemberArgs{
		Project:    project,
		Location:   region,
		Repository: repo.RepositoryId,
		Role:       pulumi.String("roles/artifactregistry.reader"),
		Member:     nodes.Member,
	}, parent); err != nil {
		return err
	}

	var version pulumi.StringPtrInput
	if cl.KubernetesVersion != "" {
		version = pulumi.String(cl.KubernetesVersion)
	}
	gke, err := container.NewCluster(ctx, name, &container.ClusterArgs{
		Project:               project,
		Location:              region,
		RemoveDefaultNodePool: pulumi.Bool(true),
		InitialNodeCount:      pulumi.Int(1),
		MinMasterVersion:      version,
		ReleaseChannel:        &container.ClusterReleaseChannelArgs{Channel: pulumi.String(cl.ReleaseChannel)},
		NetworkingMode:        pulumi.String("VPC_NATIVE"),
		IpAllocationPolicy:    &container.ClusterIpAllocationPolicyArgs{},
		DatapathProvider:      pulumi.String("ADVANCED_DATAPATH"),
		WorkloadIdentityConfig: &container.ClusterWorkloadIdentityConfigArgs{
			WorkloadPool: pulumi.String(cl.Project + ".svc.id.goog"),
		},
		DeletionProtection: pulumi.Bool(true),
		ResourceLabels:     labels,
	}, parent)
	if err != nil {
		return err
	}

	for _, p := range []struct {
		name string
		pool config.Pool
	}{{"system", cl.SystemPool}, {"workers", cl.NodePool}} {
		if _, err := container.NewNodePool(ctx, name+"-"+p.name, &container.NodePoolArgs{
			Project:  project,
			Location: region,
			Cluster:  gke.Name,
			Autoscaling: &container.NodePoolAutoscalingArgs{
				TotalMinNodeCount: pulumi.Int(p.pool.MinCount),
				TotalMaxNodeCount: pulumi.Int(p.pool.MaxCount),
			},
			Management: &container.NodePoolManagementArgs{AutoRepair: pulumi.Bool(true), AutoUpgrade: pulumi.Bool(true)},
			NodeConfig: &container.NodePoolNodeConfigArgs{
				MachineType:    pulumi.String(p.pool.MachineType),
				DiskSizeGb:     pulumi.Int(p.pool.DiskSizeGB),
				ServiceAccount: nodes.Email,
				OauthScopes:    pulumi.StringArray{pulumi.String("https://www.googleapis.com/auth/cloud-platform")},
				WorkloadMetadataConfig: &container.NodePoolNodeConfigWorkloadMetadataConfigArgs{
					Mode: pulumi.String("GKE_METADATA"),
				},
				Labels:         pulumi.StringMap{"todo.dev/pool": pulumi.String(p.name)},
				ResourceLabels: labels,
			},
		}, parent); err != nil {
			return err
		}
	}

	c.Kubeconfig = secret(pulumi.All(gke.Endpoint, gke.MasterAuth.ClusterCaCertificate().Elem()).ApplyT(
		func(v []any) string { return gkeKubeconfig(v[0].(string), v[1].(string)) }).(pulumi.StringOutput))
	c.Registry = pulumi.Sprintf("%s-docker.pkg.dev/%s/%s", repo.Location, cl.Project, repo.RepositoryId)
	token := organizations.GetClientConfigOutput(ctx, pulumi.Parent(c))
	c.RegistryUsername = pulumi.String("oauth2accesstoken").ToStringOutput()
	c.RegistryPassword = secret(token.AccessToken())
	c.ID = gke.ID().ToStringOutput()
	return nil
}

// gkeKubeconfig authenticates with gke-gcloud-auth-plugin (installed with
// the gcloud CLI), so no long-lived credential is stored.
func gkeKubeconfig(endpoint, ca string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: gke
  cluster:
    server: https://%s
    certificate-authority-data: %s
contexts:
- name: gke
  context:
    cluster: gke
    user: gke
current-context: gke
users:
- name: gke
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin
      installHint: Install gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin).
      provideClusterInfo: true
`, endpoint, ca)
}
