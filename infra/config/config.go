// Package config reads the stack configuration of the todo platform once into
// a typed, validated struct. Every key is described, with its default, in the
// root Pulumi.yaml; Defaults below is the same table in code (a test keeps the
// two in step).
//
// Plain settings are read with Parse from any key lookup, so validation is
// testable without an engine; Load wires it to a Pulumi context and turns the
// secret keys into secret outputs.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Cloud is where a stack runs.
type Cloud string

// The supported clouds; one stack file each.
const (
	Minikube Cloud = "minikube"
	Local    Cloud = "local" // the one-node cluster `make cluster` runs on this machine
	AKS      Cloud = "aks"
	GKE      Cloud = "gke"
	DOKS     Cloud = "doks"
)

// Clouds lists the supported clouds in a stable order.
var Clouds = []Cloud{Minikube, Local, AKS, GKE, DOKS}

// Services are the platform's deployable services (see services/<name>).
var Services = []string{"taskapi", "recurring", "notifier", "audit", "realtime"}

// Kafka providers.
const (
	KafkaStrimzi      = "strimzi"      // Strimzi operator in the cluster (minikube)
	KafkaEventHubs    = "eventhubs"    // Azure Event Hubs' Kafka endpoint (aks)
	KafkaGCPManaged   = "gcp-managed"  // Google Managed Service for Apache Kafka (gke)
	KafkaDigitalOcean = "digitalocean" // DigitalOcean managed Kafka (doks)
	KafkaExternal     = "external"     // any reachable Kafka, credentials from config
)

// Image publishing modes.
const (
	PublishLoad   = "load"   // build, then `minikube image load` the tarball
	PublishPush   = "push"   // build, then push to the cluster's registry
	PublishLayout = "layout" // build into an OCI image layout directory (tests, air-gapped)
	PublishNone   = "none"   // do not build; deploy images.repository/<name>@images.digest
)

// Events transports (the services' EVENTS_TRANSPORT).
const (
	TransportKafka = "kafka"
	TransportDapr  = "dapr"
)

// Secret config keys (without the project namespace). Each must be set with
// `pulumi config set --secret`.
const (
	KeyDatabaseURL       = "databaseUrl"
	KeyDatabaseDirectURL = "databaseDirectUrl"
	KeyDatabaseOwnerURL  = "databaseOwnerUrl"
	KeyJWTSecret         = "jwtSecret"
	KeyInternalToken     = "internalToken"
	KeySMTPPassword      = "smtpPassword"
	KeyKafkaPassword     = "kafkaPassword"
)

// SecretKeys lists every secret key of the project.
var SecretKeys = []string{KeyDatabaseURL, KeyDatabaseDirectURL, KeyDatabaseOwnerURL, KeyJWTSecret, KeyInternalToken, KeySMTPPassword, KeyKafkaPassword}

// Sections are the structured keys of the config, each read as one JSON
// object over its default; a field's key tag is its config key.
type Sections struct {
	Cluster Cluster `key:"cluster"`
	Kafka   Kafka   `key:"kafka"`
	Dapr    Dapr    `key:"dapr"`
	Charts  Charts  `key:"charts"`
	Images  Images  `key:"images"`
	Ingress Ingress `key:"ingress"`
	Network Network `key:"network"`
	Auth    Auth    `key:"auth"`
	SMTP    SMTP    `key:"smtp"`
	Tracing Tracing `key:"tracing"`
	// RateLimit overrides the request rate limits of the public APIs
	// (RATE_LIMIT_*, pkg/ratelimit); zero fields keep the services' defaults.
	RateLimit RateLimit `key:"rateLimit"`
}

// Config is the whole stack configuration.
type Config struct {
	Project   string // Pulumi project (and config namespace)
	Stack     string
	Cloud     Cloud
	Namespace string // namespace of the services
	LogLevel  string
	Transport string // TransportKafka or TransportDapr
	SkipAwait bool   // do not wait for Kubernetes objects to become ready

	Sections
	Apps map[string]App // every name in Services, defaults applied

	Secrets Secrets
}

// Cluster holds the cluster settings; which fields apply depends on the cloud.
type Cluster struct {
	Kubeconfig        string `json:"kubeconfig"`        // minikube, local: kubeconfig file ("" = $KUBECONFIG or ~/.kube/config; relative to the project directory)
	Context           string `json:"context"`           // minikube, local: kubeconfig context
	Registry          string `json:"registry"`          // local: the registry images are pushed to and pulled from (host:port)
	Region            string `json:"region"`            // aks location, gke region, doks region
	Project           string `json:"project"`           // gke: Google Cloud project id
	ResourceGroup     string `json:"resourceGroup"`     // aks: resource group name ("" = autonamed)
	KubernetesVersion string `json:"kubernetesVersion"` // "" = the cloud's default
	ReleaseChannel    string `json:"releaseChannel"`    // gke release channel
	SystemPool        Pool   `json:"systemPool"`        // system / default node pool
	NodePool          Pool   `json:"nodePool"`          // workload node pool
	RegistryName      string `json:"registryName"`      // ACR name, DOCR name, Artifact Registry repository id
	RegistrySKU       string `json:"registrySku"`       // aks: Basic|Standard|Premium; doks: starter|basic|professional
}

// Pool sizes a node pool.
type Pool struct {
	MachineType string `json:"machineType"` // VM size / machine type / droplet size
	MinCount    int    `json:"minCount"`
	MaxCount    int    `json:"maxCount"`
	DiskSizeGB  int    `json:"diskSizeGb"`
}

// Kafka sizes the event broker; which fields apply depends on the provider.
type Kafka struct {
	Provider          string `json:"provider"`          // "" = the cloud's managed Kafka (strimzi on minikube)
	Partitions        int    `json:"partitions"`        // task-events and reminders
	DLQPartitions     int    `json:"dlqPartitions"`     // the .dlq topics
	ReplicationFactor int    `json:"replicationFactor"` // strimzi, gcp-managed, digitalocean
	RetentionHours    int    `json:"retentionHours"`
	Version           string `json:"version"`       // strimzi: Kafka version; digitalocean: Kafka version
	Nodes             int    `json:"nodes"`         // strimzi: KRaft node pool replicas; digitalocean: node count
	StorageSize       string `json:"storageSize"`   // strimzi: volume size per node
	Namespace         string `json:"namespace"`     // strimzi: namespace of the operator and the cluster
	ClusterName       string `json:"clusterName"`   // strimzi: Kafka resource name
	SKU               string `json:"sku"`           // eventhubs: Standard|Premium
	Capacity          int    `json:"capacity"`      // eventhubs: throughput units
	VCPUCount         int    `json:"vcpuCount"`     // gcp-managed
	MemoryGiB         int    `json:"memoryGiB"`     // gcp-managed
	Subnet            string `json:"subnet"`        // gcp-managed: projects/P/regions/R/subnetworks/S
	Size              string `json:"size"`          // digitalocean: database node size slug
	Brokers           string `json:"brokers"`       // external: comma-separated host:port list
	TLS               bool   `json:"tls"`           // external
	SASLMechanism     string `json:"saslMechanism"` // external: "" | PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
	Username          string `json:"username"`      // external
}

// Dapr configures the Dapr control plane and components.
type Dapr struct {
	Enabled                  *bool  `json:"enabled"`                  // nil = on when eventsTransport is dapr
	Namespace                string `json:"namespace"`                // control plane namespace
	HA                       bool   `json:"ha"`                       // control plane in HA mode
	LogLevel                 string `json:"logLevel"`                 // sidecar and control plane log level
	DeclarativeSubscriptions bool   `json:"declarativeSubscriptions"` // Subscription resources (the services also subscribe programmatically)
	SubscriptionRoute        string `json:"subscriptionRoute"`        // route of declarative subscriptions; {topic} is replaced
	Registry                 string `json:"registry"`                 // where the control plane and sidecar images come from (the chart's global.registry)
	Tag                      string `json:"tag"`                      // their tag ("" = the chart version)
	Scheduler                bool   `json:"scheduler"`                // the Dapr scheduler (jobs API, actor reminders; three replicas with volumes)
}

// On reports whether Dapr is installed and injected.
func (d Dapr) On() bool { return d.Enabled != nil && *d.Enabled }

// Chart says where a Helm chart comes from: a local path (tests, air-gapped)
// or a repository.
type Chart struct {
	Repository string `json:"repository"` // https://… or oci://… chart repository
	Name       string `json:"name"`       // chart name in the repository
	Version    string `json:"version"`    // chart version (pin it)
	Path       string `json:"path"`       // local chart directory; wins over repository
}

// Charts are the third-party charts the program installs.
type Charts struct {
	Strimzi      Chart `json:"strimzi"`
	Dapr         Chart `json:"dapr"`
	IngressNginx Chart `json:"ingressNginx"`
}

// Images configures how service images are built and published.
type Images struct {
	Publish    string            `json:"publish"`    // load | push | layout | none
	Repository string            `json:"repository"` // image name prefix (load/layout/none; push prefixes the registry)
	Base       string            `json:"base"`       // base image reference, or "scratch" for a minimal local base
	Platform   string            `json:"platform"`   // os/arch of the binaries and images
	Source     string            `json:"source"`     // Go module root holding services/ ("" = the project directory)
	LayoutDir  string            `json:"layoutDir"`  // layout: OCI layout directory
	Digest     string            `json:"digest"`     // none: digest used for every service
	Digests    map[string]string `json:"digests"`    // none: per-service digests (win over digest)
	Profile    string            `json:"profile"`    // load: minikube profile
}

// Ingress exposes the public endpoints.
type Ingress struct {
	Enabled           bool   `json:"enabled"`
	ClassName         string `json:"className"`
	Host              string `json:"host"`              // "" = any host
	TLSSecretName     string `json:"tlsSecretName"`     // "" = no TLS section
	ClusterIssuer     string `json:"clusterIssuer"`     // cert-manager ClusterIssuer ("" = none)
	InstallController bool   `json:"installController"` // install ingress-nginx (doks)
}

// Network configures the NetworkPolicy allowances.
type Network struct {
	IngressNamespace    string   `json:"ingressNamespace"`    // namespace of the ingress controller
	IngressCIDRs        []string `json:"ingressCidrs"`        // extra sources allowed to reach public services (cloud LBs)
	MonitoringNamespace string   `json:"monitoringNamespace"` // Prometheus namespace ("" = no scrape allowance)
	APIServerCIDRs      []string `json:"apiServerCidrs"`      // where the Kubernetes API is (Dapr sidecars); empty = anywhere
}

// Auth configures JWT verification (taskapi, audit, notifier, realtime).
type Auth struct {
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	JWKSURL  string `json:"jwksUrl"` // asymmetric keys; otherwise the jwtSecret secret (HS256)
	// WebClientID is the web app's public client id at the issuer, which
	// it signs users in with (authorization code + PKCE) when the issuer is
	// an https:// URL.
	WebClientID string `json:"webClientId"`
}

// WebIssuer is the OpenID provider the web app signs in with: the first
// https:// issuer ("" when there is none, e.g. the HS256 development
// issuer; the app then asks for a pasted token).
func (a Auth) WebIssuer() string {
	for iss := range strings.SplitSeq(a.Issuer, ",") {
		if iss = strings.TrimSpace(iss); strings.HasPrefix(iss, "https://") {
			return iss
		}
	}
	return ""
}

// SMTP configures the notifier's e-mail delivery.
type SMTP struct {
	Addr     string `json:"addr"` // host:port; "" = e-mail off
	Username string `json:"username"`
	From     string `json:"from"`
}

// Tracing sends the services' traces to an OpenTelemetry collector over
// OTLP (the services' OTEL_* variables); off when Endpoint is empty.
type Tracing struct {
	Endpoint    string  `json:"endpoint"`    // e.g. http://otel-collector.observability:4318
	Protocol    string  `json:"protocol"`    // http/protobuf or grpc
	SampleRatio float64 `json:"sampleRatio"` // share of new traces kept (0..1); a caller's decision is followed
}

// RateLimit sets the RATE_LIMIT_* variables of the services with a public
// API (taskapi, notifier, audit, realtime); 0 or "" keeps a service default.
type RateLimit struct {
	PerAddress   int    `json:"perAddress"`   // RATE_LIMIT_PER_ADDRESS
	PerUser      int    `json:"perUser"`      // RATE_LIMIT_PER_USER
	AuthFailures int    `json:"authFailures"` // RATE_LIMIT_AUTH_FAILURES
	Window       string `json:"window"`       // RATE_LIMIT_WINDOW, a Go duration such as 1m
}

// App sizes one service.
type App struct {
	Replicas             int    `json:"replicas"`    // minimum replicas
	MaxReplicas          int    `json:"maxReplicas"` // > replicas enables the autoscaler
	CPURequest           string `json:"cpuRequest"`
	CPULimit             string `json:"cpuLimit"`
	MemoryRequest        string `json:"memoryRequest"`
	MemoryLimit          string `json:"memoryLimit"`
	TargetCPUUtilization int    `json:"targetCpuUtilization"` // percent of the request
}

// Secrets are the secret config values, as secret outputs.
type Secrets struct {
	DatabaseURL       pulumi.StringOutput // Neon pooled URL (services)
	DatabaseDirectURL pulumi.StringOutput // Neon direct URL (migrations); DatabaseURL when unset
	// DatabaseOwnerURL is the direct URL of the role that owns the schemas,
	// for the migration Jobs; the services then run as databaseUrl's role
	// (DatabaseRuntimeRole), which owns nothing. Empty when unset: the
	// services' role migrates, and owns its tables.
	DatabaseOwnerURL    pulumi.StringOutput
	HasDatabaseOwnerURL bool
	DatabaseRuntimeRole string              // the user of databaseUrl, when DatabaseOwnerURL is set
	JWTSecret           pulumi.StringOutput // HS256 key; empty when auth.jwksUrl is used
	InternalToken       pulumi.StringOutput
	SMTPPassword        pulumi.StringOutput // empty when unset
	KafkaPassword       pulumi.StringOutput // external Kafka only; empty when unset

	HasJWTSecret    bool
	HasSMTPPassword bool
}

// Lookup returns the raw value of a fully qualified config key ("todo:cloud").
type Lookup func(key string) (string, bool)

// Error is a configuration error; it always names the key.
type Error struct {
	Key string // fully qualified, e.g. "todo:kafka"
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("config %s: %s", e.Key, e.Msg) }

// Load reads and validates the configuration of the running stack.
func Load(ctx *pulumi.Context) (*Config, error) {
	project := ctx.Project()
	lookup := func(key string) (string, bool) { return ctx.GetConfig(key) }
	c, err := Parse(project, ctx.Stack(), lookup, ctx.IsConfigSecret)
	if err != nil {
		return nil, err
	}
	secret := func(key string) pulumi.StringOutput {
		v, _ := ctx.GetConfig(project + ":" + key)
		return pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
	}
	s := Secrets{
		DatabaseURL:   secret(KeyDatabaseURL),
		InternalToken: secret(KeyInternalToken),
		JWTSecret:     secret(KeyJWTSecret),
		SMTPPassword:  secret(KeySMTPPassword),
		KafkaPassword: secret(KeyKafkaPassword),
	}
	set := func(key string) bool { v, _ := ctx.GetConfig(project + ":" + key); return v != "" }
	if set(KeyDatabaseDirectURL) {
		s.DatabaseDirectURL = secret(KeyDatabaseDirectURL)
	} else {
		s.DatabaseDirectURL = s.DatabaseURL
	}
	if set(KeyDatabaseOwnerURL) {
		pooled, _ := ctx.GetConfig(project + ":" + KeyDatabaseURL)
		owner, _ := ctx.GetConfig(project + ":" + KeyDatabaseOwnerURL)
		role, err := RuntimeRole(pooled, owner)
		if err != nil {
			return nil, &Error{Key: project + ":" + KeyDatabaseOwnerURL, Msg: err.Error()}
		}
		s.DatabaseOwnerURL, s.HasDatabaseOwnerURL, s.DatabaseRuntimeRole = secret(KeyDatabaseOwnerURL), true, role
	}
	s.HasJWTSecret = set(KeyJWTSecret)
	s.HasSMTPPassword = set(KeySMTPPassword)
	c.Secrets = s
	root := ctx.RootDirectory()
	if root == "" {
		root, _ = os.Getwd() // an inline program: the project directory is the working directory
	}
	c.resolvePaths(root)
	return c, nil
}

// RuntimeRole returns the role the services run as, the user of
// databaseURL, when the migrations run as ownerURL's user: that must be
// another role (the owner of the schemas), or the split protects nothing.
// Neither URL appears in an error.
func RuntimeRole(databaseURL, ownerURL string) (string, error) {
	user := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil || u.User == nil {
			return ""
		}
		return u.User.Username()
	}
	runtime, owner := user(databaseURL), user(ownerURL)
	switch {
	case owner == "":
		return "", errors.New("not a URL with a user (postgresql://<owner>:<password>@<host>/<database>)")
	case runtime == "":
		return "", fmt.Errorf("%s is not a URL with a user, so the role the services run as is not known", KeyDatabaseURL)
	case runtime == owner:
		return "", fmt.Errorf("its user is %s's: the services must run as a role that does not own the schemas", KeyDatabaseURL)
	}
	return runtime, nil
}

// resolvePaths makes the relative local chart paths absolute, relative to
// the project directory (where Pulumi.yaml is), whatever the working
// directory of the program or the provider.
func (c *Config) resolvePaths(root string) {
	if root == "" {
		return
	}
	for _, ch := range []*Chart{&c.Charts.Strimzi, &c.Charts.Dapr, &c.Charts.IngressNginx} {
		if ch.Path != "" && !filepath.IsAbs(ch.Path) {
			ch.Path = filepath.Join(root, ch.Path)
		}
	}
}

// Parse reads the plain settings through lookup, applies the defaults and
// validates the result, including that the required secrets are present and
// stored as secrets (isSecret reports whether a key is encrypted in the stack).
// All problems are reported together, each naming its key.
func Parse(project, stack string, lookup Lookup, isSecret func(key string) bool) (*Config, error) {
	p := parser{project: project, lookup: lookup}
	d := Defaults()

	c := &Config{Project: project, Stack: stack}
	c.Cloud = Cloud(p.str("cloud", d.Cloud))
	c.Namespace = p.str("namespace", d.Namespace)
	c.LogLevel = p.str("logLevel", d.LogLevel)
	c.Transport = p.str("eventsTransport", d.EventsTransport)
	c.SkipAwait = p.boolean("skipAwait", d.SkipAwait)

	c.Sections = d.Sections
	p.sections(&c.Sections)

	apps := map[string]App{}
	p.object("apps", &apps)
	c.Apps = map[string]App{}
	for name := range apps {
		if name != "default" && !slices.Contains(Services, name) {
			p.fail("apps", fmt.Sprintf("unknown service %q (known: default, %s)", name, strings.Join(Services, ", ")))
		}
	}
	base := mergeApp(d.Apps["default"], apps["default"])
	for _, name := range Services {
		c.Apps[name] = mergeApp(base, apps[name])
	}

	applyCloudDefaults(c)
	c.validate(&p)
	p.secrets(c, isSecret)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return c, nil
}

// mergeApp fills the zero fields of o from base.
func mergeApp(base, o App) App {
	if o.Replicas == 0 {
		o.Replicas = base.Replicas
	}
	if o.MaxReplicas == 0 {
		o.MaxReplicas = max(base.MaxReplicas, o.Replicas)
	}
	if o.CPURequest == "" {
		o.CPURequest = base.CPURequest
	}
	if o.CPULimit == "" {
		o.CPULimit = base.CPULimit
	}
	if o.MemoryRequest == "" {
		o.MemoryRequest = base.MemoryRequest
	}
	if o.MemoryLimit == "" {
		o.MemoryLimit = base.MemoryLimit
	}
	if o.TargetCPUUtilization == 0 {
		o.TargetCPUUtilization = base.TargetCPUUtilization
	}
	return o
}

// applyCloudDefaults fills the settings whose default depends on the cloud.
func applyCloudDefaults(c *Config) {
	if c.Kafka.Provider == "" {
		switch c.Cloud {
		case Minikube:
			c.Kafka.Provider = KafkaStrimzi
		case Local:
			c.Kafka.Provider = KafkaExternal
		case AKS:
			c.Kafka.Provider = KafkaEventHubs
		case GKE:
			c.Kafka.Provider = KafkaGCPManaged
		case DOKS:
			c.Kafka.Provider = KafkaDigitalOcean
		}
	}
	if c.Dapr.Enabled == nil {
		on := c.Transport == TransportDapr
		c.Dapr.Enabled = &on
	}
}

var (
	dnsLabel    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	quantityCPU = regexp.MustCompile(`^([0-9]+m|[0-9]+(\.[0-9]+)?)$`)
	quantityMem = regexp.MustCompile(`^[0-9]+(Ki|Mi|Gi|Ti|K|M|G|T)?$`)
	digestRE    = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	hostPort    = regexp.MustCompile(`^[^:\s]+:[0-9]{1,5}$`)
	acrName     = regexp.MustCompile(`^[a-zA-Z0-9]{5,50}$`)
	platformRE  = regexp.MustCompile(`^linux/(amd64|arm64)$`)
)

// validate checks the whole configuration, section by section, and
// records every problem in p.
func (c *Config) validate(p *parser) {
	c.validateBasics(p)
	c.validateCluster(p)
	c.validateKafka(p)
	c.validateCharts(p)
	c.validateImages(p)
	c.validateIngress(p)
	c.validateAuth(p)
	c.validateRateLimit(p)
	c.validateApps(p)
}

// validateBasics checks the keys every stack sets: cloud, namespace, log level and transport.
func (c *Config) validateBasics(p *parser) {
	if c.Cloud == "" {
		p.fail("cloud", "is required (minikube, local, aks, gke or doks)")
	} else if !slices.Contains(Clouds, c.Cloud) {
		p.fail("cloud", fmt.Sprintf("unknown cloud %q (want one of minikube, local, aks, gke, doks)", c.Cloud))
	}
	if !dnsLabel.MatchString(c.Namespace) {
		p.fail("namespace", fmt.Sprintf("%q is not a valid namespace name", c.Namespace))
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		p.fail("logLevel", fmt.Sprintf("unknown level %q (want debug, info, warn or error)", c.LogLevel))
	}
	if c.Transport != TransportKafka && c.Transport != TransportDapr {
		p.fail("eventsTransport", fmt.Sprintf("unknown transport %q (want kafka or dapr)", c.Transport))
	}
	if c.Transport == TransportDapr && !c.Dapr.On() {
		p.fail("dapr", `eventsTransport is "dapr" but dapr.enabled is false`)
	}
}

// validateCluster checks the cluster section for the stack's cloud.
func (c *Config) validateCluster(p *parser) {
	cl := c.Cluster
	switch c.Cloud {
	case Minikube, Local:
		if cl.Context == "" {
			p.fail("cluster", fmt.Sprintf("context is required on %s (the kubeconfig context to deploy to)", c.Cloud))
		}
		if c.Cloud == Local && !hostPort.MatchString(cl.Registry) {
			p.fail("cluster", fmt.Sprintf("registry is required on local, as host:port (make cluster prints it), got %q", cl.Registry))
		}
	case AKS, GKE, DOKS:
		if cl.Region == "" {
			p.fail("cluster", fmt.Sprintf("region is required on %s", c.Cloud))
		}
		pools := map[string]Pool{"systemPool": cl.SystemPool, "nodePool": cl.NodePool}
		for _, name := range []string{"systemPool", "nodePool"} {
			pool := pools[name]
			switch {
			case pool.MachineType == "":
				p.fail("cluster", name+".machineType is required")
			case pool.MinCount < 1 || pool.MaxCount < pool.MinCount:
				p.fail("cluster", fmt.Sprintf("%s: want 1 <= minCount <= maxCount, got minCount=%d maxCount=%d", name, pool.MinCount, pool.MaxCount))
			}
		}
		if cl.RegistryName == "" {
			p.fail("cluster", fmt.Sprintf("registryName is required on %s", c.Cloud))
		}
	}
	switch c.Cloud {
	case AKS:
		if cl.RegistryName != "" && !acrName.MatchString(cl.RegistryName) {
			p.fail("cluster", fmt.Sprintf("registryName %q: an Azure container registry name is 5-50 letters and digits", cl.RegistryName))
		}
		if !slices.Contains([]string{"Basic", "Standard", "Premium"}, cl.RegistrySKU) {
			p.fail("cluster", fmt.Sprintf("registrySku %q: want Basic, Standard or Premium on aks", cl.RegistrySKU))
		}
	case GKE:
		if cl.Project == "" {
			p.fail("cluster", "project (the Google Cloud project id) is required on gke")
		}
	case DOKS:
		if !slices.Contains([]string{"starter", "basic", "professional"}, cl.RegistrySKU) {
			p.fail("cluster", fmt.Sprintf("registrySku %q: want starter, basic or professional on doks", cl.RegistrySKU))
		}
	}
}

// validateKafka checks the kafka section: sizes, and the provider the cloud offers.
func (c *Config) validateKafka(p *parser) {
	k := c.Kafka
	if k.Partitions < 1 || k.Partitions > 1024 {
		p.fail("kafka", fmt.Sprintf("partitions must be within 1..1024, got %d", k.Partitions))
	}
	if k.DLQPartitions < 1 || k.DLQPartitions > 1024 {
		p.fail("kafka", fmt.Sprintf("dlqPartitions must be within 1..1024, got %d", k.DLQPartitions))
	}
	if k.RetentionHours < 1 {
		p.fail("kafka", fmt.Sprintf("retentionHours must be positive, got %d", k.RetentionHours))
	}
	wantProvider := map[Cloud][]string{
		Minikube: {KafkaStrimzi, KafkaExternal},
		Local:    {KafkaExternal},
		AKS:      {KafkaEventHubs, KafkaExternal},
		GKE:      {KafkaGCPManaged, KafkaExternal},
		DOKS:     {KafkaDigitalOcean, KafkaExternal},
	}[c.Cloud]
	if wantProvider != nil && !slices.Contains(wantProvider, k.Provider) {
		p.fail("kafka", fmt.Sprintf("provider %q is not available on %s (want %s)", k.Provider, c.Cloud, strings.Join(wantProvider, " or ")))
	}
	k.validateProvider(p)
}

// validateProvider checks the settings of the Kafka provider chosen.
func (k Kafka) validateProvider(p *parser) {
	switch k.Provider {
	case KafkaStrimzi:
		if k.Nodes < 1 {
			p.fail("kafka", fmt.Sprintf("nodes must be at least 1, got %d", k.Nodes))
		}
		if k.ReplicationFactor < 1 || k.ReplicationFactor > k.Nodes {
			p.fail("kafka", fmt.Sprintf("replicationFactor must be within 1..nodes (%d), got %d", k.Nodes, k.ReplicationFactor))
		}
		if !quantityMem.MatchString(k.StorageSize) {
			p.fail("kafka", fmt.Sprintf("storageSize %q is not a Kubernetes quantity", k.StorageSize))
		}
		if !dnsLabel.MatchString(k.Namespace) || !dnsLabel.MatchString(k.ClusterName) {
			p.fail("kafka", "namespace and clusterName must be DNS labels")
		}
		if k.Version == "" {
			p.fail("kafka", "version (the Kafka version Strimzi runs) is required")
		}
	case KafkaEventHubs:
		if k.SKU != "Standard" && k.SKU != "Premium" {
			p.fail("kafka", fmt.Sprintf("sku %q: the Kafka endpoint needs Standard or Premium", k.SKU))
		}
		if k.Capacity < 1 {
			p.fail("kafka", fmt.Sprintf("capacity must be at least 1, got %d", k.Capacity))
		}
		if k.Partitions > 32 && k.SKU == "Standard" {
			p.fail("kafka", fmt.Sprintf("partitions: Event Hubs Standard allows at most 32, got %d", k.Partitions))
		}
	case KafkaGCPManaged:
		if k.VCPUCount < 3 {
			p.fail("kafka", fmt.Sprintf("vcpuCount must be at least 3, got %d", k.VCPUCount))
		}
		if k.MemoryGiB < k.VCPUCount || k.MemoryGiB > 8*k.VCPUCount {
			p.fail("kafka", fmt.Sprintf("memoryGiB must be within 1..8 GiB per vCPU, got %d for %d vCPUs", k.MemoryGiB, k.VCPUCount))
		}
		if k.Subnet == "" {
			p.fail("kafka", "subnet (projects/P/regions/R/subnetworks/S) is required for gcp-managed")
		}
		if k.ReplicationFactor < 1 || k.ReplicationFactor > 3 {
			p.fail("kafka", fmt.Sprintf("replicationFactor must be within 1..3, got %d", k.ReplicationFactor))
		}
	case KafkaDigitalOcean:
		if k.Size == "" || k.Version == "" {
			p.fail("kafka", "size and version are required for digitalocean")
		}
		if k.Nodes != 3 && k.Nodes != 6 && k.Nodes != 9 && k.Nodes != 15 {
			p.fail("kafka", fmt.Sprintf("nodes must be 3, 6, 9 or 15 for DigitalOcean Kafka, got %d", k.Nodes))
		}
		if k.ReplicationFactor < 1 || k.ReplicationFactor > k.Nodes {
			p.fail("kafka", fmt.Sprintf("replicationFactor must be within 1..nodes, got %d", k.ReplicationFactor))
		}
	case KafkaExternal:
		if k.Brokers == "" {
			p.fail("kafka", "brokers is required for external")
		}
		for b := range strings.SplitSeq(k.Brokers, ",") {
			if !hostPort.MatchString(strings.TrimSpace(b)) {
				p.fail("kafka", fmt.Sprintf("brokers: %q is not host:port", b))
			}
		}
		if !slices.Contains([]string{"", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}, k.SASLMechanism) {
			p.fail("kafka", fmt.Sprintf("saslMechanism %q: want \"\", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.SASLMechanism))
		}
		if k.SASLMechanism != "" && k.Username == "" {
			p.fail("kafka", "username is required with a saslMechanism")
		}
	case "":
	default:
		p.fail("kafka", fmt.Sprintf("unknown provider %q", k.Provider))
	}
}

// validateCharts checks the Dapr section and the charts the stack installs.
func (c *Config) validateCharts(p *parser) {
	if c.Dapr.On() {
		if !dnsLabel.MatchString(c.Dapr.Namespace) {
			p.fail("dapr", fmt.Sprintf("namespace %q is not a valid namespace name", c.Dapr.Namespace))
		}
		if c.Dapr.DeclarativeSubscriptions && !strings.HasPrefix(c.Dapr.SubscriptionRoute, "/") {
			p.fail("dapr", "subscriptionRoute must start with /")
		}
		if c.Dapr.Registry == "" || strings.ContainsAny(c.Dapr.Registry, " \t@") {
			p.fail("dapr", fmt.Sprintf("registry %q: want an image registry path such as ghcr.io/dapr", c.Dapr.Registry))
		}
		p.chart("dapr", c.Charts.Dapr)
	}
	if c.Kafka.Provider == KafkaStrimzi {
		p.chart("strimzi", c.Charts.Strimzi)
	}
	if c.Ingress.InstallController {
		p.chart("ingressNginx", c.Charts.IngressNginx)
	}
}

// validateImages checks how the images are built and published.
func (c *Config) validateImages(p *parser) {
	im := c.Images
	switch im.Publish {
	case PublishLoad:
		if c.Cloud != Minikube {
			p.fail("images", "publish \"load\" is for minikube; use \"push\" on "+string(c.Cloud))
		}
	case PublishPush:
		if c.Cloud == Minikube && im.Repository == "" {
			p.fail("images", "publish \"push\" on minikube needs repository (e.g. the registry addon, localhost:5000/todo)")
		}
	case PublishLayout:
		if im.LayoutDir == "" {
			p.fail("images", "layoutDir is required with publish \"layout\"")
		}
	case PublishNone:
		for _, name := range Services {
			d := im.Digests[name]
			if d == "" {
				d = im.Digest
			}
			if !digestRE.MatchString(d) {
				p.fail("images", fmt.Sprintf("publish \"none\" needs digest (or digests.%s) as sha256:<64 hex>, got %q", name, d))
				break
			}
		}
	default:
		p.fail("images", fmt.Sprintf("unknown publish mode %q (want load, push, layout or none)", im.Publish))
	}
	if im.Publish != PublishPush && im.Repository == "" {
		p.fail("images", "repository is required")
	}
	if im.Publish != PublishNone && !platformRE.MatchString(im.Platform) {
		p.fail("images", fmt.Sprintf("platform %q: want linux/amd64 or linux/arm64", im.Platform))
	}
	if im.Publish != PublishNone && im.Base == "" {
		p.fail("images", `base is required (an image reference pinned by digest, or "scratch")`)
	}
}

// validateIngress checks the ingress section.
func (c *Config) validateIngress(p *parser) {
	if c.Ingress.Enabled && c.Ingress.ClassName == "" {
		p.fail("ingress", "className is required when the ingress is enabled")
	}
	if c.Ingress.TLSSecretName != "" && c.Ingress.Host == "" {
		p.fail("ingress", "host is required with tlsSecretName")
	}
}

// validateAuth checks the auth, smtp and tracing sections.
func (c *Config) validateAuth(p *parser) {
	if c.Auth.Issuer == "" || c.Auth.Audience == "" {
		p.fail("auth", "issuer and audience are required")
	}
	if c.Auth.JWKSURL != "" && !strings.HasPrefix(c.Auth.JWKSURL, "https://") {
		p.fail("auth", "jwksUrl must be an https:// URL")
	}
	if c.SMTP.Addr != "" && !hostPort.MatchString(c.SMTP.Addr) {
		p.fail("smtp", fmt.Sprintf("addr %q is not host:port", c.SMTP.Addr))
	}
	tr := c.Tracing
	if u, err := url.Parse(tr.Endpoint); tr.Endpoint != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		p.fail("tracing", fmt.Sprintf("endpoint %q: want the collector's http:// or https:// URL", tr.Endpoint))
	}
	if tr.Protocol != "http/protobuf" && tr.Protocol != "grpc" {
		p.fail("tracing", fmt.Sprintf("protocol %q: want http/protobuf or grpc", tr.Protocol))
	}
	if tr.SampleRatio < 0 || tr.SampleRatio > 1 {
		p.fail("tracing", fmt.Sprintf("sampleRatio must be within 0..1, got %v", tr.SampleRatio))
	}
}

// validateRateLimit checks the rateLimit section.
func (c *Config) validateRateLimit(p *parser) {
	if rl := c.RateLimit; rl.PerAddress < 0 || rl.PerUser < 0 || rl.AuthFailures < 0 {
		p.fail("rateLimit", "perAddress, perUser and authFailures must be positive (0: the service's default)")
	}
	if w := c.RateLimit.Window; w != "" {
		if d, err := time.ParseDuration(w); err != nil || d < time.Second {
			p.fail("rateLimit", fmt.Sprintf("window %q is not a duration of at least 1s", w))
		}
	}
}

// validateApps checks each service's size.
func (c *Config) validateApps(p *parser) {
	for _, name := range Services {
		a := c.Apps[name]
		switch {
		case a.Replicas < 1:
			p.fail("apps", fmt.Sprintf("%s.replicas must be at least 1, got %d", name, a.Replicas))
		case a.MaxReplicas < a.Replicas:
			p.fail("apps", fmt.Sprintf("%s.maxReplicas (%d) is below replicas (%d)", name, a.MaxReplicas, a.Replicas))
		}
		if !quantityCPU.MatchString(a.CPURequest) || !quantityCPU.MatchString(a.CPULimit) {
			p.fail("apps", fmt.Sprintf("%s: cpuRequest %q / cpuLimit %q are not CPU quantities", name, a.CPURequest, a.CPULimit))
		}
		if !quantityMem.MatchString(a.MemoryRequest) || !quantityMem.MatchString(a.MemoryLimit) {
			p.fail("apps", fmt.Sprintf("%s: memoryRequest %q / memoryLimit %q are not memory quantities", name, a.MemoryRequest, a.MemoryLimit))
		}
		if a.TargetCPUUtilization < 10 || a.TargetCPUUtilization > 100 {
			p.fail("apps", fmt.Sprintf("%s.targetCpuUtilization must be within 10..100, got %d", name, a.TargetCPUUtilization))
		}
	}
}

// parser collects every problem instead of stopping at the first.
type parser struct {
	project string
	lookup  Lookup
	errs    []error
}

func (p *parser) key(k string) string { return p.project + ":" + k }

func (p *parser) fail(k, msg string) {
	p.errs = append(p.errs, &Error{Key: p.key(k), Msg: msg})
}

func (p *parser) str(k, def string) string {
	if v, ok := p.lookup(p.key(k)); ok {
		return v
	}
	return def
}

func (p *parser) boolean(k string, def bool) bool {
	v, ok := p.lookup(p.key(k))
	if !ok {
		return def
	}
	switch v {
	case "true":
		return true
	case "false":
		return false
	}
	p.fail(k, fmt.Sprintf("%q is not a boolean (true or false)", v))
	return def
}

// object decodes a structured value over the defaults already in out;
// unknown fields are errors (they are typos).
func (p *parser) object(k string, out any) {
	v, ok := p.lookup(p.key(k))
	if !ok {
		return
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		p.fail(k, "want an object: "+strings.TrimPrefix(err.Error(), "json: "))
	}
}

// sections decodes each section's key over the default already in s.
func (p *parser) sections(s *Sections) {
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		p.object(v.Type().Field(i).Tag.Get("key"), v.Field(i).Addr().Interface())
	}
}

func (p *parser) chart(name string, ch Chart) {
	if ch.Path == "" && (ch.Repository == "" || ch.Name == "" || ch.Version == "") {
		p.fail("charts", fmt.Sprintf("%s: set path, or repository, name and version", name))
	}
}

// secrets checks that the required secrets are set, and that every secret
// key that is set is stored encrypted.
func (p *parser) secrets(c *Config, isSecret func(string) bool) {
	// An empty value is unset: Pulumi.yaml gives the optional secrets an
	// empty default, which the CLI merges in as plaintext.
	has := func(k string) bool { v, _ := p.lookup(p.key(k)); return v != "" }
	var missing []string
	need := []string{KeyDatabaseURL, KeyInternalToken}
	if c.Auth.JWKSURL == "" {
		need = append(need, KeyJWTSecret)
	}
	if c.Kafka.Provider == KafkaExternal && c.Kafka.SASLMechanism != "" {
		need = append(need, KeyKafkaPassword)
	}
	if c.SMTP.Username != "" {
		need = append(need, KeySMTPPassword)
	}
	for _, k := range need {
		if !has(k) {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	for _, k := range missing {
		p.fail(k, fmt.Sprintf("required secret is not set; run: pulumi config set --secret %s -s %s <value>", p.key(k), c.Stack))
	}
	for _, k := range SecretKeys {
		if has(k) && !isSecret(p.key(k)) {
			p.fail(k, fmt.Sprintf("is stored in plaintext; remove it and run: pulumi config set --secret %s -s %s <value>", p.key(k), c.Stack))
		}
	}
}
