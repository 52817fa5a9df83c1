//go:build e2e

// Package browser drives the web page in headless Chromium against a real
// taskapi and PostgreSQL, as a person would use it.
package browser

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/services/taskapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const secret = "browser-test-secret-browser-test-secret"

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install it (Debian: apt-get install chromium; `make test-e2e` does) or set CHROMIUM")
	return ""
}

// browser starts headless Chromium with a fresh profile and returns the
// context of its first tab, ended with the test (or after 3 minutes);
// chromedp.NewContext(ctx) opens another tab in it.
func browser(t *testing.T) context.Context {
	t.Helper()
	// Chromium may still write to its profile while it exits: remove the
	// folder without failing on that.
	profile, err := os.MkdirTemp("", "todo-browser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1100, 800),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel)
	// Start it now, so that tabs made from ctx open in this browser.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// TestPageCreatesListsAndCompletesTasks: sign in with a token (taskapi
// alone has no OpenID provider), add a task through quick add, see it listed, tick it done, and find it done through
// the API; bob's page never shows alice's task.
func TestPageCreatesListsAndCompletesTasks(t *testing.T) {
	pool := dbtest.Pool(t, taskapi.Migrations)
	v, err := auth.NewVerifier(context.Background(), auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(taskapi.NewServer(taskapi.Deps{
		Store: taskapi.NewStore(pool), Verifier: v, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry(),
	}))
	t.Cleanup(srv.Close)
	token := func(user string) string {
		tok, err := auth.IssueHS256(secret, user, "", "", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	ctx := browser(t)

	var who, listed, errText string
	err = chromedp.Run(ctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitReady(`#token`),
		chromedp.SendKeys(`#token`, token("alice")),
		chromedp.Click(`#token-form button`),
		chromedp.WaitVisible(`#quick-add-input`),
		chromedp.Text(`#who`, &who),
		chromedp.SendKeys(`#quick-add-input`, "Buy oat milk #Shopping #home !high"),
		// The preview says what was understood before it is saved.
		chromedp.WaitVisible(`#quick-add-preview [data-field=priority]`),
		chromedp.Click(`#quick-add button[type=submit]`),
		chromedp.WaitVisible(`#tasks li .title`),
		chromedp.Text(`#tasks`, &listed),
		chromedp.Evaluate(`document.querySelector("#quick-add-error")?.textContent ?? ""`, &errText),
	)
	// Tick it done; the API then says done.
	if err := chromedp.Run(ctx, chromedp.Click(`#tasks li input[type=checkbox]`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+"/api/v1/tasks?status=done", nil)
		req.Header.Set("Authorization", "Bearer "+token("alice"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct{ Title, Status string } `json:"items"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if len(page.Items) == 1 && page.Items[0].Title == "Buy oat milk" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task is not done through the API: %+v", page.Items)
		}
		time.Sleep(100 * time.Millisecond)
	}

	var shot []byte
	if err := chromedp.Run(ctx, chromedp.Click(`[data-view=completed]`), chromedp.WaitVisible(`#tasks li.done`), chromedp.CaptureScreenshot(&shot)); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "page.png"), shot, 0o600)
	}

	// Bob, in a fresh tab, sees none of it.
	bctx, bcancel := chromedp.NewContext(ctx)
	defer bcancel()
	var bobList string
	err = chromedp.Run(bctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitReady(`#token`),
		chromedp.SendKeys(`#token`, token("bob")),
		chromedp.Click(`#token-form button`),
		chromedp.WaitVisible(`#quick-add-input`),
		chromedp.Sleep(time.Second),
		chromedp.Evaluate(`document.querySelector("#tasks")?.textContent ?? ""`, &bobList),
	)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(bobList, "oat milk") {
		t.Fatalf("bob's page shows alice's task: %q", bobList)
	}
}
