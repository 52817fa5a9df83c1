// Package platform is the Pulumi program of the todo platform: it reads the
// stack configuration and wires the components (cluster, kafka, database,
// dapr, images, apps) together. infra/main.go runs Program; the tests run it
// under mocks and under the real engine.
package platform

import (
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/apps"
	"github.com/todo-platform/todo/infra/cluster"
	"github.com/todo-platform/todo/infra/config"
	"github.com/todo-platform/todo/infra/dapr"
	"github.com/todo-platform/todo/infra/database"
	"github.com/todo-platform/todo/infra/images"
	"github.com/todo-platform/todo/infra/kafka"
)

// Program deploys the platform and exports its outputs.
func Program(ctx *pulumi.Context) error {
	out, err := Deploy(ctx)
	if err != nil {
		return err
	}
	for k, v := range out {
		ctx.Export(k, v)
	}
	return nil
}

// Outputs are the stack outputs.
type Outputs map[string]pulumi.Input

// Deploy deploys the platform and returns the stack outputs.
func Deploy(ctx *pulumi.Context) (Outputs, error) {
	cfg, err := config.Load(ctx)
	if err != nil {
		return nil, err
	}

	cl, err := cluster.NewCluster(ctx, "cluster", &cluster.ClusterArgs{Config: cfg})
	if err != nil {
		return nil, err
	}
	k8s := cl.Provider

	ns, err := apps.NewNamespace(ctx, "namespace", &apps.NamespaceArgs{Name: cfg.Namespace, Provider: k8s})
	if err != nil {
		return nil, err
	}

	events, err := kafka.NewKafka(ctx, "kafka", &kafka.KafkaArgs{Config: cfg, Cluster: cl, Namespace: ns.Name})
	if err != nil {
		return nil, err
	}

	dbArgs := &database.DatabaseArgs{
		Namespace: ns.Name,
		PooledURL: cfg.Secrets.DatabaseURL,
		DirectURL: cfg.Secrets.DatabaseDirectURL,
		Provider:  k8s,
	}
	if cfg.Secrets.HasDatabaseOwnerURL {
		dbArgs.OwnerURL = cfg.Secrets.DatabaseOwnerURL
	}
	db, err := database.NewDatabase(ctx, "database", dbArgs)
	if err != nil {
		return nil, err
	}

	// The services roll out after Dapr is ready to inject their sidecars
	// and to load their components.
	var servicesAfter []pulumi.Resource
	var pubsubOf map[string]string
	if cfg.Dapr.On() {
		cp, err := dapr.NewControlPlane(ctx, "dapr", &dapr.ControlPlaneArgs{
			Namespace: cfg.Dapr.Namespace,
			Chart:     cfg.Charts.Dapr,
			HA:        cfg.Dapr.HA,
			LogLevel:  cfg.Dapr.LogLevel,
			Registry:  cfg.Dapr.Registry,
			Tag:       cfg.Dapr.Tag,

			Scheduler: cfg.Dapr.Scheduler,
			SkipAwait: cfg.SkipAwait,
			Provider:  k8s,
		})
		if err != nil {
			return nil, err
		}
		comps, err := dapr.NewComponents(ctx, "dapr", &dapr.ComponentsArgs{
			Namespace:     ns.Name,
			ControlPlane:  cp,
			Kafka:         events,
			Services:      apps.Names(),
			Broadcast:     apps.Broadcaster(),
			Subscriptions: apps.Subscriptions(),
			Declarative:   cfg.Dapr.DeclarativeSubscriptions,
			Route:         cfg.Dapr.SubscriptionRoute,
			Provider:      k8s,
		})
		if err != nil {
			return nil, err
		}
		pubsubOf = comps.PubSubOf
		servicesAfter = append(servicesAfter, cp.Stage...)
		servicesAfter = append(servicesAfter, comps.Resources...)
	}

	if cfg.Ingress.InstallController {
		annotations := map[string]string{}
		if cfg.Cloud == config.AKS {
			// Azure's load balancer probes "/" by default, which
			// ingress-nginx answers with 404: probe its health endpoint.
			annotations["service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path"] = "/healthz"
		}
		ic, err := apps.NewIngressController(ctx, "ingress", &apps.IngressControllerArgs{
			Namespace:          cfg.Network.IngressNamespace,
			ClassName:          cfg.Ingress.ClassName,
			Chart:              cfg.Charts.IngressNginx,
			ServiceAnnotations: annotations,
			SkipAwait:          cfg.SkipAwait,
			Provider:           k8s,
		})
		if err != nil {
			return nil, err
		}
		servicesAfter = append(servicesAfter, ic.Stage...)
	}

	imgs, err := images.NewImages(ctx, "images", &images.ImagesArgs{
		Services:         apps.Names(),
		Source:           sourceRoot(ctx, cfg),
		Settings:         cfg.Images,
		Registry:         cl.Registry,
		RegistryUsername: cl.RegistryUsername,
		RegistryPassword: cl.RegistryPassword,
		RegistryLogin:    cl.RegistryLogin,
		Tag:              cfg.Stack,
	})
	if err != nil {
		return nil, err
	}

	svcs, err := apps.NewServices(ctx, "services", &apps.ServicesArgs{
		Config:         cfg,
		Namespace:      ns.Name,
		Images:         imgs.Refs,
		Kafka:          events,
		DatabaseSecret: db.Secret,
		PubSubOf:       pubsubOf,
		PullSecret:     cl.PullSecret,
		HasPullSecret:  cl.HasPullSecret,
		Provider:       k8s,
	}, pulumi.DependsOn(servicesAfter))
	if err != nil {
		return nil, err
	}

	refs := pulumi.StringMap{}
	for s, r := range imgs.Refs {
		refs[s] = r
	}
	return Outputs{
		"cloud":        pulumi.String(string(cfg.Cloud)),
		"namespace":    ns.Name,
		"kubeconfig":   cl.Kubeconfig,
		"registry":     cl.Registry,
		"kafkaBrokers": events.Brokers,
		"kafkaSecret":  events.Secret,
		"images":       refs,
		"ingress":      svcs.Ingress,
		"transport":    pulumi.String(cfg.Transport),
		// Where users go and who signs them in (infra/README.md, "After up").
		"url":    pulumi.String(publicURL(cfg)),
		"issuer": pulumi.String(cfg.Auth.Issuer),
	}, nil
}

// publicURL is the address of the web app: the Ingress host, https when
// the Ingress has TLS; "" when the stack has no Ingress host (minikube:
// the address of `minikube ip`; local: the Service's cluster IP).
func publicURL(cfg *config.Config) string {
	if !cfg.Ingress.Enabled || cfg.Ingress.Host == "" {
		return ""
	}
	if cfg.Ingress.TLSSecretName != "" {
		return "https://" + cfg.Ingress.Host + "/"
	}
	return "http://" + cfg.Ingress.Host + "/"
}

// sourceRoot is the Go module the images are built from: images.source,
// relative to the project directory (where Pulumi.yaml is), which is also
// the default.
func sourceRoot(ctx *pulumi.Context, cfg *config.Config) string {
	root := ctx.RootDirectory()
	if root == "" {
		root, _ = os.Getwd()
	}
	src := cfg.Images.Source
	switch {
	case src == "":
		return root
	case filepath.IsAbs(src):
		return src
	default:
		return filepath.Join(root, src)
	}
}
