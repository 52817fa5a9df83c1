//go:build tools

// Package tools pins the Dapr sidecar (daprd) build used by the end-to-end tests.
package tools

import (
	_ "github.com/dapr/dapr/cmd/daprd"
)
