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
# shellcheck source=tools.sh
. "$HERE/tools.sh"

bin_dir() {
	local v
	if ! v="$(tool_version "$1")"; then
		echo "path.sh: unknown tool '$1' (known: ${ALL_TOOLS[*]})" >&2
		exit 2
	fi
	echo "$TOOLS_DIR/$1-$v/bin"
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
	for b in $(tool_binaries "$tool"); do
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
