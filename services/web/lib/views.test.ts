import { describe, expect, it } from "vitest";

import { apiQuery, highlight, readFilters, writeFilters } from "./views";

const now = new Date("2026-12-03T08:00:00Z");

describe("filters in the URL", () => {
  it("round-trips every filter", () => {
    const q = "view=upcoming&q=rent&priority=high%2Curgent&tags=home%2Cwork&match=any&sort=-due_at&from=2026-12-01&to=2026-12-31";
    const f = readFilters(new URLSearchParams(q));
    expect(f).toEqual({ view: "upcoming", q: "rent", priority: ["high", "urgent"], tags: ["home", "work"], match: "any", sort: "-due_at", from: "2026-12-01", to: "2026-12-31" });
    expect(writeFilters(f).toString()).toBe(q);
  });
  it("drops what is not valid", () => {
    const f = readFilters(new URLSearchParams("view=nope&priority=big,low&sort=evil&from=12/1/2026"));
    expect(f).toMatchObject({ view: "all", priority: ["low"], sort: "", from: "" });
    expect(writeFilters(f).toString()).toBe("priority=low");
  });
});

describe("apiQuery", () => {
  it.each([
    ["today", "Europe/Berlin", { status: "open", due_before: "2026-12-03T23:00:00.000Z", sort: "due_at" }],
    ["today", "America/New_York", { status: "open", due_before: "2026-12-04T05:00:00.000Z", sort: "due_at" }],
    ["upcoming", "Europe/Berlin", { status: "open", due_after: "2026-12-02T23:00:00.000Z", due_before: "2026-12-09T23:00:00.000Z" }],
    ["overdue", "UTC", { status: "open", overdue: "true" }],
    ["completed", "UTC", { status: "done", sort: "-updated_at" }],
  ])("%s in %s", (view, zone, want) => {
    const q = apiQuery(readFilters(new URLSearchParams({ view })), now, zone);
    for (const [k, v] of Object.entries(want)) expect(q.get(k)).toBe(v);
    expect(q.get("limit")).toBe("50");
  });
  it("bounds the due range by whole days in the zone, crossing a DST change", () => {
    const q = apiQuery(readFilters(new URLSearchParams("from=2027-03-27&to=2027-03-28&tags=a,b")), now, "Europe/Berlin");
    expect(q.get("due_after")).toBe("2027-03-26T23:00:00.000Z");
    expect(q.get("due_before")).toBe("2027-03-28T22:00:00.000Z");
    expect(q.get("tags")).toBe("a,b");
    expect(q.get("tags_match")).toBe("all");
  });
});

describe("highlight", () => {
  it("marks the search words, not the excluded ones", () => {
    expect(highlight("Pay the rent, rentals too", 'rent -pay')).toEqual([
      { text: "Pay the ", match: false },
      { text: "rent", match: true },
      { text: ", ", match: false },
      { text: "rent", match: true },
      { text: "als too", match: false },
    ]);
    expect(highlight("a+b", "")).toEqual([{ text: "a+b", match: false }]);
  });
});

describe("the All view", () => {
  it("lists the open tasks", () => {
    expect(apiQuery(readFilters(new URLSearchParams()), now, "UTC").toString()).toBe("status=open&limit=50");
  });
});

describe("describeEvent", () => {
  it("says audit events in words", async () => {
    const { describeEvent } = await import("../components/TaskEditor");
    expect(describeEvent("todo.task.completed.v1")).toBe("completed");
    expect(describeEvent("todo.reminder.due.v1")).toBe("reminder sent");
    expect(describeEvent("todo.task.moved_far.v2")).toBe("task moved far");
    expect(describeEvent("other")).toBe("other");
  });
});
