package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestNoCLI: without the Pulumi CLI on PATH, every verb says to run
// `make tools` before it touches a backend.
func TestNoCLI(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, verb := range []string{"preview", "up", "destroy"} {
		var stderr bytes.Buffer
		err := run(context.Background(), []string{verb, "-s", "minikube"}, func(string) string { return "" }, &bytes.Buffer{}, &stderr)
		if !errors.Is(err, errNoCLI) || !strings.Contains(err.Error(), "make tools") {
			t.Errorf("%s without pulumi: %v, want the hint to run make tools", verb, err)
		}
	}
}
