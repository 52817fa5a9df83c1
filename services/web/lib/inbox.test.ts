import { describe, expect, it } from "vitest";

import { snoozePresets } from "../components/Inbox";

describe("snoozePresets", () => {
  it("offers minutes, an hour and tomorrow morning in the user's zone", () => {
    const got = snoozePresets(new Date("2027-03-27T22:30:00Z"), "Europe/Berlin");
    expect(got.map((p) => p.value)).toEqual([
      { for: "10m" },
      { for: "1h" },
      // 23:30 on the 27th in Berlin; tomorrow is the 28th, after the clocks went forward.
      { until: "2027-03-28T07:00:00.000Z" },
    ]);
  });
});
