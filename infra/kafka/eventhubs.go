package kafka

import (
	"github.com/pulumi/pulumi-azure-native-sdk/eventhub/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// EventHubsProtocolVersion is the Kafka protocol version Event Hubs'
// Kafka endpoint needs its clients to announce (Dapr's pubsub.kafka
// component documentation: "version: 1.0.0" for Azure Event Hubs).
const EventHubsProtocolVersion = "1.0.0"

// eventHubs uses an Event Hubs namespace (Standard or Premium, which speak
// the Kafka protocol on port 9093) with one event hub per topic. The services
// authenticate with SASL PLAIN: the user is "$ConnectionString" and the
// password the connection string of a send+listen rule.
func (k *Kafka) eventHubs(ctx *pulumi.Context, name string, args *KafkaArgs) error {
	cfg := args.Config
	kc := cfg.Kafka
	parent := pulumi.Parent(k)
	rg := args.Cluster.ResourceGroup

	ns, err := eventhub.NewNamespace(ctx, name, &eventhub.NamespaceArgs{
		ResourceGroupName: rg,
		Location:          pulumi.String(args.Cluster.Region),
		Sku: &eventhub.SkuArgs{
			Name:     pulumi.String(kc.SKU),
			Tier:     pulumi.String(kc.SKU),
			Capacity: pulumi.Int(kc.Capacity),
		},
		KafkaEnabled:      pulumi.Bool(true),
		MinimumTlsVersion: pulumi.String("1.2"),
		Tags:              pulumi.StringMap{"app": pulumi.String("todo"), "stack": pulumi.String(cfg.Stack)},
	}, parent)
	if err != nil {
		return err
	}

	for _, topic := range Topics {
		if _, err := eventhub.NewEventHub(ctx, name+"-"+topic, &eventhub.EventHubArgs{
			ResourceGroupName: rg,
			NamespaceName:     ns.Name,
			EventHubName:      pulumi.String(topic),
			PartitionCount:    pulumi.Float64(float64(k.Partitions[topic])),
			RetentionDescription: &eventhub.RetentionDescriptionArgs{
				CleanupPolicy:        pulumi.String("Delete"),
				RetentionTimeInHours: pulumi.Float64(float64(kc.RetentionHours)),
			},
		}, parent); err != nil {
			return err
		}
	}

	rule, err := eventhub.NewNamespaceAuthorizationRule(ctx, name+"-services", &eventhub.NamespaceAuthorizationRuleArgs{
		ResourceGroupName:     rg,
		NamespaceName:         ns.Name,
		AuthorizationRuleName: pulumi.String("todo-services"),
		Rights:                pulumi.StringArray{pulumi.String("Listen"), pulumi.String("Send")},
	}, parent)
	if err != nil {
		return err
	}
	keys := eventhub.ListNamespaceKeysOutput(ctx, eventhub.ListNamespaceKeysOutputArgs{
		ResourceGroupName:     rg,
		NamespaceName:         ns.Name,
		AuthorizationRuleName: rule.Name,
	}, parent)

	k.Brokers = pulumi.Sprintf("%s.servicebus.windows.net:9093", ns.Name)
	k.TLS = true
	k.SASLMechanism = "PLAIN"
	k.ProtocolVersion = EventHubsProtocolVersion
	k.username = pulumi.String("$ConnectionString").ToStringOutput()
	k.password = pulumi.ToSecret(keys.PrimaryConnectionString()).(pulumi.StringOutput)
	k.Ports = pulumi.IntArray{pulumi.Int(9093)}.ToIntArrayOutput()
	return nil
}
