//go:build tools

// Package tools pins the Dapr binaries: the sidecar (daprd) used by the
// end-to-end tests, and the control plane (operator, sidecar injector, sentry,
// placement, scheduler) whose images the local cluster serves.
package tools

import (
	_ "github.com/dapr/dapr/cmd/daprd"
	_ "github.com/dapr/dapr/cmd/injector"
	_ "github.com/dapr/dapr/cmd/operator"
	_ "github.com/dapr/dapr/cmd/placement"
	_ "github.com/dapr/dapr/cmd/scheduler"
	_ "github.com/dapr/dapr/cmd/sentry"
)
