//go:build e2e

package browser

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/todo-platform/todo/tests/localplatform"
)

// TestTwoTabsStayInSync runs the whole platform as `make up` does and opens
// the page in three tabs: two of alice's and one of bob's. A task alice adds
// in one tab appears in her other tab without a reload (taskapi → outbox →
// Kafka → realtime → WebSocket → page), ticking it done there shows in the
// first tab, and bob's tab never shows it.
func TestTwoTabsStayInSync(t *testing.T) {
	frontAddr := startPlatform(t).Addr

	tab1 := browser(t)
	tab2, cancel2 := chromedp.NewContext(tab1)
	t.Cleanup(cancel2)
	tab3, cancel3 := chromedp.NewContext(tab1)
	t.Cleanup(cancel3)
	// The one origin of `make up`: the app, the API and the socket.
	page := "http://" + frontAddr + "/"
	// Sign in as production does: the OpenID provider (here the local
	// platform's development one, which asks only for a user name).
	signIn := func(tab context.Context, user string) {
		t.Helper()
		var state string
		err := chromedp.Run(tab,
			chromedp.Navigate(page),
			chromedp.WaitVisible(`#sign-in`),
			chromedp.Click(`#sign-in`),
			chromedp.WaitVisible(`#username`),
			chromedp.SendKeys(`#username`, user),
			chromedp.Submit(`#username`),
			chromedp.WaitVisible(`#quick-add-input`),
			chromedp.Poll(`document.querySelector("#live-state").dataset.state === "live"`, nil, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)),
			chromedp.Text(`#live-state`, &state),
		)
		if err != nil {
			t.Fatalf("sign in: %v (live indicator %q)", err, state)
		}
	}
	signIn(tab1, "alice")
	signIn(tab2, "alice")
	signIn(tab3, "bob")

	// Alice adds a task in tab 1: tab 2 shows it, with no reload.
	title := fmt.Sprintf("Live from tab one %d", time.Now().UnixNano())
	shows := func(text string) string {
		return fmt.Sprintf(`[...document.querySelectorAll("#tasks .title")].some((e) => e.textContent === %q)`, text)
	}
	// Tabs in the background get no input events nor animation frames in
	// headless Chromium: act through the DOM, poll on a timer.
	if err := chromedp.Run(tab1,
		// React reads the input through its native value setter and event.
		chromedp.Evaluate(fmt.Sprintf(`{const i = document.querySelector("#quick-add-input");
			Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(i, %q);
			i.dispatchEvent(new Event("input", {bubbles: true}));}`, title), nil),
		chromedp.Poll(`!document.querySelector("#quick-add button[type=submit]").disabled`, nil, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Evaluate(`document.querySelector("#quick-add").requestSubmit()`, nil),
		chromedp.Poll(shows(title), nil, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)),
	); err != nil {
		t.Fatalf("tab 1 adds the task: %v", err)
	}
	start := time.Now()
	if err := chromedp.Run(tab2, chromedp.Poll(shows(title), nil, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("alice's second tab never showed the task added in the first: %v", err)
	}
	t.Logf("tab 2 showed the new task %s after tab 1 did", time.Since(start).Round(time.Millisecond))

	// Alice ticks it done in tab 2: it leaves tab 1's open list.
	if err := chromedp.Run(tab2, chromedp.Evaluate(`document.querySelector("#tasks li input[type=checkbox]").click()`, nil)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(tab1, chromedp.Poll("!("+shows(title)+")", nil, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("tab 1 still lists the task ticked done in tab 2: %v", err)
	}

	// Bob's tab, live all along, never showed it.
	var bobList string
	if err := chromedp.Run(tab3, chromedp.Evaluate(`document.querySelector("#tasks")?.textContent ?? ""`, &bobList)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(bobList, "Live from tab one") {
		t.Errorf("bob's tab shows alice's task: %q", bobList)
	}
}

// startPlatform runs the whole platform as `make up` does, on free
// loopback ports and in a fresh data folder, until the test ends.
func startPlatform(t *testing.T) *localplatform.Platform {
	t.Helper()
	p, err := localplatform.Start(context.Background(), "todo-browser-live-", map[string]string{
		// Every test is a client on this machine: limits no suite reaches.
		"RATE_LIMIT_PER_USER": "1000000", "RATE_LIMIT_PER_ADDRESS": "1000000",
		// The settings test's webhook receivers listen on loopback.
		"WEBHOOK_ALLOW_PRIVATE": "true",
	}, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("the platform ended with %v", err)
		}
	})
	return p
}

// devToken is a development token of user on p.
func devToken(t *testing.T, p *localplatform.Platform, user string) string {
	t.Helper()
	tok, err := p.Token(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
