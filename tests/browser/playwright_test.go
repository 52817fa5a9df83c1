//go:build e2e

package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestWebAppPlaywright runs the web app's end-to-end suite
// (services/web/e2e: Playwright driving Chromium) against the whole
// platform, started here as `make up` starts it. It installs the app's npm
// packages first when they are missing (npm ci).
func TestWebAppPlaywright(t *testing.T) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("npm not found: the web app's end-to-end tests need Node.js 20+ (Debian: apt-get install nodejs npm)")
	}
	web, err := filepath.Abs("../../services/web")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(web, "node_modules", "playwright-core")); err != nil {
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir, cmd.Stdout, cmd.Stderr = web, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("npm ci: %v", err)
		}
	}
	p := startPlatform(t)
	cmd := exec.CommandContext(ctx, "node", "e2e/run.mjs")
	cmd.Dir, cmd.Stdout, cmd.Stderr = web, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "BASE_URL=http://"+p.Addr, "ALICE_TOKEN="+devToken(t, p, "alice"), "CHROMIUM="+chromium(t))
	if err := cmd.Run(); err != nil {
		// The platform's warnings and errors say what a failed request met.
		t.Fatalf("the web app's end-to-end tests failed: %v\nthe platform printed:\n%s", err, p.Output())
	}
}
