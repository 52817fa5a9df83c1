// Package infra holds the end-to-end tests of the platform-as-code (build tag
// e2e, run by `make test-e2e`): the real Pulumi engine runs the program of
// infra/ for the local stack on the one-node cluster of tests/cluster, until
// every pod is Ready and the platform works inside it, and for the minikube
// stack, with its real configuration, against a bare kube-apiserver. See
// infra/README.md for what they cover.
package infra
