// The web app's benchmark (make bench-web), against a running platform
// (BASE_URL; BENCH_TOKEN signs as the bench user, BENCH_USER): prints
//   - first-load JavaScript per route (gzip), from the built site;
//   - navigation → the first 50 tasks shown, with TASKS tasks seeded;
//   - a change in one tab → its appearance in another (p50/p95 of CHANGES).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import { chromium } from "playwright-core";

const BASE = process.env.BASE_URL;
const TOKEN = process.env.BENCH_TOKEN;
const USER = process.env.BENCH_USER ?? "bench";
const TASKS = Number(process.env.TASKS ?? 10000);
const CHANGES = Number(process.env.CHANGES ?? 50);
const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

// 1. First-load JavaScript: the scripts each page loads, gzipped.
for (const [route, file] of [["/", "index.html"], ["(404)", "404.html"]]) {
  const html = readFileSync(join(dist, file), "utf8");
  // noModule scripts are polyfills that modern browsers do not load.
  const srcs = [...html.matchAll(/<script([^>]*)src="([^"]+\.js)"([^>]*)>/g)].filter((m) => !/noModule/i.test(m[1] + m[3])).map((m) => m[2]);
  const inline = [...html.matchAll(/<script(?![^>]*src=)[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]).join("");
  let total = gzipSync(inline).length;
  for (const s of new Set(srcs)) total += gzipSync(readFileSync(join(dist, s))).length;
  console.log(`first-load JS ${route.padEnd(6)} ${kb(total)} gzip (${new Set(srcs).size} scripts + inline; budget 200 KB)`);
}

// 2. Seed TASKS tasks for the bench user.
async function post(body) {
  for (;;) {
    const r = await fetch(BASE + "/api/v1/tasks", { method: "POST", headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (r.status === 201) return;
    if (r.status >= 500) continue;
    throw new Error(`seed: HTTP ${r.status} ${await r.text()}`);
  }
}
const existing = await (await fetch(BASE + "/api/v1/tasks?limit=1&status=open", { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
if (!existing.items?.length) {
  const t0 = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < TASKS; i = next++) {
        await post({ title: `Seeded task ${i}`, priority: ["none", "low", "medium", "high", "urgent"][i % 5], tags: [`t${i % 20}`], due_at: new Date(Date.now() + (i - TASKS / 2) * 3600_000).toISOString() });
      }
    }),
  );
  console.log(`seeded ${TASKS} tasks for ${USER} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
async function tab() {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  await page.goto(BASE + "/");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#username").fill(USER);
  const t0 = Date.now();
  await page.locator("#username").press("Enter");
  await page.waitForFunction(() => document.querySelectorAll("#tasks li").length >= 50, null, { timeout: 60000 });
  const signIn = Date.now() - t0;
  await page.locator('#live-state[data-state="live"]').waitFor();
  return { page, signIn };
}

// 3. Navigation → first 50 tasks: after signing in, and switching views.
const a = await tab();
const b = await tab();
const views = [];
for (let i = 0; i < 10; i++) {
  for (const v of ["completed", "all"]) {
    const t0 = Date.now();
    await a.page.locator(`[data-view="${v}"]`).click();
    if (v === "all") {
      await a.page.waitForFunction(() => document.querySelectorAll("#tasks li").length >= 50, null, { timeout: 60000 });
      views.push(Date.now() - t0);
    } else {
      await a.page.waitForURL(/view=completed/);
    }
  }
}
console.log(`first 50 of ${TASKS} tasks shown: ${a.signIn} ms from submitting the sign-in form (code exchange included); view switch p50 ${pct(views, 50)} ms, p95 ${pct(views, 95)} ms`);

// 4. A change in tab A → shown in tab B.
await b.page.evaluate(() => {
  const w = window;
  w.__seen = {};
  new MutationObserver(() => {
    for (const el of document.querySelectorAll("#tasks .title")) {
      const t = el.textContent ?? "";
      if (t.startsWith("Live change ") && !(t in w.__seen)) w.__seen[t] = Date.now();
    }
  }).observe(document.body, { childList: true, subtree: true, characterData: true });
});
const delays = [];
for (let i = 0; i < CHANGES; i++) {
  const title = `Live change ${i} ${Date.now()}`;
  await a.page.locator("#quick-add-input").fill(title);
  const sent = await a.page.evaluate(() => {
    const t = Date.now();
    document.querySelector("#quick-add").requestSubmit();
    return t;
  });
  const seen = await b.page.waitForFunction((t) => window.__seen[t], title, { timeout: 15000 });
  delays.push((await seen.jsonValue()) - sent);
}
console.log(`change in one tab → shown in another (${CHANGES} changes): p50 ${pct(delays, 50)} ms, p95 ${pct(delays, 95)} ms, max ${Math.max(...delays)} ms (goal: within 2 s)`);
await browser.close();
