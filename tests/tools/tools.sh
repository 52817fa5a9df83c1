# shellcheck shell=bash
# What build.sh and path.sh share about the pinned tools: their versions
# (versions.env), the cache they are built into, and the binaries each one
# puts into its bin/. Sourced, not run.

# shellcheck source=versions.env
. "$(dirname "${BASH_SOURCE[0]}")/versions.env"

TOOLS_DIR="${TODO_TOOLS_DIR:-$HOME/.cache/todo-platform/tools}"
ALL_TOOLS=(pulumi etcd kubernetes pulumi-kubernetes dapr coredns kube-router)

# tool_version prints a tool's pinned version; it fails for an unknown tool.
tool_version() {
	case "$1" in
	pulumi) echo "$PULUMI_VERSION" ;;
	etcd) echo "$ETCD_VERSION" ;;
	kubernetes) echo "$KUBERNETES_VERSION" ;;
	pulumi-kubernetes) echo "$PULUMI_KUBERNETES_VERSION" ;;
	dapr) echo "$DAPR_VERSION" ;;
	coredns) echo "$COREDNS_VERSION" ;;
	kube-router) echo "$KUBE_ROUTER_VERSION" ;;
	*) return 1 ;;
	esac
}

# tool_binaries lists the binaries a tool puts into its bin/.
tool_binaries() {
	case "$1" in
	pulumi-kubernetes) echo pulumi-resource-kubernetes ;;
	kubernetes) echo kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl ;;
	dapr) echo daprd operator injector sentry placement scheduler ;;
	*) echo "$1" ;;
	esac
}
