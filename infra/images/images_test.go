package images

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type noMocks struct{}

func (noMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	return args.Name + "-id", args.Inputs, nil
}

func (noMocks) Call(pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

// A secret registry password (a cloud access token) must not make the
// image references secret: they hold no credential, and diffs and outputs
// would show [secret] for every image.
func TestPushedRefIsPlain(t *testing.T) {
	t.Parallel()
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	var ref pulumi.StringOutput
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		ref = pushed(ctx, &ImagesArgs{
			Registry:         pulumi.String("europe-west1-docker.pkg.dev/p/todo"),
			RegistryUsername: pulumi.String("oauth2accesstoken"),
			RegistryPassword: pulumi.ToSecret(pulumi.String("access-token")).(pulumi.StringOutput),
			Tag:              "gke",
		}, "todo", "taskapi", nil, digest, false)
		return nil
	}, pulumi.WithMocks("todo", "gke", noMocks{}))
	if err != nil {
		t.Fatal(err)
	}
	if pulumi.IsSecret(ref) {
		t.Error("the image reference is secret because the registry password is")
	}
	got := make(chan string, 1)
	ref.ApplyT(func(s string) string { got <- s; return s })
	if s, want := <-got, "europe-west1-docker.pkg.dev/p/todo/todo/taskapi@"+digest; s != want {
		t.Errorf("reference %q, want %q", s, want)
	}
}
