package kafka

import (
	"fmt"

	"github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// digitalOcean uses a DigitalOcean managed Kafka cluster in the DOKS VPC,
// reachable only from the Kubernetes cluster (database firewall), with one
// topic per platform topic and a user allowed to produce and consume them.
// The brokers' certificates come from the project's private CA, which goes
// into the credentials Secret (ca.crt).
func (k *Kafka) digitalOcean(ctx *pulumi.Context, name string, args *KafkaArgs) error {
	cfg := args.Config
	kc := cfg.Kafka
	parent := pulumi.Parent(k)

	db, err := digitalocean.NewDatabaseCluster(ctx, name, &digitalocean.DatabaseClusterArgs{
		Name:               pulumi.String(fmt.Sprintf("%s-%s-kafka", cfg.Project, cfg.Stack)),
		Engine:             pulumi.String("kafka"),
		Version:            pulumi.String(kc.Version),
		Size:               pulumi.String(kc.Size),
		Region:             pulumi.String(cfg.Cluster.Region),
		NodeCount:          pulumi.Int(kc.Nodes),
		PrivateNetworkUuid: args.Cluster.Network,
		Tags:               pulumi.StringArray{pulumi.String("todo"), pulumi.String("todo-" + cfg.Stack)},
	}, parent)
	if err != nil {
		return err
	}
	if _, err := digitalocean.NewDatabaseFirewall(ctx, name, &digitalocean.DatabaseFirewallArgs{
		ClusterId: db.ID(),
		Rules: digitalocean.DatabaseFirewallRuleArray{
			&digitalocean.DatabaseFirewallRuleArgs{Type: pulumi.String("k8s"), Value: args.Cluster.ID},
		},
	}, parent); err != nil {
		return err
	}

	var acls digitalocean.DatabaseUserSettingAclArray
	for _, topic := range Topics {
		if _, err := digitalocean.NewDatabaseKafkaTopic(ctx, name+"-"+topic, &digitalocean.DatabaseKafkaTopicArgs{
			ClusterId:         db.ID(),
			Name:              pulumi.String(topic),
			PartitionCount:    pulumi.Int(k.Partitions[topic]),
			ReplicationFactor: pulumi.Int(kc.ReplicationFactor),
			Configs: digitalocean.DatabaseKafkaTopicConfigArray{
				&digitalocean.DatabaseKafkaTopicConfigArgs{
					RetentionMs:   pulumi.String(retentionMs(kc)),
					CleanupPolicy: pulumi.String("delete"),
				},
			},
		}, parent); err != nil {
			return err
		}
		acls = append(acls, &digitalocean.DatabaseUserSettingAclArgs{
			Topic:      pulumi.String(topic),
			Permission: pulumi.String("produceconsume"),
		})
	}
	user, err := digitalocean.NewDatabaseUser(ctx, name+"-services", &digitalocean.DatabaseUserArgs{
		ClusterId: db.ID(),
		Name:      pulumi.String("todo-services"),
		Settings:  digitalocean.DatabaseUserSettingArray{&digitalocean.DatabaseUserSettingArgs{Acls: acls}},
	}, parent)
	if err != nil {
		return err
	}
	ca := digitalocean.GetDatabaseCaOutput(ctx, digitalocean.GetDatabaseCaOutputArgs{ClusterId: db.ID()}, parent)

	k.Brokers = pulumi.Sprintf("%s:%d", db.PrivateHost, db.Port)
	k.TLS = true
	k.SASLMechanism = "SCRAM-SHA-256"
	k.username = user.Name
	k.password = pulumi.ToSecret(user.Password).(pulumi.StringOutput)
	k.ca = ca.Certificate()
	k.HasCA = true
	k.Ports = pulumi.IntArray{db.Port}.ToIntArrayOutput()
	return nil
}
