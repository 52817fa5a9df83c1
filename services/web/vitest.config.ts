import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "jsdom",
    include: ["lib/**/*.test.ts", "components/**/*.test.tsx"],
    // Dates in the tests are in explicit zones; the machine's must not matter.
    env: { TZ: "America/Los_Angeles" },
  },
});
