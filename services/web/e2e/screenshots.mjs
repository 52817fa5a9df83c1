// Takes the README's screenshots from a running platform (BASE_URL, with
// ALICE_TOKEN to seed a few tasks): node e2e/screenshots.mjs <folder>
import { api, launch, signIn } from "./helpers.mjs";

const out = process.argv[2] ?? ".";
const day = (n, h) => {
  const d = new Date();
  d.setDate(d.getDate() + n);
  d.setHours(h, 0, 0, 0);
  return d.toISOString();
};
const seed = [
  { title: "Pay rent", priority: "high", tags: ["home"], due_at: day(1, 9), recurrence: { rule: "FREQ=MONTHLY;BYMONTHDAY=1", anchor: "due" } },
  { title: "Standup", tags: ["work"], due_at: day(0, 23), recurrence: { rule: "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", anchor: "due" } },
  { title: "Renew passport", priority: "urgent", tags: ["admin"], due_at: day(3, 11), reminders: [{ before: "1d" }] },
  { title: "Water the plants", tags: ["home"], due_at: day(2, 8), recurrence: { rule: "FREQ=DAILY;INTERVAL=3", anchor: "completion" } },
  { title: "Read “Designing Data-Intensive Applications”", priority: "low", tags: ["books"] },
];
for (const t of seed) await api("POST", "/api/v1/tasks", { time_zone: "Europe/Berlin", ...t });

const browser = await launch();
{
  const { page, context } = await signIn(browser, "alice", "/?view=upcoming");
  await page.locator("#quick-add-input").fill("call mum tomorrow 18:00 remind 30m before #family !high");
  await page.locator('#quick-add-preview [data-field="reminders"]').waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}/web-upcoming.png` });
  await context.close();
}
{
  const { page, context } = await signIn(browser, "alice", "/");
  await page.locator("#tasks li", { hasText: "Pay rent" }).getByRole("button", { name: /^Edit/ }).click();
  await page.locator("dialog.editor .occurrences li").first().waitFor();
  await page.screenshot({ path: `${out}/web-editor.png` });
  await context.close();
}
{
  const { page, context } = await signIn(browser, "alice", "/");
  await page.locator("#settings-button").click();
  await page.locator("dialog.settings").getByLabel("Webhook URL").fill("https://hooks.example.com/todo");
  await page.locator("dialog.settings").getByRole("button", { name: "Add webhook" }).click();
  await page.locator("dialog.settings").getByLabel("Webhook secret").waitFor();
  await page.screenshot({ path: `${out}/web-settings.png` });
  await context.close();
}
{
  const { page, context } = await signInDark(browser);
  await page.screenshot({ path: `${out}/web-mobile-dark.png` });
  await context.close();
}
await browser.close();

async function signInDark(b) {
  const context = await b.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "dark", timezoneId: "Europe/Berlin", locale: "en-GB" });
  const page = await context.newPage();
  await page.goto(process.env.BASE_URL + "/");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#username").fill("alice");
  await page.locator("#username").press("Enter");
  await page.locator("#tasks li").first().waitFor();
  await page.locator('#live-state[data-state="live"]').waitFor();
  return { page, context };
}
