#!/usr/bin/env bash
# Builds the heavy end-to-end test tools (Pulumi CLI, etcd, kube-apiserver,
# Pulumi Kubernetes provider, daprd) from the Go module proxy into a versioned
# cache outside the checkout:
#
#   ${TODO_TOOLS_DIR:-$HOME/.cache/todo-platform/tools}/<tool>-<version>/bin/<binary>
#
# A tool whose binary is already there is never rebuilt. Binaries are written
# under a temporary name and renamed when the build succeeded, so an
# interrupted build never looks complete. Full build logs are kept next to the
# binaries (<tool>-<version>/build.log).
#
# Usage: tests/tools/build.sh [tool ...]
#   tools: pulumi etcd kube-apiserver pulumi-kubernetes daprd (default: all, in that order)
#
# Builds run one after another (each needs several GB of memory) under
# `nice -n 10`, so the machine stays usable.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$HERE/versions.env"

TOOLS_DIR="${TODO_TOOLS_DIR:-$HOME/.cache/todo-platform/tools}"
ALL_TOOLS=(pulumi etcd kube-apiserver pulumi-kubernetes daprd)

# The tool modules are standalone; never let a go.work or vendor setting from
# the environment leak into them.
export GOWORK=off
export GOFLAGS="${GOFLAGS:-} -mod=readonly"
export CGO_ENABLED=0

die() {
	echo "build.sh: error: $*" >&2
	exit 1
}

tool_version() {
	case "$1" in
	pulumi) echo "$PULUMI_VERSION" ;;
	etcd) echo "$ETCD_VERSION" ;;
	kube-apiserver) echo "$KUBERNETES_VERSION" ;;
	pulumi-kubernetes) echo "$PULUMI_KUBERNETES_VERSION" ;;
	daprd) echo "$DAPR_VERSION" ;;
	*) return 1 ;;
	esac
}

tool_binary() {
	case "$1" in
	pulumi-kubernetes) echo pulumi-resource-kubernetes ;;
	*) echo "$1" ;;
	esac
}

tool_what() {
	case "$1" in
	pulumi) echo "Pulumi CLI $PULUMI_VERSION (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)" ;;
	etcd) echo "etcd $ETCD_VERSION (go.etcd.io/etcd/server/v3)" ;;
	kube-apiserver) echo "kube-apiserver $KUBERNETES_VERSION (k8s.io/kubernetes/cmd/kube-apiserver)" ;;
	pulumi-kubernetes) echo "Pulumi Kubernetes provider $PULUMI_KUBERNETES_PLUGIN_VERSION (github.com/pulumi/pulumi-kubernetes/provider/v4@$PULUMI_KUBERNETES_VERSION)" ;;
	daprd) echo "Dapr sidecar daprd $DAPR_VERSION (github.com/dapr/dapr/cmd/daprd, tag stablecomponents)" ;;
	esac
}

# Measured on 2 cores (Go 1.26, empty build cache; the later tools reuse
# packages the earlier ones compiled). Memory is the peak of the biggest
# single compile/link process.
tool_duration() {
	case "$1" in
	pulumi) echo "about 5-15 minutes cold, ~2.3 GB of memory" ;;
	etcd) echo "about 1-3 minutes cold, ~0.5 GB of memory" ;;
	kube-apiserver) echo "about 4-10 minutes cold, ~2 GB of memory" ;;
	pulumi-kubernetes) echo "about 15-25 minutes cold, ~4.5 GB of memory" ;;
	daprd) echo "about 15-20 minutes cold, ~2.3 GB of memory" ;;
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

build_pulumi() { # $1: output file
	cd "$HERE/pulumi"
	go_build -trimpath -o "$1" \
		-ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
		github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
}

build_etcd() {
	cd "$HERE/etcd"
	go_build -trimpath -o "$1" go.etcd.io/etcd/server/v3
}

build_kube-apiserver() {
	cd "$HERE/kube-apiserver"
	local v="$KUBERNETES_VERSION" minor
	minor="${v#v1.}"
	minor="${minor%%.*}"
	local ld=""
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
		ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
	done
	go_build -trimpath -o "$1" -ldflags "$ld" k8s.io/kubernetes/cmd/kube-apiserver
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
	work="$(dirname "$1")/../src"
	rm -rf "$work"
	mkdir -p "$work/cmd/pulumi-resource-kubernetes"
	cp go.mod go.sum "$work/"
	cp "$src"/cmd/pulumi-resource-kubernetes/{main.go,generate.go,schema.json,terraform-mapping.json} \
		"$work/cmd/pulumi-resource-kubernetes/"
	chmod -R u+w "$work"
	echo "build.sh: generating the embedded schema (version $PULUMI_KUBERNETES_PLUGIN_VERSION)"
	(cd "$work/cmd/pulumi-resource-kubernetes" && VERSION="$PULUMI_KUBERNETES_PLUGIN_VERSION" nice -n 10 go run generate.go)
	cd "$work"
	go_build -trimpath -o "$1" \
		-ldflags "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_PLUGIN_VERSION" \
		./cmd/pulumi-resource-kubernetes
	rm -rf "$work"
}

build_daprd() {
	cd "$HERE/daprd"
	local v="${DAPR_VERSION#v}"
	go_build -trimpath -tags stablecomponents -o "$1" \
		-ldflags "-X github.com/dapr/dapr/pkg/buildinfo.version=$v -X github.com/dapr/dapr/pkg/buildinfo.gitversion=$DAPR_VERSION -X github.com/dapr/kit/logger.DaprVersion=$v" \
		github.com/dapr/dapr/cmd/daprd
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
	binary="$(tool_binary "$tool")"
	dir="$TOOLS_DIR/$tool-$version"
	bin="$dir/bin/$binary"
	if [ -x "$bin" ]; then
		echo "==> $tool: already built: $bin"
		summary+=("$(printf '%-18s %s' "$tool" "$bin")")
		continue
	fi
	mkdir -p "$dir/bin"
	log="$dir/build.log"
	tmp="$dir/bin/.$binary.tmp"
	rm -f "$tmp"
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
		rm -f "$tmp"
		echo "build.sh: error: building $tool ($version) failed after $(fmt_secs $(($(date +%s) - start))); last lines of $log:" >&2
		tail -n 40 "$log" | sed 's/^/    /' >&2
		exit 1
	fi
	[ -s "$tmp" ] || die "$tool: the build produced no binary (see $log)"
	chmod 0755 "$tmp"
	mv -f "$tmp" "$bin"
	elapsed=$(($(date +%s) - start))
	echo "# done in $(fmt_secs "$elapsed")" >>"$log"
	peak="$(grep -o 'peak RSS of a single build process: [0-9]* KiB' "$log" | tail -n 1 | grep -o '[0-9]*' || true)"
	echo "    $tool built in $(fmt_secs "$elapsed")${peak:+ (peak build process $((peak / 1024)) MiB)}: $bin"
	summary+=("$(printf '%-18s %s' "$tool" "$bin")")
done

echo
echo "build.sh: tools ready:"
for line in "${summary[@]}"; do
	echo "    $line"
done
echo "Put them on PATH with:  export PATH=\"\$(bash $HERE/path.sh):\$PATH\""
