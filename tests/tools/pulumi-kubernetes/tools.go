//go:build tools

// Package tools pins the Pulumi Kubernetes provider build used by the
// end-to-end tests. The provider's main package embeds a generated schema, so
// build.sh copies cmd/pulumi-resource-kubernetes out of the module cache,
// generates the schema there and builds it against this module.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)
