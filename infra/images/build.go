package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// NonRoot is the user and group the images run as (distroless' "nonroot").
const NonRoot = 65532

// BinDir is where the service binary lives in the image.
const BinDir = "/usr/local/bin"

// epoch is the timestamp of every file and of the image: builds of the same
// sources give the same digest.
var epoch = time.Unix(0, 0).UTC()

// BuildBinaries compiles ./services/<name>/cmd/<name> of the Go module at
// source for every service into outDir, as static, reproducible binaries
// (no cgo, -trimpath, no build id or VCS stamp), in one `go build`.
func BuildBinaries(ctx context.Context, source, outDir, platform string, services []string) (map[string]string, error) {
	goos, goarch, ok := strings.Cut(platform, "/")
	if !ok {
		return nil, fmt.Errorf("platform %q is not os/arch", platform)
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", outDir + string(filepath.Separator)}
	for _, s := range services {
		args = append(args, "./services/"+s+"/cmd/"+s)
	}
	cmd := exec.CommandContext(ctx, "go", args...) //nolint:gosec // G204: builds the service packages named by the catalog.
	cmd.Dir = source
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-mod=readonly", "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s in %s: %w\n%s", strings.Join(args[len(args)-len(services):], " "), source, err, out.String())
	}
	bins := map[string]string{}
	for _, s := range services {
		bins[s] = filepath.Join(outDir, s)
	}
	return bins, nil
}

// Assemble puts a service binary on a base image: base "scratch" is the
// minimal base made here (CA certificates, a nonroot user, /tmp); anything
// else is an image reference, best pinned by digest. The image runs the
// binary as NonRoot and exposes port 8080.
func Assemble(ctx context.Context, binary, service, base, platform string) (v1.Image, error) {
	goos, goarch, _ := strings.Cut(platform, "/")
	img, err := baseImage(ctx, base, v1.Platform{OS: goos, Architecture: goarch})
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(binary) //nolint:gosec // G304: the binary go build just wrote.
	if err != nil {
		return nil, err
	}
	layer, err := tarLayer([]file{
		{path: "usr/", dir: true, mode: 0o755},
		{path: "usr/local/", dir: true, mode: 0o755},
		{path: "usr/local/bin/", dir: true, mode: 0o755},
		{path: strings.TrimPrefix(BinDir, "/") + "/" + service, mode: 0o755, data: bin},
	})
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Author: "todo", CreatedBy: "go build ./services/" + service + "/cmd/" + service, Created: v1.Time{Time: epoch}},
	})
	if err != nil {
		return nil, err
	}
	return runAs(img, platform, BinDir+"/"+service, map[string]string{
		"org.opencontainers.image.title":  service,
		"org.opencontainers.image.vendor": "todo-platform",
	}, "8080/tcp")
}

// runAs sets the image's configuration: the platform, the fixed timestamps,
// entrypoint as NonRoot from /, the PATH and CA bundle, labels and exposed
// ports.
func runAs(img v1.Image, platform, entrypoint string, labels map[string]string, ports ...string) (v1.Image, error) {
	goos, goarch, _ := strings.Cut(platform, "/")
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = goos, goarch
	cf.Created = v1.Time{Time: epoch}
	cf.Author = "todo"
	cf.Config.Entrypoint = []string{entrypoint}
	cf.Config.Cmd = nil
	cf.Config.User = fmt.Sprintf("%d:%d", NonRoot, NonRoot)
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"PATH=" + BinDir + ":/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	if len(ports) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range ports {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	cf.Config.Labels = labels
	return mutate.ConfigFile(img, cf)
}

func baseImage(ctx context.Context, base string, platform v1.Platform) (v1.Image, error) {
	if base != "scratch" {
		ref, err := name.ParseReference(base)
		if err != nil {
			return nil, fmt.Errorf("base image %q: %w", base, err)
		}
		return remote.Image(ref, remote.WithContext(ctx), remote.WithPlatform(platform), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	layer, err := tarLayer(minimalBase())
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Author: "todo", CreatedBy: "minimal base: CA certificates, nonroot user, /tmp", Created: v1.Time{Time: epoch}},
	})
}

// minimalBase is what a static Go binary needs from an OS: the Mozilla root
// certificates (from golang.org/x/crypto/x509roots, pinned in go.mod, so the
// layer is the same on every machine), a passwd/group with the nonroot user,
// and a writable /tmp.
func minimalBase() []file {
	var certs bytes.Buffer
	for root := range bundle.Roots() {
		_ = pem.Encode(&certs, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate})
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRoot, NonRoot)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonRoot)
	return []file{
		{path: "etc/", dir: true, mode: 0o755},
		{path: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{path: "etc/group", mode: 0o644, data: []byte(group)},
		{path: "etc/ssl/", dir: true, mode: 0o755},
		{path: "etc/ssl/certs/", dir: true, mode: 0o755},
		{path: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: certs.Bytes()},
		{path: "home/", dir: true, mode: 0o755},
		{path: "home/nonroot/", dir: true, mode: 0o700, uid: NonRoot},
		{path: "tmp/", dir: true, mode: 0o1777},
	}
}

type file struct {
	path string
	dir  bool
	mode int64
	uid  int
	data []byte
}

// tarLayer makes a layer whose bytes depend only on the files.
func tarLayer(files []file) (v1.Layer, error) {
	raw, err := tarBytes(files)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// tarBytes writes the files as a tar archive with fixed metadata.
func tarBytes(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.path,
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.uid,
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !f.dir {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// AssembleAt puts a prebuilt static binary at path (e.g. "/daprd") on the
// minimal base, as the entrypoint, running as NonRoot. Its layer is stored
// uncompressed: for images pushed to a registry on the same machine (the
// local cluster's mirror of the Dapr and CoreDNS images), hashing a binary of
// a hundred megabytes is quick and compressing it is not.
func AssembleAt(ctx context.Context, binary, path, title, platform string) (v1.Image, error) {
	goos, goarch, _ := strings.Cut(platform, "/")
	img, err := baseImage(ctx, "scratch", v1.Platform{OS: goos, Architecture: goarch})
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(binary) //nolint:gosec // G304: a binary the caller names.
	if err != nil {
		return nil, err
	}
	var files []file
	rel := strings.TrimPrefix(path, "/")
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		files = append(files, file{path: strings.Join(parts[:i], "/") + "/", dir: true, mode: 0o755})
	}
	files = append(files, file{path: rel, mode: 0o755, data: bin})
	raw, err := tarBytes(files)
	if err != nil {
		return nil, err
	}
	// A static layer is stored as given: its digest is that of the tar.
	layer := static.NewLayer(raw, types.OCIUncompressedLayer)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCIUncompressedLayer,
		History:   v1.History{Author: "todo", CreatedBy: "add " + path, Created: v1.Time{Time: epoch}},
	})
	if err != nil {
		return nil, err
	}
	return runAs(img, platform, path, map[string]string{"org.opencontainers.image.title": title})
}
