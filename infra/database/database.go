// Package database hands the Neon PostgreSQL connection URLs to the cluster:
// a Kubernetes Secret with the pooled URL (the services' DATABASE_URL), the
// direct URL (DATABASE_DIRECT_URL: the LISTENing connections, and the
// migration Jobs unless another role owns the schemas) and, when one does,
// that owner's direct URL (the migration Jobs'), all from Pulumi secrets. The Neon project itself is managed in Neon (branches per
// environment); its URLs are stack secrets.
package database

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/kube"
)

// SecretName is the database Secret; its keys are KeyURL, KeyDirectURL and,
// when the schemas' owner is another role, KeyOwnerURL.
const (
	SecretName   = "database"
	KeyURL       = "url"
	KeyDirectURL = "directUrl"
	KeyOwnerURL  = "ownerUrl"
)

// DatabaseArgs configures NewDatabase.
type DatabaseArgs struct {
	Namespace pulumi.StringInput
	PooledURL pulumi.StringInput // secret
	DirectURL pulumi.StringInput // secret
	// OwnerURL is the direct URL of the schemas' owner, for the migration
	// Jobs (secret; nil: the services' role migrates).
	OwnerURL pulumi.StringInput
	Provider *kubernetes.Provider
}

// Database is the database Secret of the services.
type Database struct {
	pulumi.ResourceState
	// Secret is the name of the Secret.
	Secret pulumi.StringOutput
}

// NewDatabase creates the database Secret. Its frame (register, one child
// with Parent and the Provider, register the outputs) is the component
// convention every NewX here follows, apps.NewNamespace too.
func NewDatabase(ctx *pulumi.Context, name string, args *DatabaseArgs, opts ...pulumi.ResourceOption) (*Database, error) {
	d := &Database{}
	if err := ctx.RegisterComponentResource("todo:database:Database", name, d, opts...); err != nil {
		return nil, err
	}
	data := pulumi.StringMap{
		KeyURL:       pulumi.ToSecret(args.PooledURL).(pulumi.StringOutput),
		KeyDirectURL: pulumi.ToSecret(args.DirectURL).(pulumi.StringOutput),
	}
	if args.OwnerURL != nil {
		data[KeyOwnerURL] = pulumi.ToSecret(args.OwnerURL).(pulumi.StringOutput)
	}
	s, err := corev1.NewSecret(ctx, name, &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(SecretName),
			Namespace: args.Namespace,
			Labels:    kube.Labels("database", "credentials"),
		},
		Type:       pulumi.String("Opaque"),
		StringData: data,
	}, pulumi.Parent(d), pulumi.Provider(args.Provider))
	if err != nil {
		return nil, err
	}
	d.Secret = s.Metadata.Name().Elem()
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{"secret": d.Secret}); err != nil {
		return nil, err
	}
	return d, nil
}
