// Package images builds the service images from the Go sources without a
// Docker daemon (go build, then go-containerregistry: a static binary on a
// minimal base, running as a non-root user) and publishes them: loaded into
// minikube, pushed to the cluster's registry, or written to an OCI image
// layout. Builds are reproducible, so the digest is known at preview time
// and the workloads are deployed by digest.
package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/config"
)

// ImagesArgs configures NewImages.
type ImagesArgs struct {
	// Services to build: ./services/<name>/cmd/<name> of Source.
	Services []string
	// Source is the root of the Go module holding services/.
	Source string
	// Settings are the stack's image settings (publish mode, base, ...).
	Settings config.Images
	// Registry, RegistryUsername and RegistryPassword are where pushes go
	// (publish "push"); empty credentials use the local Docker config.
	Registry         pulumi.StringInput
	RegistryUsername pulumi.StringInput
	RegistryPassword pulumi.StringInput
	// RegistryLogin, when set and the credentials are empty, fetches push
	// credentials at push time.
	RegistryLogin func(ctx context.Context, registry string) (user, pass string, err error)
	// Tag is the tag pushed alongside the digest (the stack name), for
	// people browsing the registry; deployments use the digest.
	Tag string
}

// Images are the built service images.
type Images struct {
	pulumi.ResourceState
	// Refs maps each service to the reference the workloads deploy.
	Refs map[string]pulumi.StringOutput
}

// Image is one service image.
type Image struct {
	pulumi.ResourceState
	Ref    pulumi.StringOutput
	Digest pulumi.StringOutput
}

// NewImages builds and publishes the service images. In a preview nothing is
// published: the images are built to learn their digests.
func NewImages(ctx *pulumi.Context, name string, args *ImagesArgs, opts ...pulumi.ResourceOption) (*Images, error) {
	im := &Images{Refs: map[string]pulumi.StringOutput{}}
	if err := ctx.RegisterComponentResource("todo:images:Images", name, im, opts...); err != nil {
		return nil, err
	}
	set := args.Settings
	repo := strings.TrimSuffix(set.Repository, "/")

	digests := map[string]string{}
	built := map[string]v1.Image{}
	if set.Publish == config.PublishNone {
		for _, s := range args.Services {
			d := set.Digests[s]
			if d == "" {
				d = set.Digest
			}
			digests[s] = d
		}
	} else {
		tmp, err := os.MkdirTemp("", "todo-images-")
		if err != nil {
			return nil, err
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		bins, err := BuildBinaries(ctx.Context(), args.Source, tmp, set.Platform, args.Services)
		if err != nil {
			return nil, err
		}
		for _, s := range args.Services {
			img, err := Assemble(ctx.Context(), bins[s], s, set.Base, set.Platform)
			if err != nil {
				return nil, fmt.Errorf("image %s: %w", s, err)
			}
			d, err := img.Digest()
			if err != nil {
				return nil, err
			}
			built[s], digests[s] = img, d.String()
		}
	}

	publish := !ctx.DryRun()
	for _, s := range args.Services {
		img, digest := built[s], digests[s]
		var ref pulumi.StringOutput
		switch set.Publish {
		case config.PublishNone:
			ref = pulumi.String(fmt.Sprintf("%s/%s@%s", repo, s, digest)).ToStringOutput()
		case config.PublishLayout:
			if publish {
				if err := writeLayout(set.LayoutDir, repo+"/"+s, img); err != nil {
					return nil, err
				}
			}
			ref = pulumi.String(fmt.Sprintf("%s/%s@%s", repo, s, digest)).ToStringOutput()
		case config.PublishLoad:
			// A container runtime's local store cannot resolve a digest
			// that no registry served, so the tag is the digest (as ko
			// does for local daemons): still content-addressed.
			tagged := fmt.Sprintf("%s/%s:%s", repo, s, strings.TrimPrefix(digest, "sha256:"))
			if publish {
				if err := loadIntoMinikube(ctx.Context(), set.Profile, tagged, img); err != nil {
					return nil, err
				}
			}
			ref = pulumi.String(tagged).ToStringOutput()
		case config.PublishPush:
			ref = pushed(ctx, args, repo, s, img, digest, publish)
		default:
			return nil, fmt.Errorf("unknown publish mode %q", set.Publish)
		}
		child := &Image{Ref: ref, Digest: pulumi.String(digest).ToStringOutput()}
		if err := ctx.RegisterComponentResource("todo:images:Image", name+"-"+s, child, pulumi.Parent(im)); err != nil {
			return nil, err
		}
		if err := ctx.RegisterResourceOutputs(child, pulumi.Map{"ref": child.Ref, "digest": child.Digest}); err != nil {
			return nil, err
		}
		im.Refs[s] = ref
	}

	refs := pulumi.StringMap{}
	for s, r := range im.Refs {
		refs[s] = r
	}
	if err := ctx.RegisterResourceOutputs(im, pulumi.Map{"refs": refs}); err != nil {
		return nil, err
	}
	return im, nil
}

// pushed pushes the image to the registry once it is known and returns
// <registry>/<repository>/<service>@<digest>.
func pushed(ctx *pulumi.Context, args *ImagesArgs, repo, service string, img v1.Image, digest string, publish bool) pulumi.StringOutput {
	user, pass := args.RegistryUsername, args.RegistryPassword
	if user == nil {
		user = pulumi.String("")
	}
	if pass == nil {
		pass = pulumi.String("")
	}
	// The reference holds no credential: keep it plain even though the
	// password is secret (which taints every output computed with it), so
	// that diffs and outputs show the images.
	ref := pulumi.All(args.Registry, user, pass).ApplyTWithContext(ctx.Context(), func(c context.Context, v []any) (string, error) {
		registry, u, p := v[0].(string), v[1].(string), v[2].(string)
		repository := strings.TrimSuffix(registry, "/") + "/" + repo + "/" + service
		if publish {
			if u == "" && p == "" && args.RegistryLogin != nil {
				var err error
				if u, p, err = args.RegistryLogin(c, registry); err != nil {
					return "", err
				}
			}
			auth := remote.WithAuthFromKeychain(authn.DefaultKeychain)
			if u != "" || p != "" {
				auth = remote.WithAuth(&authn.Basic{Username: u, Password: p})
			}
			tag, err := name.NewTag(repository + ":" + args.Tag)
			if err != nil {
				return "", err
			}
			if err := remote.Write(tag, img, remote.WithContext(c), auth); err != nil {
				return "", fmt.Errorf("push %s: %w", tag, err)
			}
		}
		return repository + "@" + digest, nil
	}).(pulumi.StringOutput)
	return pulumi.Unsecret(ref).(pulumi.StringOutput)
}

// writeLayout writes (or replaces) the image in an OCI image layout,
// annotated with its name.
func writeLayout(dir, imageName string, img v1.Image) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("OCI layout %s: %w", dir, err)
		}
	}
	ann := map[string]string{"org.opencontainers.image.ref.name": imageName}
	if err := p.ReplaceImage(img, match.Annotation("org.opencontainers.image.ref.name", imageName), layout.WithAnnotations(ann)); err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	return nil
}

// loadIntoMinikube writes a Docker-compatible tarball and loads it into the
// minikube node's container runtime.
func loadIntoMinikube(ctx context.Context, profile, tagged string, img v1.Image) error {
	tag, err := name.NewTag(tagged)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "todo-image-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	file := filepath.Join(dir, "image.tar")
	if err := tarball.WriteToFile(file, tag, img); err != nil {
		return err
	}
	//nolint:gosec // G204: runs the minikube CLI on purpose; the profile comes from the stack config.
	out, err := exec.CommandContext(ctx, "minikube", "-p", profile, "image", "load", file).CombinedOutput()
	if err != nil {
		return fmt.Errorf("minikube image load %s: %w\n%s", tagged, err, out)
	}
	return nil
}
