// Package apps deploys the platform's services: one reusable Workload
// component per service (ServiceAccount, migration Job, Deployment, Service,
// autoscaler, disruption budget, NetworkPolicy), the namespace with its
// default-deny policy, the shared secrets and the Ingress of the public
// endpoints.
package apps

import (
	"github.com/todo-platform/todo/infra/kafka"
	"github.com/todo-platform/todo/pkg/routes"
)

// Port is the HTTP port of every service (ADDR=:8080): API, /healthz and
// /readyz; the port of the Service and of the Ingress.
const Port = 8080

// MetricsPort is the port of every service's /metrics (METRICS_ADDR=:9091):
// a container port that no Service exposes, so the Ingress never reaches
// it; Prometheus scrapes the pods on it (the prometheus.io annotations) from
// the monitoring namespace.
const MetricsPort = 9091

// DaprMetricsPort is the Dapr sidecar's metrics port, in the same pod.
const DaprMetricsPort = 9090

// Path is a public route of a service on the Ingress.
type Path struct {
	Path string
	Type string // Prefix or Exact
}

// Service describes what a service needs from the platform (the service
// contract; see services/<name>).
type Service struct {
	Name string
	// Migrates: the service owns tables and runs `<name> migrate` as a Job
	// before its rollout.
	Migrates bool
	// VerifiesJWT: the service checks user JWTs (JWT_* variables).
	VerifiesJWT bool
	// InternalToken: the service sends or checks INTERNAL_TOKEN.
	InternalToken bool
	// Public routes on the Ingress.
	Public []Path
	// Subscribes lists the topics the service consumes.
	Subscribes []string
	// Calls lists the services it calls over HTTP.
	Calls []string
	// Broadcast: every replica consumes every event (its own consumer
	// group), and needs a stable pod identity (POD_NAME).
	Broadcast bool
	// Outbound: the service delivers to the internet (webhooks, SMTP).
	Outbound bool
	// WebApp: the service serves the web app, which signs users in at the
	// stack's OpenID provider (OIDC_ISSUER, OIDC_CLIENT_ID).
	WebApp bool
}

// Catalog is every service of the platform, in deployment order.
var Catalog = []Service{
	{
		Name: "taskapi", Migrates: true, VerifiesJWT: true, InternalToken: true, WebApp: true,
		// The web app and the task API; "/" is Exact, so that /internal/ is
		// never reachable through the Ingress.
		Public: public("taskapi"),
	},
	{
		Name: "recurring", Migrates: true, InternalToken: true,
		Subscribes: []string{kafka.TopicTaskEvents},
		Calls:      []string{"taskapi"},
	},
	{
		Name: "notifier", Migrates: true, VerifiesJWT: true, Outbound: true,
		Public:     public("notifier"),
		Subscribes: []string{kafka.TopicTaskEvents, kafka.TopicReminders},
	},
	{
		Name: "audit", Migrates: true, VerifiesJWT: true,
		Public:     public("audit"),
		Subscribes: []string{kafka.TopicTaskEvents, kafka.TopicReminders},
	},
	{
		Name: "realtime", VerifiesJWT: true, Broadcast: true,
		Public:     public("realtime"),
		Subscribes: []string{kafka.TopicTaskEvents, kafka.TopicReminders},
	},
}

// public are the routes of service in the platform's routing table
// (pkg/routes), which the local runner's front uses too.
func public(service string) []Path {
	var out []Path
	for _, r := range routes.For(service) {
		out = append(out, Path{Path: r.Path, Type: string(r.Match)})
	}
	return out
}

// Names returns the names of the services in the catalog.
func Names() []string {
	out := make([]string, len(Catalog))
	for i, s := range Catalog {
		out[i] = s.Name
	}
	return out
}

// Subscriptions maps each consuming service to its topics.
func Subscriptions() map[string][]string {
	out := map[string][]string{}
	for _, s := range Catalog {
		if len(s.Subscribes) > 0 {
			out[s.Name] = s.Subscribes
		}
	}
	return out
}

// Broadcaster is the service with a consumer group per replica.
func Broadcaster() string {
	for _, s := range Catalog {
		if s.Broadcast {
			return s.Name
		}
	}
	return ""
}
