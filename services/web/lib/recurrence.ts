// The recurrence builder's model: a form (every N days, weeks, months or
// years; weekdays; a day of the month or its nth weekday; ending never, on a
// date or after N times) and the RFC 5545 RRULE it stands for, both ways.
// DTSTART is not part of the rule: it is the task's due date in its zone.
import { instantOf, wallTime } from "./zone";

export type Freq = "DAILY" | "WEEKLY" | "MONTHLY" | "YEARLY";
export const FREQS: Freq[] = ["DAILY", "WEEKLY", "MONTHLY", "YEARLY"];

export type Weekday = "MO" | "TU" | "WE" | "TH" | "FR" | "SA" | "SU";
export const WEEKDAYS: Weekday[] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
export const WEEKDAY_NAMES: Record<Weekday, string> = {
  MO: "Monday",
  TU: "Tuesday",
  WE: "Wednesday",
  TH: "Thursday",
  FR: "Friday",
  SA: "Saturday",
  SU: "Sunday",
};
export const MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

export interface RecurrenceForm {
  freq: Freq;
  /** interval is N of "every N units" (1 to 1000). */
  interval: number;
  /** weekdays are the days of a weekly rule (none: the due date's weekday). */
  weekdays: Weekday[];
  /** monthly says how a monthly rule picks its day: a day of the month, or the nth weekday. */
  monthly: "day" | "weekday";
  /** monthDay is the day of the month (1 to 31, -1 the last; 0 the due date's). */
  monthDay: number;
  /** nth (1 to 4, -1 the last) and nthDay are the weekday of the month: "the 2nd Tuesday". */
  nth: number;
  nthDay: Weekday;
  /** yearMonth and yearDay pin a yearly rule's date (0: the due date's). */
  yearMonth: number;
  yearDay: number;
  end: "never" | "until" | "count";
  /** until is the last day (YYYY-MM-DD, in the task's zone), count the number of times. */
  until: string;
  count: number;
}

export const DEFAULT_FORM: RecurrenceForm = {
  freq: "WEEKLY",
  interval: 1,
  weekdays: [],
  monthly: "day",
  monthDay: 0,
  nth: 1,
  nthDay: "MO",
  yearMonth: 0,
  yearDay: 0,
  end: "never",
  until: "",
  count: 10,
};

const pad = (n: number, w = 2) => String(n).padStart(w, "0");
const dateRE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** toRule is the RRULE of form f; an until date is the end of that day in timeZone, in UTC. */
export function toRule(f: RecurrenceForm, timeZone: string): string {
  const parts = [`FREQ=${f.freq}`];
  if (f.interval > 1) parts.push(`INTERVAL=${f.interval}`);
  if (f.freq === "WEEKLY" && f.weekdays.length) parts.push(`BYDAY=${WEEKDAYS.filter((d) => f.weekdays.includes(d)).join(",")}`);
  if (f.freq === "MONTHLY") {
    if (f.monthly === "weekday") parts.push(`BYDAY=${f.nth}${f.nthDay}`);
    else if (f.monthDay !== 0) parts.push(`BYMONTHDAY=${f.monthDay}`);
  }
  if (f.freq === "YEARLY" && f.yearMonth && f.yearDay) parts.push(`BYMONTH=${f.yearMonth}`, `BYMONTHDAY=${f.yearDay}`);
  if (f.end === "count") parts.push(`COUNT=${f.count}`);
  const m = dateRE.exec(f.until);
  if (f.end === "until" && m) {
    const end = instantOf({ year: Number(m[1]), month: Number(m[2]), day: Number(m[3]), hour: 23, minute: 59 }, timeZone);
    const u = new Date(end.getTime() + 59_000);
    parts.push(`UNTIL=${u.getUTCFullYear()}${pad(u.getUTCMonth() + 1)}${pad(u.getUTCDate())}T${pad(u.getUTCHours())}${pad(u.getUTCMinutes())}${pad(u.getUTCSeconds())}Z`);
  }
  return parts.join(";");
}

const intRE = /^[+-]?\d+$/;
const untilRE = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$/;
const nthRE = /^([+-]?\d)(MO|TU|WE|TH|FR|SA|SU)$/;

/**
 * fromRule reads rule into the form, with an until date in timeZone; null
 * when the form cannot express it (an HOURLY rule, BYSETPOS, several month
 * days, …), which the editor then shows as a custom rule.
 */
export function fromRule(rule: string, timeZone: string): RecurrenceForm | null {
  const kv = new Map<string, string>();
  for (const part of rule.trim().replace(/^RRULE:/i, "").toUpperCase().split(";")) {
    if (!part) continue;
    const i = part.indexOf("=");
    if (i < 1 || kv.has(part.slice(0, i))) return null;
    kv.set(part.slice(0, i), part.slice(i + 1));
  }
  const f: RecurrenceForm = { ...DEFAULT_FORM, weekdays: [] };
  const freq = kv.get("FREQ") as Freq | undefined;
  if (!freq || !FREQS.includes(freq)) return null;
  f.freq = freq;
  for (const [k, v] of kv) {
    switch (k) {
      case "FREQ":
        break;
      case "WKST":
        if (v !== "MO") return null;
        break;
      case "INTERVAL":
        if (!intRE.test(v) || Number(v) < 1 || Number(v) > 1000) return null;
        f.interval = Number(v);
        break;
      case "COUNT":
        if (!intRE.test(v) || Number(v) < 1 || Number(v) > 10000 || kv.has("UNTIL")) return null;
        f.end = "count";
        f.count = Number(v);
        break;
      case "UNTIL": {
        const m = untilRE.exec(v);
        if (!m) return null;
        let [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
        if (m[7] === "Z") {
          const w = wallTime(new Date(Date.UTC(y, mo - 1, d, Number(m[4]), Number(m[5]), Number(m[6]))), timeZone);
          [y, mo, d] = [w.year, w.month, w.day];
        }
        f.end = "until";
        f.until = `${pad(y, 4)}-${pad(mo)}-${pad(d)}`;
        break;
      }
      case "BYDAY": {
        const days = v.split(",");
        if (freq === "WEEKLY") {
          if (!days.every((d) => WEEKDAYS.includes(d as Weekday)) || new Set(days).size !== days.length) return null;
          f.weekdays = WEEKDAYS.filter((d) => days.includes(d));
        } else if (freq === "MONTHLY") {
          const m = nthRE.exec(v);
          if (!m || ![1, 2, 3, 4, -1].includes(Number(m[1])) || kv.has("BYMONTHDAY")) return null;
          f.monthly = "weekday";
          f.nth = Number(m[1]);
          f.nthDay = m[2] as Weekday;
        } else return null;
        break;
      }
      case "BYMONTHDAY": {
        const n = Number(v);
        if (!intRE.test(v) || !(n === -1 || (n >= 1 && n <= 31))) return null;
        if (freq === "MONTHLY") f.monthDay = n;
        else if (freq === "YEARLY" && n > 0 && kv.has("BYMONTH")) f.yearDay = n;
        else return null;
        break;
      }
      case "BYMONTH": {
        const n = Number(v);
        if (freq !== "YEARLY" || !intRE.test(v) || n < 1 || n > 12 || !kv.has("BYMONTHDAY")) return null;
        f.yearMonth = n;
        break;
      }
      default:
        return null;
    }
  }
  return f;
}

function ordinal(n: number): string {
  if (n === -1) return "last";
  const s = n % 100 >= 11 && n % 100 <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[n % 10] ?? "th";
  return `${n}${s}`;
}

function list(xs: string[]): string {
  return xs.length < 2 ? xs.join("") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;
}

const UNITS: Record<Freq, string> = { DAILY: "day", WEEKLY: "week", MONTHLY: "month", YEARLY: "year" };

/** describeForm says form f in words: "every 2 weeks on Monday and Friday, 10 times". */
export function describeForm(f: RecurrenceForm): string {
  let s = f.interval === 1 ? `every ${UNITS[f.freq]}` : `every ${f.interval} ${UNITS[f.freq]}s`;
  if (f.freq === "WEEKLY" && f.weekdays.length) {
    const weekdays = WEEKDAYS.slice(0, 5);
    if (f.interval === 1 && f.weekdays.length === 5 && weekdays.every((d) => f.weekdays.includes(d))) s = "every weekday";
    else s += ` on ${list(f.weekdays.map((d) => WEEKDAY_NAMES[d]))}`;
  }
  if (f.freq === "MONTHLY") {
    if (f.monthly === "weekday") s += ` on the ${ordinal(f.nth)} ${WEEKDAY_NAMES[f.nthDay]}`;
    else if (f.monthDay === -1) s += " on the last day";
    else if (f.monthDay > 0) s += ` on the ${ordinal(f.monthDay)}`;
  }
  if (f.freq === "YEARLY" && f.yearMonth && f.yearDay) s += ` on ${MONTH_NAMES[f.yearMonth - 1]} ${f.yearDay}`;
  if (f.end === "count") s += f.count === 1 ? ", once" : `, ${f.count} times`;
  const m = dateRE.exec(f.until);
  if (f.end === "until" && m) s += `, until ${MONTH_NAMES[Number(m[2]) - 1]} ${Number(m[3])}, ${m[1]}`;
  return s;
}
