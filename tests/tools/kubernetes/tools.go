//go:build tools

// Package tools pins the Kubernetes binaries the end-to-end tests and the
// local cluster run: the control plane, the node components and kubectl, all
// from one k8s.io/kubernetes version, built in one `go build` so that the
// packages they share compile once.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
