package apps

import (
	"strconv"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/config"
	"github.com/todo-platform/todo/infra/kube"
)

// Component labels of the pods.
const (
	ComponentServer    = "server"
	ComponentMigration = "migration"
)

// nonRoot is the user of the images (the distroless "nonroot" user).
const nonRoot = 65532

// DaprSidecar turns on the Dapr sidecar of a workload.
type DaprSidecar struct {
	LogLevel string
}

// WorkloadArgs configures NewWorkload.
type WorkloadArgs struct {
	Service   Service
	Namespace pulumi.StringInput
	// Image is the reference to deploy, by digest.
	Image           pulumi.StringInput
	ImagePullPolicy string
	Size            config.App
	// Env of the server; MigrationEnv of the migration Job.
	Env          corev1.EnvVarArray
	MigrationEnv corev1.EnvVarArray
	// Volumes and mounts besides /tmp (e.g. a private CA).
	Volumes      corev1.VolumeArray
	VolumeMounts corev1.VolumeMountArray
	// Dapr is nil when the workload has no sidecar.
	Dapr *DaprSidecar
	// Secrets the sidecar may read (the Dapr Kubernetes secret store).
	ReadableSecrets []string
	PullSecret      string // "" = none
	// NetworkPolicy allowances of the server pods, beyond the namespace's
	// default deny.
	Ingress networkingv1.NetworkPolicyIngressRuleArray
	Egress  networkingv1.NetworkPolicyEgressRuleArray
	// ServiceAnnotations go on the Service (e.g. a load balancer's backend
	// settings).
	ServiceAnnotations pulumi.StringMap
	// SkipAwait does not wait for the rollout and the migration.
	SkipAwait bool
	Provider  *kubernetes.Provider
}

// Workload is one service running in the cluster.
type Workload struct {
	pulumi.ResourceState
	// Deployment and ServiceName name what the workload created.
	Deployment  pulumi.StringOutput
	ServiceName pulumi.StringOutput
}

// NewWorkload deploys one service: its migration Job runs to completion
// before the Deployment rolls out.
func NewWorkload(ctx *pulumi.Context, name string, args *WorkloadArgs, opts ...pulumi.ResourceOption) (*Workload, error) {
	w := &Workload{}
	if err := ctx.RegisterComponentResource("todo:apps:Workload", name, w, opts...); err != nil {
		return nil, err
	}
	svc := args.Service
	child := []pulumi.ResourceOption{pulumi.Parent(w), pulumi.Provider(args.Provider)}
	await := kube.Await(args.SkipAwait, "")
	labels := kube.Labels(svc.Name, ComponentServer)
	selector := pulumi.StringMap{
		"app.kubernetes.io/name":      pulumi.String(svc.Name),
		"app.kubernetes.io/component": pulumi.String(ComponentServer),
	}
	meta := func(component string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{
			Name:      pulumi.String(svc.Name),
			Namespace: args.Namespace,
			Labels:    kube.Labels(svc.Name, component),
		}
	}

	// Identity.
	saArgs := &corev1.ServiceAccountArgs{
		Metadata:                     meta(ComponentServer),
		AutomountServiceAccountToken: pulumi.Bool(false),
	}
	if args.PullSecret != "" {
		saArgs.ImagePullSecrets = corev1.LocalObjectReferenceArray{
			&corev1.LocalObjectReferenceArgs{Name: pulumi.String(args.PullSecret)},
		}
	}
	sa, err := corev1.NewServiceAccount(ctx, name, saArgs, child...)
	if err != nil {
		return nil, err
	}
	if args.Dapr != nil && len(args.ReadableSecrets) > 0 {
		// The sidecar reads the component secrets with the pod's identity.
		role, err := rbacv1.NewRole(ctx, name+"-secrets", &rbacv1.RoleArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Name:      pulumi.String(svc.Name + "-dapr-secrets"),
				Namespace: args.Namespace,
				Labels:    labels,
			},
			Rules: rbacv1.PolicyRuleArray{&rbacv1.PolicyRuleArgs{
				ApiGroups:     pulumi.StringArray{pulumi.String("")},
				Resources:     pulumi.StringArray{pulumi.String("secrets")},
				ResourceNames: pulumi.ToStringArray(args.ReadableSecrets),
				Verbs:         pulumi.StringArray{pulumi.String("get")},
			}},
		}, child...)
		if err != nil {
			return nil, err
		}
		if _, err := rbacv1.NewRoleBinding(ctx, name+"-secrets", &rbacv1.RoleBindingArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Name:      pulumi.String(svc.Name + "-dapr-secrets"),
				Namespace: args.Namespace,
				Labels:    labels,
			},
			RoleRef: &rbacv1.RoleRefArgs{
				ApiGroup: pulumi.String("rbac.authorization.k8s.io"),
				Kind:     pulumi.String("Role"),
				Name:     role.Metadata.Name().Elem(),
			},
			Subjects: rbacv1.SubjectArray{&rbacv1.SubjectArgs{
				Kind:      pulumi.String("ServiceAccount"),
				Name:      sa.Metadata.Name().Elem(),
				Namespace: args.Namespace,
			}},
		}, child...); err != nil {
			return nil, err
		}
	}

	podSecurity := &corev1.PodSecurityContextArgs{
		RunAsNonRoot:   pulumi.Bool(true),
		RunAsUser:      pulumi.Int(nonRoot),
		RunAsGroup:     pulumi.Int(nonRoot),
		FsGroup:        pulumi.Int(nonRoot),
		SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
	containerSecurity := &corev1.SecurityContextArgs{
		AllowPrivilegeEscalation: pulumi.Bool(false),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		RunAsNonRoot:             pulumi.Bool(true),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
	}
	volumes := append(corev1.VolumeArray{&corev1.VolumeArgs{
		Name:     pulumi.String("tmp"),
		EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("64Mi")},
	}}, args.Volumes...)
	mounts := append(corev1.VolumeMountArray{&corev1.VolumeMountArgs{
		Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp"),
	}}, args.VolumeMounts...)
	var pullSecrets corev1.LocalObjectReferenceArray
	if args.PullSecret != "" {
		pullSecrets = corev1.LocalObjectReferenceArray{&corev1.LocalObjectReferenceArgs{Name: pulumi.String(args.PullSecret)}}
	}
	resources := func(cpuReq, cpuLim, memReq, memLim string) *corev1.ResourceRequirementsArgs {
		return &corev1.ResourceRequirementsArgs{
			Requests: pulumi.StringMap{"cpu": pulumi.String(cpuReq), "memory": pulumi.String(memReq)},
			Limits:   pulumi.StringMap{"cpu": pulumi.String(cpuLim), "memory": pulumi.String(memLim)},
		}
	}

	// The migration: a Job per image; a new image replaces it (a Job's
	// template is immutable) and the Deployment waits for it to complete.
	var rolloutAfter []pulumi.Resource
	if svc.Migrates {
		job, err := batchv1.NewJob(ctx, name+"-migrate", &batchv1.JobArgs{
			Metadata: &metav1.ObjectMetaArgs{
				// No name: Pulumi names it <service>-migrate-<suffix>, so a
				// replacement can run before the old Job is deleted.
				Namespace:   args.Namespace,
				Labels:      kube.Labels(svc.Name, ComponentMigration),
				Annotations: kube.Merge(await, pulumi.StringMap{"pulumi.com/timeoutSeconds": pulumi.String("600")}),
			},
			Spec: &batchv1.JobSpecArgs{
				BackoffLimit:          pulumi.Int(4),
				ActiveDeadlineSeconds: pulumi.Int(600),
				Template: &corev1.PodTemplateSpecArgs{
					Metadata: &metav1.ObjectMetaArgs{
						Labels: kube.Labels(svc.Name, ComponentMigration),
						// A sidecar would keep the Job from completing.
						Annotations: pulumi.StringMap{"dapr.io/enabled": pulumi.String("false")},
					},
					Spec: &corev1.PodSpecArgs{
						RestartPolicy:                pulumi.String("Never"),
						ServiceAccountName:           sa.Metadata.Name(),
						AutomountServiceAccountToken: pulumi.Bool(false),
						ImagePullSecrets:             pullSecrets,
						SecurityContext:              podSecurity,
						Volumes:                      volumes,
						Containers: corev1.ContainerArray{&corev1.ContainerArgs{
							Name:            pulumi.String("migrate"),
							Image:           args.Image,
							ImagePullPolicy: pulumi.String(args.ImagePullPolicy),
							Args:            pulumi.StringArray{pulumi.String("migrate")},
							Env:             args.MigrationEnv,
							Resources:       resources("50m", "500m", "64Mi", "256Mi"),
							SecurityContext: containerSecurity,
							VolumeMounts:    mounts,
						}},
					},
				},
			},
		}, child...)
		if err != nil {
			return nil, err
		}
		rolloutAfter = append(rolloutAfter, job)
	}

	// The server.
	podAnnotations := pulumi.StringMap{
		"prometheus.io/scrape": pulumi.String("true"),
		"prometheus.io/port":   pulumi.String(strconv.Itoa(MetricsPort)),
		"prometheus.io/path":   pulumi.String("/metrics"),
	}
	automount := false
	if d := args.Dapr; d != nil {
		automount = true // the sidecar talks to the Kubernetes API
		podAnnotations = kube.Merge(podAnnotations, DaprAnnotations(svc.Name, d.LogLevel))
	}
	autoscale := args.Size.MaxReplicas > args.Size.Replicas
	var replicas pulumi.IntPtrInput
	if !autoscale {
		// With an autoscaler the replica count is its business; setting it
		// here would fight it on every update.
		replicas = pulumi.Int(args.Size.Replicas)
	}
	httpGet := func(path string) *corev1.HTTPGetActionArgs {
		return &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String("http")}
	}
	deployment, err := appsv1.NewDeployment(ctx, name, &appsv1.DeploymentArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String(svc.Name),
			Namespace:   args.Namespace,
			Labels:      labels,
			Annotations: await,
		},
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas:             replicas,
			RevisionHistoryLimit: pulumi.Int(5),
			Selector:             &metav1.LabelSelectorArgs{MatchLabels: selector},
			Strategy: &appsv1.DeploymentStrategyArgs{
				Type: pulumi.String("RollingUpdate"),
				RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
					MaxUnavailable: pulumi.Int(0),
					MaxSurge:       pulumi.Int(1),
				},
			},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels, Annotations: podAnnotations},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName:            sa.Metadata.Name(),
					AutomountServiceAccountToken:  pulumi.Bool(automount),
					ImagePullSecrets:              pullSecrets,
					SecurityContext:               podSecurity,
					TerminationGracePeriodSeconds: pulumi.Int(30),
					TopologySpreadConstraints: corev1.TopologySpreadConstraintArray{
						&corev1.TopologySpreadConstraintArgs{
							MaxSkew:           pulumi.Int(1),
							TopologyKey:       pulumi.String("kubernetes.io/hostname"),
							WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
							LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: selector},
						},
					},
					Volumes: volumes,
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:            pulumi.String(svc.Name),
						Image:           args.Image,
						ImagePullPolicy: pulumi.String(args.ImagePullPolicy),
						Ports: corev1.ContainerPortArray{
							&corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: pulumi.Int(Port), Protocol: pulumi.String("TCP")},
							// Not in the Service: only Prometheus, in the pod network, scrapes it.
							&corev1.ContainerPortArgs{Name: pulumi.String("metrics"), ContainerPort: pulumi.Int(MetricsPort), Protocol: pulumi.String("TCP")},
						},
						Env:       args.Env,
						Resources: resources(args.Size.CPURequest, args.Size.CPULimit, args.Size.MemoryRequest, args.Size.MemoryLimit),
						StartupProbe: &corev1.ProbeArgs{
							HttpGet: httpGet("/healthz"), PeriodSeconds: pulumi.Int(2), FailureThreshold: pulumi.Int(30),
						},
						LivenessProbe: &corev1.ProbeArgs{
							HttpGet: httpGet("/healthz"), PeriodSeconds: pulumi.Int(10), TimeoutSeconds: pulumi.Int(2), FailureThreshold: pulumi.Int(3),
						},
						ReadinessProbe: &corev1.ProbeArgs{
							HttpGet: httpGet("/readyz"), PeriodSeconds: pulumi.Int(5), TimeoutSeconds: pulumi.Int(2), FailureThreshold: pulumi.Int(3),
						},
						// Give the endpoints a moment to drop the pod before
						// SIGTERM starts the service's graceful shutdown.
						Lifecycle: &corev1.LifecycleArgs{
							PreStop: &corev1.LifecycleHandlerArgs{Sleep: &corev1.SleepActionArgs{Seconds: pulumi.Int(5)}},
						},
						SecurityContext: containerSecurity,
						VolumeMounts:    mounts,
					}},
				},
			},
		},
	}, append(child, pulumi.DependsOn(rolloutAfter))...)
	if err != nil {
		return nil, err
	}
	w.Deployment = deployment.Metadata.Name().Elem()

	service, err := corev1.NewService(ctx, name, &corev1.ServiceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String(svc.Name),
			Namespace:   args.Namespace,
			Labels:      labels,
			Annotations: kube.Merge(await, args.ServiceAnnotations),
		},
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: selector,
			Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{
				Name: pulumi.String("http"), Port: pulumi.Int(Port), TargetPort: pulumi.String("http"), Protocol: pulumi.String("TCP"),
			}},
		},
	}, child...)
	if err != nil {
		return nil, err
	}
	w.ServiceName = service.Metadata.Name().Elem()

	if autoscale {
		if _, err := autoscalingv2.NewHorizontalPodAutoscaler(ctx, name, &autoscalingv2.HorizontalPodAutoscalerArgs{
			Metadata: meta(ComponentServer),
			Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
				ScaleTargetRef: &autoscalingv2.CrossVersionObjectReferenceArgs{
					ApiVersion: pulumi.String("apps/v1"),
					Kind:       pulumi.String("Deployment"),
					Name:       w.Deployment,
				},
				MinReplicas: pulumi.Int(args.Size.Replicas),
				MaxReplicas: pulumi.Int(args.Size.MaxReplicas),
				Metrics: autoscalingv2.MetricSpecArray{&autoscalingv2.MetricSpecArgs{
					Type: pulumi.String("Resource"),
					Resource: &autoscalingv2.ResourceMetricSourceArgs{
						Name: pulumi.String("cpu"),
						Target: &autoscalingv2.MetricTargetArgs{
							Type:               pulumi.String("Utilization"),
							AverageUtilization: pulumi.Int(args.Size.TargetCPUUtilization),
						},
					},
				}},
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehaviorArgs{
					ScaleDown: &autoscalingv2.HPAScalingRulesArgs{StabilizationWindowSeconds: pulumi.Int(300)},
				},
			},
		}, child...); err != nil {
			return nil, err
		}
	}

	if _, err := policyv1.NewPodDisruptionBudget(ctx, name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: meta(ComponentServer),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: selector},
		},
	}, child...); err != nil {
		return nil, err
	}

	if _, err := networkingv1.NewNetworkPolicy(ctx, name, &networkingv1.NetworkPolicyArgs{
		Metadata: meta(ComponentServer),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: selector},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
			Ingress:     args.Ingress,
			Egress:      args.Egress,
		},
	}, child...); err != nil {
		return nil, err
	}

	if err := ctx.RegisterResourceOutputs(w, pulumi.Map{
		"deployment": w.Deployment,
		"service":    w.ServiceName,
	}); err != nil {
		return nil, err
	}
	return w, nil
}

// DaprAnnotations turn on the Dapr sidecar of a pod: app id = service name,
// app port 8080, JSON logs, metrics, app health checks on /healthz, the
// sidecar's own resources, the API and app tokens, and a shutdown that lets
// in-flight work finish.
func DaprAnnotations(appID, logLevel string) pulumi.StringMap {
	return pulumi.StringMap{
		"dapr.io/enabled":                      pulumi.String("true"),
		"dapr.io/app-id":                       pulumi.String(appID),
		"dapr.io/app-port":                     pulumi.String(strconv.Itoa(Port)),
		"dapr.io/app-protocol":                 pulumi.String("http"),
		"dapr.io/log-as-json":                  pulumi.String("true"),
		"dapr.io/log-level":                    pulumi.String(logLevel),
		"dapr.io/enable-metrics":               pulumi.String("true"),
		"dapr.io/metrics-port":                 pulumi.String(strconv.Itoa(DaprMetricsPort)),
		"dapr.io/enable-app-health-check":      pulumi.String("true"),
		"dapr.io/app-health-check-path":        pulumi.String("/healthz"),
		"dapr.io/graceful-shutdown-seconds":    pulumi.String("15"),
		"dapr.io/sidecar-cpu-request":          pulumi.String("50m"),
		"dapr.io/sidecar-cpu-limit":            pulumi.String("300m"),
		"dapr.io/sidecar-memory-request":       pulumi.String("64Mi"),
		"dapr.io/sidecar-memory-limit":         pulumi.String("256Mi"),
		"dapr.io/sidecar-seccomp-profile-type": pulumi.String("RuntimeDefault"),
		// Callers of the sidecar need DAPR_API_TOKEN; the sidecar presents
		// APP_API_TOKEN to the app, which refuses deliveries without it.
		"dapr.io/api-token-secret": pulumi.String(DaprAPITokenSecret),
		"dapr.io/app-token-secret": pulumi.String(DaprAppTokenSecret),
	}
}
