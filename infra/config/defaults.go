package config

// DefaultValues are the defaults of every plain key, in the shape of the
// config: the root Pulumi.yaml declares the same values (TestPulumiYAMLDefaults
// checks that).
type DefaultValues struct {
	Cloud           string
	Namespace       string
	LogLevel        string
	EventsTransport string
	SkipAwait       bool
	Sections
	Apps map[string]App // key "default" applies to every service
}

// Defaults returns the default of every plain key. Settings whose default
// depends on the cloud (kafka.provider, dapr.enabled) are left empty here and
// filled in by Parse.
func Defaults() DefaultValues {
	return DefaultValues{
		Cloud:           "",
		Namespace:       "todo",
		LogLevel:        "info",
		EventsTransport: TransportKafka,
		SkipAwait:       false,
		Sections: Sections{
			Cluster: Cluster{
				Context:        "minikube",
				ReleaseChannel: "REGULAR",
				SystemPool:     Pool{MachineType: "", MinCount: 1, MaxCount: 3, DiskSizeGB: 64},
				NodePool:       Pool{MachineType: "", MinCount: 2, MaxCount: 6, DiskSizeGB: 64},
				RegistrySKU:    "",
			},
			Kafka: Kafka{
				Partitions:        6,
				DLQPartitions:     1,
				ReplicationFactor: 3,
				RetentionHours:    168,
				Version:           "4.0.0",
				Nodes:             3,
				StorageSize:       "10Gi",
				Namespace:         "kafka",
				ClusterName:       "events",
				SKU:               "Standard",
				Capacity:          1,
				VCPUCount:         3,
				MemoryGiB:         3,
				Size:              "db-s-2vcpu-4gb",
			},
			Dapr: Dapr{
				Namespace:                "dapr-system",
				HA:                       false,
				LogLevel:                 "info",
				DeclarativeSubscriptions: false,
				SubscriptionRoute:        "/dapr/events/{topic}",
				Registry:                 "ghcr.io/dapr",
				Scheduler:                true,
			},
			Charts: Charts{
				Strimzi:      Chart{Repository: "https://strimzi.io/charts/", Name: "strimzi-kafka-operator", Version: "0.48.0"},
				Dapr:         Chart{Repository: "https://dapr.github.io/helm-charts/", Name: "dapr", Version: "1.16.5"},
				IngressNginx: Chart{Repository: "https://kubernetes.github.io/ingress-nginx", Name: "ingress-nginx", Version: "4.13.0"},
			},
			Images: Images{
				Publish:    PublishPush,
				Repository: "todo",
				Base:       "scratch",
				Platform:   "linux/amd64",
				Profile:    "minikube",
			},
			Ingress: Ingress{
				Enabled:   true,
				ClassName: "nginx",
			},
			Network: Network{
				IngressNamespace: "ingress-nginx",
			},
			Auth: Auth{
				Issuer:      "todo-platform",
				Audience:    "todo-api",
				WebClientID: "todo-web",
			},
			SMTP: SMTP{
				From: "todo@localhost",
			},
			Tracing: Tracing{
				Protocol:    "http/protobuf",
				SampleRatio: 0.1,
			},
		},
		Apps: map[string]App{
			"default": {
				Replicas:             2,
				MaxReplicas:          6,
				CPURequest:           "100m",
				CPULimit:             "500m",
				MemoryRequest:        "128Mi",
				MemoryLimit:          "256Mi",
				TargetCPUUtilization: 70,
			},
		},
	}
}
