package dapr

import (
	"context"
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type fakeResource struct{ pulumi.CustomResourceState }

func TestDependOn(t *testing.T) {
	config := &fakeResource{}
	other := &fakeResource{}
	transform := DependOn(config)
	for _, typ := range []string{"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"} {
		res := transform(context.Background(), &pulumi.ResourceTransformArgs{
			Type: typ, Props: pulumi.Map{"kind": pulumi.String("x")},
			Opts: pulumi.ResourceOptions{DependsOn: []pulumi.Resource{other}},
		})
		if res == nil {
			t.Fatalf("%s: no transform", typ)
		}
		if !slices.Contains(res.Opts.DependsOn, pulumi.Resource(config)) || !slices.Contains(res.Opts.DependsOn, pulumi.Resource(other)) {
			t.Errorf("%s: depends on %v, want the Configuration and what it had", typ, res.Opts.DependsOn)
		}
		if res.Props["kind"] == nil {
			t.Errorf("%s: props dropped", typ)
		}
	}
	for _, typ := range []string{"kubernetes:core/v1:Service", "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", "kubernetes:dapr.io/v1alpha1:Configuration"} {
		if res := transform(context.Background(), &pulumi.ResourceTransformArgs{Type: typ}); res != nil {
			t.Errorf("%s: transformed; only the workloads wait for the Configuration", typ)
		}
	}
}
