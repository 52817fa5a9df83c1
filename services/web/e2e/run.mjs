// Runs the end-to-end tests (node:test) against BASE_URL: a platform
// started by the caller (tests/browser/playwright_test.go starts one).
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith(".test.mjs")).map((f) => join(dir, f));
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
