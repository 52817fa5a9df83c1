package images

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// writeFakeService writes a module with services/hello/cmd/hello.
func writeFakeService(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":                           "module example.com/fake\n\ngo 1.24\n",
		"services/hello/cmd/hello/main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The same sources give the same image digest (so preview knows what up
// deploys), and the image runs the static binary as the nonroot user.
// buildHello builds the fake service's binary in src and its image, for
// linux/amd64.
func buildHello(ctx context.Context, t *testing.T, src string) v1.Image {
	t.Helper()
	bins, err := BuildBinaries(ctx, src, t.TempDir(), "linux/amd64", []string{"hello"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := Assemble(ctx, bins["hello"], "hello", "scratch", "linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestBuildIsReproducibleAndNonRoot(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a Go binary")
	}
	ctx := context.Background()
	src := writeFakeService(t)
	var digests []string
	for range 2 {
		img := buildHello(ctx, t, src)
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())

		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != "65532:65532" {
			t.Errorf("user %q, want 65532:65532", cf.Config.User)
		}
		if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/usr/local/bin/hello" {
			t.Errorf("entrypoint %v", cf.Config.Entrypoint)
		}
		if cf.OS != "linux" || cf.Architecture != "amd64" {
			t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
		}
		files := filesIn(t, img)
		for _, want := range []string{"usr/local/bin/hello", "etc/ssl/certs/ca-certificates.crt", "etc/passwd", "tmp"} {
			if _, ok := files[want]; !ok {
				t.Errorf("image has no %s", want)
			}
		}
		if files["etc/ssl/certs/ca-certificates.crt"] < 100_000 {
			t.Errorf("CA bundle is only %d bytes", files["etc/ssl/certs/ca-certificates.crt"])
		}
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds of the same sources: %s and %s", digests[0], digests[1])
	}

	// An OCI layout written twice holds the image once.
	img := buildHello(ctx, t, src)
	dir := filepath.Join(t.TempDir(), "oci")
	for range 2 {
		if err := writeLayout(dir, "todo/hello", img); err != nil {
			t.Fatal(err)
		}
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Digest.String() != digests[0] {
		t.Errorf("layout index %+v, want one manifest %s", m.Manifests, digests[0])
	}
}

func TestBuildFailureNamesThePackage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go build")
	}
	src := writeFakeService(t)
	_, err := BuildBinaries(context.Background(), src, t.TempDir(), "linux/amd64", []string{"missing"})
	if err == nil {
		t.Fatal("no error for a missing service")
	}
	if got := err.Error(); !strings.Contains(got, "./services/missing/cmd/missing") {
		t.Errorf("error %q does not name the package", got)
	}
}

// filesIn lists the files of the flattened image with their sizes.
func filesIn(t *testing.T, img v1.Image) map[string]int64 {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h.Size
	}
}
