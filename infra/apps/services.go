package apps

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/config"
	"github.com/todo-platform/todo/infra/database"
	"github.com/todo-platform/todo/infra/kafka"
	"github.com/todo-platform/todo/infra/kube"
)

// Names of the shared Secrets and of the Ingress.
const (
	AppSecretName  = "app-secrets"
	PullSecretName = "registry"
	IngressName    = "todo"
	// Keys of AppSecretName.
	KeyJWTSecret     = "jwtSecret"
	KeyInternalToken = "internalToken"
	KeySMTPPassword  = "smtpPassword"
	// The Dapr tokens' Secrets (key "token", as the sidecar injector
	// expects): the sidecar's API token (DAPR_API_TOKEN) and the token it
	// presents to the app (APP_API_TOKEN).
	DaprAPITokenSecret = "dapr-api-token" //nolint:gosec // a Secret's name, not a credential
	DaprAppTokenSecret = "dapr-app-token" //nolint:gosec // a Secret's name, not a credential
	// kafkaCADir is where a private Kafka CA is mounted (KAFKA_TLS_CA_FILE).
	kafkaCADir = "/etc/todo/kafka-ca"
)

// APIServerPorts are the ports a Kubernetes API server listens on, which
// the Dapr sidecars reach (the secret store, the operator's watch): 443
// (managed clouds), 6443 (kubeadm, the local cluster) and 8443 (minikube).
var APIServerPorts = []int{443, 6443, 8443}

// ServicesArgs configures NewServices.
type ServicesArgs struct {
	Config    *config.Config
	Namespace pulumi.StringInput
	// Images maps each service to its image reference (by digest).
	Images map[string]pulumi.StringOutput
	Kafka  *kafka.Kafka
	// DatabaseSecret is the Secret with the database URLs.
	DatabaseSecret pulumi.StringInput
	// PubSubOf maps each service to its Dapr pub/sub component; empty when
	// Dapr is off.
	PubSubOf map[string]string
	// PullSecret is a .dockerconfigjson for the registry (HasPullSecret).
	PullSecret    pulumi.StringInput
	HasPullSecret bool
	Provider      *kubernetes.Provider
}

// Services are the platform's services in one namespace.
type Services struct {
	pulumi.ResourceState
	Workloads map[string]*Workload
	// Ingress is the name of the Ingress ("" output when disabled).
	Ingress pulumi.StringOutput
}

// NewServices deploys every service of the catalog.
func NewServices(ctx *pulumi.Context, name string, args *ServicesArgs, opts ...pulumi.ResourceOption) (*Services, error) {
	s := &Services{Workloads: map[string]*Workload{}}
	if err := ctx.RegisterComponentResource("todo:apps:Services", name, s, opts...); err != nil {
		return nil, err
	}
	cfg := args.Config
	child := []pulumi.ResourceOption{pulumi.Parent(s), pulumi.Provider(args.Provider)}

	// Shared secrets, all from Pulumi secrets.
	data := pulumi.StringMap{KeyInternalToken: cfg.Secrets.InternalToken}
	if cfg.Secrets.HasJWTSecret {
		data[KeyJWTSecret] = cfg.Secrets.JWTSecret
	}
	if cfg.Secrets.HasSMTPPassword {
		data[KeySMTPPassword] = cfg.Secrets.SMTPPassword
	}
	for k, v := range data {
		data[k] = pulumi.ToSecret(v).(pulumi.StringOutput)
	}
	appSecret, err := corev1.NewSecret(ctx, name+"-secrets", &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(AppSecretName),
			Namespace: args.Namespace,
			Labels:    kube.Labels("todo", "credentials"),
		},
		Type:       pulumi.String("Opaque"),
		StringData: data,
	}, child...)
	if err != nil {
		return nil, err
	}
	secretDeps := []pulumi.Resource{appSecret}
	if len(args.PubSubOf) > 0 {
		for _, tok := range []string{DaprAPITokenSecret, DaprAppTokenSecret} {
			sec, err := corev1.NewSecret(ctx, name+"-"+tok, &corev1.SecretArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Name:      pulumi.String(tok),
					Namespace: args.Namespace,
					Labels:    kube.Labels("dapr", "credentials"),
				},
				Type:       pulumi.String("Opaque"),
				StringData: pulumi.StringMap{"token": pulumi.ToSecret(derivedToken(cfg.Secrets.InternalToken, tok)).(pulumi.StringOutput)},
			}, child...)
			if err != nil {
				return nil, err
			}
			secretDeps = append(secretDeps, sec)
		}
	}
	pullSecret := ""
	if args.HasPullSecret {
		if _, err := corev1.NewSecret(ctx, name+"-registry", &corev1.SecretArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Name:      pulumi.String(PullSecretName),
				Namespace: args.Namespace,
				Labels:    kube.Labels("registry", "credentials"),
			},
			Type:       pulumi.String("kubernetes.io/dockerconfigjson"),
			StringData: pulumi.StringMap{".dockerconfigjson": pulumi.ToSecret(args.PullSecret).(pulumi.StringOutput)},
		}, child...); err != nil {
			return nil, err
		}
		pullSecret = PullSecretName
	}

	// Default deny: nothing in or out unless a policy below allows it.
	if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-default-deny", &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String("default-deny"),
			Namespace: args.Namespace,
			Labels:    kube.Labels("todo", "network"),
		},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
		},
	}, child...); err != nil {
		return nil, err
	}
	// Migration Jobs reach DNS and PostgreSQL only.
	if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-migrations", &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String("migrations"),
			Namespace: args.Namespace,
			Labels:    kube.Labels("todo", "network"),
		},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{
				"app.kubernetes.io/component": pulumi.String(ComponentMigration),
			}},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
			Egress:      networkingv1.NetworkPolicyEgressRuleArray{dnsEgress(), portsEgress(5432)},
		},
	}, child...); err != nil {
		return nil, err
	}

	daprOn := len(args.PubSubOf) > 0
	for _, svc := range Catalog {
		env := serviceEnv(cfg, svc, args)
		wa := &WorkloadArgs{
			Service:         svc,
			Namespace:       args.Namespace,
			Image:           args.Images[svc.Name],
			ImagePullPolicy: "IfNotPresent",
			Size:            cfg.Apps[svc.Name],
			Env:             env,
			MigrationEnv:    migrationEnv(cfg, env, args.DatabaseSecret),
			PullSecret:      pullSecret,
			Ingress:         ingressRules(cfg, svc),
			Egress:          egressRules(cfg, svc, args.Kafka, daprOn),
			SkipAwait:       cfg.SkipAwait,
			Provider:        args.Provider,
		}
		if args.Kafka.HasCA {
			wa.Volumes = corev1.VolumeArray{&corev1.VolumeArgs{
				Name: pulumi.String("kafka-ca"),
				Secret: &corev1.SecretVolumeSourceArgs{
					SecretName: args.Kafka.Secret,
					Items:      corev1.KeyToPathArray{&corev1.KeyToPathArgs{Key: pulumi.String("ca.crt"), Path: pulumi.String("ca.crt")}},
				},
			}}
			wa.VolumeMounts = corev1.VolumeMountArray{&corev1.VolumeMountArgs{
				Name: pulumi.String("kafka-ca"), MountPath: pulumi.String(kafkaCADir), ReadOnly: pulumi.Bool(true),
			}}
		}
		if svc.Broadcast && cfg.Ingress.Enabled && cfg.Ingress.ClassName == "gce" {
			// The Google load balancer closes requests after 30 s unless
			// the backend says otherwise; WebSockets live for hours.
			bc, err := apiextensions.NewCustomResource(ctx, name+"-"+svc.Name+"-backend", &apiextensions.CustomResourceArgs{
				ApiVersion: pulumi.String("cloud.google.com/v1"),
				Kind:       pulumi.String("BackendConfig"),
				Metadata: &metav1.ObjectMetaArgs{
					Name:      pulumi.String(svc.Name),
					Namespace: args.Namespace,
					Labels:    kube.Labels(svc.Name, ComponentServer),
				},
				OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
					"timeoutSec":         pulumi.Int(3600),
					"connectionDraining": pulumi.Map{"drainingTimeoutSec": pulumi.Int(30)},
					"healthCheck":        pulumi.Map{"requestPath": pulumi.String("/readyz"), "port": pulumi.Int(Port)},
				}},
			}, child...)
			if err != nil {
				return nil, err
			}
			wa.ServiceAnnotations = pulumi.StringMap{
				"cloud.google.com/backend-config": pulumi.Sprintf(`{"default":"%s"}`, bc.Metadata.Name().Elem()),
				"cloud.google.com/neg":            pulumi.String(`{"ingress":true}`),
			}
		}
		if daprOn {
			wa.Dapr = &DaprSidecar{LogLevel: cfg.Dapr.LogLevel}
			// The pub/sub components' Kafka credentials, through the
			// Kubernetes secret store; nothing else (no state store).
			wa.ReadableSecrets = []string{kafka.SecretName}
		}
		w, err := NewWorkload(ctx, name+"-"+svc.Name, wa, pulumi.Parent(s), pulumi.DependsOn(secretDeps))
		if err != nil {
			return nil, err
		}
		s.Workloads[svc.Name] = w
	}

	s.Ingress = pulumi.String("").ToStringOutput()
	if cfg.Ingress.Enabled {
		ing, err := newIngress(ctx, name, cfg, args.Namespace, s, child)
		if err != nil {
			return nil, err
		}
		s.Ingress = ing.Metadata.Name().Elem()
	}

	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"ingress": s.Ingress}); err != nil {
		return nil, err
	}
	return s, nil
}

func envVal(name, value string) *corev1.EnvVarArgs {
	return &corev1.EnvVarArgs{Name: pulumi.String(name), Value: pulumi.String(value)}
}

func envOut(name string, value pulumi.StringInput) *corev1.EnvVarArgs {
	return &corev1.EnvVarArgs{Name: pulumi.String(name), Value: value}
}

func envSecret(name string, secret pulumi.StringInput, key string) *corev1.EnvVarArgs {
	return &corev1.EnvVarArgs{
		Name: pulumi.String(name),
		ValueFrom: &corev1.EnvVarSourceArgs{
			SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: secret, Key: pulumi.String(key)},
		},
	}
}

// serviceEnv is the service contract's environment of one service; every
// credential is a reference to a Secret.
func serviceEnv(cfg *config.Config, svc Service, args *ServicesArgs) corev1.EnvVarArray {
	k := args.Kafka
	pubsub := args.PubSubOf[svc.Name]
	if pubsub == "" {
		pubsub = "pubsub"
	}
	env := corev1.EnvVarArray{
		envVal("ADDR", fmt.Sprintf(":%d", Port)),
		envVal("METRICS_ADDR", fmt.Sprintf(":%d", MetricsPort)),
		envVal("LOG_LEVEL", cfg.LogLevel),
		envVal("EVENTS_TRANSPORT", cfg.Transport),
		envOut("KAFKA_BROKERS", k.Brokers),
		envVal("KAFKA_TLS", strconv.FormatBool(k.TLS)),
		envVal("KAFKA_SASL_MECHANISM", k.SASLMechanism),
		envSecret("KAFKA_USERNAME", k.Secret, "username"),
		envSecret("KAFKA_PASSWORD", k.Secret, "password"),
		envVal("DAPR_HTTP_PORT", "3500"),
		envVal("DAPR_PUBSUB", pubsub),
		envSecret("DATABASE_URL", args.DatabaseSecret, database.KeyURL),
		// The direct URL: the migrations and the LISTENing connections
		// need it (through Neon's pooler no notification arrives).
		envSecret("DATABASE_DIRECT_URL", args.DatabaseSecret, database.KeyDirectURL),
	}
	if cfg.Secrets.HasDatabaseOwnerURL {
		// The migration Job migrates, as the owner; this role could not.
		env = append(env, envVal("MIGRATE_ON_START", "false"))
	}
	if len(args.PubSubOf) > 0 {
		env = append(env,
			envSecret("DAPR_API_TOKEN", pulumi.String(DaprAPITokenSecret), "token"),
			envSecret("APP_API_TOKEN", pulumi.String(DaprAppTokenSecret), "token"),
		)
	}
	if k.HasCA {
		// The brokers' certificates come from a private CA.
		env = append(env, envVal("KAFKA_TLS_CA_FILE", kafkaCADir+"/ca.crt"))
	}
	if svc.VerifiesJWT {
		if cfg.Secrets.HasJWTSecret {
			env = append(env, envSecret("JWT_SECRET", pulumi.String(AppSecretName), KeyJWTSecret))
		}
		if cfg.Auth.JWKSURL != "" {
			env = append(env, envVal("JWT_JWKS_URL", cfg.Auth.JWKSURL))
		}
		env = append(env, envVal("JWT_ISSUER", cfg.Auth.Issuer), envVal("JWT_AUDIENCE", cfg.Auth.Audience))
		// The services that verify user tokens are the public APIs, which
		// the rate limits guard.
		for _, v := range []struct {
			name  string
			value int
		}{{"RATE_LIMIT_PER_ADDRESS", cfg.RateLimit.PerAddress}, {"RATE_LIMIT_PER_USER", cfg.RateLimit.PerUser}, {"RATE_LIMIT_AUTH_FAILURES", cfg.RateLimit.AuthFailures}} {
			if v.value > 0 {
				env = append(env, envVal(v.name, strconv.Itoa(v.value)))
			}
		}
		if cfg.RateLimit.Window != "" {
			env = append(env, envVal("RATE_LIMIT_WINDOW", cfg.RateLimit.Window))
		}
	}
	if iss := cfg.Auth.WebIssuer(); svc.WebApp && iss != "" {
		env = append(env, envVal("OIDC_ISSUER", iss), envVal("OIDC_CLIENT_ID", cfg.Auth.WebClientID))
	}
	if svc.InternalToken {
		env = append(env, envSecret("INTERNAL_TOKEN", pulumi.String(AppSecretName), KeyInternalToken))
	}
	for _, callee := range svc.Calls {
		env = append(env, envVal(strings.ToUpper(callee)+"_URL", fmt.Sprintf("http://%s:%d", callee, Port)))
	}
	if svc.Outbound {
		env = append(env,
			envVal("SMTP_ADDR", cfg.SMTP.Addr),
			envVal("SMTP_USERNAME", cfg.SMTP.Username),
			envVal("SMTP_FROM", cfg.SMTP.From),
			envVal("WEBHOOK_ALLOW_PRIVATE", "false"),
		)
		if cfg.Secrets.HasSMTPPassword {
			env = append(env, envSecret("SMTP_PASSWORD", pulumi.String(AppSecretName), KeySMTPPassword))
		}
	}
	if tr := cfg.Tracing; tr.Endpoint != "" {
		// Read by pkg/tracing and the OpenTelemetry SDK: a caller's sampled
		// trace is followed, new ones are kept at the configured ratio.
		env = append(env,
			envVal("OTEL_EXPORTER_OTLP_ENDPOINT", tr.Endpoint),
			envVal("OTEL_EXPORTER_OTLP_PROTOCOL", tr.Protocol),
			envVal("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
			envVal("OTEL_TRACES_SAMPLER_ARG", strconv.FormatFloat(tr.SampleRatio, 'f', -1, 64)),
		)
	}
	if svc.Broadcast {
		env = append(env, &corev1.EnvVarArgs{
			Name: pulumi.String("POD_NAME"),
			ValueFrom: &corev1.EnvVarSourceArgs{
				FieldRef: &corev1.ObjectFieldSelectorArgs{FieldPath: pulumi.String("metadata.name")},
			},
		})
	}
	return env
}

// migrationEnv is the environment of a migration Job: the server's, but
// when the schemas' owner is another role (databaseOwnerUrl), the Job
// connects as the owner and grants the services' role (the user of
// DATABASE_URL) what each service needs.
func migrationEnv(cfg *config.Config, server corev1.EnvVarArray, dbSecret pulumi.StringInput) corev1.EnvVarArray {
	if !cfg.Secrets.HasDatabaseOwnerURL {
		return server
	}
	env := corev1.EnvVarArray{}
	for _, v := range server {
		if a, ok := v.(*corev1.EnvVarArgs); ok {
			if n, ok := a.Name.(pulumi.String); ok && (n == "DATABASE_URL" || n == "DATABASE_DIRECT_URL" || n == "MIGRATE_ON_START") {
				continue
			}
		}
		env = append(env, v)
	}
	return append(env,
		envSecret("DATABASE_URL", dbSecret, database.KeyOwnerURL),
		envSecret("DATABASE_DIRECT_URL", dbSecret, database.KeyOwnerURL),
		envVal("DATABASE_RUNTIME_ROLE", cfg.Secrets.DatabaseRuntimeRole),
	)
}

func namespacePeer(ns string) *networkingv1.NetworkPolicyPeerArgs {
	return &networkingv1.NetworkPolicyPeerArgs{
		NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{
			"kubernetes.io/metadata.name": pulumi.String(ns),
		}},
	}
}

func podPeer(service string) *networkingv1.NetworkPolicyPeerArgs {
	return &networkingv1.NetworkPolicyPeerArgs{
		PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{
			"app.kubernetes.io/name":      pulumi.String(service),
			"app.kubernetes.io/component": pulumi.String(ComponentServer),
		}},
	}
}

func tcpPorts(ports ...int) networkingv1.NetworkPolicyPortArray {
	out := networkingv1.NetworkPolicyPortArray{}
	for _, p := range ports {
		out = append(out, &networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(p)})
	}
	return out
}

func dnsEgress() *networkingv1.NetworkPolicyEgressRuleArgs {
	peer := namespacePeer("kube-system")
	peer.PodSelector = &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"k8s-app": pulumi.String("kube-dns")}}
	return &networkingv1.NetworkPolicyEgressRuleArgs{
		To: networkingv1.NetworkPolicyPeerArray{peer},
		Ports: networkingv1.NetworkPolicyPortArray{
			&networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("UDP"), Port: pulumi.Int(53)},
			&networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(53)},
		},
	}
}

// portsEgress allows the ports to any destination (managed services outside
// the cluster: Neon, cloud Kafka, webhooks).
func portsEgress(ports ...int) *networkingv1.NetworkPolicyEgressRuleArgs {
	return &networkingv1.NetworkPolicyEgressRuleArgs{Ports: tcpPorts(ports...)}
}

// ingressRules: public services from the ingress controller (and load
// balancer ranges), callees from their callers, the metrics ports (never
// the API's) from monitoring.
func ingressRules(cfg *config.Config, svc Service) networkingv1.NetworkPolicyIngressRuleArray {
	rules := networkingv1.NetworkPolicyIngressRuleArray{}
	if len(svc.Public) > 0 && cfg.Ingress.Enabled {
		from := networkingv1.NetworkPolicyPeerArray{namespacePeer(cfg.Network.IngressNamespace)}
		for _, cidr := range cfg.Network.IngressCIDRs {
			from = append(from, &networkingv1.NetworkPolicyPeerArgs{IpBlock: &networkingv1.IPBlockArgs{Cidr: pulumi.String(cidr)}})
		}
		rules = append(rules, &networkingv1.NetworkPolicyIngressRuleArgs{From: from, Ports: tcpPorts(Port)})
	}
	var callers networkingv1.NetworkPolicyPeerArray
	for _, other := range Catalog {
		for _, callee := range other.Calls {
			if callee == svc.Name {
				callers = append(callers, podPeer(other.Name))
			}
		}
	}
	if len(callers) > 0 {
		rules = append(rules, &networkingv1.NetworkPolicyIngressRuleArgs{From: callers, Ports: tcpPorts(Port)})
	}
	if ns := cfg.Network.MonitoringNamespace; ns != "" {
		rules = append(rules, &networkingv1.NetworkPolicyIngressRuleArgs{
			From: networkingv1.NetworkPolicyPeerArray{namespacePeer(ns)},
			// The metrics ports only: the service's and its sidecar's.
			Ports: tcpPorts(MetricsPort, DaprMetricsPort),
		})
	}
	return rules
}

// egressRules: DNS, PostgreSQL, Kafka, the services it calls, Dapr's control
// plane and the Kubernetes API when Dapr is on, and the internet for
// outbound delivery and JWKS.
func egressRules(cfg *config.Config, svc Service, k *kafka.Kafka, daprOn bool) networkingv1.NetworkPolicyEgressRuleArray {
	rules := networkingv1.NetworkPolicyEgressRuleArray{dnsEgress(), portsEgress(5432)}
	kafkaPorts := k.Ports.ApplyT(func(ps []int) []networkingv1.NetworkPolicyPort {
		out := make([]networkingv1.NetworkPolicyPort, len(ps))
		for i, p := range ps {
			tcp := "TCP"
			out[i] = networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: p}
		}
		return out
	}).(networkingv1.NetworkPolicyPortArrayOutput)
	kafkaRule := &networkingv1.NetworkPolicyEgressRuleArgs{Ports: kafkaPorts}
	if k.Namespace != "" {
		kafkaRule.To = networkingv1.NetworkPolicyPeerArray{namespacePeer(k.Namespace)}
	}
	rules = append(rules, kafkaRule)
	if len(svc.Calls) > 0 {
		var to networkingv1.NetworkPolicyPeerArray
		for _, callee := range svc.Calls {
			to = append(to, podPeer(callee))
		}
		rules = append(rules, &networkingv1.NetworkPolicyEgressRuleArgs{To: to, Ports: tcpPorts(Port)})
	}
	if daprOn {
		rules = append(rules, &networkingv1.NetworkPolicyEgressRuleArgs{
			To: networkingv1.NetworkPolicyPeerArray{namespacePeer(cfg.Dapr.Namespace)},
		})
		api := &networkingv1.NetworkPolicyEgressRuleArgs{Ports: tcpPorts(APIServerPorts...)}
		if len(cfg.Network.APIServerCIDRs) > 0 {
			var to networkingv1.NetworkPolicyPeerArray
			for _, cidr := range cfg.Network.APIServerCIDRs {
				to = append(to, &networkingv1.NetworkPolicyPeerArgs{IpBlock: &networkingv1.IPBlockArgs{Cidr: pulumi.String(cidr)}})
			}
			api.To = to
		}
		rules = append(rules, api)
	}
	var internet []int
	if svc.Outbound {
		internet = append(internet, 80, 443)
		if _, p, ok := strings.Cut(cfg.SMTP.Addr, ":"); ok {
			if n, err := strconv.Atoi(p); err == nil {
				internet = append(internet, n)
			}
		}
	}
	if svc.VerifiesJWT && cfg.Auth.JWKSURL != "" && !svc.Outbound {
		internet = append(internet, 443)
	}
	if port := collectorPort(cfg.Tracing); port > 0 {
		internet = append(internet, port)
	}
	if len(internet) > 0 {
		rules = append(rules, portsEgress(internet...))
	}
	return rules
}

// collectorPort is the port of the trace collector's endpoint (the
// protocol's default when the URL names none), 0 without tracing.
func collectorPort(tr config.Tracing) int {
	u, err := url.Parse(tr.Endpoint)
	if tr.Endpoint == "" || err != nil {
		return 0
	}
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return p
	}
	switch {
	case u.Scheme == "https":
		return 443
	case tr.Protocol == "grpc":
		return 4317
	default:
		return 4318
	}
}

// newIngress routes the public endpoints to their services. Only the
// catalog's public paths are routed: taskapi's /internal/ is not.
func newIngress(ctx *pulumi.Context, name string, cfg *config.Config, namespace pulumi.StringInput, s *Services, opts []pulumi.ResourceOption) (*networkingv1.Ingress, error) {
	ic := cfg.Ingress
	var paths networkingv1.HTTPIngressPathArray
	for _, svc := range Catalog {
		for _, p := range svc.Public {
			paths = append(paths, &networkingv1.HTTPIngressPathArgs{
				Path:     pulumi.String(p.Path),
				PathType: pulumi.String(p.Type),
				Backend: &networkingv1.IngressBackendArgs{
					Service: &networkingv1.IngressServiceBackendArgs{
						Name: s.Workloads[svc.Name].ServiceName,
						Port: &networkingv1.ServiceBackendPortArgs{Name: pulumi.String("http")},
					},
				},
			})
		}
	}
	rule := &networkingv1.IngressRuleArgs{Http: &networkingv1.HTTPIngressRuleValueArgs{Paths: paths}}
	if ic.Host != "" {
		rule.Host = pulumi.String(ic.Host)
	}
	annotations := kube.Await(cfg.SkipAwait, "")
	if strings.Contains(ic.ClassName, "nginx") {
		// WebSockets (/ws) stay open far longer than nginx's 60 s default.
		annotations = kube.Merge(annotations, pulumi.StringMap{
			"nginx.ingress.kubernetes.io/proxy-read-timeout": pulumi.String("3600"),
			"nginx.ingress.kubernetes.io/proxy-send-timeout": pulumi.String("3600"),
			"nginx.ingress.kubernetes.io/proxy-body-size":    pulumi.String("1m"),
		})
	}
	if ic.ClusterIssuer != "" {
		annotations["cert-manager.io/cluster-issuer"] = pulumi.String(ic.ClusterIssuer)
	}
	spec := &networkingv1.IngressSpecArgs{Rules: networkingv1.IngressRuleArray{rule}}
	if AnnotatedClass(ic.ClassName) {
		// GKE's Ingress controller ignores spec.ingressClassName: it acts
		// on the annotation only (or on an Ingress with no class at all).
		annotations["kubernetes.io/ingress.class"] = pulumi.String(ic.ClassName)
	} else {
		spec.IngressClassName = pulumi.String(ic.ClassName)
	}
	if ic.TLSSecretName != "" {
		spec.Tls = networkingv1.IngressTLSArray{&networkingv1.IngressTLSArgs{
			Hosts:      pulumi.StringArray{pulumi.String(ic.Host)},
			SecretName: pulumi.String(ic.TLSSecretName),
		}}
	}
	return networkingv1.NewIngress(ctx, name, &networkingv1.IngressArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String(IngressName),
			Namespace:   namespace,
			Labels:      kube.Labels("todo", "ingress"),
			Annotations: annotations,
		},
		Spec: spec,
	}, opts...)
}

// AnnotatedClass reports whether an Ingress class is chosen with the
// kubernetes.io/ingress.class annotation instead of spec.ingressClassName:
// GKE's classes gce (external Application Load Balancer) and gce-internal,
// which the GKE Ingress controller only recognises in the annotation.
func AnnotatedClass(className string) bool {
	return className == "gce" || className == "gce-internal"
}

// derivedToken derives the token called label from the internal token
// (HMAC-SHA256), so that each stack has its own Dapr tokens without another
// secret to configure, and one token never reveals another.
func derivedToken(internal pulumi.StringInput, label string) pulumi.StringOutput {
	return internal.ToStringOutput().ApplyT(func(s string) string {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte("todo-platform/" + label))
		return hex.EncodeToString(m.Sum(nil))
	}).(pulumi.StringOutput)
}
