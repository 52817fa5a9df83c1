// Wall-clock time in an IANA time zone, with Intl only: the offset of a zone
// at an instant, and the instant of a wall-clock time in a zone (DST-safe).

export interface WallTime {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** wallTime is the wall-clock time of instant in timeZone. */
export function wallTime(instant: Date, timeZone: string): WallTime & { second: number } {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(instant)) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year,
    month: parts.month,
    day: parts.day,
    hour: parts.hour === 24 ? 0 : parts.hour,
    minute: parts.minute,
    second: parts.second,
  };
}

/** offsetMinutes is how far timeZone is ahead of UTC at instant. */
export function offsetMinutes(instant: Date, timeZone: string): number {
  const w = wallTime(instant, timeZone);
  const asUTC = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return Math.round((asUTC - Math.floor(instant.getTime() / 1000) * 1000) / 60000);
}

/**
 * instantOf is the instant when the clocks of timeZone show w. A time that
 * the clocks skip (spring forward) moves on by the gap; a time they show
 * twice (fall back) is the first of the two.
 */
export function instantOf(w: WallTime, timeZone: string): Date {
  const guess = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute);
  const before = offsetMinutes(new Date(guess - 12 * 3600_000), timeZone);
  const after = offsetMinutes(new Date(guess + 12 * 3600_000), timeZone);
  // Try the earlier offset first: of two candidates, the first instant wins.
  for (const off of before >= after ? [before, after] : [after, before]) {
    const t = new Date(guess - off * 60000);
    const back = wallTime(t, timeZone);
    if (back.year === w.year && back.month === w.month && back.day === w.day && back.hour === w.hour && back.minute === w.minute) {
      return t;
    }
  }
  // Skipped by a DST change: the same wall-clock reading with the offset in
  // force before the gap lands after it.
  return new Date(guess - before * 60000);
}

/** addDays adds n calendar days to a wall-clock date. */
export function addDays(w: WallTime, n: number): WallTime {
  const d = new Date(Date.UTC(w.year, w.month - 1, w.day + n));
  return { ...w, year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** isoDate is w's date as YYYY-MM-DD. */
export function isoDate(w: Pick<WallTime, "year" | "month" | "day">): string {
  return `${String(w.year).padStart(4, "0")}-${String(w.month).padStart(2, "0")}-${String(w.day).padStart(2, "0")}`;
}

/** browserZone is the browser's IANA time zone (UTC when it has none). */
export function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** isZone says whether Intl knows the IANA zone name. */
export function isZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
