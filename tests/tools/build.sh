#!/usr/bin/env bash
# Builds the heavy end-to-end test tools and the local cluster's binaries
# (Pulumi CLI, etcd, Kubernetes, Pulumi Kubernetes provider, Dapr, CoreDNS,
# kube-router)
# from the Go module proxy into a versioned cache outside the checkout:
#
#   ${TODO_TOOLS_DIR:-$HOME/.cache/todo-platform/tools}/<tool>-<version>/bin/<binary>
#
# A tool whose binaries are all there is never rebuilt. A tool with several
# binaries (kubernetes, dapr) builds them in one `go build`, so the packages
# they share compile once. Binaries are written to a temporary directory and
# moved into bin/ when the build succeeded, so an interrupted build never
# looks complete. Full build logs are kept next to the
# binaries (<tool>-<version>/build.log).
#
# Usage: tests/tools/build.sh [tool ...]
#   tools: pulumi etcd kubernetes pulumi-kubernetes dapr coredns kube-router (default: all, in that order)
#
# Builds run one after another (each needs several GB of memory) under
# `nice -n 10`, so the machine stays usable.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tools.sh
. "$HERE/tools.sh"

# The tool modules are standalone; never let a go.work or vendor setting from
# the environment leak into them.
export GOWORK=off
export GOFLAGS="${GOFLAGS:-} -mod=readonly"
export CGO_ENABLED=0

die() {
	echo "build.sh: error: $*" >&2
	exit 1
}

# tool_what and tool_duration are case tables like tool_version (tools.sh):
# one row per tool, each row that tool's own text.
tool_what() {
	case "$1" in
	pulumi) echo "Pulumi CLI $PULUMI_VERSION (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)" ;;
	etcd) echo "etcd $ETCD_VERSION (go.etcd.io/etcd/server/v3)" ;;
	kubernetes) echo "Kubernetes $KUBERNETES_VERSION: kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, kubelet, kubectl (k8s.io/kubernetes/cmd/...)" ;;
	pulumi-kubernetes) echo "Pulumi Kubernetes provider $PULUMI_KUBERNETES_PLUGIN_VERSION (github.com/pulumi/pulumi-kubernetes/provider/v4@$PULUMI_KUBERNETES_VERSION)" ;;
	dapr) echo "Dapr $DAPR_VERSION: daprd (tag stablecomponents) and the control plane: operator, injector, sentry, placement, scheduler (github.com/dapr/dapr/cmd/...)" ;;
	coredns) echo "CoreDNS $COREDNS_VERSION (github.com/coredns/coredns)" ;;
	kube-router) echo "kube-router $KUBE_ROUTER_VERSION, its network policy controller (github.com/k3s-io/kube-router/v2)" ;;
	esac
}

# Measured on a quiet 2-core machine (Go 1.26, empty build cache, modules
# already downloaded; the later tools reuse packages the earlier ones
# compiled): 28m39s for all, in the order below; about three times as long
# while other builds or tests run. Memory is the peak of the biggest single
# compile/link process.
tool_duration() {
	case "$1" in
	pulumi) echo "about 5 minutes cold (5m04s measured), ~2.3 GB of memory" ;;
	etcd) echo "about 1 minute cold (0m37s), ~0.5 GB of memory" ;;
	kubernetes) echo "about 6 minutes cold (6m11s), ~2.2 GB of memory" ;;
	pulumi-kubernetes) echo "about 9 minutes cold (8m58s), ~4.5 GB of memory" ;;
	dapr) echo "about 4 minutes cold after the tools above (3m59s), ~2.3 GB of memory" ;;
	coredns) echo "about 2 minutes cold (1m35s), ~1.3 GB of memory" ;;
	kube-router) echo "about 2 minutes cold (2m15s), ~3 GB of memory" ;;
	esac
}

# go_build runs `go build` niced, measuring the peak memory of the biggest
# process (compiler or linker) when GNU time is available.
go_build() {
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f 'build.sh: peak RSS of a single build process: %M KiB' nice -n 10 go build "$@"
	else
		nice -n 10 go build "$@"
	fi
}

# Each build_<tool> function writes the tool's binaries into the directory $1.

build_pulumi() {
	cd "$HERE/pulumi"
	go_build -trimpath -o "$1/pulumi" \
		-ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
		github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
}

build_etcd() {
	cd "$HERE/etcd"
	go_build -trimpath -o "$1/etcd" go.etcd.io/etcd/server/v3
}

build_kubernetes() {
	cd "$HERE/kubernetes"
	local v="$KUBERNETES_VERSION" minor
	minor="${v#v1.}"
	minor="${minor%%.*}"
	local ld=""
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
		ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
	done
	local pkgs=()
	for b in $(tool_binaries kubernetes); do
		pkgs+=("k8s.io/kubernetes/cmd/$b")
	done
	go_build -trimpath -o "$1/" -ldflags "$ld" "${pkgs[@]}"
}

build_pulumi-kubernetes() {
	# The provider's main package embeds schema-embed.json, which its Makefile
	# generates (`VERSION=... go generate cmd/pulumi-resource-kubernetes/main.go`)
	# and which the module zip does not contain. Copy the main package out of the
	# (read-only) module cache next to this tool module's go.mod/go.sum, generate
	# the schema there and build it.
	cd "$HERE/pulumi-kubernetes"
	local mod=github.com/pulumi/pulumi-kubernetes/provider/v4
	go mod download "$mod"
	local src work
	src="$(go list -m -f '{{.Dir}}' "$mod")"
	[ -n "$src" ] && [ -d "$src/cmd/pulumi-resource-kubernetes" ] || die "pulumi-kubernetes: $mod not found in the module cache"
	work="$1/../src"
	rm -rf "$work"
	mkdir -p "$work/cmd/pulumi-resource-kubernetes"
	cp go.mod go.sum "$work/"
	cp "$src"/cmd/pulumi-resource-kubernetes/{main.go,generate.go,schema.json,terraform-mapping.json} \
		"$work/cmd/pulumi-resource-kubernetes/"
	chmod -R u+w "$work"
	echo "build.sh: generating the embedded schema (version $PULUMI_KUBERNETES_PLUGIN_VERSION)"
	(cd "$work/cmd/pulumi-resource-kubernetes" && VERSION="$PULUMI_KUBERNETES_PLUGIN_VERSION" nice -n 10 go run generate.go)
	cd "$work"
	go_build -trimpath -o "$1/pulumi-resource-kubernetes" \
		-ldflags "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_PLUGIN_VERSION" \
		./cmd/pulumi-resource-kubernetes
	rm -rf "$work"
}

build_dapr() {
	cd "$HERE/dapr"
	local v="${DAPR_VERSION#v}"
	local pkgs=()
	for b in $(tool_binaries dapr); do
		pkgs+=("github.com/dapr/dapr/cmd/$b")
	done
	go_build -trimpath -tags stablecomponents -o "$1/" \
		-ldflags "-X github.com/dapr/dapr/pkg/buildinfo.version=$v -X github.com/dapr/dapr/pkg/buildinfo.gitversion=$DAPR_VERSION -X github.com/dapr/kit/logger.DaprVersion=$v" \
		"${pkgs[@]}"
}

build_coredns() {
	cd "$HERE/coredns"
	go_build -trimpath -o "$1/coredns" \
		-ldflags "-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" \
		github.com/coredns/coredns
}

build_kube-router() {
	cd "$HERE/kube-router"
	go_build -trimpath -o "$1/kube-router" \
		-ldflags "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
		github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
}

fmt_secs() {
	printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH; the test tools are built from source with the Go toolchain (Go 1.26 or newer)."

if [ $# -eq 0 ]; then
	set -- "${ALL_TOOLS[@]}"
fi
for tool in "$@"; do
	tool_version "$tool" >/dev/null || die "unknown tool '$tool' (known: ${ALL_TOOLS[*]})"
done

mkdir -p "$TOOLS_DIR"
echo "build.sh: tools cache: $TOOLS_DIR ($(go version))"

summary=()
for tool in "$@"; do
	version="$(tool_version "$tool")"
	dir="$TOOLS_DIR/$tool-$version"
	read -r -a binaries <<<"$(tool_binaries "$tool")"
	missing=()
	for b in "${binaries[@]}"; do
		[ -x "$dir/bin/$b" ] || missing+=("$b")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		echo "==> $tool: already built: $dir/bin (${binaries[*]})"
		summary+=("$(printf '%-18s %s' "$tool" "$dir/bin")")
		continue
	fi
	mkdir -p "$dir/bin"
	log="$dir/build.log"
	tmp="$dir/.bin.tmp"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	echo "==> $tool: building $(tool_what "$tool")"
	echo "    this takes $(tool_duration "$tool"); log: $log"
	start=$(date +%s)
	{
		echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) building $(tool_what "$tool")"
		echo "# $(go version)"
	} >"$log"
	# Run the build in a subshell with `set -e` in force (bash ignores it for
	# a command tested by `if` or `||`), so any failing step fails the build.
	set +e
	(
		set -e
		"build_$tool" "$tmp"
	) >>"$log" 2>&1
	rc=$?
	set -e
	if [ "$rc" -ne 0 ]; then
		rm -rf "$tmp"
		echo "build.sh: error: building $tool ($version) failed after $(fmt_secs $(($(date +%s) - start))); last lines of $log:" >&2
		tail -n 40 "$log" | sed 's/^/    /' >&2
		exit 1
	fi
	for b in "${binaries[@]}"; do
		[ -s "$tmp/$b" ] || die "$tool: the build produced no $b (see $log)"
	done
	for b in "${binaries[@]}"; do
		chmod 0755 "$tmp/$b"
		mv -f "$tmp/$b" "$dir/bin/$b"
	done
	rm -rf "$tmp"
	elapsed=$(($(date +%s) - start))
	echo "# done in $(fmt_secs "$elapsed")" >>"$log"
	peak="$(grep -o 'peak RSS of a single build process: [0-9]* KiB' "$log" | tail -n 1 | grep -o '[0-9]*' || true)"
	echo "    $tool built in $(fmt_secs "$elapsed")${peak:+ (peak build process $((peak / 1024)) MiB)}: $dir/bin (${binaries[*]})"
	summary+=("$(printf '%-18s %s' "$tool" "$dir/bin")")
done

echo
echo "build.sh: tools ready:"
for line in "${summary[@]}"; do
	echo "    $line"
done
echo "Put them on PATH with:  export PATH=\"\$(bash $HERE/path.sh):\$PATH\""
