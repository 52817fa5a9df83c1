// Package kafka provides the event broker of a stack and its topics: Strimzi
// (operator, KRaft node pool, Kafka, KafkaTopics) in the cluster on
// minikube, Azure Event Hubs' Kafka endpoint on aks, Google Managed Service
// for Apache Kafka on gke, DigitalOcean managed Kafka on doks, or any
// external Kafka. Every provider returns the same shape: the brokers and a
// Kubernetes Secret with the client credentials.
package kafka

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/cluster"
	"github.com/todo-platform/todo/infra/config"
	"github.com/todo-platform/todo/infra/kube"
)

// Topics of the platform: the two event streams and their dead-letter
// topics, the same as pkg/events.Topics (infra/platform's contracts test
// compares them).
const (
	TopicTaskEvents    = "task-events"
	TopicReminders     = "reminders"
	TopicTaskEventsDLQ = "task-events.dlq"
	TopicRemindersDLQ  = "reminders.dlq"
)

// Topics lists every topic.
var Topics = []string{TopicTaskEvents, TopicReminders, TopicTaskEventsDLQ, TopicRemindersDLQ}

// SecretName is the Secret (in the services' namespace) with the Kafka
// client settings: brokers, tls, saslMechanism, username, password, ca.crt.
const SecretName = "kafka-credentials" //nolint:gosec // G101: the name of a Secret, not a credential.

// KafkaArgs configures NewKafka.
type KafkaArgs struct {
	Config  *config.Config
	Cluster *cluster.Cluster
	// Namespace is the services' namespace, where the credentials Secret goes.
	Namespace pulumi.StringInput
}

// Kafka is a Kafka the services can reach, with the platform's topics.
type Kafka struct {
	pulumi.ResourceState

	// Brokers is the comma-separated bootstrap list (KAFKA_BROKERS).
	Brokers pulumi.StringOutput
	// TLS and SASLMechanism are KAFKA_TLS and KAFKA_SASL_MECHANISM.
	TLS           bool
	SASLMechanism string
	// Secret is the name of the credentials Secret (SecretName).
	Secret pulumi.StringOutput
	// HasCA says the brokers use a private CA, in the Secret's ca.crt.
	HasCA bool
	// Ports are the broker ports (NetworkPolicy egress).
	Ports pulumi.IntArrayOutput
	// Namespace is the namespace of an in-cluster Kafka; "" when outside.
	Namespace string
	// Partitions of every topic.
	Partitions map[string]int
	// ProtocolVersion is the Kafka protocol version clients must announce
	// ("" = the client's default): Azure Event Hubs needs 1.0.0 (Dapr's
	// pubsub.kafka "version"; with its default 2.0.0 fetches end in EOF).
	ProtocolVersion string

	username, password, ca pulumi.StringOutput
}

// NewKafka provisions Kafka with the configured provider.
func NewKafka(ctx *pulumi.Context, name string, args *KafkaArgs, opts ...pulumi.ResourceOption) (*Kafka, error) {
	k := &Kafka{}
	if err := ctx.RegisterComponentResource("todo:kafka:Kafka", name, k, opts...); err != nil {
		return nil, err
	}
	cfg := args.Config
	empty := pulumi.String("").ToStringOutput()
	k.username, k.password, k.ca = empty, empty, empty
	k.Partitions = map[string]int{}
	for _, t := range Topics {
		k.Partitions[t] = partitions(cfg.Kafka, t)
	}

	var err error
	switch cfg.Kafka.Provider {
	case config.KafkaStrimzi:
		err = k.strimzi(ctx, name, args)
	case config.KafkaEventHubs:
		err = k.eventHubs(ctx, name, args)
	case config.KafkaGCPManaged:
		err = k.gcpManaged(ctx, name, args)
	case config.KafkaDigitalOcean:
		err = k.digitalOcean(ctx, name, args)
	case config.KafkaExternal:
		err = k.external(cfg)
	default:
		err = fmt.Errorf("unknown kafka provider %q", cfg.Kafka.Provider)
	}
	if err != nil {
		return nil, err
	}

	secret, err := corev1.NewSecret(ctx, name+"-credentials", &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(SecretName),
			Namespace: args.Namespace,
			Labels:    kube.Labels("kafka", "credentials"),
		},
		Type: pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			"brokers":       k.Brokers,
			"tls":           pulumi.String(strconv.FormatBool(k.TLS)),
			"saslMechanism": pulumi.String(k.SASLMechanism),
			"username":      pulumi.ToSecret(k.username).(pulumi.StringOutput),
			"password":      pulumi.ToSecret(k.password).(pulumi.StringOutput),
			"ca.crt":        k.ca,
		},
	}, pulumi.Parent(k), pulumi.Provider(args.Cluster.Provider))
	if err != nil {
		return nil, err
	}
	k.Secret = secret.Metadata.Name().Elem()

	if err := ctx.RegisterResourceOutputs(k, pulumi.Map{
		"brokers": k.Brokers,
		"secret":  k.Secret,
	}); err != nil {
		return nil, err
	}
	return k, nil
}

func partitions(k config.Kafka, topic string) int {
	if strings.HasSuffix(topic, ".dlq") {
		return k.DLQPartitions
	}
	return k.Partitions
}

func retentionMs(k config.Kafka) string {
	return strconv.FormatInt(int64(k.RetentionHours)*3600*1000, 10)
}

// external uses a Kafka that exists elsewhere; the password is a secret.
func (k *Kafka) external(cfg *config.Config) error {
	kc := cfg.Kafka
	var ports pulumi.IntArray
	for b := range strings.SplitSeq(kc.Brokers, ",") {
		_, p, _ := strings.Cut(strings.TrimSpace(b), ":")
		n, err := strconv.Atoi(p)
		if err != nil {
			return &config.Error{Key: cfg.Project + ":kafka", Msg: fmt.Sprintf("brokers: bad port in %q", b)}
		}
		ports = append(ports, pulumi.Int(n))
	}
	k.Brokers = pulumi.String(kc.Brokers).ToStringOutput()
	k.TLS = kc.TLS
	k.SASLMechanism = kc.SASLMechanism
	k.username = pulumi.String(kc.Username).ToStringOutput()
	k.password = cfg.Secrets.KafkaPassword
	k.Ports = ports.ToIntArrayOutput()
	return nil
}
