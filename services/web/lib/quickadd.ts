// Quick add: one line of natural language becomes a task. Dates and times
// are read by chrono-node, recurrences by rrule's English reader; this file
// only cuts the line into its parts and places the wall-clock result in the
// user's time zone.
import * as chrono from "chrono-node/en";
import { RRule, Frequency } from "rrule";

import { describeForm, fromRule } from "./recurrence";
import { instantOf, offsetMinutes, wallTime, type WallTime } from "./zone";
import type { Priority, Reminder } from "./api";

export interface Recurrence {
  /** rule is the RRULE without DTSTART, e.g. FREQ=WEEKLY;BYDAY=MO. */
  rule: string;
  anchor: "due" | "completion";
  /** text is the rule in plain words. */
  text: string;
}

export interface QuickAdd {
  title: string;
  /** due is the due instant, when the line names one. */
  due?: Date;
  /** dueText says when it is due in the user's zone and locale. */
  dueText?: string;
  timeZone: string;
  tags: string[];
  priority: Priority;
  reminders: Reminder[];
  recurrence?: Recurrence;
}

export interface Options {
  now: Date;
  timeZone: string;
  locale?: string;
}

/** The hour a task due on a day without a time is due at. */
export const DEFAULT_HOUR = 9;

const priorities: Record<string, Priority> = {
  urgent: "urgent", high: "high", medium: "medium", med: "medium", low: "low", none: "none",
  p1: "urgent", p2: "high", p3: "medium", p4: "low",
};

const unitLetter: Record<string, string> = {
  s: "s", sec: "s", secs: "s", second: "s", seconds: "s",
  m: "m", min: "m", mins: "m", minute: "m", minutes: "m",
  h: "h", hr: "h", hrs: "h", hour: "h", hours: "h",
  d: "d", day: "d", days: "d",
  w: "w", wk: "w", week: "w", weeks: "w",
};

// "every! 3 days" (from completion) or "every month on the 1st": the
// recurrence runs up to a time ("at 9am"), a tag, a priority, a reminder or
// the end of the line.
const everyRE =
  /(^|\s)every(!?)\s+(.+?)(?=\s+(?:at|@|from|starting|remind|reminder)\b|\s+[#!]|\s+p[1-4]\b|$)/i;
const remindRE =
  /(^|\s)remind(?:\s+me)?\s+(?:(\d+)\s*([a-z]+)\s+before|at\s+(?:due|the\s+due\s+time)|on\s+time)(?=\s|$)/gi;
const tagRE = /(^|\s)#([^\s#,]+)/g;
const priorityRE = /(^|\s)(?:!(urgent|high|medium|med|low|none)|(p[1-4]))(?=\s|$)/gi;

function normalizeTag(t: string): string {
  return t.trim().toLowerCase().replace(/\s+/g, "-");
}

const ordinals: Record<string, number> = { first: 1, "1st": 1, second: 2, "2nd": 2, third: 3, "3rd": 3, fourth: 4, "4th": 4, last: -1 };
const weekdays: Record<string, string> = { monday: "MO", tuesday: "TU", wednesday: "WE", thursday: "TH", friday: "FR", saturday: "SA", sunday: "SU" };
const nthWeekdayRE = /^(?:month\s+on\s+)?(?:the\s+)?(first|1st|second|2nd|third|3rd|fourth|4th|last)\s+(monday|tuesday|wednesday|thursday|friday|saturday|sunday)(?:\s+of\s+(?:the|each|every)\s+month)?$/i;

// rrule's reader knows "every weekday", "every 2 weeks on friday" and
// "every month on the 1st"; "the last friday" and "year on december 31"
// are read here.
function recurrenceOf(phrase: string, anchor: "due" | "completion"): Recurrence | undefined {
  const p = phrase.trim();
  const nth = nthWeekdayRE.exec(p);
  if (nth) {
    const rule = `FREQ=MONTHLY;BYDAY=${ordinals[nth[1].toLowerCase()]}${weekdays[nth[2].toLowerCase()]}`;
    return { rule, anchor, text: describeRule(rule) };
  }
  let opts;
  try {
    opts = RRule.parseText("every " + p);
  } catch {
    return undefined;
  }
  if (!opts || opts.freq === undefined) return undefined;
  const yearDay = /\bon\s+(.+)$/i.exec(p);
  if (opts.freq === Frequency.YEARLY && yearDay && !opts.bymonthday) {
    const d = chrono.casual.parse(yearDay[1])[0];
    if (d?.start.isCertain("month") && d.start.isCertain("day")) {
      opts.bymonth = d.start.get("month") ?? undefined;
      opts.bymonthday = d.start.get("day") ?? undefined;
    }
  }
  // The time of day comes from the due date (the RRULE's DTSTART).
  delete opts.byhour;
  delete opts.byminute;
  delete opts.bysecond;
  if (opts.freq === Frequency.SECONDLY || opts.freq === Frequency.MINUTELY) return undefined;
  // FREQ first, as people (and RFC 5545's examples) write it.
  const parts = new RRule(opts).toString().replace(/^RRULE:/, "").split(";");
  const rule = [...parts.filter((x) => x.startsWith("FREQ=")), ...parts.filter((x) => !x.startsWith("FREQ="))].join(";");
  return { rule, anchor, text: describeRule(rule) };
}

/** describeRule says an RRULE in plain English words (an until date as a day of timeZone). */
export function describeRule(rule: string, timeZone = "UTC"): string {
  const f = fromRule(rule, timeZone);
  if (f) return describeForm(f);
  try {
    return RRule.fromString(rule).toText();
  } catch {
    return rule;
  }
}

function cut(s: string, start: number, end: number): string {
  return s.slice(0, start) + " " + s.slice(end);
}

/** parseQuickAdd reads one line of quick add. */
export function parseQuickAdd(input: string, o: Options): QuickAdd {
  let rest = " " + input + " ";
  const out: QuickAdd = { title: "", timeZone: o.timeZone, tags: [], priority: "none", reminders: [] };

  rest = rest.replace(tagRE, (_m, pre: string, tag: string) => {
    const t = normalizeTag(tag);
    if (t && !out.tags.includes(t)) out.tags.push(t);
    return pre;
  });
  rest = rest.replace(priorityRE, (_m, pre: string, word?: string, p?: string) => {
    out.priority = priorities[(word ?? p ?? "").toLowerCase()] ?? out.priority;
    return pre;
  });
  rest = rest.replace(remindRE, (_m, pre: string, n?: string, unit?: string) => {
    if (n && unit) {
      const u = unitLetter[unit.toLowerCase()];
      if (u) out.reminders.push({ before: `${Number(n)}${u}` });
    } else {
      out.reminders.push({ before: "0s" });
    }
    return pre;
  });

  const ev = everyRE.exec(rest);
  if (ev) {
    const r = recurrenceOf(ev[3], ev[2] === "!" ? "completion" : "due");
    if (r) {
      out.recurrence = r;
      rest = cut(rest, ev.index + ev[1].length, ev.index + ev[0].length);
    }
  }

  // chrono reads the wall clock in the zone's current offset; the instant is
  // then placed with the offset in force on that day (DST).
  const ref = { instant: o.now, timezone: offsetMinutes(o.now, o.timeZone) };
  const results = chrono.casual.parse(rest, ref, { forwardDate: true });
  const nowWall = wallTime(o.now, o.timeZone);
  let wall: WallTime | undefined;
  if (results.length > 0) {
    const r = results[0];
    const c = r.start;
    const hasTime = c.isCertain("hour");
    wall = {
      year: c.get("year") ?? nowWall.year,
      month: c.get("month") ?? nowWall.month,
      day: c.get("day") ?? nowWall.day,
      hour: hasTime ? (c.get("hour") ?? 0) : DEFAULT_HOUR,
      minute: hasTime ? (c.get("minute") ?? 0) : 0,
    };
    const dateGiven = c.isCertain("day") || c.isCertain("weekday") || c.isCertain("month");
    if (out.recurrence && !dateGiven) {
      wall = firstOccurrence(out.recurrence.rule, nowWall, wall.hour, wall.minute);
    } else if (!dateGiven && hasTime && instantOf(wall, o.timeZone) < o.now) {
      // "at 9am" once 9am has passed: tomorrow.
      const t = new Date(Date.UTC(wall.year, wall.month - 1, wall.day + 1));
      wall = { ...wall, year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
    }
    rest = cut(rest, r.index, r.index + r.text.length);
  } else if (out.recurrence) {
    wall = firstOccurrence(out.recurrence.rule, nowWall, DEFAULT_HOUR, 0);
  }
  if (wall) {
    out.due = instantOf(wall, o.timeZone);
    out.dueText = formatDue(out.due, o.timeZone, o.locale);
  }
  // What is left is the title, without a preposition the date leaves behind.
  out.title = rest
    .replace(/\s+/g, " ")
    .trim()
    .replace(/\s+(?:on|at|by|due|from|in)$/i, "");
  return out;
}

// firstOccurrence is the first time the rule meets, at hour:minute, from
// today on (wall clock).
function firstOccurrence(rule: string, now: WallTime & { second?: number }, hour: number, minute: number): WallTime {
  // rrule computes in "floating" UTC: UTC fields stand for the wall clock.
  const start = new Date(Date.UTC(now.year, now.month - 1, now.day, hour, minute));
  const nowFloating = new Date(Date.UTC(now.year, now.month - 1, now.day, now.hour, now.minute));
  const r = new RRule({ ...RRule.parseString(rule), dtstart: start });
  const next = r.after(nowFloating, true) ?? start;
  return {
    year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate(),
    hour: next.getUTCHours(), minute: next.getUTCMinutes(),
  };
}

/** formatDue says when t is, in timeZone and the locale. */
export function formatDue(t: Date, timeZone: string, locale?: string): string {
  return new Intl.DateTimeFormat(locale, {
    timeZone, weekday: "short", year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
  }).format(t);
}

/** nextOccurrences are the next n due times of a rule starting at due. */
export function nextOccurrences(rule: string, due: Date, timeZone: string, n: number): Date[] {
  const w = wallTime(due, timeZone);
  const start = new Date(Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute));
  let r: RRule;
  try {
    const opts = RRule.parseString(rule);
    // An UNTIL in UTC (…Z) is an instant: as a wall time of the zone, like DTSTART.
    if (opts.until && /UNTIL=[0-9T]+Z/i.test(rule)) {
      const u = wallTime(opts.until, timeZone);
      opts.until = new Date(Date.UTC(u.year, u.month - 1, u.day, u.hour, u.minute, u.second));
    }
    r = new RRule({ ...opts, dtstart: start });
  } catch {
    return [];
  }
  return r.all((_d, i) => i < n).map((d) =>
    instantOf({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes() }, timeZone),
  );
}
