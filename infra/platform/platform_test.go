package platform

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"go.yaml.in/yaml/v3"

	"github.com/todo-platform/todo/infra/apps"
	"github.com/todo-platform/todo/infra/dapr"
	"github.com/todo-platform/todo/infra/kafka"
)

// expectation is what each stack must deploy.
type expectation struct {
	stack string
	// cloud resources that make up the cluster
	clusterTypes []string
	// topicType holds one resource per topic, partitions in partitionsKey
	topicType     string
	topicName     func(r *record) string
	partitionsKey []string
	partitions    map[string]int
	dapr          bool
	autoscaled    bool
	autoscalers   []string // the services with an autoscaler when not every one has
	pullSecret    bool
	kafkaAuth     bool // SASL credentials in the kafka Secret
	privateCA     bool // the brokers' CA is mounted
	ingressClass  string
	// ingressClassAnnotated: the class is the kubernetes.io/ingress.class
	// annotation, and spec.ingressClassName is absent (GKE).
	ingressClassAnnotated bool
	noIngress             bool
	// kafkaProtocolVersion is the Dapr pubsub.kafka "version" the stack's
	// Kafka needs ("" = none set).
	kafkaProtocolVersion string
	// apiServerPort is the API server port the Dapr sidecars must reach.
	apiServerPort int
	// daprValues are Dapr chart values the stack must set (path -> value).
	daprValues map[string]any
	// transport overrides the stack's eventsTransport.
	transport string
}

var expectations = []expectation{
	{
		stack:         "minikube",
		clusterTypes:  nil,
		topicType:     "kubernetes:kafka.strimzi.io/v1beta2:KafkaTopic",
		topicName:     func(r *record) string { return str(dig(r.obj(), "spec", "topicName")) },
		partitionsKey: []string{"spec", "partitions"},
		partitions:    map[string]int{kafka.TopicTaskEvents: 3, kafka.TopicReminders: 3, kafka.TopicTaskEventsDLQ: 1, kafka.TopicRemindersDLQ: 1},
		dapr:          true,
		ingressClass:  "nginx",
		apiServerPort: 8443, // minikube's API server
	},
	{
		// The local cluster: an external Kafka (make cluster's broker, so
		// the program creates no topics), no Ingress, and with the dapr
		// transport the Dapr images from the cluster's registry.
		stack:         "local",
		transport:     "dapr",
		dapr:          true,
		apiServerPort: 6443,
		noIngress:     true,
		autoscalers:   []string{"taskapi"},
		daprValues: map[string]any{
			"global.registry":          "127.0.0.1:5050/todo-cluster",
			"global.tag":               "1.16.5",
			"global.scheduler.enabled": false,
		},
	},
	{
		stack: "aks",
		clusterTypes: []string{
			"azure-native:resources:ResourceGroup", "azure-native:containerservice:ManagedCluster",
			"azure-native:containerservice:AgentPool", "azure-native:containerregistry:Registry",
			"azure-native:authorization:RoleAssignment",
		},
		topicType:     "azure-native:eventhub:EventHub",
		topicName:     func(r *record) string { return str(dig(r.obj(), "eventHubName")) },
		partitionsKey: []string{"partitionCount"},
		partitions:    map[string]int{kafka.TopicTaskEvents: 16, kafka.TopicReminders: 16, kafka.TopicTaskEventsDLQ: 2, kafka.TopicRemindersDLQ: 2},
		dapr:          true,
		autoscaled:    true,
		kafkaAuth:     true,
		ingressClass:  "nginx",
		// Dapr's Kafka client must announce protocol 1.0.0 to Event Hubs.
		kafkaProtocolVersion: "1.0.0",
		apiServerPort:        443,
	},
	{
		stack: "gke",
		clusterTypes: []string{
			"gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool",
			"gcp:artifactregistry/repository:Repository", "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
		},
		topicType:     "gcp:managedkafka/topic:Topic",
		topicName:     func(r *record) string { return str(dig(r.obj(), "topicId")) },
		partitionsKey: []string{"partitionCount"},
		partitions:    map[string]int{kafka.TopicTaskEvents: 12, kafka.TopicReminders: 12, kafka.TopicTaskEventsDLQ: 2, kafka.TopicRemindersDLQ: 2},
		autoscaled:    true,
		kafkaAuth:     true,
		ingressClass:  "gce",
		// GKE: the class is the annotation, never spec.ingressClassName.
		ingressClassAnnotated: true,
	},
	{
		stack: "doks",
		clusterTypes: []string{
			"digitalocean:index/kubernetesCluster:KubernetesCluster", "digitalocean:index/kubernetesNodePool:KubernetesNodePool",
			"digitalocean:index/containerRegistry:ContainerRegistry",
		},
		topicType:     "digitalocean:index/databaseKafkaTopic:DatabaseKafkaTopic",
		topicName:     func(r *record) string { return str(dig(r.obj(), "name")) },
		partitionsKey: []string{"partitionCount"},
		partitions:    map[string]int{kafka.TopicTaskEvents: 12, kafka.TopicReminders: 12, kafka.TopicTaskEventsDLQ: 2, kafka.TopicRemindersDLQ: 2},
		autoscaled:    true,
		pullSecret:    true,
		kafkaAuth:     true,
		privateCA:     true,
		ingressClass:  "nginx",
	},
}

// prepare loads a stack's real configuration and adapts it to the mocks:
// no image build (a fake digest), a test kubeconfig for minikube, and
// stand-ins for the secrets the operators of the cloud stacks set.
func prepare(t *testing.T, stack string) *stackConfig {
	t.Helper()
	sc := loadStack(t, stack)
	sc.merge(t, "todo:images", map[string]any{"publish": "none", "repository": "test.local/todo", "digest": fakeDigest})
	if stack == "minikube" || stack == "local" {
		kc, err := filepath.Abs(filepath.Join("testdata", "kubeconfig"))
		if err != nil {
			t.Fatal(err)
		}
		sc.merge(t, "todo:cluster", map[string]any{"kubeconfig": kc, "context": "minikube"})
		sc.secrets = append(sc.secrets, "kubeconfig-test-token-not-a-secret")
		if len(sc.secretKeys) < 3 {
			t.Fatalf("the %s stack should carry its secrets encrypted, has %v", stack, sc.secretKeys)
		}
		return sc
	}
	// The secrets the operators set (pulumi config set --secret, which
	// writes their ciphertext into the stack file): stand-ins for those
	// the file does not hold yet.
	for _, k := range []string{"databaseUrl", "databaseDirectUrl", "jwtSecret", "internalToken", "smtpPassword"} {
		if !slices.Contains(sc.secretKeys, "todo:"+k) {
			sc.setSecret("todo:"+k, standIn(stack, k))
		}
	}
	// Credentials the cloud mocks hand out.
	sc.secrets = append(sc.secrets, "eventhubs-key", "c2VydmljZS1hY2NvdW50LWtleQ==", "kafka-user-password", "do-token")
	return sc
}

func TestStacks(t *testing.T) {
	t.Parallel()
	for _, e := range expectations {
		t.Run(e.stack, func(t *testing.T) {
			t.Parallel()
			sc := prepare(t, e.stack)
			if e.transport != "" {
				sc.values["todo:eventsTransport"] = e.transport
			}
			res, err := run(t, e.stack, sc)
			if err != nil {
				t.Fatalf("program failed: %v", err)
			}
			checkStack(t, e, res, sc)
		})
	}
}

func checkStack(t *testing.T, e expectation, res *result, sc *stackConfig) {
	byType := map[string][]*record{}
	byURN := map[string]*record{}
	for _, r := range res.records {
		byType[r.Type] = append(byType[r.Type], r)
		byURN[r.URN] = r
	}
	k8sProviders := byType["pulumi:providers:kubernetes"]
	if len(k8sProviders) != 1 {
		t.Fatalf("%d Kubernetes providers, want exactly the cluster's", len(k8sProviders))
	}
	provider := k8sProviders[0]
	if !provider.Inputs["kubeconfig"].IsSecret() {
		t.Error("the provider's kubeconfig is not a secret")
	}

	t.Run("components", func(t *testing.T) {
		for _, r := range res.records {
			if r.Custom || r.Remote {
				continue
			}
			parts := strings.Split(r.Type, ":")
			if len(parts) != 3 || parts[0] != "todo" {
				t.Errorf("component %s has type %s, want todo:<area>:<Kind>", r.Name, r.Type)
			}
		}
		for _, r := range res.records {
			if !r.Custom && !r.Remote {
				continue
			}
			if strings.HasPrefix(r.Type, "pulumi:providers:") && r.Parent == "" {
				continue
			}
			p := byURN[r.Parent]
			if p == nil || !strings.HasPrefix(p.Type, "todo:") {
				t.Errorf("%s %s is not the child of a component (parent %q)", r.Type, r.Name, r.Parent)
			}
		}
	})

	t.Run("explicit kubernetes provider", func(t *testing.T) {
		for _, r := range res.records {
			if !strings.HasPrefix(r.Type, "kubernetes:") {
				continue
			}
			got := r.Provider
			if r.Remote {
				got = r.Providers["kubernetes"]
			}
			if !strings.HasPrefix(got, provider.URN+"::") {
				t.Errorf("%s %s uses provider %q, want the cluster's", r.Type, r.Name, got)
			}
		}
	})

	t.Run("cluster", func(t *testing.T) {
		for _, typ := range e.clusterTypes {
			if len(byType[typ]) == 0 {
				t.Errorf("no %s", typ)
			}
		}
	})

	t.Run("workloads", func(t *testing.T) {
		deployments := byType["kubernetes:apps/v1:Deployment"]
		if len(deployments) != len(apps.Catalog) {
			t.Fatalf("%d Deployments, want %d", len(deployments), len(apps.Catalog))
		}
		jobs := map[string]*record{}
		for _, j := range byType["kubernetes:batch/v1:Job"] {
			jobs[str(dig(j.obj(), "metadata", "labels", "app.kubernetes.io/name"))] = j
		}
		for _, d := range deployments {
			checkDeployment(t, e, d, jobs, byURN)
		}
		for _, svc := range apps.Catalog {
			if j := jobs[svc.Name]; (j != nil) != svc.Migrates {
				t.Errorf("%s: migration Job present=%v, want %v", svc.Name, j != nil, svc.Migrates)
			}
		}
		for _, kind := range []string{"kubernetes:core/v1:Service", "kubernetes:policy/v1:PodDisruptionBudget", "kubernetes:core/v1:ServiceAccount"} {
			if n := len(byType[kind]); n != len(apps.Catalog) {
				t.Errorf("%d %s, want %d", n, kind, len(apps.Catalog))
			}
		}
		hpas := byType["kubernetes:autoscaling/v2:HorizontalPodAutoscaler"]
		if e.autoscaled && len(hpas) != len(apps.Catalog) {
			t.Errorf("%d autoscalers, want one per service", len(hpas))
		}
		if !e.autoscaled && len(hpas) != len(e.autoscalers) {
			t.Errorf("%d autoscalers, want %d (%v)", len(hpas), len(e.autoscalers), e.autoscalers)
		}
		for _, h := range hpas {
			min, max := num(dig(h.obj(), "spec", "minReplicas")), num(dig(h.obj(), "spec", "maxReplicas"))
			if min < 1 || max <= min {
				t.Errorf("autoscaler %s: min %d max %d", h.Name, min, max)
			}
		}
	})

	t.Run("network policies", func(t *testing.T) {
		var deny *record
		perService := map[string]*record{}
		for _, np := range byType["kubernetes:networking.k8s.io/v1:NetworkPolicy"] {
			o := np.obj()
			if str(dig(o, "metadata", "name")) == "default-deny" {
				deny = np
			}
			perService[str(dig(o, "spec", "podSelector", "matchLabels", "app.kubernetes.io/name"))] = np
		}
		if deny == nil {
			t.Fatal("no default-deny NetworkPolicy")
		}
		d := deny.obj()
		if sel := dig(d, "spec", "podSelector"); len(asMap(sel)) != 0 || !slices.Equal(strs(dig(d, "spec", "policyTypes")), []string{"Ingress", "Egress"}) {
			t.Errorf("default-deny selects %v with %v", sel, dig(d, "spec", "policyTypes"))
		}
		for _, svc := range apps.Catalog {
			np := perService[svc.Name]
			if np == nil {
				t.Errorf("%s has no NetworkPolicy", svc.Name)
				continue
			}
			egress := fmt.Sprint(dig(np.obj(), "spec", "egress"))
			for _, want := range []string{"53", "5432"} {
				if !strings.Contains(egress, want) {
					t.Errorf("%s: egress %s does not allow port %s", svc.Name, egress, want)
				}
			}
		}
		if e.dapr {
			for _, svc := range apps.Catalog {
				if !egressAllowsPort(perService[svc.Name], e.apiServerPort) {
					t.Errorf("%s: the Dapr sidecar cannot reach the API server on %d: egress %v", svc.Name, e.apiServerPort, dig(perService[svc.Name].obj(), "spec", "egress"))
				}
			}
		}
		// Only recurring may call taskapi's internal endpoint.
		ingress := fmt.Sprint(dig(perService["taskapi"].obj(), "spec", "ingress"))
		if !strings.Contains(ingress, "recurring") {
			t.Errorf("taskapi does not admit recurring: %s", ingress)
		}
	})

	t.Run("metrics port", func(t *testing.T) {
		// /metrics listens on a port of its own, which the pods declare and
		// Prometheus scrapes, but which no Service (so no Ingress) exposes,
		// and which only the monitoring namespace may reach.
		var network struct {
			MonitoringNamespace string `json:"monitoringNamespace"`
		}
		if v := sc.values["todo:network"]; v != "" {
			if err := json.Unmarshal([]byte(v), &network); err != nil {
				t.Fatalf("todo:network: %v", err)
			}
		}
		monitoring := network.MonitoringNamespace
		for _, d := range byType["kubernetes:apps/v1:Deployment"] {
			o := d.obj()
			name := str(dig(o, "metadata", "name"))
			c := arr(dig(o, "spec", "template", "spec", "containers"))[0]
			ports := map[string]int{}
			for _, p := range arr(dig(c, "ports")) {
				ports[str(dig(p, "name"))] = num(dig(p, "containerPort"))
			}
			if ports["metrics"] != apps.MetricsPort || ports["http"] != apps.Port {
				t.Errorf("%s: container ports %v, want http %d and metrics %d", name, ports, apps.Port, apps.MetricsPort)
			}
			env := map[string]string{}
			for _, v := range arr(dig(c, "env")) {
				env[str(dig(v, "name"))] = str(dig(v, "value"))
			}
			if want := fmt.Sprintf(":%d", apps.MetricsPort); env["METRICS_ADDR"] != want {
				t.Errorf("%s: METRICS_ADDR %q, want %q", name, env["METRICS_ADDR"], want)
			}
			if got := str(dig(o, "spec", "template", "metadata", "annotations", "prometheus.io/port")); got != strconv.Itoa(apps.MetricsPort) {
				t.Errorf("%s: prometheus.io/port %q, want the metrics port %d", name, got, apps.MetricsPort)
			}
		}
		for _, s := range byType["kubernetes:core/v1:Service"] {
			for _, p := range arr(dig(s.obj(), "spec", "ports")) {
				if port, target := num(dig(p, "port")), dig(p, "targetPort"); port != apps.Port || (str(target) != "http" && num(target) != apps.Port) {
					t.Errorf("Service %s exposes port %v (target %v): only the API's %d may be", s.Name, port, target, apps.Port)
				}
			}
		}
		for _, np := range byType["kubernetes:networking.k8s.io/v1:NetworkPolicy"] {
			for _, rule := range arr(dig(np.obj(), "spec", "ingress")) {
				fromMonitoring := monitoring != "" && strings.Contains(fmt.Sprint(dig(rule, "from")), monitoring)
				for _, p := range arr(dig(rule, "ports")) {
					port := num(dig(p, "port"))
					if (port == apps.MetricsPort || port == apps.DaprMetricsPort) && !fromMonitoring {
						t.Errorf("NetworkPolicy %s admits the metrics port %d from %v, not the monitoring namespace", np.Name, port, dig(rule, "from"))
					}
					if fromMonitoring && port == apps.Port {
						t.Errorf("NetworkPolicy %s admits the monitoring namespace to the API port %d", np.Name, port)
					}
				}
			}
		}
	})

	t.Run("ingress", func(t *testing.T) {
		ings := byType["kubernetes:networking.k8s.io/v1:Ingress"]
		if e.noIngress {
			if len(ings) != 0 {
				t.Errorf("%d Ingresses on a stack without ingress", len(ings))
			}
			return
		}
		if len(ings) != 1 {
			t.Fatalf("%d Ingresses, want 1", len(ings))
		}
		wantURL := map[string]string{"aks": "https://todo.example.com/", "gke": "http://todo.example.com/", "minikube": ""}
		if want, ok := wantURL[e.stack]; ok && res.outputs["url"] != want {
			t.Errorf("url output %v, want %q", res.outputs["url"], want)
		}
		o := ings[0].obj()
		className, hasClassName := asMap(dig(o, "spec"))["ingressClassName"]
		annotation := str(dig(o, "metadata", "annotations", "kubernetes.io/ingress.class"))
		if e.ingressClassAnnotated {
			// GKE's controller ignores spec.ingressClassName and acts on
			// the annotation only: with the field set, no load balancer.
			if hasClassName {
				t.Errorf("spec.ingressClassName %v on %s, whose Ingress controller ignores it", className, e.stack)
			}
			if annotation != e.ingressClass {
				t.Errorf("kubernetes.io/ingress.class annotation %q, want %q", annotation, e.ingressClass)
			}
		} else {
			if str(className) != e.ingressClass {
				t.Errorf("ingress class %q, want %q", className, e.ingressClass)
			}
			if annotation != "" {
				t.Errorf("deprecated kubernetes.io/ingress.class annotation %q beside spec.ingressClassName", annotation)
			}
		}
		routes := map[string]string{}
		for _, rule := range arr(dig(o, "spec", "rules")) {
			for _, p := range arr(dig(rule, "http", "paths")) {
				path := str(dig(p, "path"))
				routes[path] = str(dig(p, "backend", "service", "name"))
				if path == "/" && str(dig(p, "pathType")) != "Exact" {
					t.Error(`"/" must be Exact, or every path (/internal/ too) reaches taskapi`)
				}
				if strings.HasPrefix(path, "/internal") {
					t.Errorf("internal path %s on the Ingress", path)
				}
			}
		}
		want := map[string]string{
			"/api/v1/tasks": "taskapi", "/api/v1/tags": "taskapi", "/api/v1/openapi.json": "taskapi", "/": "taskapi",
			"/api/v1/audit": "audit", "/api/v1/notifications": "notifier", "/api/v1/webhooks": "notifier", "/ws": "realtime",
			"/_next/static": "taskapi", "/app-config.json": "taskapi",
		}
		for path, svc := range want {
			if routes[path] != svc {
				t.Errorf("%s routes to %q, want %s", path, routes[path], svc)
			}
		}
	})

	t.Run("kafka topics", func(t *testing.T) {
		got := map[string]int{}
		for _, r := range byType[e.topicType] {
			got[e.topicName(r)] = num(dig(r.obj(), e.partitionsKey...))
		}
		for topic, want := range e.partitions {
			if got[topic] != want {
				t.Errorf("topic %s: %d partitions, want %d (all: %v)", topic, got[topic], want, got)
			}
		}
		if len(got) != len(e.partitions) {
			t.Errorf("topics %v, want %v", got, e.partitions)
		}
	})

	t.Run("kafka secret", func(t *testing.T) {
		s := secretNamed(byType, kafka.SecretName)
		if s == nil {
			t.Fatal("no kafka credentials Secret")
		}
		data := s.Inputs["stringData"]
		pw := dig(s.obj(), "stringData", "password")
		if e.kafkaAuth && str(pw) == "" {
			t.Error("the kafka Secret has no password")
		}
		if !data.IsSecret() && !data.ObjectValue()["password"].IsSecret() {
			t.Error("the kafka password is not a secret")
		}
	})

	t.Run("operator stages", func(t *testing.T) {
		charts := map[string]*record{}
		for _, c := range byType["kubernetes:helm.sh/v4:Chart"] {
			charts[c.Name] = c
		}
		crdOwner := map[string]string{"kafka.strimzi.io": "kafka-operator", "dapr.io": "dapr"}
		crs := 0
		for _, r := range res.records {
			group := crGroup(r.Type)
			owner, ok := crdOwner[group]
			if !ok {
				continue
			}
			if r.Type == "kubernetes:dapr.io/v1alpha1:Configuration" && str(dig(r.obj(), "metadata", "name")) == dapr.SystemConfig {
				continue // the control plane's own: checked in "dapr"
			}
			crs++
			chart := charts[owner]
			if chart == nil {
				t.Errorf("%s %s: no %s chart in the stack", r.Type, r.Name, owner)
				continue
			}
			if !slices.Contains(r.Deps, chart.URN) {
				t.Errorf("%s %s does not depend on the %s operator stage (deps %v)", r.Type, r.Name, owner, r.Deps)
			}
		}
		if e.stack == "minikube" && crs == 0 {
			t.Error("no custom resources checked")
		}
	})

	t.Run("dapr", func(t *testing.T) {
		comps := map[string]*record{}
		for _, r := range byType["kubernetes:dapr.io/v1alpha1:Component"] {
			comps[str(dig(r.obj(), "metadata", "name"))] = r
		}
		if !e.dapr {
			if len(comps) > 0 || len(byType["kubernetes:helm.sh/v4:Chart"]) > 0 && charted(byType, "dapr") {
				t.Error("Dapr deployed on a stack without it")
			}
			return
		}
		for path, want := range e.daprValues {
			var chart *record
			for _, c := range byType["kubernetes:helm.sh/v4:Chart"] {
				if c.Name == "dapr" {
					chart = c
				}
			}
			if chart == nil {
				t.Fatal("no dapr chart")
			}
			if got := dig(chart.obj(), append([]string{"values"}, strings.Split(path, ".")...)...); got != want {
				t.Errorf("dapr chart value %s = %v, want %v", path, got, want)
			}
		}
		// The control plane's Configuration is the program's, made beside
		// the chart (whose workloads depend on it: dapr.DependOn), in the
		// control plane's namespace; the chart must not render its own.
		var sysConfigs []*record
		for _, r := range byType["kubernetes:dapr.io/v1alpha1:Configuration"] {
			if str(dig(r.obj(), "metadata", "name")) == dapr.SystemConfig {
				sysConfigs = append(sysConfigs, r)
			}
		}
		if len(sysConfigs) != 1 {
			t.Fatalf("%d %s Configurations, want 1", len(sysConfigs), dapr.SystemConfig)
		}
		sc := sysConfigs[0].obj()
		if ns := str(dig(sc, "metadata", "namespace")); ns != "dapr-system" {
			t.Errorf("%s in namespace %q, want dapr-system", dapr.SystemConfig, ns)
		}
		if dig(sc, "spec", "mtls", "enabled") != true || str(dig(sc, "spec", "mtls", "sentryAddress")) != "dapr-sentry.dapr-system.svc.cluster.local:443" {
			t.Errorf("%s mtls = %v", dapr.SystemConfig, dig(sc, "spec", "mtls"))
		}
		for _, c := range byType["kubernetes:helm.sh/v4:Chart"] {
			if c.Name == "dapr" && dig(c.obj(), "values", "dapr_config", "dapr_config_chart_included") != false {
				t.Error("the Dapr chart renders its own daprsystem Configuration too")
			}
		}
		pubsub := comps["pubsub"]
		if pubsub == nil || str(dig(pubsub.obj(), "spec", "type")) != "pubsub.kafka" {
			t.Fatalf("no pubsub.kafka component: %v", comps)
		}
		// The services start after the injector and their components exist.
		daprChart := byType["kubernetes:helm.sh/v4:Chart"]
		for _, svcs := range byType["todo:apps:Services"] {
			for _, c := range daprChart {
				if c.Name == "dapr" && !slices.Contains(svcs.Deps, c.URN) {
					t.Error("the services do not wait for the Dapr control plane")
				}
			}
			if !slices.Contains(svcs.Deps, comps["pubsub"].URN) {
				t.Error("the services do not wait for their Dapr components")
			}
		}
		broadcast := comps["pubsub-realtime"]
		if broadcast == nil || !strings.Contains(fmt.Sprint(dig(broadcast.obj(), "spec", "metadata")), "{podName}") {
			t.Error("realtime's pub/sub component has no consumer group per pod")
		}
		if got := metadata(broadcast)["initialOffset"]["value"]; got != "newest" {
			t.Errorf("realtime's pub/sub initialOffset %v: a new pod's group must start at the newest message", got)
		}
		if !slices.Equal(strs(dig(broadcast.obj(), "scopes")), []string{"realtime"}) {
			t.Errorf("realtime's pub/sub scopes %v", dig(broadcast.obj(), "scopes"))
		}
		md := metadata(pubsub)
		if e.kafkaAuth {
			if ref := md["saslPassword"]; ref["secretKeyRef.name"] != kafka.SecretName || ref["secretKeyRef.key"] != "password" {
				t.Errorf("pubsub saslPassword = %v, want a reference to %s/password", ref, kafka.SecretName)
			}
		} else if md["authType"]["value"] != "none" {
			t.Errorf("pubsub authType %v", md["authType"])
		}
		for _, c := range []*record{pubsub, broadcast} {
			if got := metadata(c)["version"]["value"]; got != e.kafkaProtocolVersion {
				t.Errorf("%s: Kafka protocol version %q, want %q", c.Name, got, e.kafkaProtocolVersion)
			}
		}
		// No service uses Dapr's state API: a state store would only make
		// every sidecar connect to the database at start.
		for n, c := range comps {
			if typ := str(dig(c.obj(), "spec", "type")); strings.HasPrefix(typ, "state.") {
				t.Errorf("state store component %s (%s): no service uses Dapr's state API", n, typ)
			}
		}
		// The sidecars read the Kafka credentials through the secret store,
		// and no other Secret.
		for _, role := range byType["kubernetes:rbac.authorization.k8s.io/v1:Role"] {
			for _, rule := range arr(dig(role.obj(), "rules")) {
				if got := strs(dig(rule, "resourceNames")); !slices.Equal(got, []string{kafka.SecretName}) {
					t.Errorf("Role %s lets the sidecar read Secrets %v, want only %s", role.Name, got, kafka.SecretName)
				}
			}
		}
		if s := comps["secretstore"]; s == nil || str(dig(s.obj(), "spec", "type")) != "secretstores.kubernetes" {
			t.Error("no secretstores.kubernetes component")
		}
		if len(byType["kubernetes:dapr.io/v1alpha1:Resiliency"]) != 1 {
			t.Error("no Resiliency")
		}
		subs := byType["kubernetes:dapr.io/v2alpha1:Subscription"]
		if len(subs) == 0 {
			t.Error("no declarative Subscriptions")
		}
		for _, s := range subs {
			o := s.obj()
			topic := str(dig(o, "spec", "topic"))
			if got := str(dig(o, "spec", "deadLetterTopic")); got != "" {
				t.Errorf("subscription %s: dead-letter topic %q: the sidecar would dead-letter on the first RETRY", s.Name, got)
			}
			if got := str(dig(o, "spec", "routes", "default")); got != "/dapr/events/"+topic {
				t.Errorf("subscription %s: route %q, want the services' /dapr/events/%s", s.Name, got, topic)
			}
		}
	})

	t.Run("strimzi", func(t *testing.T) {
		// The custom resources speak the API version the pinned chart
		// serves, without the annotations it ignores.
		want := kafka.StrimziAPIVersion(chartVersion(t, "strimzi"))
		n := 0
		for _, r := range res.records {
			if crGroup(r.Type) != "kafka.strimzi.io" {
				continue
			}
			n++
			if got := str(dig(r.obj(), "apiVersion")); got != want {
				t.Errorf("%s %s: apiVersion %s, want %s (the pinned chart's)", r.Type, r.Name, got, want)
			}
			for _, a := range []string{"strimzi.io/kraft", "strimzi.io/node-pools"} {
				if v, ok := asMap(dig(r.obj(), "metadata", "annotations"))[a]; ok {
					t.Errorf("%s %s: annotation %s=%v, which Strimzi 0.48 and later ignore", r.Type, r.Name, a, v)
				}
			}
		}
		if e.stack == "minikube" && n == 0 {
			t.Error("no Strimzi resources on minikube")
		}
	})

	t.Run("autoscaled node pools", func(t *testing.T) {
		// AKS refuses a manual scale of a pool under its autoscaler: the
		// count is the initial size only, never diffed again.
		want := map[string]string{
			"azure-native:containerservice:ManagedCluster": "agentPoolProfiles[0].count",
			"azure-native:containerservice:AgentPool":      "count",
		}
		for typ, path := range want {
			for _, r := range byType[typ] {
				if !slices.Contains(r.IgnoreChanges, path) {
					t.Errorf("%s %s: ignoreChanges %v, want %s (the autoscaler owns it)", typ, r.Name, r.IgnoreChanges, path)
				}
			}
		}
	})

	t.Run("kubeconfig in state", func(t *testing.T) {
		if e.stack != "minikube" && e.stack != "local" {
			return
		}
		// The test kubeconfig has a second context with a cloud token:
		// only the chosen context may reach the state.
		kc := str(plain(provider.Inputs["kubeconfig"]))
		for _, leak := range []string{"other-cloud", otherContextToken} {
			if strings.Contains(kc, leak) {
				t.Errorf("the state's kubeconfig holds %q of another context:\n%s", leak, kc)
			}
		}
		if !strings.Contains(kc, "kubeconfig-test-token-not-a-secret") || !strings.Contains(kc, "current-context: minikube") {
			t.Errorf("the state's kubeconfig lost the chosen context:\n%s", kc)
		}
	})

	t.Run("pull secret", func(t *testing.T) {
		if has := secretNamed(byType, apps.PullSecretName) != nil; has != e.pullSecret {
			t.Errorf("registry pull secret present=%v, want %v", has, e.pullSecret)
		}
	})

	t.Run("no plaintext secrets", func(t *testing.T) {
		for _, r := range res.records {
			for _, leak := range plaintextLeaks(resource.NewPropertyValue(r.Inputs), sc.secrets) {
				t.Errorf("%s %s: secret %q in plaintext", r.Type, r.Name, leak)
			}
		}
		for k, v := range res.outputs {
			if res.secretOf[k] {
				continue
			}
			for _, s := range sc.secrets {
				if strings.Contains(fmt.Sprint(v), s) {
					t.Errorf("output %s holds secret %q in plaintext", k, s)
				}
			}
		}
		if !res.secretOf["kubeconfig"] {
			t.Error("the kubeconfig output is not secret")
		}
	})
}

func checkDeployment(t *testing.T, e expectation, d *record, jobs map[string]*record, byURN map[string]*record) {
	t.Helper()
	o := d.obj()
	name := str(dig(o, "metadata", "name"))
	pod := dig(o, "spec", "template")
	spec := dig(pod, "spec")
	if dig(spec, "securityContext", "runAsNonRoot") != true {
		t.Errorf("%s: pod does not run as non-root", name)
	}
	containers := arr(dig(spec, "containers"))
	if len(containers) != 1 {
		t.Fatalf("%s: %d containers", name, len(containers))
	}
	c := containers[0]
	if got := str(dig(c, "image")); got != "test.local/todo/"+name+"@"+fakeDigest {
		t.Errorf("%s: image %q, want the digest reference", name, got)
	}
	if str(dig(c, "livenessProbe", "httpGet", "path")) != "/healthz" || str(dig(c, "readinessProbe", "httpGet", "path")) != "/readyz" {
		t.Errorf("%s: probes %v / %v", name, dig(c, "livenessProbe"), dig(c, "readinessProbe"))
	}
	for _, k := range []string{"cpu", "memory"} {
		if str(dig(c, "resources", "limits", k)) == "" || str(dig(c, "resources", "requests", k)) == "" {
			t.Errorf("%s: no %s request/limit: %v", name, k, dig(c, "resources"))
		}
	}
	sec := dig(c, "securityContext")
	if dig(sec, "readOnlyRootFilesystem") != true || dig(sec, "allowPrivilegeEscalation") != false || dig(sec, "runAsNonRoot") != true {
		t.Errorf("%s: container security context %v", name, sec)
	}
	if num(dig(arr(dig(c, "ports"))[0], "containerPort")) != apps.Port {
		t.Errorf("%s: port %v", name, dig(c, "ports"))
	}
	env := map[string]any{}
	for _, v := range arr(dig(c, "env")) {
		env[str(dig(v, "name"))] = v
	}
	for _, k := range []string{"ADDR", "LOG_LEVEL", "EVENTS_TRANSPORT", "KAFKA_BROKERS", "KAFKA_TLS", "KAFKA_SASL_MECHANISM", "KAFKA_USERNAME", "KAFKA_PASSWORD", "DAPR_HTTP_PORT", "DAPR_PUBSUB", "DATABASE_URL", "DATABASE_DIRECT_URL"} {
		if env[k] == nil {
			t.Errorf("%s: no %s", name, k)
		}
	}
	if ref := dig(env["DATABASE_URL"], "valueFrom", "secretKeyRef"); str(dig(ref, "name")) != "database" || str(dig(ref, "key")) != "url" {
		t.Errorf("%s: DATABASE_URL from %v", name, ref)
	}
	// The services LISTEN on the direct URL: through Neon's pooler no
	// notification would arrive.
	if ref := dig(env["DATABASE_DIRECT_URL"], "valueFrom", "secretKeyRef"); str(dig(ref, "name")) != "database" || str(dig(ref, "key")) != "directUrl" {
		t.Errorf("%s: DATABASE_DIRECT_URL from %v", name, ref)
	}
	if ref := dig(env["KAFKA_PASSWORD"], "valueFrom", "secretKeyRef"); str(dig(ref, "name")) != kafka.SecretName {
		t.Errorf("%s: KAFKA_PASSWORD from %v", name, ref)
	}
	// The local stack's todo:rateLimit raises the limits of the public APIs
	// (the services that verify user tokens) for its load test; the other
	// stacks keep the services' defaults.
	if want := e.stack == "local" && name != "recurring"; want != (env["RATE_LIMIT_PER_USER"] != nil) {
		t.Errorf("%s: RATE_LIMIT_PER_USER %v, want it set: %v", name, env["RATE_LIMIT_PER_USER"], want)
	}
	if e.privateCA != (env["KAFKA_TLS_CA_FILE"] != nil) {
		t.Errorf("%s: KAFKA_TLS_CA_FILE %v, want it iff the brokers use a private CA", name, env["KAFKA_TLS_CA_FILE"])
	}
	annotations := asMap(dig(pod, "metadata", "annotations"))
	if on := annotations["dapr.io/enabled"] == "true"; on != e.dapr {
		t.Errorf("%s: Dapr sidecar %v, want %v", name, on, e.dapr)
	}
	if e.dapr && (annotations["dapr.io/app-id"] != name || annotations["dapr.io/app-port"] != "8080") {
		t.Errorf("%s: Dapr annotations %v", name, annotations)
	}
	if e.dapr {
		for k, secret := range map[string]string{"DAPR_API_TOKEN": apps.DaprAPITokenSecret, "APP_API_TOKEN": apps.DaprAppTokenSecret} {
			if ref := dig(env[k], "valueFrom", "secretKeyRef"); str(dig(ref, "name")) != secret || str(dig(ref, "key")) != "token" {
				t.Errorf("%s: %s from %v, want %s/token", name, k, ref, secret)
			}
		}
		if annotations["dapr.io/api-token-secret"] != apps.DaprAPITokenSecret || annotations["dapr.io/app-token-secret"] != apps.DaprAppTokenSecret {
			t.Errorf("%s: the sidecar's token annotations %v", name, annotations)
		}
	} else if env["APP_API_TOKEN"] != nil {
		t.Errorf("%s: APP_API_TOKEN without Dapr", name)
	}
	svc := catalog(name)
	if svc.Broadcast {
		if str(dig(env["POD_NAME"], "valueFrom", "fieldRef", "fieldPath")) != "metadata.name" {
			t.Errorf("%s: no POD_NAME from the downward API", name)
		}
		if want := map[bool]string{true: "pubsub-realtime", false: "pubsub"}[e.dapr]; str(dig(env["DAPR_PUBSUB"], "value")) != want {
			t.Errorf("%s: DAPR_PUBSUB %v, want %s", name, dig(env["DAPR_PUBSUB"], "value"), want)
		}
	}
	// The web app signs in at the stack's issuer when it is an https:// URL
	// (gke's); with the HS256 development issuer it asks for a token.
	wantIssuer := map[string]string{"gke": "https://auth.todo.example.com/"}[e.stack]
	if !svc.WebApp {
		wantIssuer = ""
	}
	if got := str(dig(env["OIDC_ISSUER"], "value")); got != wantIssuer {
		t.Errorf("%s: OIDC_ISSUER %q, want %q", name, got, wantIssuer)
	}
	if wantIssuer != "" && str(dig(env["OIDC_CLIENT_ID"], "value")) != "todo-web" {
		t.Errorf("%s: OIDC_CLIENT_ID %v, want todo-web", name, env["OIDC_CLIENT_ID"])
	}
	if env["OTEL_EXPORTER_OTLP_ENDPOINT"] != nil {
		t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT set, but the stack sets no tracing endpoint", name)
	}
	if svc.VerifiesJWT && env["JWT_SECRET"] == nil && env["JWT_JWKS_URL"] == nil {
		t.Errorf("%s: neither JWT_SECRET nor JWT_JWKS_URL", name)
	}
	if svc.InternalToken && str(dig(env["INTERNAL_TOKEN"], "valueFrom", "secretKeyRef", "name")) != apps.AppSecretName {
		t.Errorf("%s: INTERNAL_TOKEN %v", name, env["INTERNAL_TOKEN"])
	}
	if name == "recurring" && str(dig(env["TASKAPI_URL"], "value")) != "http://taskapi:8080" {
		t.Errorf("recurring: TASKAPI_URL %v", env["TASKAPI_URL"])
	}
	if svc.Migrates {
		job := jobs[name]
		if job == nil {
			return
		}
		if !slices.Contains(d.Deps, job.URN) {
			t.Errorf("%s: the Deployment does not wait for its migration Job", name)
		}
		jc := arr(dig(job.obj(), "spec", "template", "spec", "containers"))[0]
		if !slices.Equal(strs(dig(jc, "args")), []string{"migrate"}) {
			t.Errorf("%s: migration args %v", name, dig(jc, "args"))
		}
		if dig(job.obj(), "spec", "template", "metadata", "annotations", "dapr.io/enabled") != "false" {
			t.Errorf("%s: the migration pod may get a sidecar", name)
		}
		var direct any
		for _, v := range arr(dig(jc, "env")) {
			if str(dig(v, "name")) == "DATABASE_DIRECT_URL" {
				direct = v
			}
		}
		if str(dig(direct, "valueFrom", "secretKeyRef", "key")) != "directUrl" {
			t.Errorf("%s: migration DATABASE_DIRECT_URL %v", name, direct)
		}
	}
}

func catalog(name string) apps.Service {
	for _, s := range apps.Catalog {
		if s.Name == name {
			return s
		}
	}
	return apps.Service{}
}

func charted(byType map[string][]*record, name string) bool {
	for _, c := range byType["kubernetes:helm.sh/v4:Chart"] {
		if c.Name == name {
			return true
		}
	}
	return false
}

func secretNamed(byType map[string][]*record, name string) *record {
	for _, s := range byType["kubernetes:core/v1:Secret"] {
		if str(dig(s.obj(), "metadata", "name")) == name {
			return s
		}
	}
	return nil
}

// crGroup is the API group of a Kubernetes custom resource type token
// (kubernetes:<group>/<version>:<Kind>), or "" for other resources.
func crGroup(typ string) string {
	rest, ok := strings.CutPrefix(typ, "kubernetes:")
	if !ok {
		return ""
	}
	gv, _, _ := strings.Cut(rest, ":")
	group, _, _ := strings.Cut(gv, "/")
	return group
}

// otherContextToken is the token of the test kubeconfig's other context
// (testdata/kubeconfig), which must never reach the state.
const otherContextToken = "other-context-cloud-token"

// chartVersion is the default version of a chart in Pulumi.yaml.
func chartVersion(t *testing.T, chart string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var project struct {
		Config struct {
			Charts struct {
				Default map[string]struct {
					Version string `yaml:"version"`
				} `yaml:"default"`
			} `yaml:"charts"`
		} `yaml:"config"`
	}
	if err := yaml.Unmarshal(raw, &project); err != nil {
		t.Fatal(err)
	}
	v := project.Config.Charts.Default[chart].Version
	if v == "" {
		t.Fatalf("Pulumi.yaml pins no version of the %s chart", chart)
	}
	return v
}

// egressAllowsPort reports whether a NetworkPolicy has an egress rule
// allowing TCP port.
func egressAllowsPort(np *record, port int) bool {
	if np == nil {
		return false
	}
	for _, rule := range arr(dig(np.obj(), "spec", "egress")) {
		for _, p := range arr(dig(rule, "ports")) {
			if num(dig(p, "port")) == port {
				return true
			}
		}
	}
	return false
}

// metadata flattens a Dapr component's metadata list: name -> {value,
// secretKeyRef.name, secretKeyRef.key}.
func metadata(r *record) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, item := range arr(dig(r.obj(), "spec", "metadata")) {
		out[str(dig(item, "name"))] = map[string]string{
			"value":             str(dig(item, "value")),
			"secretKeyRef.name": str(dig(item, "secretKeyRef", "name")),
			"secretKeyRef.key":  str(dig(item, "secretKeyRef", "key")),
		}
	}
	return out
}

// plaintextLeaks returns the secrets that appear in v outside a secret.
func plaintextLeaks(v resource.PropertyValue, secrets []string) []string {
	var leaks []string
	var walk func(v resource.PropertyValue)
	walk = func(v resource.PropertyValue) {
		switch {
		case v.IsSecret():
			return
		case v.IsString():
			for _, s := range secrets {
				if s != "" && strings.Contains(v.StringValue(), s) {
					leaks = append(leaks, s)
				}
			}
		case v.IsArray():
			for _, x := range v.ArrayValue() {
				walk(x)
			}
		case v.IsObject():
			for _, x := range v.ObjectValue() {
				walk(x)
			}
		}
	}
	walk(v)
	return leaks
}

// obj is the resource's inputs as plain Go values (secrets unwrapped).
func (r *record) obj() map[string]any {
	return plain(resource.NewPropertyValue(r.Inputs)).(map[string]any)
}

func plain(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return plain(v.SecretValue().Element)
	case v.IsObject():
		m := map[string]any{}
		for k, x := range v.ObjectValue() {
			m[string(k)] = plain(x)
		}
		return m
	case v.IsArray():
		var a []any
		for _, x := range v.ArrayValue() {
			a = append(a, plain(x))
		}
		return a
	case v.IsOutput():
		return plain(v.OutputValue().Element)
	}
	return v.V
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case int:
		return n
	}
	return -1
}

func arr(v any) []any {
	a, _ := v.([]any)
	return a
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func strs(v any) []string {
	var out []string
	for _, x := range arr(v) {
		out = append(out, str(x))
	}
	return out
}

// A stack without one of its secrets fails with a message that names the key.
// TestTracing: with a tracing endpoint, every service gets the OTEL_*
// settings (sampling new traces at the ratio, following a caller's) and may
// reach the collector's port.
func TestTracing(t *testing.T) {
	t.Parallel()
	sc := prepare(t, "gke")
	sc.values["todo:tracing"] = `{"endpoint":"http://otel-collector.observability:4318","sampleRatio":0.25}`
	res, err := run(t, "gke", sc)
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}
	policies := map[string]*record{}
	var deployments []*record
	for _, r := range res.records {
		switch r.Type {
		case "kubernetes:networking.k8s.io/v1:NetworkPolicy":
			policies[str(dig(r.obj(), "spec", "podSelector", "matchLabels", "app.kubernetes.io/name"))] = r
		case "kubernetes:apps/v1:Deployment":
			deployments = append(deployments, r)
		}
	}
	if len(deployments) != len(apps.Catalog) {
		t.Fatalf("%d Deployments, want %d", len(deployments), len(apps.Catalog))
	}
	want := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4318",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":     "0.25",
	}
	for _, d := range deployments {
		name := str(dig(d.obj(), "metadata", "name"))
		env := map[string]string{}
		for _, v := range arr(dig(arr(dig(d.obj(), "spec", "template", "spec", "containers"))[0], "env")) {
			env[str(dig(v, "name"))] = str(dig(v, "value"))
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q", name, k, env[k], v)
			}
		}
		if !egressAllowsPort(policies[name], 4318) {
			t.Errorf("%s: the NetworkPolicy does not let it reach the collector's port 4318", name)
		}
	}

	sc = prepare(t, "gke")
	sc.values["todo:tracing"] = `{"endpoint":"collector:4318"}`
	if _, err := run(t, "gke", sc); err == nil || !strings.Contains(err.Error(), "tracing") {
		t.Errorf("an endpoint without a scheme: %v, want an error naming tracing", err)
	}
}

func TestMissingSecretNamesKey(t *testing.T) {
	t.Parallel()
	sc := prepare(t, "aks")
	delete(sc.values, "todo:databaseUrl")
	_, err := run(t, "aks", sc)
	if err == nil || !strings.Contains(err.Error(), "todo:databaseUrl") || !strings.Contains(err.Error(), "pulumi config set --secret") {
		t.Fatalf("error %v does not name todo:databaseUrl", err)
	}
}

// TestStackFileSecrets: a cloud stack file may hold its secrets as
// ciphertext of its secrets provider (what pulumi config set --secret
// writes), never as plaintext.
func TestStackFileSecrets(t *testing.T) {
	t.Parallel()
	const head = "config:\n  todo:cloud: aks\n"
	cases := []struct {
		name, file string
		ok         bool
	}{
		{"ciphertext", head + "  todo:databaseUrl:\n    secure: AAABAHsP0Ah1Wp3bq6kF0J1hE1z6c0mVt7YkQ0n8yQ==\n", true},
		{"plaintext", head + "  todo:databaseUrl: postgresql://user:password@db.example/todo\n", false},
		{"plaintext optional", head + "  todo:smtpPassword: hunter2\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sc, err := parseStack(t, "aks", []byte(c.file))
			if (err == nil) != c.ok {
				t.Fatalf("accepted=%v (err %v), want %v", err == nil, err, c.ok)
			}
			if c.ok && (!slices.Contains(sc.secretKeys, "todo:databaseUrl") || sc.values["todo:databaseUrl"] != standIn("aks", "databaseUrl")) {
				t.Errorf("the encrypted databaseUrl is not a set secret: %v %v", sc.secretKeys, sc.values["todo:databaseUrl"])
			}
		})
	}
}

// TestDatabaseRoleSplit: with databaseOwnerUrl the migration Jobs connect
// as the schemas' owner and grant the services' role (databaseUrl's user),
// which the servers connect as, without migrating at start; the owner's
// URL stays a secret.
func TestDatabaseRoleSplit(t *testing.T) {
	t.Parallel()
	sc := prepare(t, "aks")
	set := func(key, value string) {
		if !slices.Contains(sc.secretKeys, key) {
			sc.secretKeys = append(sc.secretKeys, key)
		}
		sc.values[key] = value
		sc.secrets = append(sc.secrets, value)
	}
	set("todo:databaseUrl", "postgresql://todo_app:app-password@ep-x-pooler.example/todo?sslmode=require")
	set("todo:databaseDirectUrl", "postgresql://todo_app:app-password@ep-x.example/todo?sslmode=require")
	set("todo:databaseOwnerUrl", "postgresql://neondb_owner:owner-password@ep-x.example/todo?sslmode=require")
	res, err := run(t, "aks", sc)
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}
	byType := map[string][]*record{}
	for _, r := range res.records {
		byType[r.Type] = append(byType[r.Type], r)
	}
	db := secretNamed(byType, "database")
	if db == nil || dig(db.obj(), "stringData", "ownerUrl") == nil || !db.Inputs["stringData"].ContainsSecrets() {
		t.Fatalf("the database Secret has no secret ownerUrl: %v", db)
	}
	envOf := func(r *record) map[string]any {
		env := map[string]any{}
		for _, v := range arr(dig(arr(dig(r.obj(), "spec", "template", "spec", "containers"))[0], "env")) {
			env[str(dig(v, "name"))] = v
		}
		return env
	}
	key := func(v any) string { return str(dig(v, "valueFrom", "secretKeyRef", "key")) }
	jobs := byType["kubernetes:batch/v1:Job"]
	if len(jobs) == 0 {
		t.Fatal("no migration Jobs")
	}
	for _, j := range jobs {
		env := envOf(j)
		if key(env["DATABASE_URL"]) != "ownerUrl" || key(env["DATABASE_DIRECT_URL"]) != "ownerUrl" {
			t.Errorf("Job %s: DATABASE_URL %v, DATABASE_DIRECT_URL %v, want the owner's", j.Name, env["DATABASE_URL"], env["DATABASE_DIRECT_URL"])
		}
		if got := str(dig(env["DATABASE_RUNTIME_ROLE"], "value")); got != "todo_app" {
			t.Errorf("Job %s: DATABASE_RUNTIME_ROLE %q, want todo_app (databaseUrl's user)", j.Name, got)
		}
	}
	for _, d := range byType["kubernetes:apps/v1:Deployment"] {
		env := envOf(d)
		name := str(dig(d.obj(), "metadata", "name"))
		if key(env["DATABASE_URL"]) != "url" || key(env["DATABASE_DIRECT_URL"]) != "directUrl" || env["DATABASE_RUNTIME_ROLE"] != nil {
			t.Errorf("%s: DATABASE_URL %v, DATABASE_DIRECT_URL %v, DATABASE_RUNTIME_ROLE %v: want the services' role's URLs only", name, env["DATABASE_URL"], env["DATABASE_DIRECT_URL"], env["DATABASE_RUNTIME_ROLE"])
		}
		if catalog(name).Migrates && str(dig(env["MIGRATE_ON_START"], "value")) != "false" {
			t.Errorf("%s: MIGRATE_ON_START %v, want false (its role cannot migrate)", name, env["MIGRATE_ON_START"])
		}
	}
	for _, r := range res.records {
		for _, leak := range plaintextLeaks(resource.NewPropertyValue(r.Inputs), sc.secrets) {
			t.Errorf("%s %s: secret %q in plaintext", r.Type, r.Name, leak)
		}
	}

	// The same user twice is refused, naming the key.
	sc = prepare(t, "aks")
	set("todo:databaseUrl", "postgresql://neondb_owner:pw@ep-x-pooler.example/todo")
	set("todo:databaseOwnerUrl", "postgresql://neondb_owner:pw@ep-x.example/todo")
	if _, err := run(t, "aks", sc); err == nil || !strings.Contains(err.Error(), "todo:databaseOwnerUrl") {
		t.Errorf("one role for both: %v, want an error naming todo:databaseOwnerUrl", err)
	}
}
