package kafka

import (
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/config"
	"github.com/todo-platform/todo/infra/kube"
)

// StrimziAPIVersion is the API version of the Strimzi custom resources for
// a Strimzi chart version: kafka.strimzi.io/v1 from 0.49 (which introduced
// it; 1.0 serves nothing else), v1beta2 before (the only version the 0.48
// CRDs serve). A chart from a path, without a version, gets v1beta2.
func StrimziAPIVersion(chartVersion string) string {
	major, minor, ok := majorMinor(chartVersion)
	if ok && (major > 0 || minor >= 49) {
		return "kafka.strimzi.io/v1"
	}
	return "kafka.strimzi.io/v1beta2"
}

// majorMinor parses the start of a version such as 0.48.0.
func majorMinor(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	var err1, err2 error
	major, err1 = strconv.Atoi(parts[0])
	minor, err2 = strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

// StrimziOperatorArgs configures NewStrimziOperator.
type StrimziOperatorArgs struct {
	Namespace string
	Chart     config.Chart
	SkipAwait bool
	Provider  *kubernetes.Provider
}

// StrimziOperator is the operator stage: the namespace and the Strimzi chart
// (the operator and its CRDs). Custom resources that need the CRDs depend on
// this component explicitly, because Pulumi does not wait for CRDs that a
// chart installs before it creates other resources.
type StrimziOperator struct {
	pulumi.ResourceState
	kube.OperatorStage
}

// NewStrimziOperator installs the Strimzi cluster operator. It opens as
// dapr.NewControlPlane and every component does (Pulumi's component
// convention: register, then children with Parent and the Provider); what
// the two operator stages share beyond that is kube.NewNamespace and
// kube.OperatorStage.
func NewStrimziOperator(ctx *pulumi.Context, name string, args *StrimziOperatorArgs, opts ...pulumi.ResourceOption) (*StrimziOperator, error) {
	op := &StrimziOperator{}
	if err := ctx.RegisterComponentResource("todo:kafka:StrimziOperator", name, op, opts...); err != nil {
		return nil, err
	}
	k8s := pulumi.Provider(args.Provider)
	ns, err := kube.NewNamespace(ctx, name, args.Namespace, kube.Labels("kafka", "broker"), pulumi.Parent(op), k8s)
	if err != nil {
		return nil, err
	}
	op.Namespace = ns.Metadata.Name().Elem()
	chart, err := kube.NewChart(ctx, name, &kube.ChartArgs{
		Source:    args.Chart,
		Namespace: op.Namespace,
		SkipAwait: args.SkipAwait,
		Values: pulumi.Map{
			"replicas":        pulumi.Int(1),
			"watchNamespaces": pulumi.Array{},
			"logLevel":        pulumi.String("INFO"),
			"resources": pulumi.Map{
				"requests": pulumi.Map{"cpu": pulumi.String("100m"), "memory": pulumi.String("384Mi")},
				"limits":   pulumi.Map{"memory": pulumi.String("512Mi")},
			},
		},
	}, pulumi.Parent(op), pulumi.Providers(args.Provider))
	if err != nil {
		return nil, err
	}
	op.Stage = []pulumi.Resource{ns, chart}
	if err := ctx.RegisterResourceOutputs(op, pulumi.Map{"namespace": op.Namespace}); err != nil {
		return nil, err
	}
	return op, nil
}

// strimzi runs Kafka in the cluster: the operator stage, then a KRaft
// KafkaNodePool (dual-role controller+broker nodes), the Kafka and the
// KafkaTopics, all depending on the operator stage.
func (k *Kafka) strimzi(ctx *pulumi.Context, name string, args *KafkaArgs) error {
	cfg := args.Config
	kc := cfg.Kafka
	k8s := pulumi.Provider(args.Cluster.Provider)
	op, err := NewStrimziOperator(ctx, name+"-operator", &StrimziOperatorArgs{
		Namespace: kc.Namespace,
		Chart:     cfg.Charts.Strimzi,
		SkipAwait: cfg.SkipAwait,
		Provider:  args.Cluster.Provider,
	}, pulumi.Parent(k))
	if err != nil {
		return err
	}
	needsCRDs := pulumi.DependsOn(op.Stage)
	apiVersion := pulumi.String(StrimziAPIVersion(cfg.Charts.Strimzi.Version))
	clusterLabel := pulumi.StringMap{"strimzi.io/cluster": pulumi.String(kc.ClusterName)}
	meta := func(objName, waitFor string, labels pulumi.StringMap) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{
			Name:        pulumi.String(objName),
			Namespace:   op.Namespace,
			Labels:      kube.Merge(kube.Labels("kafka", "broker"), labels),
			Annotations: kube.Await(cfg.SkipAwait, waitFor),
		}
	}

	pool, err := apiextensions.NewCustomResource(ctx, name+"-pool", &apiextensions.CustomResourceArgs{
		ApiVersion: apiVersion,
		Kind:       pulumi.String("KafkaNodePool"),
		Metadata:   meta("dual-role", "", clusterLabel),
		OtherFields: kubernetes.UntypedArgs{
			"spec": pulumi.Map{
				"replicas": pulumi.Int(kc.Nodes),
				"roles":    pulumi.StringArray{pulumi.String("controller"), pulumi.String("broker")},
				"storage": pulumi.Map{
					"type": pulumi.String("jbod"),
					"volumes": pulumi.Array{pulumi.Map{
						"id":            pulumi.Int(0),
						"type":          pulumi.String("persistent-claim"),
						"size":          pulumi.String(kc.StorageSize),
						"deleteClaim":   pulumi.Bool(false),
						"kraftMetadata": pulumi.String("shared"),
					}},
				},
				"resources": pulumi.Map{
					"requests": pulumi.Map{"cpu": pulumi.String("250m"), "memory": pulumi.String("1Gi")},
					"limits":   pulumi.Map{"memory": pulumi.String("2Gi")},
				},
			},
		},
	}, pulumi.Parent(k), k8s, needsCRDs)
	if err != nil {
		return err
	}

	rf := kc.ReplicationFactor
	minISR := min(2, rf)
	cluster, err := apiextensions.NewCustomResource(ctx, name+"-cluster", &apiextensions.CustomResourceArgs{
		ApiVersion: apiVersion,
		Kind:       pulumi.String("Kafka"),
		// No strimzi.io/node-pools or strimzi.io/kraft annotations: since
		// 0.48 KRaft and node pools are the only mode, and the operator
		// ignores them.
		Metadata: meta(kc.ClusterName, "condition=Ready", nil),
		OtherFields: kubernetes.UntypedArgs{
			"spec": pulumi.Map{
				"kafka": pulumi.Map{
					"version": pulumi.String(kc.Version),
					"listeners": pulumi.Array{pulumi.Map{
						"name": pulumi.String("plain"),
						"port": pulumi.Int(9092),
						"type": pulumi.String("internal"),
						"tls":  pulumi.Bool(false),
					}},
					"config": pulumi.Map{
						"auto.create.topics.enable":                pulumi.Bool(false),
						"default.replication.factor":               pulumi.Int(rf),
						"min.insync.replicas":                      pulumi.Int(minISR),
						"offsets.topic.replication.factor":         pulumi.Int(rf),
						"transaction.state.log.replication.factor": pulumi.Int(rf),
						"transaction.state.log.min.isr":            pulumi.Int(minISR),
					},
				},
				"entityOperator": pulumi.Map{
					"topicOperator": pulumi.Map{},
				},
			},
		},
	}, pulumi.Parent(k), k8s, needsCRDs, pulumi.DependsOn([]pulumi.Resource{pool}))
	if err != nil {
		return err
	}

	for _, topic := range Topics {
		if _, err := apiextensions.NewCustomResource(ctx, name+"-topic-"+topic, &apiextensions.CustomResourceArgs{
			ApiVersion: apiVersion,
			Kind:       pulumi.String("KafkaTopic"),
			// Kubernetes names cannot hold every topic name: spec.topicName
			// is the topic, the object is named after it.
			Metadata: meta(strings.ReplaceAll(topic, ".", "-"), "condition=Ready", clusterLabel),
			OtherFields: kubernetes.UntypedArgs{
				"spec": pulumi.Map{
					"topicName":  pulumi.String(topic),
					"partitions": pulumi.Int(k.Partitions[topic]),
					"replicas":   pulumi.Int(rf),
					"config": pulumi.Map{
						"retention.ms":        pulumi.String(retentionMs(kc)),
						"cleanup.policy":      pulumi.String("delete"),
						"min.insync.replicas": pulumi.Int(minISR),
					},
				},
			},
		}, pulumi.Parent(k), k8s, needsCRDs, pulumi.DependsOn([]pulumi.Resource{cluster})); err != nil {
			return err
		}
	}

	k.Brokers = pulumi.Sprintf("%s-kafka-bootstrap.%s.svc:9092", kc.ClusterName, op.Namespace)
	k.TLS = false
	k.SASLMechanism = ""
	k.Ports = pulumi.IntArray{pulumi.Int(9092)}.ToIntArrayOutput()
	k.Namespace = kc.Namespace
	return nil
}
