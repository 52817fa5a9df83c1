// The sources the site is built from, and their digest: the same rule as
// sourceDigest in site.go, whose test fails when dist/ is older than them.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";

export const SOURCE_DIRS = ["app", "components", "lib", "public"];
export const SOURCE_FILES = ["package.json", "package-lock.json", "next.config.ts", "tsconfig.json"];

const isTest = (name) => /\.test\.tsx?$/.test(name);

function walk(root, dir, out) {
  const full = join(root, dir);
  if (!existsSync(full)) return;
  for (const name of readdirSync(full)) {
    const rel = dir + "/" + name;
    if (statSync(join(root, rel)).isDirectory()) walk(root, rel, out);
    else if (!isTest(name)) out.push(rel);
  }
}

/** sourceDigest is the hex SHA-256 over each source's path and content digest, sorted by path. */
export function sourceDigest(root) {
  const files = [...SOURCE_FILES.filter((f) => existsSync(join(root, f)))];
  for (const d of SOURCE_DIRS) walk(root, d, files);
  files.sort();
  const h = createHash("sha256");
  for (const f of files) {
    const sum = createHash("sha256").update(readFileSync(join(root, f))).digest("hex");
    h.update(`${f}\n${sum}\n`);
  }
  return h.digest("hex");
}
