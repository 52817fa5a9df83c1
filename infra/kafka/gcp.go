package kafka

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-gcp/sdk/v9/go/gcp/managedkafka"
	"github.com/pulumi/pulumi-gcp/sdk/v9/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v9/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// gcpManaged uses a Google Managed Service for Apache Kafka cluster attached
// to the cluster's subnet, with one topic per platform topic. The services
// authenticate with SASL PLAIN as a dedicated service account: the user is
// its e-mail and the password its key (base64 of the JSON key file, which is
// what the service's Kafka endpoint expects).
func (k *Kafka) gcpManaged(ctx *pulumi.Context, name string, args *KafkaArgs) error {
	cfg := args.Config
	kc := cfg.Kafka
	parent := pulumi.Parent(k)
	project := pulumi.String(cfg.Cluster.Project)
	region := pulumi.String(cfg.Cluster.Region)
	clusterID := fmt.Sprintf("%s-%s", cfg.Project, cfg.Stack)

	mk, err := managedkafka.NewCluster(ctx, name, &managedkafka.ClusterArgs{
		Project:   project,
		Location:  region,
		ClusterId: pulumi.String(clusterID),
		CapacityConfig: &managedkafka.ClusterCapacityConfigArgs{
			VcpuCount:   pulumi.String(strconv.Itoa(kc.VCPUCount)),
			MemoryBytes: pulumi.String(strconv.FormatInt(int64(kc.MemoryGiB)<<30, 10)),
		},
		GcpConfig: &managedkafka.ClusterGcpConfigArgs{
			AccessConfig: &managedkafka.ClusterGcpConfigAccessConfigArgs{
				NetworkConfigs: managedkafka.ClusterGcpConfigAccessConfigNetworkConfigArray{
					&managedkafka.ClusterGcpConfigAccessConfigNetworkConfigArgs{Subnet: pulumi.String(kc.Subnet)},
				},
			},
		},
		RebalanceConfig: &managedkafka.ClusterRebalanceConfigArgs{Mode: pulumi.String("AUTO_REBALANCE_ON_SCALE_UP")},
		Labels:          pulumi.StringMap{"app": pulumi.String("todo"), "stack": pulumi.String(cfg.Stack)},
	}, parent)
	if err != nil {
		return err
	}

	for _, topic := range Topics {
		if _, err := managedkafka.NewTopic(ctx, name+"-"+topic, &managedkafka.TopicArgs{
			Project:           project,
			Location:          region,
			Cluster:           mk.ClusterId,
			TopicId:           pulumi.String(topic),
			PartitionCount:    pulumi.Int(k.Partitions[topic]),
			ReplicationFactor: pulumi.Int(kc.ReplicationFactor),
			Configs: pulumi.StringMap{
				"retention.ms":   pulumi.String(retentionMs(kc)),
				"cleanup.policy": pulumi.String("delete"),
			},
		}, parent); err != nil {
			return err
		}
	}

	sa, err := serviceaccount.NewAccount(ctx, name+"-client", &serviceaccount.AccountArgs{
		Project:     project,
		AccountId:   pulumi.String(fmt.Sprintf("todo-%s-kafka", cfg.Stack)),
		DisplayName: pulumi.String(fmt.Sprintf("todo %s Kafka client", cfg.Stack)),
	}, parent)
	if err != nil {
		return err
	}
	if _, err := projects.NewIAMMember(ctx, name+"-client", &projects.IAMMemberArgs{
		Project: project,
		Role:    pulumi.String("roles/managedkafka.client"),
		Member:  sa.Member,
	}, parent); err != nil {
		return err
	}
	key, err := serviceaccount.NewKey(ctx, name+"-client", &serviceaccount.KeyArgs{
		ServiceAccountId: sa.Name,
	}, parent)
	if err != nil {
		return err
	}

	k.Brokers = pulumi.Sprintf("bootstrap.%s.%s.managedkafka.%s.cloud.goog:9092", mk.ClusterId, cfg.Cluster.Region, cfg.Cluster.Project)
	k.TLS = true
	k.SASLMechanism = "PLAIN"
	k.username = sa.Email
	k.password = pulumi.ToSecret(key.PrivateKey).(pulumi.StringOutput)
	k.Ports = pulumi.IntArray{pulumi.Int(9092)}.ToIntArrayOutput()
	return nil
}
