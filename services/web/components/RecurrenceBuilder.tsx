"use client";

import { useState } from "react";

import { DEFAULT_FORM, FREQS, fromRule, MONTH_NAMES, toRule, WEEKDAY_NAMES, WEEKDAYS, type Freq, type RecurrenceForm, type Weekday } from "../lib/recurrence";

type Mode = "none" | "custom" | Freq;

const MODE_LABELS: Record<Mode, string> = {
  none: "Does not repeat",
  DAILY: "Daily",
  WEEKLY: "Weekly",
  MONTHLY: "Monthly",
  YEARLY: "Yearly",
  custom: "Custom rule (RRULE)",
};
const UNITS: Record<Freq, [string, string]> = { DAILY: ["day", "days"], WEEKLY: ["week", "weeks"], MONTHLY: ["month", "months"], YEARLY: ["year", "years"] };
const NTH: [number, string][] = [
  [1, "1st"],
  [2, "2nd"],
  [3, "3rd"],
  [4, "4th"],
  [-1, "last"],
];

function modeOf(rule: string, zone: string): Mode {
  if (!rule.trim()) return "none";
  return fromRule(rule, zone)?.freq ?? "custom";
}

const clamp = (v: string, lo: number, hi: number, fallback: number) => {
  const n = Math.trunc(Number(v));
  return Number.isFinite(n) && v.trim() !== "" ? Math.min(hi, Math.max(lo, n)) : fallback;
};

/**
 * RecurrenceBuilder edits a task's RRULE with a form (every N days, weeks,
 * months or years; weekdays; a day of the month or its nth weekday; the
 * end), or as text for the rules the form cannot express.
 */
export function RecurrenceBuilder(props: { rule: string; zone: string; onChange(rule: string): void; describedBy?: string }) {
  const { rule, zone, onChange } = props;
  const [mode, setMode] = useState<Mode>(() => modeOf(rule, zone));
  const [form, setForm] = useState<RecurrenceForm>(() => fromRule(rule, zone) ?? DEFAULT_FORM);

  const update = (f: Partial<RecurrenceForm>) => {
    const next = { ...form, ...f };
    setForm(next);
    onChange(toRule(next, zone));
  };

  const changeMode = (m: Mode) => {
    setMode(m);
    if (m === "none") onChange("");
    else if (m === "custom") onChange(rule);
    else update({ freq: m });
  };

  const freq = mode === "none" || mode === "custom" ? null : mode;
  return (
    <div className="recurrence">
      <label>
        Repeats
        <select name="repeat" value={mode} onChange={(e) => changeMode(e.target.value as Mode)}>
          {(["none", ...FREQS, "custom"] as Mode[]).map((m) => (
            <option key={m} value={m}>
              {MODE_LABELS[m]}
            </option>
          ))}
        </select>
      </label>
      {mode === "custom" && (
        <label>
          Rule (RRULE)
          <input name="rule" value={rule} placeholder="FREQ=WEEKLY;BYDAY=MO" onChange={(e) => onChange(e.target.value)} aria-describedby={props.describedBy} />
        </label>
      )}
      {freq && (
        <>
          <label className="inline">
            Every
            <input
              name="interval"
              type="number"
              min={1}
              max={1000}
              className="narrow"
              value={form.interval}
              onChange={(e) => update({ interval: clamp(e.target.value, 1, 1000, 1) })}
            />
            {UNITS[freq][form.interval === 1 ? 0 : 1]}
          </label>
          {freq === "WEEKLY" && (
            <fieldset className="weekdays">
              <legend>On</legend>
              {WEEKDAYS.map((d) => (
                <label key={d} className="inline">
                  <input
                    type="checkbox"
                    name="weekday"
                    value={d}
                    checked={form.weekdays.includes(d)}
                    onChange={() => update({ weekdays: form.weekdays.includes(d) ? form.weekdays.filter((x) => x !== d) : WEEKDAYS.filter((x) => x === d || form.weekdays.includes(x)) })}
                  />
                  {WEEKDAY_NAMES[d].slice(0, 3)}
                </label>
              ))}
              {form.weekdays.length === 0 && <p className="hint">None ticked: the due date&apos;s weekday.</p>}
            </fieldset>
          )}
          {freq === "MONTHLY" && (
            <fieldset>
              <legend>On</legend>
              <label className="inline">
                <input type="radio" name="monthly" checked={form.monthly === "day"} onChange={() => update({ monthly: "day" })} />
                day
              </label>
              <select aria-label="Day of the month" name="month_day" value={form.monthDay} disabled={form.monthly !== "day"} onChange={(e) => update({ monthDay: Number(e.target.value) })}>
                <option value={0}>of the due date</option>
                {Array.from({ length: 31 }, (_, i) => (
                  <option key={i + 1} value={i + 1}>
                    {i + 1}
                  </option>
                ))}
                <option value={-1}>last</option>
              </select>
              <br />
              <label className="inline">
                <input type="radio" name="monthly" checked={form.monthly === "weekday"} onChange={() => update({ monthly: "weekday" })} />
                the
              </label>
              <select aria-label="Which weekday of the month" name="nth" value={form.nth} disabled={form.monthly !== "weekday"} onChange={(e) => update({ nth: Number(e.target.value) })}>
                {NTH.map(([n, label]) => (
                  <option key={n} value={n}>
                    {label}
                  </option>
                ))}
              </select>{" "}
              <select aria-label="Weekday" name="nth_day" value={form.nthDay} disabled={form.monthly !== "weekday"} onChange={(e) => update({ nthDay: e.target.value as Weekday })}>
                {WEEKDAYS.map((d) => (
                  <option key={d} value={d}>
                    {WEEKDAY_NAMES[d]}
                  </option>
                ))}
              </select>
            </fieldset>
          )}
          {freq === "YEARLY" && (
            <div className="row">
              <label>
                On
                <select
                  name="year_month"
                  value={form.yearMonth}
                  onChange={(e) => {
                    const m = Number(e.target.value);
                    update({ yearMonth: m, yearDay: m ? form.yearDay || 1 : 0 });
                  }}
                >
                  <option value={0}>the due date</option>
                  {MONTH_NAMES.map((name, i) => (
                    <option key={name} value={i + 1}>
                      {name}
                    </option>
                  ))}
                </select>
              </label>
              {form.yearMonth > 0 && (
                <label>
                  Day
                  <input name="year_day" type="number" min={1} max={31} className="narrow" value={form.yearDay} onChange={(e) => update({ yearDay: clamp(e.target.value, 1, 31, 1) })} />
                </label>
              )}
            </div>
          )}
          <fieldset>
            <legend>Ends</legend>
            <label className="inline">
              <input type="radio" name="end" checked={form.end === "never"} onChange={() => update({ end: "never" })} />
              never
            </label>
            <label className="inline">
              <input type="radio" name="end" checked={form.end === "until"} onChange={() => update({ end: "until" })} />
              on
            </label>
            <input type="date" aria-label="Last day" name="until" value={form.until} disabled={form.end !== "until"} onChange={(e) => update({ until: e.target.value })} />
            <label className="inline">
              <input type="radio" name="end" checked={form.end === "count"} onChange={() => update({ end: "count" })} />
              after
            </label>
            <input
              type="number"
              aria-label="Number of times"
              name="count"
              min={1}
              max={10000}
              className="narrow"
              value={form.count}
              disabled={form.end !== "count"}
              onChange={(e) => update({ count: clamp(e.target.value, 1, 10000, 1) })}
            />{" "}
            times
          </fieldset>
          <p className="hint">
            RRULE: <code data-field="rrule">{rule}</code>
          </p>
        </>
      )}
    </div>
  );
}
