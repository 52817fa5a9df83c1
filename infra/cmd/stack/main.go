// Command stack previews, deploys and destroys a stack of the platform
// through the Pulumi Automation API, running the program (platform.Program)
// in this process. It needs the Pulumi CLI on PATH but no Go language
// plugin, so it works wherever Go and the CLI do.
//
//	go run ./infra/cmd/stack preview -s minikube
//	go run ./infra/cmd/stack up -s aks
//	go run ./infra/cmd/stack destroy -s minikube
//	go run ./infra/cmd/stack refresh|outputs -s gke
//
// The project and the stack settings are the checkout's Pulumi.yaml and
// stacks/Pulumi.<stack>.yaml. The backend is PULUMI_BACKEND_URL, else the
// CLI's current login; the minikube and local stacks default to a file backend in
// .pulumi/ of the checkout and to its published development passphrase.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/todo-platform/todo/infra/platform"
)

// devPassphrases are the published passphrases of the development stacks'
// secrets (stacks/Pulumi.minikube.yaml, stacks/Pulumi.local.yaml). Those
// stacks keep their state in .pulumi/ of the checkout.
var devPassphrases = map[string]string{
	"minikube": "todo-minikube-dev", //nolint:gosec // G101: published on purpose; it guards development placeholders only.
	"local":    "todo-local-dev",    //nolint:gosec // G101: as above.
}

// errNoCLI says how to get the Pulumi CLI, which the Automation API runs.
var errNoCLI = errors.New("the Pulumi CLI (pulumi) is not on PATH: run `make tools` to build the pinned one " +
	"into the tools cache (the make targets put it on PATH), or install it (https://www.pulumi.com/docs/install/)")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("usage: stack <preview|up|destroy|refresh|outputs> -s <stack> [-yes] [-diff] [-refresh]")
	}
	verb := args[0]
	fs := flag.NewFlagSet("stack "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	stackName := fs.String("s", getenv("STACK"), "stack (minikube, local, aks, gke, doks), or org/project/stack")
	yes := fs.Bool("yes", false, "destroy without asking")
	diff := fs.Bool("diff", false, "show a detailed diff")
	refresh := fs.Bool("refresh", false, "refresh the state first")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *stackName == "" {
		return errors.New("no stack: pass -s <stack> (or set STACK)")
	}
	root, err := projectRoot()
	if err != nil {
		return err
	}
	short := *stackName
	if i := strings.LastIndex(short, "/"); i >= 0 {
		short = short[i+1:]
	}
	if _, err := os.Stat(filepath.Join(root, "stacks", "Pulumi."+short+".yaml")); err != nil {
		return fmt.Errorf("no stack settings for %q: %w", short, err)
	}

	if _, err := exec.LookPath("pulumi"); err != nil {
		return errNoCLI
	}

	env := map[string]string{"PULUMI_SKIP_UPDATE_CHECK": "true"}
	passphrase, dev := devPassphrases[short]
	if dev {
		if getenv("PULUMI_BACKEND_URL") == "" {
			state := filepath.Join(root, ".pulumi")
			if err := os.MkdirAll(state, 0o750); err != nil {
				return err
			}
			env["PULUMI_BACKEND_URL"] = "file://" + filepath.ToSlash(state)
		}
		if getenv("PULUMI_CONFIG_PASSPHRASE") == "" && getenv("PULUMI_CONFIG_PASSPHRASE_FILE") == "" {
			env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
		}
	}
	if short == "local" && getenv("PULUMI_K8S_DELETE_UNREACHABLE") == "" {
		// The local cluster is disposable: `make cluster-down && make
		// cluster` starts a new one (a new CA, an empty etcd), and the
		// objects in the state went with the old one. Their deletion is
		// then a no-op instead of an "unreachable cluster" failure, so the
		// next up recreates them in the new cluster.
		env["PULUMI_K8S_DELETE_UNREACHABLE"] = "true"
	}
	opts := []auto.LocalWorkspaceOption{auto.WorkDir(root), auto.EnvVars(env)}
	if dev {
		opts = append(opts, auto.SecretsProvider("passphrase"))
	}
	stack, err := auto.UpsertStackInlineSource(ctx, *stackName, "todo", platform.Program, opts...)
	if err != nil {
		return fmt.Errorf("select stack %s: %w", *stackName, err)
	}

	switch verb {
	case "preview":
		o := []optpreview.Option{optpreview.ProgressStreams(stdout), optpreview.ErrorProgressStreams(stderr)}
		if *diff {
			o = append(o, optpreview.Diff())
		}
		if *refresh {
			o = append(o, optpreview.Refresh())
		}
		_, err = stack.Preview(ctx, o...)
	case "up", "deploy":
		o := []optup.Option{optup.ProgressStreams(stdout), optup.ErrorProgressStreams(stderr)}
		if *diff {
			o = append(o, optup.Diff())
		}
		if *refresh {
			o = append(o, optup.Refresh())
		}
		var res auto.UpResult
		if res, err = stack.Up(ctx, o...); err == nil {
			printOutputs(stdout, res.Outputs)
		}
	case "destroy":
		if !*yes && !dev {
			return fmt.Errorf("destroying %s deletes its cluster and data; pass -yes to confirm", *stackName)
		}
		_, err = stack.Destroy(ctx, optdestroy.ProgressStreams(stdout), optdestroy.ErrorProgressStreams(stderr))
	case "refresh":
		_, err = stack.Refresh(ctx, optrefresh.ProgressStreams(stdout), optrefresh.ErrorProgressStreams(stderr))
	case "outputs":
		var outs auto.OutputMap
		if outs, err = stack.Outputs(ctx); err == nil {
			printOutputs(stdout, outs)
		}
	default:
		return fmt.Errorf("unknown command %q (want preview, up, destroy, refresh or outputs)", verb)
	}
	return err
}

// projectRoot is the directory of Pulumi.yaml, searched upwards.
func projectRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "Pulumi.yaml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no Pulumi.yaml here or above")
		}
		dir = parent
	}
}

func printOutputs(w io.Writer, outs auto.OutputMap) {
	keys := make([]string, 0, len(outs))
	for k := range outs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w, "Outputs:")
	for _, k := range keys {
		v := outs[k]
		if v.Secret {
			fmt.Fprintf(w, "  %s: [secret]\n", k)
			continue
		}
		fmt.Fprintf(w, "  %s: %v\n", k, v.Value)
	}
}
