import { describe, expect, it } from "vitest";

import { describeRule, nextOccurrences, parseQuickAdd } from "./quickadd";

// Thursday 3 December 2026, 08:00 UTC (09:00 in Berlin, 03:00 in New York).
const now = new Date("2026-12-03T08:00:00Z");

interface Case {
  in: string;
  zone?: string;
  title: string;
  due?: string; // the instant, UTC
  rule?: string;
  anchor?: "due" | "completion";
  tags?: string[];
  priority?: string;
  reminders?: { before: string }[];
}

const cases: Case[] = [
  // The examples.
  { in: "Pay rent every month on the 1st at 9am #home !high", title: "Pay rent", due: "2027-01-01T08:00:00Z", rule: "FREQ=MONTHLY;BYMONTHDAY=1", tags: ["home"], priority: "high" },
  { in: "call mum tomorrow 18:00 remind 30m before", title: "call mum", due: "2026-12-04T17:00:00Z", reminders: [{ before: "30m" }] },
  { in: "standup every weekday at 9:30", title: "standup", due: "2026-12-03T08:30:00Z", rule: "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR" },
  { in: "water plants every! 3 days", title: "water plants", due: "2026-12-03T08:00:00Z", rule: "FREQ=DAILY;INTERVAL=3", anchor: "completion" },
  // No date.
  { in: "Buy milk", title: "Buy milk" },
  { in: "  Buy   oat milk  ", title: "Buy oat milk" },
  { in: "Read #books #Books", title: "Read", tags: ["books"] },
  { in: "Fix bug #work !urgent", title: "Fix bug", tags: ["work"], priority: "urgent" },
  { in: "Fix bug p1", title: "Fix bug", priority: "urgent" },
  { in: "Fix bug p2", title: "Fix bug", priority: "high" },
  { in: "Fix bug p3", title: "Fix bug", priority: "medium" },
  { in: "Fix bug p4", title: "Fix bug", priority: "low" },
  { in: "Fix bug !low", title: "Fix bug", priority: "low" },
  { in: "Email #2026-plans", title: "Email", tags: ["2026-plans"] },
  // Relative days and times.
  { in: "dentist tomorrow", title: "dentist", due: "2026-12-04T08:00:00Z" },
  { in: "dentist tomorrow at 3pm", title: "dentist", due: "2026-12-04T14:00:00Z" },
  { in: "dentist next friday at 3pm", title: "dentist", due: "2026-12-11T14:00:00Z" },
  { in: "dentist on friday 10:15", title: "dentist", due: "2026-12-04T09:15:00Z" },
  { in: "report on Dec 24 at 17:00", title: "report", due: "2026-12-24T16:00:00Z" },
  { in: "report December 24th 5pm !high", title: "report", due: "2026-12-24T16:00:00Z", priority: "high" },
  { in: "meet at 9am", title: "meet", due: "2026-12-03T08:00:00Z" },
  { in: "meet at 8am", title: "meet", due: "2026-12-04T07:00:00Z" },
  { in: "call bob in 2 hours", title: "call bob", due: "2026-12-03T10:00:00Z" },
  { in: "party on saturday 20:00 #fun #Friends", title: "party", due: "2026-12-05T19:00:00Z", tags: ["fun", "friends"] },
  { in: "renew passport 2027-01-15", title: "renew passport", due: "2027-01-15T08:00:00Z" },
  { in: "renew passport on 15 January at 11:00", title: "renew passport", due: "2027-01-15T10:00:00Z" },
  // Reminders.
  { in: "call tomorrow 18:00 remind 1h before", title: "call", due: "2026-12-04T17:00:00Z", reminders: [{ before: "1h" }] },
  { in: "call tomorrow 18:00 remind 2 days before", title: "call", due: "2026-12-04T17:00:00Z", reminders: [{ before: "2d" }] },
  { in: "call tomorrow 18:00 remind at due", title: "call", due: "2026-12-04T17:00:00Z", reminders: [{ before: "0s" }] },
  { in: "call tomorrow 18:00 remind me 15 minutes before", title: "call", due: "2026-12-04T17:00:00Z", reminders: [{ before: "15m" }] },
  // Recurrence.
  { in: "gym every monday and thursday at 7am", title: "gym", due: "2026-12-07T06:00:00Z", rule: "FREQ=WEEKLY;BYDAY=MO,TH" },
  { in: "read every week", title: "read", due: "2026-12-03T08:00:00Z", rule: "FREQ=WEEKLY" },
  { in: "pay bills every 2 weeks on friday", title: "pay bills", due: "2026-12-04T08:00:00Z", rule: "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR" },
  { in: "review every year on december 31", title: "review", due: "2026-12-31T08:00:00Z", rule: "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31" },
  { in: "team lunch every last friday of the month at 12:30", title: "team lunch", due: "2026-12-25T11:30:00Z", rule: "FREQ=MONTHLY;BYDAY=-1FR" },
  { in: "book club every first monday", title: "book club", due: "2026-12-07T08:00:00Z", rule: "FREQ=MONTHLY;BYDAY=1MO" },
  { in: "stretch every day at 7pm", title: "stretch", due: "2026-12-03T18:00:00Z", rule: "FREQ=DAILY" },
  { in: "backup every! week #ops", title: "backup", due: "2026-12-03T08:00:00Z", rule: "FREQ=WEEKLY", anchor: "completion", tags: ["ops"] },
  // Other zones.
  { in: "standup tomorrow at 9:30", zone: "America/New_York", title: "standup", due: "2026-12-04T14:30:00Z" },
  { in: "call at 8pm", zone: "Asia/Tokyo", title: "call", due: "2026-12-03T11:00:00Z" },
  { in: "lunch tomorrow at noon", zone: "Australia/Sydney", title: "lunch", due: "2026-12-04T01:00:00Z" },
  { in: "standup tomorrow at 9:30", zone: "UTC", title: "standup", due: "2026-12-04T09:30:00Z" },
  { in: "cafe at 9am", zone: "Asia/Kolkata", title: "cafe", due: "2026-12-04T03:30:00Z" },
  // DST days: the offset of the due day, not of today.
  { in: "taxes on 2027-03-28 10:00", title: "taxes", due: "2027-03-28T08:00:00Z" },
  { in: "taxes on 2027-03-27 10:00", title: "taxes", due: "2027-03-27T09:00:00Z" },
  { in: "inventory on 2027-03-28 02:30", title: "inventory", due: "2027-03-28T01:30:00Z" }, // 02:30 does not exist: 03:30 CEST
  { in: "clocks back on 2027-10-31 02:30", title: "clocks back", due: "2027-10-31T00:30:00Z" }, // 02:30 twice: the first one (CEST)
  { in: "brunch on 2027-03-14 11:00", zone: "America/New_York", title: "brunch", due: "2027-03-14T15:00:00Z" },
  { in: "brunch on 2027-03-13 11:00", zone: "America/New_York", title: "brunch", due: "2027-03-13T16:00:00Z" },
];

describe("parseQuickAdd", () => {
  it("has at least 40 phrases", () => expect(cases.length).toBeGreaterThanOrEqual(40));
  it.each(cases)("$in ($zone)", (c) => {
    const got = parseQuickAdd(c.in, { now, timeZone: c.zone ?? "Europe/Berlin", locale: "en-GB" });
    expect(got.title).toBe(c.title);
    expect(got.due?.toISOString()).toBe(c.due ? new Date(c.due).toISOString() : undefined);
    expect(got.recurrence?.rule).toBe(c.rule);
    if (c.rule) expect(got.recurrence?.anchor).toBe(c.anchor ?? "due");
    expect(got.tags).toEqual(c.tags ?? []);
    expect(got.priority).toBe(c.priority ?? "none");
    expect(got.reminders).toEqual(c.reminders ?? []);
    expect(got.timeZone).toBe(c.zone ?? "Europe/Berlin");
  });
});

describe("describeRule and nextOccurrences", () => {
  it("says a rule in words", () => {
    expect(describeRule("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR")).toBe("every weekday");
    expect(describeRule("FREQ=MONTHLY;BYMONTHDAY=1")).toBe("every month on the 1st");
    expect(describeRule("not a rule")).toBe("not a rule");
  });
  it("keeps the wall-clock time across a DST change", () => {
    const got = nextOccurrences("FREQ=WEEKLY", new Date("2027-03-21T08:00:00Z"), "Europe/Berlin", 3).map((d) => d.toISOString());
    expect(got).toEqual(["2027-03-21T08:00:00.000Z", "2027-03-28T07:00:00.000Z", "2027-04-04T07:00:00.000Z"]);
  });
});
