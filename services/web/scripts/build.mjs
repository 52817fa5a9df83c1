// Builds the static site into dist/ (committed; the Go binary embeds it)
// and records the digest of its sources in dist/SOURCES.sha256.
import { execFileSync } from "node:child_process";
import { existsSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { sourceDigest } from "./sources.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const next = join(root, "node_modules", ".bin", "next");
// The digest of what is built; nothing may change while it runs.
const before = sourceDigest(root);
execFileSync(next, ["build"], { cwd: root, stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } });
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });
if (!existsSync(join(root, "out"))) throw new Error("next build wrote no out/");
renameSync(join(root, "out"), dist);
if (sourceDigest(root) !== before) throw new Error("the sources changed during the build: build again");
writeFileSync(join(dist, "SOURCES.sha256"), before + "\n");
console.log("site built into dist/");
