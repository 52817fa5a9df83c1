// The web app against the real platform (make up's): each test is what a
// person does with it.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, it } from "node:test";

import { api, launch, signIn, unique } from "./helpers.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const row = (page, title) => page.locator("#tasks li", { hasText: title });

describe("the web app", () => {
  it("adds a task from one line, with a preview of what it understood", async () => {
    const { page, context, errors } = await signIn(browser, "alice");
    const title = unique("Pay rent");
    await page.keyboard.press("q");
    await page.keyboard.type(`${title} every month on the 1st at 9am #home !high remind 1h before`);
    const preview = page.locator("#quick-add-preview");
    await preview.locator('[data-field="recurrence"]', { hasText: "every month on the 1st" }).waitFor();
    assert.equal(await preview.locator('[data-field="title"]').textContent(), title);
    assert.match(await preview.locator('[data-field="due"]').textContent(), /1 .* 09:00|9:00/);
    assert.equal(await preview.locator('[data-field="tags"]').textContent(), "#home");
    assert.equal(await preview.locator('[data-field="priority"]').textContent(), "high");
    assert.equal(await preview.locator('[data-field="reminders"]').textContent(), "1h before");
    await page.keyboard.press("Enter");
    await row(page, title).waitFor();
    assert.match(await row(page, title).textContent(), /every month on the 1st/);
    const list = await api("GET", "/api/v1/tasks?q=" + encodeURIComponent(title.split(" ").pop()));
    const t = list.body.items.find((x) => x.title === title);
    assert.ok(t, "the task is stored");
    assert.deepEqual(t.recurrence, { rule: "FREQ=MONTHLY;BYMONTHDAY=1", anchor: "due" });
    assert.equal(t.priority, "high");
    assert.equal(t.time_zone, "Europe/Berlin");
    assert.deepEqual(errors, []);
    await context.close();
  });

  it("completes tags from the user's own as they are typed", async () => {
    const tag = `zz${Date.now().toString(36)}`;
    await api("POST", "/api/v1/tasks", { title: unique("Tagged"), tags: [tag] });
    const { page, context, errors } = await signIn(browser, "alice");
    await page.keyboard.press("q");
    await page.keyboard.type(`${unique("Autocomplete")} #${tag.slice(0, 5)}`);
    const option = page.getByRole("listbox", { name: "Your tags" }).getByRole("option", { name: `#${tag}` });
    await option.waitFor();
    while ((await option.getAttribute("aria-selected")) !== "true") await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Enter");
    assert.equal(await page.locator('#quick-add-preview [data-field="tags"]').textContent(), `#${tag}`);
    assert.match(await page.locator("#quick-add-input").inputValue(), new RegExp(`#${tag} $`));
    // Bob never gets alice's tags.
    const bob = await signIn(browser, "bob");
    await bob.page.keyboard.press("q");
    await bob.page.keyboard.type(`x #${tag.slice(0, 5)}`);
    await bob.page.waitForTimeout(300);
    assert.equal(await bob.page.getByRole("option", { name: `#${tag}` }).count(), 0);
    await bob.context.close();
    assert.deepEqual(errors, []);
    await context.close();
  });

  it("keeps the view and the filters in the URL", async () => {
    const title = unique("Overdue report");
    await api("POST", "/api/v1/tasks", { title, tags: ["work"], due_at: new Date(Date.now() - 86400000).toISOString() });
    const { page, context } = await signIn(browser, "alice", "/?view=overdue&tags=work");
    await page.waitForURL(/view=overdue/);
    assert.equal(await page.locator('[data-view="overdue"]').getAttribute("aria-current"), "page");
    await row(page, title).waitFor();
    await page.locator('[data-view="completed"]').click();
    await page.waitForURL(/view=completed/);
    await row(page, title).waitFor({ state: "detached" });
    await page.goBack();
    await page.waitForURL(/view=overdue/);
    await row(page, title).waitFor();
    // Search as you type: the URL follows, the match is highlighted.
    await page.keyboard.press("/");
    await page.keyboard.type("report");
    await page.waitForURL(/q=report/);
    await row(page, title).locator("mark", { hasText: "report" }).waitFor();
    await context.close();
  });

  it("shows where a search found a task: the passage of its description, marked, as text", async () => {
    const word = `passport${Date.now().toString(36)}`;
    const title = unique("Trip");
    await api("POST", "/api/v1/tasks", { title, description: `Pack light. Remember the <b>${word}</b> and <img src=x onerror=alert(1)> the tickets.` });
    const { page, context, errors } = await signIn(browser, "alice", `/?q=${word}`);
    const snippet = row(page, title).locator('.snippet[data-field="description"]');
    await snippet.locator("mark", { hasText: word }).waitFor();
    assert.match(await snippet.textContent(), /<img src=x onerror=alert\(1\)>/);
    assert.equal(await row(page, title).locator("b, img").count(), 0);
    assert.deepEqual(errors, []);
    await context.close();
  });

  it("edits with a merge patch and If-Match, and resolves a conflict", async () => {
    const title = unique("Edit me");
    const created = await api("POST", "/api/v1/tasks", { title });
    const { page, context } = await signIn(browser, "alice");
    await row(page, title).getByRole("button", { name: /^Edit/ }).click();
    const dialog = page.locator("dialog.editor");
    await dialog.locator('input[name="title"]').fill(title + " (mine)");
    await dialog.locator('select[name="priority"]').selectOption("urgent");
    // Meanwhile another device renames it.
    const other = await api("PATCH", `/api/v1/tasks/${created.body.id}`, { title: title + " (theirs)" }, { "If-Match": `"${created.body.version}"` });
    assert.equal(other.status, 200);
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.getByRole("alert").filter({ hasText: "changed elsewhere" }).waitFor();
    assert.match(await dialog.getByRole("alert").textContent(), /\(theirs\)/);
    await dialog.getByRole("button", { name: "Keep mine" }).click();
    await row(page, title + " (mine)").waitFor();
    const got = await api("GET", `/api/v1/tasks/${created.body.id}`);
    assert.equal(got.body.title, title + " (mine)");
    assert.equal(got.body.priority, "urgent");
    // Its history, from the audit service, in the editor.
    await row(page, title + " (mine)").getByRole("button", { name: /^Edit/ }).click();
    await dialog.locator("details.history summary").click();
    await dialog.locator("details.history li", { hasText: "created" }).waitFor();
    for (let i = 0; i < 50 && (await dialog.locator("details.history li", { hasText: "edited" }).count()) < 2; i++) {
      await page.keyboard.press("Escape");
      await row(page, title + " (mine)").getByRole("button", { name: /^Edit/ }).click();
      await dialog.locator("details.history summary").click();
      await page.waitForTimeout(200);
    }
    assert.equal(await dialog.locator("details.history li", { hasText: "edited" }).count(), 2);
    await page.keyboard.press("Escape");
    // A field problem shows next to the field.
    await row(page, title + " (mine)").getByRole("button", { name: /^Edit/ }).click();
    await dialog.locator('input[name="time_zone"]').fill("Mars/Olympus");
    await dialog.locator('input[name="due_date"]').fill("2027-01-15");
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.locator(".field-error").first().waitFor();
    await context.close();
  });

  it("previews a Markdown description without running its HTML", async () => {
    const title = unique("Markdown");
    await api("POST", "/api/v1/tasks", { title, description: "Bring **snacks**\n\n- [ ] tickets\n\n<img src=x onerror=\"window.__xss=1\"> [x](javascript:window.__xss=1)" });
    const { page, context, errors } = await signIn(browser, "alice");
    await row(page, title).getByRole("button", { name: /^Edit/ }).click();
    const dialog = page.locator("dialog.editor");
    await dialog.getByRole("button", { name: "Preview" }).click();
    const preview = dialog.getByRole("region", { name: "Description preview" });
    await preview.locator("strong", { hasText: "snacks" }).waitFor();
    assert.equal(await preview.locator('input[type="checkbox"]').count(), 1);
    assert.equal(await preview.locator("img, script").count(), 0);
    assert.equal(await preview.locator('a[href^="javascript"]').count(), 0);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.deepEqual(errors, []);
    await context.close();
  });

  it("completes, reopens and deletes with Undo", async () => {
    const title = unique("Undo me");
    const created = await api("POST", "/api/v1/tasks", { title });
    const { page, context } = await signIn(browser, "alice");
    await row(page, title).locator('input[type="checkbox"]').click();
    await page.locator(".toast", { hasText: "Completed" }).getByRole("button", { name: "Undo" }).click();
    for (let i = 0; i < 50; i++) {
      if ((await api("GET", `/api/v1/tasks/${created.body.id}`)).body.status === "open") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await api("GET", `/api/v1/tasks/${created.body.id}`)).body.status, "open");
    await row(page, title).waitFor();

    // Keyboard: j selects, x completes.
    await page.locator("body").click({ position: { x: 5, y: 5 } });
    const index = await row(page, title).getAttribute("data-index");
    for (let i = 0; i < Number(index); i++) await page.keyboard.press("j");
    await page.keyboard.press("x");
    await page.locator(".toast", { hasText: `Completed “${title}”` }).waitFor();
    await row(page, title).waitFor({ state: "detached" });

    // Delete, undo, and delete for good.
    await page.locator('[data-view="completed"]').click();
    await row(page, title).getByRole("button", { name: /^Delete/ }).click();
    await row(page, title).waitFor({ state: "detached" });
    await page.locator(".toast", { hasText: "Deleted" }).getByRole("button", { name: "Undo" }).click();
    await row(page, title).waitFor();
    await row(page, title).getByRole("button", { name: /^Delete/ }).click();
    for (let i = 0; i < 100; i++) {
      if ((await api("GET", `/api/v1/tasks/${created.body.id}`)).status === 404) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await api("GET", `/api/v1/tasks/${created.body.id}`)).status, 404);
    await context.close();
  });

  it("applies changes from elsewhere in place, and shows the next occurrence of a recurring task", async () => {
    const { page, context } = await signIn(browser, "alice");
    const title = unique("From another device");
    const created = await api("POST", "/api/v1/tasks", { title, due_at: new Date(Date.now() + 3600000).toISOString(), time_zone: "Europe/Berlin", recurrence: { rule: "FREQ=DAILY", anchor: "due" } });
    await row(page, title).first().waitFor({ timeout: 5000 });
    // No reload happened: a marker set on the page is still there.
    await page.evaluate(() => ((window).__marker = 1));
    await api("POST", `/api/v1/tasks/${created.body.id}/complete`);
    // recurring makes the next occurrence: it appears, open, without a reload.
    await page.locator(`#tasks li[data-id]:not([data-id="${created.body.id}"])`, { hasText: title }).waitFor({ timeout: 15000 });
    assert.equal(await page.evaluate(() => (window).__marker), 1);
    await context.close();
  });

  it("renders a long list virtualized, keeping j/k and accessibility", async () => {
    const { default: AxeBuilder } = await import("@axe-core/playwright");
    const tag = `long${Date.now().toString(36)}`;
    const n = 150;
    for (let i = 0; i < n; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, k) => api("POST", "/api/v1/tasks", { title: `Long list ${String(i + k).padStart(3, "0")}`, tags: [tag] })));
    }
    const { page, context, errors } = await signIn(browser, "alice", `/?tags=${tag}&sort=title`);
    await page.locator("#tasks li").first().waitFor();
    // The first page is 50; scrolling loads the rest, and the list turns virtual.
    for (let i = 0; i < 20 && (await page.locator("#tasks li").first().getAttribute("aria-setsize")) !== String(n); i++) {
      await page.mouse.wheel(0, 20000);
      await page.waitForTimeout(300);
    }
    await page.locator("#tasks.virtual").waitFor();
    assert.equal(await page.locator("#tasks li").first().getAttribute("aria-setsize"), String(n));
    assert.ok((await page.locator("#tasks li").count()) < n / 2, "only the rows near the viewport are in the page");
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.locator("body").click({ position: { x: 5, y: 5 } });
    for (let i = 0; i < 120; i++) await page.keyboard.press("j");
    const selected = page.locator("#tasks li.selected");
    await selected.waitFor();
    assert.equal(await selected.getAttribute("data-index"), "120");
    assert.match(await selected.textContent(), /Long list 120/);
    assert.ok(await selected.isVisible());
    const box = await selected.boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= 900, `the selected row is in the viewport (${JSON.stringify(box)})`);
    for (let i = 0; i < 5; i++) await page.keyboard.press("k");
    assert.equal(await page.locator("#tasks li.selected").getAttribute("data-index"), "115");
    const r = await new AxeBuilder({ page }).analyze();
    assert.deepEqual(r.violations.map((v) => `${v.id} ${v.nodes[0]?.target}`), []);
    assert.deepEqual(errors, []);
    await context.close();
  });

  it("works at 390 px wide", async () => {
    const { page, context } = await signIn(browser, "alice", "/", { width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
    await context.close();
  });
});

describe("notifications", () => {
  it("shows a reminder at the due time as it fires, in the inbox, read and snoozed", async () => {
    const { page, context } = await signIn(browser, "alice");
    const title = unique("Call the bank");
    await api("POST", "/api/v1/tasks", { title, due_at: new Date(Date.now() + 3000).toISOString(), reminders: [{ before: "0s" }] });
    await page.locator(".toast", { hasText: `Reminder: ${title}` }).waitFor({ timeout: 20000 });
    await page.locator("#inbox-button").click();
    const item = page.locator("#inbox li", { hasText: title });
    await item.waitFor();
    assert.equal(await item.getAttribute("class"), "unread");
    await item.getByRole("button", { name: /^Mark read/ }).click();
    await page.locator("#inbox li.read", { hasText: title }).waitFor();
    await item.locator("select").selectOption({ label: "1 hour" });
    const inbox = await api("GET", "/api/v1/notifications");
    assert.ok(inbox.body.items.some((n) => n.title === title && n.read_at), "the notification is read");
    await context.close();
  });
});

describe("notification settings", () => {
  it("registers a webhook (its secret shown once), lists its deliveries and failures, deletes it", async () => {
    // Two receivers on this machine (make up allows private webhook targets):
    // one takes reminders, the other is down.
    const got = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        if (req.url === "/down") {
          res.writeHead(500).end("down");
          return;
        }
        got.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${server.address().port}`;
    const { page, context, errors } = await signIn(browser, "alice");
    try {
      await page.locator("#settings-button").click();
      const dialog = page.locator("dialog.settings");
      await dialog.waitFor();
      for (const path of ["/ok", "/down"]) {
        await dialog.getByLabel("Webhook URL").fill(base + path);
        await dialog.getByRole("button", { name: "Add webhook" }).click();
        const secret = dialog.getByLabel("Webhook secret");
        await secret.waitFor();
        assert.match(await secret.inputValue(), /^whsec_/);
        await dialog.getByRole("button", { name: "I have copied it" }).click();
        await secret.waitFor({ state: "detached" });
      }
      await dialog.getByRole("list", { name: "Registered webhooks" }).getByText(base + "/down").waitFor();
      const hooks = await api("GET", "/api/v1/webhooks");
      assert.ok(hooks.body.items.every((h) => !h.secret), "the list shows no secret");

      const title = unique("Webhook reminder");
      await api("POST", "/api/v1/tasks", { title, due_at: new Date(Date.now() + 2000).toISOString(), reminders: [{ before: "0s" }] });
      for (let i = 0; i < 100 && !got.some((g) => g.body.includes(title)); i++) await new Promise((r) => setTimeout(r, 200));
      assert.ok(got.some((g) => g.body.includes(title) && /^v1=/.test(g.headers["webhook-signature"])), "the webhook got the signed reminder");
      const deliveries = dialog.getByRole("list", { name: "Deliveries" });
      for (let i = 0; i < 50 && (await deliveries.locator("li", { hasText: "webhook answered 500" }).count()) === 0; i++) {
        await dialog.getByRole("button", { name: "Refresh" }).click();
        await page.waitForTimeout(300);
      }
      await deliveries.locator('li[data-status="sent"]', { hasText: title }).waitFor();
      await deliveries.locator("li", { hasText: title }).filter({ hasText: "webhook answered 500" }).waitFor();

      // Remove both again; nothing else of alice's depends on them.
      for (const path of ["/ok", "/down"]) {
        await dialog.getByRole("button", { name: `Delete webhook ${base + path}` }).click();
      }
      await dialog.getByText("No webhooks.").waitFor();
      assert.deepEqual((await api("GET", "/api/v1/webhooks")).body.items.filter((h) => h.url.startsWith(base)), []);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
      server.close();
    }
  });
});

describe("accessibility", () => {
  it("axe-core finds no violations on any view, the editor and the inbox, wide and narrow, light and dark", async () => {
    const { default: AxeBuilder } = await import("@axe-core/playwright");
    await api("POST", "/api/v1/tasks", { title: unique("Accessible"), priority: "high", tags: ["a11y"], due_at: new Date(Date.now() + 86400000).toISOString() });
    const check = async (page, what) => {
      const r = await new AxeBuilder({ page }).analyze();
      assert.deepEqual(
        r.violations.map((v) => `${what}: ${v.id} (${v.nodes.length}) ${v.nodes[0]?.target}`),
        [],
      );
    };
    for (const [viewport, scheme] of [[{ width: 1440, height: 900 }, "light"], [{ width: 390, height: 844 }, "dark"]]) {
      const { page, context } = await signIn(browser, "alice", "/", viewport);
      await page.emulateMedia({ colorScheme: scheme });
      for (const v of ["today", "upcoming", "overdue", "all", "completed"]) {
        await page.locator(`[data-view="${v}"]`).click();
        await page.waitForURL(v === "all" ? /\/(\?view=all)?$/ : new RegExp(`view=${v}`));
        await page.waitForTimeout(300);
        await check(page, `${v} ${viewport.width}px ${scheme}`);
      }
      await page.locator('[data-view="all"]').click();
      await page.locator("#tasks li").first().getByRole("button", { name: /^Edit/ }).click();
      await page.locator("dialog.editor").waitFor();
      await check(page, `editor ${scheme}`);
      await page.keyboard.press("Escape");
      await page.locator("#inbox-button").click();
      await page.locator("#inbox").waitFor();
      await check(page, `inbox ${scheme}`);
      await page.locator("#inbox-button").click();
      await page.locator("#settings-button").click();
      await page.locator("dialog.settings").getByRole("list", { name: "Deliveries" }).or(page.getByText("No deliveries yet.")).first().waitFor();
      await check(page, `settings ${scheme}`);
      await page.keyboard.press("Escape");
      await context.close();
    }
  });
});
