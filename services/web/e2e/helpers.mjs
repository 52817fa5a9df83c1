// Helpers of the end-to-end tests: Chromium (the system's, driven by
// playwright-core), sign-in through the platform's OpenID provider, and
// calls to the API as a second device would make them.
import { chromium } from "playwright-core";

export const BASE = process.env.BASE_URL ?? "http://127.0.0.1:8080";
export const TOKEN = process.env.ALICE_TOKEN ?? "";

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** signIn opens path and signs in as user through the OpenID provider. */
export async function signIn(browser, user, path = "/", viewport = { width: 1440, height: 900 }) {
  const context = await browser.newContext({ viewport, timezoneId: "Europe/Berlin", locale: "en-GB" });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await page.goto(BASE + path);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#username").fill(user);
  await page.locator("#username").press("Enter");
  await page.locator("#quick-add-input").waitFor();
  await page.locator('#live-state[data-state="live"]').waitFor({ timeout: 30000 });
  return { context, page, errors };
}

/** api calls the task API as alice, with the development token. */
export async function api(method, path, body, headers = {}) {
  const resp = await fetch(BASE + path, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : undefined, headers: resp.headers };
}

export function unique(prefix) {
  return `${prefix} ${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;
}
