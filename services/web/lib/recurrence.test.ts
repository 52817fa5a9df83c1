import { describe, expect, it } from "vitest";

import { nextOccurrences } from "./quickadd";
import { DEFAULT_FORM, describeForm, fromRule, toRule, type RecurrenceForm } from "./recurrence";

const form = (f: Partial<RecurrenceForm>): RecurrenceForm => ({ ...DEFAULT_FORM, ...f });

describe("the recurrence builder", () => {
  const cases: { form: Partial<RecurrenceForm>; rule: string; text: string }[] = [
    { form: { freq: "DAILY" }, rule: "FREQ=DAILY", text: "every day" },
    { form: { freq: "DAILY", interval: 3 }, rule: "FREQ=DAILY;INTERVAL=3", text: "every 3 days" },
    { form: { freq: "WEEKLY" }, rule: "FREQ=WEEKLY", text: "every week" },
    { form: { freq: "WEEKLY", weekdays: ["MO", "TU", "WE", "TH", "FR"] }, rule: "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", text: "every weekday" },
    { form: { freq: "WEEKLY", interval: 2, weekdays: ["TU", "TH"] }, rule: "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH", text: "every 2 weeks on Tuesday and Thursday" },
    { form: { freq: "WEEKLY", weekdays: ["MO", "WE", "SU"], end: "count", count: 6 }, rule: "FREQ=WEEKLY;BYDAY=MO,WE,SU;COUNT=6", text: "every week on Monday, Wednesday and Sunday, 6 times" },
    { form: { freq: "MONTHLY" }, rule: "FREQ=MONTHLY", text: "every month" },
    { form: { freq: "MONTHLY", monthDay: 1 }, rule: "FREQ=MONTHLY;BYMONTHDAY=1", text: "every month on the 1st" },
    { form: { freq: "MONTHLY", interval: 2, monthDay: 22 }, rule: "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=22", text: "every 2 months on the 22nd" },
    { form: { freq: "MONTHLY", monthDay: 13 }, rule: "FREQ=MONTHLY;BYMONTHDAY=13", text: "every month on the 13th" },
    { form: { freq: "MONTHLY", monthDay: -1 }, rule: "FREQ=MONTHLY;BYMONTHDAY=-1", text: "every month on the last day" },
    { form: { freq: "MONTHLY", monthly: "weekday", nth: 2, nthDay: "TU" }, rule: "FREQ=MONTHLY;BYDAY=2TU", text: "every month on the 2nd Tuesday" },
    { form: { freq: "MONTHLY", monthly: "weekday", nth: -1, nthDay: "FR", end: "count", count: 1 }, rule: "FREQ=MONTHLY;BYDAY=-1FR;COUNT=1", text: "every month on the last Friday, once" },
    { form: { freq: "YEARLY" }, rule: "FREQ=YEARLY", text: "every year" },
    { form: { freq: "YEARLY", interval: 2, yearMonth: 12, yearDay: 31 }, rule: "FREQ=YEARLY;INTERVAL=2;BYMONTH=12;BYMONTHDAY=31", text: "every 2 years on December 31" },
    // Until the end of the 31st in Berlin (UTC+1 in winter): 22:59:59 UTC.
    { form: { freq: "DAILY", end: "until", until: "2027-12-31" }, rule: "FREQ=DAILY;UNTIL=20271231T225959Z", text: "every day, until December 31, 2027" },
    // Summer time: UTC+2.
    { form: { freq: "WEEKLY", weekdays: ["SA"], end: "until", until: "2027-07-03" }, rule: "FREQ=WEEKLY;BYDAY=SA;UNTIL=20270703T215959Z", text: "every week on Saturday, until July 3, 2027" },
  ];
  for (const c of cases) {
    it(`${c.rule}: form → rule → form, and in words`, () => {
      const f = form(c.form);
      expect(toRule(f, "Europe/Berlin")).toBe(c.rule);
      expect(fromRule(c.rule, "Europe/Berlin")).toEqual(f);
      expect(describeForm(f)).toBe(c.text);
    });
  }

  it("keeps the until date in the task's zone, east and west of UTC", () => {
    for (const zone of ["Pacific/Auckland", "America/Los_Angeles", "UTC", "Asia/Kolkata"]) {
      const f = form({ freq: "DAILY", end: "until", until: "2027-03-01" });
      expect(fromRule(toRule(f, zone), zone)).toEqual(f);
    }
  });

  it("reads rules in another spelling", () => {
    expect(fromRule("RRULE:freq=weekly;byday=fr,mo;wkst=mo", "UTC")).toEqual(form({ freq: "WEEKLY", weekdays: ["MO", "FR"] }));
    expect(fromRule("FREQ=MONTHLY;BYDAY=+3WE", "UTC")).toEqual(form({ freq: "MONTHLY", monthly: "weekday", nth: 3, nthDay: "WE" }));
    expect(fromRule("FREQ=DAILY;UNTIL=20270115", "UTC")).toEqual(form({ freq: "DAILY", end: "until", until: "2027-01-15" }));
  });

  it("leaves the rules it cannot express to the custom field", () => {
    for (const rule of [
      "",
      "FREQ=HOURLY",
      "FREQ=MINUTELY",
      "FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO,TU,WE,TH,FR",
      "FREQ=MONTHLY;BYMONTHDAY=1,15",
      "FREQ=MONTHLY;BYDAY=MO",
      "FREQ=MONTHLY;BYDAY=5MO,1TU",
      "FREQ=WEEKLY;BYDAY=1MO",
      "FREQ=DAILY;BYDAY=MO",
      "FREQ=DAILY;COUNT=2;UNTIL=20270101T000000Z",
      "FREQ=DAILY;INTERVAL=0",
      "FREQ=DAILY;INTERVAL=x",
      "FREQ=YEARLY;BYMONTH=2",
      "FREQ=YEARLY;BYWEEKNO=20",
      "FREQ=WEEKLY;WKST=SU;INTERVAL=2",
      "FREQ=DAILY;FREQ=WEEKLY",
      "not a rule",
    ]) {
      expect(fromRule(rule, "UTC"), rule).toBeNull();
    }
  });

  it("gives the occurrences the server would: an until date ends the series on that day", () => {
    const rule = toRule(form({ freq: "DAILY", end: "until", until: "2027-01-03" }), "Pacific/Auckland");
    const got = nextOccurrences(rule, new Date("2027-01-01T10:00:00Z"), "Pacific/Auckland", 10).map((d) => d.toISOString());
    // 23:00 local each day (UTC+13): the 3rd's is the last.
    expect(got).toEqual(["2027-01-01T10:00:00.000Z", "2027-01-02T10:00:00.000Z", "2027-01-03T10:00:00.000Z"]);
  });
});
