// Views and filters live in the page's URL (?view=today&q=…), so that each
// can be bookmarked and shared; apiQuery turns them into the list's query.
import { addDays, instantOf, isoDate, wallTime } from "./zone";
import { PRIORITIES, type Priority } from "./api";

export const VIEWS = ["today", "upcoming", "overdue", "all", "completed"] as const;
export type View = (typeof VIEWS)[number];

export const VIEW_LABELS: Record<View, string> = {
  today: "Today",
  upcoming: "Upcoming",
  overdue: "Overdue",
  all: "All",
  completed: "Completed",
};

export const SORTS = ["-created_at", "created_at", "due_at", "-due_at", "priority", "-priority", "title", "-title", "-updated_at", "updated_at"] as const;
export type Sort = (typeof SORTS)[number];

export interface Filters {
  view: View;
  q: string;
  priority: Priority[];
  tags: string[];
  match: "all" | "any";
  sort: Sort | "";
  /** from and to bound the due date (YYYY-MM-DD, to inclusive). */
  from: string;
  to: string;
}

const dateRE = /^\d{4}-\d{2}-\d{2}$/;

/** readFilters reads the filters of a page URL's query, dropping what is invalid. */
export function readFilters(p: URLSearchParams): Filters {
  const view = p.get("view") as View | null;
  const sort = p.get("sort") as Sort | null;
  const list = (k: string) =>
    (p.get(k) ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  return {
    view: view && VIEWS.includes(view) ? view : "all",
    q: p.get("q") ?? "",
    priority: list("priority").filter((x): x is Priority => PRIORITIES.includes(x as Priority)),
    tags: list("tags").map((t) => t.toLowerCase()),
    match: p.get("match") === "any" ? "any" : "all",
    sort: sort && SORTS.includes(sort) ? sort : "",
    from: dateRE.test(p.get("from") ?? "") ? (p.get("from") as string) : "",
    to: dateRE.test(p.get("to") ?? "") ? (p.get("to") as string) : "",
  };
}

/** writeFilters is the page URL's query of f (defaults left out). */
export function writeFilters(f: Filters): URLSearchParams {
  const p = new URLSearchParams();
  if (f.view !== "all") p.set("view", f.view);
  if (f.q) p.set("q", f.q);
  if (f.priority.length) p.set("priority", f.priority.join(","));
  if (f.tags.length) p.set("tags", f.tags.join(","));
  if (f.tags.length && f.match === "any") p.set("match", "any");
  if (f.sort) p.set("sort", f.sort);
  if (f.from) p.set("from", f.from);
  if (f.to) p.set("to", f.to);
  return p;
}

function startOfDay(date: string, timeZone: string): Date {
  const [year, month, day] = date.split("-").map(Number);
  return instantOf({ year, month, day, hour: 0, minute: 0 }, timeZone);
}

/** apiQuery is the task list's query for f, with days in timeZone at now. */
export function apiQuery(f: Filters, now: Date, timeZone: string, limit = 50): URLSearchParams {
  const q = new URLSearchParams();
  const today = wallTime(now, timeZone);
  const dayStart = (n: number) => startOfDay(isoDate(addDays(today, n)), timeZone).toISOString();
  let sort: string = f.sort;
  switch (f.view) {
    case "today":
      q.set("status", "open");
      q.set("due_before", dayStart(1));
      sort ||= "due_at";
      break;
    case "upcoming":
      q.set("status", "open");
      q.set("due_after", dayStart(0));
      q.set("due_before", dayStart(7));
      sort ||= "due_at";
      break;
    case "overdue":
      q.set("status", "open");
      q.set("overdue", "true");
      sort ||= "due_at";
      break;
    case "completed":
      q.set("status", "done");
      sort ||= "-updated_at";
      break;
    case "all":
      // Every open task; done ones are in Completed.
      q.set("status", "open");
      break;
  }
  if (f.q) q.set("q", f.q);
  if (f.priority.length) q.set("priority", f.priority.join(","));
  if (f.tags.length) {
    q.set("tags", f.tags.join(","));
    q.set("tags_match", f.match);
  }
  if (f.from && !q.has("due_after")) q.set("due_after", startOfDay(f.from, timeZone).toISOString());
  if (f.to && !q.has("due_before")) {
    const [year, month, day] = f.to.split("-").map(Number);
    q.set("due_before", startOfDay(isoDate(addDays({ year, month, day, hour: 0, minute: 0 }, 1)), timeZone).toISOString());
  }
  if (sort) q.set("sort", sort);
  q.set("limit", String(limit));
  return q;
}

/** dayKey is the day (YYYY-MM-DD) of t in timeZone: Upcoming's groups. */
export function dayKey(t: Date, timeZone: string): string {
  return isoDate(wallTime(t, timeZone));
}

/** highlight splits text into the parts that match the search words and the others. */
export function highlight(text: string, query: string): { text: string; match: boolean }[] {
  const words = query
    .replace(/"/g, " ")
    .split(/\s+/)
    .filter((w) => w && !w.startsWith("-") && w.toLowerCase() !== "or")
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (!words.length) return [{ text, match: false }];
  const split = new RegExp(`(${words.join("|")})`, "i");
  const whole = new RegExp(`^(?:${words.join("|")})$`, "i");
  return text
    .split(new RegExp(split.source, "gi"))
    .filter((s) => s !== "")
    .map((s) => ({ text: s, match: whole.test(s) }));
}
