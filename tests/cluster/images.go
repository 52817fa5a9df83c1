package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/todo-platform/todo/infra/images"
	"github.com/todo-platform/todo/tests/toolchain"
)

// startRegistry serves an OCI registry (go-containerregistry's) on Registry,
// blobs on disk under the state folder.
func (c *Cluster) startRegistry(ctx context.Context) error {
	blobs := filepath.Join(c.dir, "registry")
	if err := os.MkdirAll(blobs, 0o750); err != nil {
		return err
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", Registry)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", Registry, err)
	}
	logFile, err := os.OpenFile(filepath.Join(c.dir, "logs", "registry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		_ = l.Close()
		return err
	}
	c.registry = &http.Server{
		Handler: registry.New(
			registry.WithBlobHandler(registry.NewDiskBlobHandler(blobs)),
			registry.Logger(log.New(logFile, "", log.LstdFlags)),
		),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		defer func() { _ = logFile.Close() }()
		if err := c.registry.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(logFile, "registry: %v\n", err)
		}
	}()
	return nil
}

// mirrorImages builds the images the cluster itself runs from binaries
// built here and pushes them into the registry: the pods' sandbox (pause),
// the network probe (probe: State.Images["probe"]), CoreDNS, and the Dapr control plane and sidecar, which the Dapr chart
// then pulls from the registry (global.registry).
func (c *Cluster) mirrorImages(ctx context.Context) error {
	if err := c.copyDaprChart(ctx); err != nil {
		return err
	}
	type src struct{ name, binary, path, repo, tag string }
	var srcs []src
	for _, prog := range []string{"pause", "probe"} {
		bin, err := c.buildProgram(ctx, prog)
		if err != nil {
			return err
		}
		srcs = append(srcs, src{prog, bin, "/" + prog, MirrorRepo + "/" + prog, "latest"})
	}
	coredns, err := toolchain.Path(toolchain.CoreDNS)
	if err != nil {
		return err
	}
	corednsVersion, _ := toolchain.Version(toolchain.CoreDNS)
	srcs = append(srcs, src{"coredns", coredns, "/coredns", MirrorRepo + "/coredns", strings.TrimPrefix(corednsVersion, "v")})
	for _, d := range DaprImages {
		bin, err := toolchain.Path(d)
		if err != nil {
			return err
		}
		srcs = append(srcs, src{d, bin, "/" + d, MirrorRepo + "/" + d, c.State.DaprTag})
	}
	refs := make([]string, len(srcs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for i, s := range srcs {
		g.Go(func() error {
			img, err := images.AssembleAt(gctx, s.binary, s.path, s.name, "linux/"+runtime.GOARCH)
			if err != nil {
				return fmt.Errorf("image %s: %w", s.name, err)
			}
			ref, err := push(gctx, Registry+"/"+s.repo+":"+s.tag, img)
			if err != nil {
				return err
			}
			refs[i] = ref
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, s := range srcs {
		c.State.Images[s.name] = refs[i]
	}
	return nil
}

// push pushes img as tag and returns its reference by digest.
func push(ctx context.Context, tag string, img v1.Image) (string, error) {
	t, err := name.NewTag(tag)
	if err != nil {
		return "", err
	}
	if err := remote.Write(t, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return t.Context().Name() + "@" + d.String(), nil
}

// buildProgram compiles one of the cluster's own programs (./pause, the
// pods' sandbox, or ./probe, the network probe; beside this file) into the
// state folder.
func (c *Cluster) buildProgram(ctx context.Context, prog string) (string, error) {
	out := filepath.Join(c.dir, "bin", prog)
	src, err := programSource(ctx, prog)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build the %s program: %w: %s", prog, err, b)
	}
	return out, nil
}

// programSource finds tests/cluster/<prog>: beside this source file, or
// under the module of the working directory.
func programSource(ctx context.Context, prog string) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		d := filepath.Join(filepath.Dir(file), prog)
		if _, err := os.Stat(filepath.Join(d, "main.go")); err == nil {
			return d, nil
		}
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err == nil {
		if mod := strings.TrimSpace(string(out)); mod != "" && mod != os.DevNull {
			d := filepath.Join(filepath.Dir(mod), "tests", "cluster", prog)
			if _, err := os.Stat(filepath.Join(d, "main.go")); err == nil {
				return d, nil
			}
		}
	}
	return "", fmt.Errorf("cannot find the %s program's source (tests/cluster/%s): run from inside the checkout", prog, prog)
}

// copyDaprChart copies the Dapr chart of the pinned github.com/dapr/dapr
// module (the version of the mirrored images) into <dir>/charts/dapr, where
// the local stack takes it from.
func (c *Cluster) copyDaprChart(ctx context.Context) error {
	v, err := toolchain.Version(toolchain.Daprd)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "github.com/dapr/dapr@"+v)
	cmd.Dir = os.TempDir() // outside any module: only the module cache is used
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go mod download github.com/dapr/dapr@%s: %w", v, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return fmt.Errorf("go mod download github.com/dapr/dapr@%s: %s %s", v, m.Error, out)
	}
	src := filepath.Join(m.Dir, "charts", "dapr")
	dst := filepath.Join(c.dir, "charts", "dapr")
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	err = filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		raw, err := os.ReadFile(path) //nolint:gosec // G304: the module cache.
		if err != nil {
			return err
		}
		return os.WriteFile(target, raw, 0o600)
	})
	if err != nil {
		return fmt.Errorf("copy the Dapr chart: %w", err)
	}
	c.State.DaprChart = dst
	return nil
}
