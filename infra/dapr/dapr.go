// Package dapr installs the Dapr control plane (the operator stage: chart,
// CRDs, sidecar injector) and the platform's Dapr resources, which depend on
// that stage explicitly: the Kafka pub/sub components, the Kubernetes secret
// store, a Resiliency policy and, optionally, declarative Subscriptions (the
// services also subscribe programmatically). There is no state store: no
// service uses Dapr's state API, and every sidecar would have to initialise
// one at start.
package dapr

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/config"
	"github.com/todo-platform/todo/infra/kafka"
	"github.com/todo-platform/todo/infra/kube"
)

// Names of the Dapr components. The services publish and subscribe through
// PubSub (DAPR_PUBSUB's default). realtime uses BroadcastPubSub instead: the
// same Kafka, but a consumer group per pod ("{podName}"), because every
// realtime replica must see every event of the users connected to it.
const (
	PubSub          = "pubsub"
	BroadcastPubSub = "pubsub-realtime"
	SecretStore     = "secretstore"
	Resiliency      = "todo"
	// SystemConfig is the control plane's Configuration.
	SystemConfig = "daprsystem"
)

// API versions of the Dapr resources.
const (
	ComponentAPIVersion    = "dapr.io/v1alpha1"
	SubscriptionAPIVersion = "dapr.io/v2alpha1"
)

// ControlPlaneArgs configures NewControlPlane.
type ControlPlaneArgs struct {
	Namespace string
	Chart     config.Chart
	HA        bool
	LogLevel  string
	// Registry and Tag are where the control plane and sidecar images come
	// from (the chart's global.registry and global.tag; Tag "" = the chart
	// version).
	Registry string
	Tag      string
	// Scheduler runs the Dapr scheduler (the jobs API and actor reminders,
	// which the platform does not use; three replicas with volumes).
	Scheduler bool
	SkipAwait bool
	Provider  *kubernetes.Provider
}

// ControlPlane is the operator stage: the namespace and the Dapr chart (its
// CRDs, operator, sentry, placement, scheduler and sidecar injector).
type ControlPlane struct {
	pulumi.ResourceState
	kube.OperatorStage
}

// NewControlPlane installs the Dapr control plane.
func NewControlPlane(ctx *pulumi.Context, name string, args *ControlPlaneArgs, opts ...pulumi.ResourceOption) (*ControlPlane, error) {
	cp := &ControlPlane{}
	if err := ctx.RegisterComponentResource("todo:dapr:ControlPlane", name, cp, opts...); err != nil {
		return nil, err
	}
	ns, err := kube.NewNamespace(ctx, name, args.Namespace, kube.Labels("dapr", "control-plane"), pulumi.Parent(cp), pulumi.Provider(args.Provider))
	if err != nil {
		return nil, err
	}
	cp.Namespace = ns.Metadata.Name().Elem()
	// The control plane's own Configuration, which the operator, sentry
	// and injector read when they start, and exit without. The chart
	// renders it too, but the Helm chart resource hands its objects to the
	// engine in an order of kinds that puts this custom resource after the
	// Deployments and Services, whose creation waits for Ready pods: with
	// the engine's default parallelism (4 operations per core), those
	// waits can take every slot while the pods wait for the Configuration.
	// So the program creates it, beside the chart (the provider retries
	// while the chart's CRD is not there yet), and the chart's workloads
	// depend on it.
	sysConfig, err := apiextensions.NewCustomResource(ctx, name+"-system-config", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String(ComponentAPIVersion),
		Kind:       pulumi.String("Configuration"),
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(SystemConfig),
			Namespace: cp.Namespace,
			Labels:    kube.Labels("dapr", "control-plane"),
		},
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			"mtls": pulumi.Map{
				"enabled":                 pulumi.Bool(true),
				"workloadCertTTL":         pulumi.String("24h"),
				"allowedClockSkew":        pulumi.String("15m"),
				"controlPlaneTrustDomain": pulumi.String("cluster.local"),
				"sentryAddress":           pulumi.Sprintf("dapr-sentry.%s.svc.cluster.local:443", cp.Namespace),
			},
		}},
	}, pulumi.Parent(cp), pulumi.Provider(args.Provider))
	if err != nil {
		return nil, err
	}
	perComponent := pulumi.Map{"logLevel": pulumi.String(args.LogLevel)}
	tag := args.Tag
	if tag == "" {
		tag = args.Chart.Version
	}
	chart, err := kube.NewChart(ctx, name, &kube.ChartArgs{
		Source:    args.Chart,
		Namespace: cp.Namespace,
		SkipAwait: args.SkipAwait,
		Values: pulumi.Map{
			"global": pulumi.Map{
				"registry":   pulumi.String(args.Registry),
				"tag":        pulumi.String(tag),
				"logAsJson":  pulumi.Bool(true),
				"ha":         pulumi.Map{"enabled": pulumi.Bool(args.HA)},
				"mtls":       pulumi.Map{"enabled": pulumi.Bool(true)},
				"prometheus": pulumi.Map{"enabled": pulumi.Bool(true)},
				"scheduler":  pulumi.Map{"enabled": pulumi.Bool(args.Scheduler)},
			},
			"dapr_operator":         perComponent,
			"dapr_placement":        perComponent,
			"dapr_scheduler":        perComponent,
			"dapr_sentry":           perComponent,
			"dapr_sidecar_injector": perComponent,
			// created above
			"dapr_config": pulumi.Map{"dapr_config_chart_included": pulumi.Bool(false)},
		},
	}, pulumi.Parent(cp), pulumi.Providers(args.Provider), pulumi.Transforms([]pulumi.ResourceTransform{DependOn(sysConfig)}))
	if err != nil {
		return nil, err
	}
	cp.Stage = []pulumi.Resource{ns, sysConfig, chart}
	if err := ctx.RegisterResourceOutputs(cp, pulumi.Map{"namespace": cp.Namespace}); err != nil {
		return nil, err
	}
	return cp, nil
}

// DependOn makes the chart's workloads (Deployments and StatefulSets)
// depend on the control plane's Configuration.
func DependOn(config pulumi.Resource) pulumi.ResourceTransform {
	return func(_ context.Context, args *pulumi.ResourceTransformArgs) *pulumi.ResourceTransformResult {
		if args.Type != "kubernetes:apps/v1:Deployment" && args.Type != "kubernetes:apps/v1:StatefulSet" {
			return nil
		}
		opts := args.Opts
		opts.DependsOn = append(slices.Clone(opts.DependsOn), config)
		return &pulumi.ResourceTransformResult{Props: args.Props, Opts: opts}
	}
}

// ComponentsArgs configures NewComponents.
type ComponentsArgs struct {
	// Namespace of the services.
	Namespace pulumi.StringInput
	// ControlPlane is the stage every Dapr resource depends on.
	ControlPlane *ControlPlane
	Kafka        *kafka.Kafka
	// Broadcast is the service with a consumer group per pod (realtime);
	// the other Services share PubSub.
	Services  []string
	Broadcast string
	// Subscriptions are the topics each service consumes; with
	// Declarative, each becomes a Subscription (without a dead-letter
	// topic: the services dead-letter to <topic>.dlq themselves).
	Subscriptions map[string][]string
	Declarative   bool
	Route         string // {topic} is replaced
	Provider      *kubernetes.Provider
}

// Components are the platform's Dapr resources.
type Components struct {
	pulumi.ResourceState
	// PubSubOf is the pub/sub component each service uses (DAPR_PUBSUB).
	PubSubOf map[string]string
	// Resources are the Dapr resources created, for others to depend on.
	Resources []pulumi.Resource
}

// NewComponents creates the Dapr components, resiliency and subscriptions.
func NewComponents(ctx *pulumi.Context, name string, args *ComponentsArgs, opts ...pulumi.ResourceOption) (*Components, error) {
	c := &Components{PubSubOf: map[string]string{}}
	if err := ctx.RegisterComponentResource("todo:dapr:Components", name, c, opts...); err != nil {
		return nil, err
	}
	// Every resource here is a Dapr custom resource: it needs the CRDs of
	// the control plane stage.
	crOpts := []pulumi.ResourceOption{
		pulumi.Parent(c), pulumi.Provider(args.Provider),
		pulumi.DependsOn(args.ControlPlane.Stage),
	}
	var shared []string
	for _, s := range args.Services {
		if s == args.Broadcast {
			c.PubSubOf[s] = BroadcastPubSub
		} else {
			shared = append(shared, s)
			c.PubSubOf[s] = PubSub
		}
	}
	cr := func(resName, apiVersion, kind, objName string, spec pulumi.Map, scopes []string, auth bool) error {
		fields := kubernetes.UntypedArgs{"spec": spec}
		if len(scopes) > 0 {
			fields["scopes"] = pulumi.ToStringArray(scopes)
		}
		if auth {
			// Secret references resolve through the platform's secret store.
			fields["auth"] = pulumi.Map{"secretStore": pulumi.String(SecretStore)}
		}
		r, err := apiextensions.NewCustomResource(ctx, resName, &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String(apiVersion),
			Kind:       pulumi.String(kind),
			Metadata: &metav1.ObjectMetaArgs{
				Name:      pulumi.String(objName),
				Namespace: args.Namespace,
				Labels:    kube.Labels(objName, "dapr"),
			},
			OtherFields: fields,
		}, crOpts...)
		if err == nil {
			c.Resources = append(c.Resources, r)
		}
		return err
	}
	component := func(objName, typ, version string, metadata pulumi.Array, scopes []string) error {
		spec := pulumi.Map{
			"type":     pulumi.String(typ),
			"version":  pulumi.String(version),
			"metadata": metadata,
		}
		return cr(name+"-"+objName, ComponentAPIVersion, "Component", objName, spec, scopes, typ != "secretstores.kubernetes")
	}

	if err := component(SecretStore, "secretstores.kubernetes", "v1", pulumi.Array{}, args.Services); err != nil {
		return nil, err
	}
	if err := component(PubSub, "pubsub.kafka", "v1", kafkaMetadata(args.Kafka, ""), shared); err != nil {
		return nil, err
	}
	if args.Broadcast != "" {
		// Dapr replaces {podName} with the pod's name: a group per replica.
		group := args.Broadcast + "-{podName}"
		if err := component(BroadcastPubSub, "pubsub.kafka", "v1", kafkaMetadata(args.Kafka, group), []string{args.Broadcast}); err != nil {
			return nil, err
		}
	}
	if err := cr(name+"-resiliency", ComponentAPIVersion, "Resiliency", Resiliency, resiliencySpec(), args.Services, false); err != nil {
		return nil, err
	}

	if args.Declarative {
		services := make([]string, 0, len(args.Subscriptions))
		for s := range args.Subscriptions {
			services = append(services, s)
		}
		slices.Sort(services)
		for _, svc := range services {
			for _, topic := range args.Subscriptions[svc] {
				objName := svc + "-" + strings.ReplaceAll(topic, ".", "-")
				// No deadLetterTopic: the sidecar would dead-letter a message
				// on the first RETRY (a delivery cut short by a restart).
				// The services' consume runtime dead-letters to <topic>.dlq
				// itself, after its bounded retries (see pkg/dapr).
				spec := pulumi.Map{
					"pubsubname": pulumi.String(c.PubSubOf[svc]),
					"topic":      pulumi.String(topic),
					"routes":     pulumi.Map{"default": pulumi.String(strings.ReplaceAll(args.Route, "{topic}", topic))},
				}
				if err := cr(name+"-sub-"+objName, SubscriptionAPIVersion, "Subscription", objName, spec, []string{svc}, false); err != nil {
					return nil, err
				}
			}
		}
	}

	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{}); err != nil {
		return nil, err
	}
	return c, nil
}

func item(name, value string) pulumi.Map {
	return pulumi.Map{"name": pulumi.String(name), "value": pulumi.String(value)}
}

func itemOut(name string, value pulumi.StringInput) pulumi.Map {
	return pulumi.Map{"name": pulumi.String(name), "value": value}
}

func secretItem(name string, secret pulumi.StringInput, key string) pulumi.Map {
	return pulumi.Map{
		"name":         pulumi.String(name),
		"secretKeyRef": pulumi.Map{"name": secret, "key": pulumi.String(key)},
	}
}

// saslMechanisms maps KAFKA_SASL_MECHANISM to the Dapr Kafka component's
// saslMechanism.
var saslMechanisms = map[string]string{
	"PLAIN":         "PLAINTEXT",
	"SCRAM-SHA-256": "SHA-256",
	"SCRAM-SHA-512": "SHA-512",
}

// kafkaMetadata configures a pubsub.kafka component from the kafka
// component; the credentials are references to its Secret. With a
// consumerGroup (the broadcast component: a group per pod), a new group
// starts at the newest message: a new realtime pod pushes what happens from
// now on, not the topics' whole retention; its clients resume from their
// cursors or resync.
func kafkaMetadata(k *kafka.Kafka, consumerGroup string) pulumi.Array {
	offset := "oldest"
	if consumerGroup != "" {
		offset = "newest"
	}
	md := pulumi.Array{
		itemOut("brokers", k.Brokers),
		item("clientID", "{appID}"),
		item("initialOffset", offset),
		item("disableTls", strconv.FormatBool(!k.TLS)),
		item("consumeRetryInterval", "200ms"),
	}
	if consumerGroup != "" {
		md = append(md, item("consumerGroup", consumerGroup))
	}
	if k.ProtocolVersion != "" {
		md = append(md, item("version", k.ProtocolVersion))
	}
	if k.SASLMechanism == "" {
		md = append(md, item("authType", "none"))
	} else {
		md = append(md,
			item("authType", "password"),
			item("saslMechanism", saslMechanisms[k.SASLMechanism]),
			secretItem("saslUsername", k.Secret, "username"),
			secretItem("saslPassword", k.Secret, "password"),
		)
	}
	if k.HasCA {
		md = append(md, secretItem("caCert", k.Secret, "ca.crt"))
	}
	return md
}

// resiliencySpec retries pub/sub deliveries with backoff and opens a circuit
// when a consumer keeps failing. Dead letters are the services' own work:
// their consume runtime sends a message that keeps failing to <topic>.dlq
// after its bounded retries; no Subscription names a deadLetterTopic.
func resiliencySpec() pulumi.Map {
	target := func(policies map[string]string) pulumi.Map {
		m := pulumi.Map{}
		for k, v := range policies {
			m[k] = pulumi.String(v)
		}
		return m
	}
	pubsub := pulumi.Map{
		"outbound": target(map[string]string{"timeout": "publish", "retry": "publish"}),
		"inbound":  target(map[string]string{"retry": "deliver", "circuitBreaker": "consumer"}),
	}
	return pulumi.Map{
		"policies": pulumi.Map{
			"timeouts": pulumi.Map{"publish": pulumi.String("5s")},
			"retries": pulumi.Map{
				"publish": pulumi.Map{"policy": pulumi.String("exponential"), "maxInterval": pulumi.String("5s"), "maxRetries": pulumi.Int(5)},
				"deliver": pulumi.Map{"policy": pulumi.String("exponential"), "maxInterval": pulumi.String("15s"), "maxRetries": pulumi.Int(10)},
			},
			"circuitBreakers": pulumi.Map{
				"consumer": pulumi.Map{
					"maxRequests": pulumi.Int(1),
					"interval":    pulumi.String("30s"),
					"timeout":     pulumi.String("60s"),
					"trip":        pulumi.String("consecutiveFailures > 8"),
				},
			},
		},
		"targets": pulumi.Map{
			"components": pulumi.Map{
				PubSub:          pubsub,
				BroadcastPubSub: pubsub,
			},
		},
	}
}
