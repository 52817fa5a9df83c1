import { bench, describe } from "vitest";

import { parseQuickAdd } from "./quickadd";

const now = new Date("2026-12-03T08:00:00Z");

describe("quick add parse", () => {
  for (const line of ["Pay rent every month on the 1st at 9am #home !high", "call mum tomorrow 18:00 remind 30m before", "Buy milk"]) {
    bench(line, () => {
      parseQuickAdd(line, { now, timeZone: "Europe/Berlin" });
    });
  }
});
