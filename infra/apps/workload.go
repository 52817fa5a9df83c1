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
// before the Deployment rolls out. Each resource kind is one step below.
func NewWorkload(ctx *pulumi.Context, name string, args *WorkloadArgs, opts ...pulumi.ResourceOption) (*Workload, error) {
	w := &Workload{}
	if err := ctx.RegisterComponentResource("todo:apps:Workload", name, w, opts...); err != nil {
		return nil, err
	}
	b := newWorkloadBuilder(ctx, name, args, w)
	sa, err := b.identity()
	if err != nil {
		return nil, err
	}
	migration, err := b.migration(sa)
	if err != nil {
		return nil, err
	}
	if err := b.deployment(sa, migration); err != nil {
		return nil, err
	}
	if err := b.service(); err != nil {
		return nil, err
	}
	if err := b.autoscaler(); err != nil {
		return nil, err
	}
	if err := b.disruptionBudget(); err != nil {
		return nil, err
	}
	if err := b.networkPolicy(); err != nil {
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

// workloadBuilder holds what a workload's resources share: its names,
// labels, security contexts and volumes.
type workloadBuilder struct {
	ctx                     *pulumi.Context
	name                    string
	args                    *WorkloadArgs
	svc                     Service
	w                       *Workload
	child                   []pulumi.ResourceOption
	await, labels, selector pulumi.StringMap
	podSecurity             *corev1.PodSecurityContextArgs
	containerSecurity       *corev1.SecurityContextArgs
	volumes                 corev1.VolumeArray
	mounts                  corev1.VolumeMountArray
	pullSecrets             corev1.LocalObjectReferenceArray
}

func newWorkloadBuilder(ctx *pulumi.Context, name string, args *WorkloadArgs, w *Workload) *workloadBuilder {
	svc := args.Service
	b := &workloadBuilder{
		ctx: ctx, name: name, args: args, svc: svc, w: w,
		child:  []pulumi.ResourceOption{pulumi.Parent(w), pulumi.Provider(args.Provider)},
		await:  kube.Await(args.SkipAwait, ""),
		labels: kube.Labels(svc.Name, ComponentServer),
		selector: pulumi.StringMap{
			"app.kubernetes.io/name":      pulumi.String(svc.Name),
			"app.kubernetes.io/component": pulumi.String(ComponentServer),
		},
		podSecurity: &corev1.PodSecurityContextArgs{
			RunAsNonRoot:   pulumi.Bool(true),
			RunAsUser:      pulumi.Int(nonRoot),
			RunAsGroup:     pulumi.Int(nonRoot),
			FsGroup:        pulumi.Int(nonRoot),
			SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
		},
		containerSecurity: &corev1.SecurityContextArgs{
			AllowPrivilegeEscalation: pulumi.Bool(false),
			ReadOnlyRootFilesystem:   pulumi.Bool(true),
			RunAsNonRoot:             pulumi.Bool(true),
			Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
		},
		volumes: append(corev1.VolumeArray{&corev1.VolumeArgs{
			Name:     pulumi.String("tmp"),
			EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("64Mi")},
		}}, args.Volumes...),
		mounts: append(corev1.VolumeMountArray{&corev1.VolumeMountArgs{
			Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp"),
		}}, args.VolumeMounts...),
	}
	if args.PullSecret != "" {
		b.pullSecrets = corev1.LocalObjectReferenceArray{&corev1.LocalObjectReferenceArgs{Name: pulumi.String(args.PullSecret)}}
	}
	return b
}

// meta names an object of the workload's component.
func (b *workloadBuilder) meta(component string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{
		Name:      pulumi.String(b.svc.Name),
		Namespace: b.args.Namespace,
		Labels:    kube.Labels(b.svc.Name, component),
	}
}

// resources are a container's requests and limits.
func resources(cpuReq, cpuLim, memReq, memLim string) *corev1.ResourceRequirementsArgs {
	return &corev1.ResourceRequirementsArgs{
		Requests: pulumi.StringMap{"cpu": pulumi.String(cpuReq), "memory": pulumi.String(memReq)},
		Limits:   pulumi.StringMap{"cpu": pulumi.String(cpuLim), "memory": pulumi.String(memLim)},
	}
}

// identity is the pods' service account and, with a sidecar that reads
// secrets, its role.
func (b *workloadBuilder) identity() (*corev1.ServiceAccount, error) {
	saArgs := &corev1.ServiceAccountArgs{
		Metadata:                     b.meta(ComponentServer),
		AutomountServiceAccountToken: pulumi.Bool(false),
	}
	if b.args.PullSecret != "" {
		saArgs.ImagePullSecrets = corev1.LocalObjectReferenceArray{
			&corev1.LocalObjectReferenceArgs{Name: pulumi.String(b.args.PullSecret)},
		}
	}
	sa, err := corev1.NewServiceAccount(b.ctx, b.name, saArgs, b.child...)
	if err != nil {
		return nil, err
	}
	if b.args.Dapr != nil && len(b.args.ReadableSecrets) > 0 {
		// The sidecar reads the component secrets with the pod's identity.
		role, err := rbacv1.NewRole(b.ctx, b.name+"-secrets", &rbacv1.RoleArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Name:      pulumi.String(b.svc.Name + "-dapr-secrets"),
				Namespace: b.args.Namespace,
				Labels:    b.labels,
			},
			Rules: rbacv1.PolicyRuleArray{&rbacv1.PolicyRuleArgs{
				ApiGroups:     pulumi.StringArray{pulumi.String("")},
				Resources:     pulumi.StringArray{pulumi.String("secrets")},
				ResourceNames: pulumi.ToStringArray(b.args.ReadableSecrets),
				Verbs:         pulumi.StringArray{pulumi.String("get")},
			}},
		}, b.child...)
		if err != nil {
			return nil, err
		}
		if _, err := rbacv1.NewRoleBinding(b.ctx, b.name+"-secrets", &rbacv1.RoleBindingArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Name:      pulumi.String(b.svc.Name + "-dapr-secrets"),
				Namespace: b.args.Namespace,
				Labels:    b.labels,
			},
			RoleRef: &rbacv1.RoleRefArgs{
				ApiGroup: pulumi.String("rbac.authorization.k8s.io"),
				Kind:     pulumi.String("Role"),
				Name:     role.Metadata.Name().Elem(),
			},
			Subjects: rbacv1.SubjectArray{&rbacv1.SubjectArgs{
				Kind:      pulumi.String("ServiceAccount"),
				Name:      sa.Metadata.Name().Elem(),
				Namespace: b.args.Namespace,
			}},
		}, b.child...); err != nil {
			return nil, err
		}
	}
	return sa, nil
}

// migration is the migration Job, when the service migrates: a Job per
// image; a new image replaces it (a Job's template is immutable) and the
// Deployment waits for it to complete.
func (b *workloadBuilder) migration(sa *corev1.ServiceAccount) ([]pulumi.Resource, error) {
	var rolloutAfter []pulumi.Resource
	if b.svc.Migrates {
		job, err := batchv1.NewJob(b.ctx, b.name+"-migrate", &batchv1.JobArgs{
			Metadata: &metav1.ObjectMetaArgs{
				// No name: Pulumi names it <service>-migrate-<suffix>, so a
				// replacement can run before the old Job is deleted.
				Namespace:   b.args.Namespace,
				Labels:      kube.Labels(b.svc.Name, ComponentMigration),
				Annotations: kube.Merge(b.await, pulumi.StringMap{"pulumi.com/timeoutSeconds": pulumi.String("600")}),
			},
			Spec: &batchv1.JobSpecArgs{
				BackoffLimit:          pulumi.Int(4),
				ActiveDeadlineSeconds: pulumi.Int(600),
				Template: &corev1.PodTemplateSpecArgs{
					Metadata: &metav1.ObjectMetaArgs{
						Labels: kube.Labels(b.svc.Name, ComponentMigration),
						// A sidecar would keep the Job from completing.
						Annotations: pulumi.StringMap{"dapr.io/enabled": pulumi.String("false")},
					},
					Spec: &corev1.PodSpecArgs{
						RestartPolicy:                pulumi.String("Never"),
						ServiceAccountName:           sa.Metadata.Name(),
						AutomountServiceAccountToken: pulumi.Bool(false),
						ImagePullSecrets:             b.pullSecrets,
						SecurityContext:              b.podSecurity,
						Volumes:                      b.volumes,
						Containers: corev1.ContainerArray{&corev1.ContainerArgs{
							Name:            pulumi.String("migrate"),
							Image:           b.args.Image,
							ImagePullPolicy: pulumi.String(b.args.ImagePullPolicy),
							Args:            pulumi.StringArray{pulumi.String("migrate")},
							Env:             b.args.MigrationEnv,
							Resources:       resources("50m", "500m", "64Mi", "256Mi"),
							SecurityContext: b.containerSecurity,
							VolumeMounts:    b.mounts,
						}},
					},
				},
			},
		}, b.child...)
		if err != nil {
			return nil, err
		}
		rolloutAfter = append(rolloutAfter, job)
	}
	return rolloutAfter, nil
}

// deployment is the server, rolled out after the migration.
func (b *workloadBuilder) deployment(sa *corev1.ServiceAccount, rolloutAfter []pulumi.Resource) error {
	podAnnotations := pulumi.StringMap{
		"prometheus.io/scrape": pulumi.String("true"),
		"prometheus.io/port":   pulumi.String(strconv.Itoa(MetricsPort)),
		"prometheus.io/path":   pulumi.String("/metrics"),
	}
	automount := false
	if d := b.args.Dapr; d != nil {
		automount = true // the sidecar talks to the Kubernetes API
		podAnnotations = kube.Merge(podAnnotations, DaprAnnotations(b.svc.Name, d.LogLevel))
	}
	autoscale := b.args.Size.MaxReplicas > b.args.Size.Replicas
	var replicas pulumi.IntPtrInput
	if !autoscale {
		// With an autoscaler the replica count is its business; setting it
		// here would fight it on every update.
		replicas = pulumi.Int(b.args.Size.Replicas)
	}
	httpGet := func(path string) *corev1.HTTPGetActionArgs {
		return &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String("http")}
	}
	deployment, err := appsv1.NewDeployment(b.ctx, b.name, &appsv1.DeploymentArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String(b.svc.Name),
			Namespace:   b.args.Namespace,
			Labels:      b.labels,
			Annotations: b.await,
		},
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas:             replicas,
			RevisionHistoryLimit: pulumi.Int(5),
			Selector:             &metav1.LabelSelectorArgs{MatchLabels: b.selector},
			Strategy: &appsv1.DeploymentStrategyArgs{
				Type: pulumi.String("RollingUpdate"),
				RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
					MaxUnavailable: pulumi.Int(0),
					MaxSurge:       pulumi.Int(1),
				},
			},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: b.labels, Annotations: podAnnotations},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName:            sa.Metadata.Name(),
					AutomountServiceAccountToken:  pulumi.Bool(automount),
					ImagePullSecrets:              b.pullSecrets,
					SecurityContext:               b.podSecurity,
					TerminationGracePeriodSeconds: pulumi.Int(30),
					TopologySpreadConstraints: corev1.TopologySpreadConstraintArray{
						&corev1.TopologySpreadConstraintArgs{
							MaxSkew:           pulumi.Int(1),
							TopologyKey:       pulumi.String("kubernetes.io/hostname"),
							WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
							LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: b.selector},
						},
					},
					Volumes: b.volumes,
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:            pulumi.String(b.svc.Name),
						Image:           b.args.Image,
						ImagePullPolicy: pulumi.String(b.args.ImagePullPolicy),
						Ports: corev1.ContainerPortArray{
							&corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: pulumi.Int(Port), Protocol: pulumi.String("TCP")},
							// Not in the Service: only Prometheus, in the pod network, scrapes it.
							&corev1.ContainerPortArgs{Name: pulumi.String("metrics"), ContainerPort: pulumi.Int(MetricsPort), Protocol: pulumi.String("TCP")},
						},
						Env:       b.args.Env,
						Resources: resources(b.args.Size.CPURequest, b.args.Size.CPULimit, b.args.Size.MemoryRequest, b.args.Size.MemoryLimit),
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
						SecurityContext: b.containerSecurity,
						VolumeMounts:    b.mounts,
					}},
				},
			},
		},
	}, append(b.child, pulumi.DependsOn(rolloutAfter))...)
	if err != nil {
		return err
	}
	b.w.Deployment = deployment.Metadata.Name().Elem()
	return nil
}

// service is the server's ClusterIP Service (the API port only).
func (b *workloadBuilder) service() error {
	service, err := corev1.NewService(b.ctx, b.name, &corev1.ServiceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String(b.svc.Name),
			Namespace:   b.args.Namespace,
			Labels:      b.labels,
			Annotations: kube.Merge(b.await, b.args.ServiceAnnotations),
		},
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: b.selector,
			Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{
				Name: pulumi.String("http"), Port: pulumi.Int(Port), TargetPort: pulumi.String("http"), Protocol: pulumi.String("TCP"),
			}},
		},
	}, b.child...)
	if err != nil {
		return err
	}
	b.w.ServiceName = service.Metadata.Name().Elem()
	return nil
}

// autoscaler scales the Deployment on CPU when the size allows more
// replicas than the minimum.
func (b *workloadBuilder) autoscaler() error {
	if b.args.Size.MaxReplicas <= b.args.Size.Replicas {
		return nil
	}
	if _, err := autoscalingv2.NewHorizontalPodAutoscaler(b.ctx, b.name, &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: b.meta(ComponentServer),
		Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: &autoscalingv2.CrossVersionObjectReferenceArgs{
				ApiVersion: pulumi.String("apps/v1"),
				Kind:       pulumi.String("Deployment"),
				Name:       b.w.Deployment,
			},
			MinReplicas: pulumi.Int(b.args.Size.Replicas),
			MaxReplicas: pulumi.Int(b.args.Size.MaxReplicas),
			Metrics: autoscalingv2.MetricSpecArray{&autoscalingv2.MetricSpecArgs{
				Type: pulumi.String("Resource"),
				Resource: &autoscalingv2.ResourceMetricSourceArgs{
					Name: pulumi.String("cpu"),
					Target: &autoscalingv2.MetricTargetArgs{
						Type:               pulumi.String("Utilization"),
						AverageUtilization: pulumi.Int(b.args.Size.TargetCPUUtilization),
					},
				},
			}},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehaviorArgs{
				ScaleDown: &autoscalingv2.HPAScalingRulesArgs{StabilizationWindowSeconds: pulumi.Int(300)},
			},
		},
	}, b.child...); err != nil {
		return err
	}
	return nil
}

// disruptionBudget lets a drain take one pod at a time. It and the steps
// around it create one resource each the same way (b.meta, b.child); only
// their specs differ.
func (b *workloadBuilder) disruptionBudget() error {
	if _, err := policyv1.NewPodDisruptionBudget(b.ctx, b.name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: b.meta(ComponentServer),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: b.selector},
		},
	}, b.child...); err != nil {
		return err
	}
	return nil
}

// networkPolicy is the server pods' allowances beyond the namespace's
// default deny.
func (b *workloadBuilder) networkPolicy() error {
	if _, err := networkingv1.NewNetworkPolicy(b.ctx, b.name, &networkingv1.NetworkPolicyArgs{
		Metadata: b.meta(ComponentServer),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: b.selector},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
			Ingress:     b.args.Ingress,
			Egress:      b.args.Egress,
		},
	}, b.child...); err != nil {
		return err
	}
	return nil
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
