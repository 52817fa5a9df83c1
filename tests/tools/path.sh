#!/usr/bin/env bash
# Prints the bin directories of the pinned end-to-end test tools, joined with
# ':', for use as
#
#   export PATH="$(bash tests/tools/path.sh):$PATH"
#
# Every pinned tool's directory is printed (a directory of a tool that is not
# built yet is harmless on PATH); missing tools are reported on stderr.
#
#   path.sh --check [tool ...]
#     exits non-zero, naming the missing tools, unless every named tool
#     (default: all) is built. Prints nothing on success.
#
# Tools: pulumi etcd kubernetes pulumi-kubernetes dapr coredns kube-router.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$HERE/versions.env"

TOOLS_DIR="${TODO_TOOLS_DIR:-$HOME/.cache/todo-platform/tools}"
ALL_TOOLS=(pulumi etcd kubernetes pulumi-kubernetes dapr coredns kube-router)

bin_dir() {
	local v
	case "$1" in
	pulumi) v="$PULUMI_VERSION" ;;
	etcd) v="$ETCD_VERSION" ;;
	kubernetes) v="$KUBERNETES_VERSION" ;;
	pulumi-kubernetes) v="$PULUMI_KUBERNETES_VERSION" ;;
	dapr) v="$DAPR_VERSION" ;;
	coredns) v="$COREDNS_VERSION" ;;
	kube-router) v="$KUBE_ROUTER_VERSION" ;;
	*)
		echo "path.sh: unknown tool '$1' (known: ${ALL_TOOLS[*]})" >&2
		exit 2
		;;
	esac
	echo "$TOOLS_DIR/$1-$v/bin"
}

# binaries lists what a tool puts into its bin/ (as tests/tools/build.sh does).
binaries() {
	case "$1" in
	pulumi-kubernetes) echo pulumi-resource-kubernetes ;;
	kubernetes) echo kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl ;;
	dapr) echo daprd operator injector sentry placement scheduler ;;
	*) echo "$1" ;;
	esac
}

check=false
if [ "${1:-}" = "--check" ]; then
	check=true
	shift
fi
if [ $# -eq 0 ]; then
	set -- "${ALL_TOOLS[@]}"
fi

dirs=()
missing=()
for tool in "$@"; do
	d="$(bin_dir "$tool")"
	dirs+=("$d")
	for b in $(binaries "$tool"); do
		if [ ! -x "$d/$b" ]; then
			missing+=("$tool")
			break
		fi
	done
done

if $check; then
	if [ ${#missing[@]} -gt 0 ]; then
		echo "path.sh: missing end-to-end test tools: ${missing[*]} (not in $TOOLS_DIR)." >&2
		echo "path.sh: run \`make tools\` (bash tests/tools/build.sh) to build them once (about 30 minutes cold on a quiet 2-core machine, then never again)." >&2
		exit 1
	fi
	exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
	echo "path.sh: not built yet: ${missing[*]}; run \`make tools\`" >&2
fi
(
	IFS=:
	echo "${dirs[*]}"
)
