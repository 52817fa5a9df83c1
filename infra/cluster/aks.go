package cluster

import (
	"context"
	"encoding/base64"
	"fmt"
	"os/exec"
	"strings"

	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/containerregistry/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/containerservice/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/resources/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/config"
)

// acrPullRole is the built-in AcrPull role definition.
const acrPullRole = "7f951dda-4ed3-4680-a7ca-43fe172d538d"

// The node counts of the autoscaled pools belong to the cluster autoscaler
// once the pools exist: count is only their initial size. Without ignoring
// it, an up after a refresh would try to scale the pool back by hand, which
// AKS refuses ("Cannot manually scale AgentPool ... with cluster autoscaler
// enabled").
var (
	AKSIgnoredChanges     = []string{"agentPoolProfiles[0].count"}
	AKSPoolIgnoredChanges = []string{"count"}
)

// aks creates a resource group, an AKS cluster with an autoscaling system
// pool and a user pool (Azure CNI overlay with Cilium, so NetworkPolicies are
// enforced), a container registry the kubelets may pull from, and reads the
// kubeconfig from the cluster's user credentials.
func (c *Cluster) aks(ctx *pulumi.Context, name string, cfg *config.Config) error {
	cl := cfg.Cluster
	tags := pulumi.StringMap{"app": pulumi.String("todo"), "stack": pulumi.String(cfg.Stack)}
	parent := pulumi.Parent(c)

	rgArgs := &resources.ResourceGroupArgs{Location: pulumi.String(cl.Region), Tags: tags}
	if cl.ResourceGroup != "" {
		rgArgs.ResourceGroupName = pulumi.String(cl.ResourceGroup)
	}
	rg, err := resources.NewResourceGroup(ctx, name, rgArgs, parent)
	if err != nil {
		return err
	}

	registry, err := containerregistry.NewRegistry(ctx, name, &containerregistry.RegistryArgs{
		ResourceGroupName: rg.Name,
		Location:          rg.Location,
		RegistryName:      pulumi.String(cl.RegistryName),
		Sku:               &containerregistry.SkuArgs{Name: pulumi.String(cl.RegistrySKU)},
		AdminUserEnabled:  pulumi.Bool(false),
		Tags:              tags,
	}, parent)
	if err != nil {
		return err
	}

	var version pulumi.StringPtrInput
	if cl.KubernetesVersion != "" {
		version = pulumi.String(cl.KubernetesVersion)
	}
	sys := cl.SystemPool
	aks, err := containerservice.NewManagedCluster(ctx, name, &containerservice.ManagedClusterArgs{
		ResourceGroupName: rg.Name,
		Location:          rg.Location,
		DnsPrefix:         pulumi.String(fmt.Sprintf("%s-%s", cfg.Project, cfg.Stack)),
		KubernetesVersion: version,
		EnableRBAC:        pulumi.Bool(true),
		Identity: &containerservice.ManagedClusterIdentityArgs{
			Type: containerservice.ResourceIdentityTypeSystemAssigned,
		},
		AgentPoolProfiles: containerservice.ManagedClusterAgentPoolProfileArray{
			&containerservice.ManagedClusterAgentPoolProfileArgs{
				Name:              pulumi.String("system"),
				Mode:              pulumi.String("System"),
				Type:              pulumi.String("VirtualMachineScaleSets"),
				OsType:            pulumi.String("Linux"),
				VmSize:            pulumi.String(sys.MachineType),
				OsDiskSizeGB:      pulumi.Int(sys.DiskSizeGB),
				EnableAutoScaling: pulumi.Bool(true),
				MinCount:          pulumi.Int(sys.MinCount),
				MaxCount:          pulumi.Int(sys.MaxCount),
				Count:             pulumi.Int(sys.MinCount),
				NodeTaints:        pulumi.StringArray{pulumi.String("CriticalAddonsOnly=true:NoSchedule")},
			},
		},
		NetworkProfile: &containerservice.ContainerServiceNetworkProfileArgs{
			NetworkPlugin:     pulumi.String("azure"),
			NetworkPluginMode: pulumi.String("overlay"),
			NetworkDataplane:  pulumi.String("cilium"),
			NetworkPolicy:     pulumi.String("cilium"),
			LoadBalancerSku:   pulumi.String("standard"),
		},
		AutoUpgradeProfile: &containerservice.ManagedClusterAutoUpgradeProfileArgs{
			UpgradeChannel: pulumi.String("patch"),
		},
		OidcIssuerProfile: &containerservice.ManagedClusterOIDCIssuerProfileArgs{Enabled: pulumi.Bool(true)},
		Tags:              tags,
	}, parent, pulumi.IgnoreChanges(AKSIgnoredChanges))
	if err != nil {
		return err
	}

	pool := cl.NodePool
	if _, err := containerservice.NewAgentPool(ctx, name+"-user", &containerservice.AgentPoolArgs{
		ResourceGroupName: rg.Name,
		ResourceName:      aks.Name,
		AgentPoolName:     pulumi.String("user"),
		Mode:              pulumi.String("User"),
		Type:              pulumi.String("VirtualMachineScaleSets"),
		OsType:            pulumi.String("Linux"),
		VmSize:            pulumi.String(pool.MachineType),
		OsDiskSizeGB:      pulumi.Int(pool.DiskSizeGB),
		EnableAutoScaling: pulumi.Bool(true),
		MinCount:          pulumi.Int(pool.MinCount),
		MaxCount:          pulumi.Int(pool.MaxCount),
		Count:             pulumi.Int(pool.MinCount),
	}, parent, pulumi.IgnoreChanges(AKSPoolIgnoredChanges)); err != nil {
		return err
	}

	// The kubelets pull images from the registry with their managed identity.
	client := authorization.GetClientConfigOutput(ctx, pulumi.Parent(c))
	kubelet := aks.IdentityProfile.MapIndex(pulumi.String("kubeletidentity")).ObjectId().Elem()
	if _, err := authorization.NewRoleAssignment(ctx, name+"-acrpull", &authorization.RoleAssignmentArgs{
		PrincipalId:   kubelet,
		PrincipalType: pulumi.String("ServicePrincipal"),
		RoleDefinitionId: client.SubscriptionId().ApplyT(func(sub string) string {
			return fmt.Sprintf("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s", sub, acrPullRole)
		}).(pulumi.StringOutput),
		Scope: registry.ID().ToStringOutput(),
	}, parent); err != nil {
		return err
	}

	creds := containerservice.ListManagedClusterUserCredentialsOutput(ctx, containerservice.ListManagedClusterUserCredentialsOutputArgs{
		ResourceGroupName: rg.Name,
		ResourceName:      aks.Name,
	}, pulumi.Parent(c))
	c.Kubeconfig = secret(creds.Kubeconfigs().Index(pulumi.Int(0)).Value().ApplyT(func(b64 string) (string, error) {
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return "", fmt.Errorf("decode AKS kubeconfig: %w", err)
		}
		return string(raw), nil
	}).(pulumi.StringOutput))
	c.Registry = registry.LoginServer
	c.RegistryLogin = acrLogin
	c.ID = aks.ID().ToStringOutput()
	c.ResourceGroup = rg.Name
	return nil
}

// acrLogin exchanges the Azure CLI's login for an ACR token (no admin user,
// no stored password): `az acr login --expose-token`.
func acrLogin(ctx context.Context, server string) (string, string, error) {
	name, _, _ := strings.Cut(server, ".")
	//nolint:gosec // G204: runs the Azure CLI on purpose; the name is the stack's registry.
	out, err := exec.CommandContext(ctx, "az", "acr", "login", "--name", name, "--expose-token",
		"--output", "tsv", "--query", "accessToken").Output()
	if err != nil {
		return "", "", fmt.Errorf("az acr login --name %s --expose-token (log in with az login first): %w", name, err)
	}
	// The user name of ACR access tokens.
	return "00000000-0000-0000-0000-000000000000", strings.TrimSpace(string(out)), nil
}
