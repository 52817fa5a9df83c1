// Package infra holds the end-to-end test of the platform-as-code (build tag
// e2e, run by `make test-e2e`): the real Pulumi engine runs the program of
// infra/ for the minikube stack, with its real configuration, against a real
// kube-apiserver. See infra/README.md for what it covers.
package infra
