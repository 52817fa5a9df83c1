// Tag autocomplete: the tag being typed at the caret — a "#word" in quick
// add, an item of the editor's comma list — the user's tags that complete
// it, and the text with one of them put in.

/** Mode says how tags are written: "#tag" words (quick add) or a comma list (the editor). */
export type TagMode = "quick" | "list";

/** Fragment is the tag being typed: text[start, end) holds it, prefix is what is typed of it. */
export interface Fragment {
  start: number;
  end: number;
  prefix: string;
}

const space = (c: string | undefined) => c !== undefined && /\s/.test(c);

/** tagFragment is the tag being typed at caret, or null where none is. */
export function tagFragment(text: string, caret: number, mode: TagMode): Fragment | null {
  caret = Math.max(0, Math.min(caret, text.length));
  if (mode === "list") {
    let start = text.lastIndexOf(",", caret - 1) + 1;
    while (space(text[start]) && start < caret) start++;
    let end = text.indexOf(",", caret);
    if (end < 0) end = text.length;
    while (end > start && space(text[end - 1])) end--;
    return { start, end: Math.max(end, caret), prefix: text.slice(start, caret).trim().toLowerCase() };
  }
  let start = caret;
  while (start > 0 && !space(text[start - 1])) start--;
  if (text[start] !== "#" || start === caret) return null;
  let end = caret;
  while (end < text.length && !space(text[end])) end++;
  const prefix = text.slice(start + 1, caret).toLowerCase();
  if (prefix.includes("#") || prefix.includes(",")) return null;
  return { start, end, prefix };
}

/** presentTags are the tags text already holds. */
export function presentTags(text: string, mode: TagMode): string[] {
  if (mode === "list") return text.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
  return [...text.matchAll(/(?:^|\s)#([^\s#,]+)/g)].map((m) => m[1].toLowerCase());
}

/**
 * suggestTags are up to n of tags (most used first) that complete prefix:
 * those that start with it, then those that hold it; none already given
 * (except the one being typed), and not prefix itself alone.
 */
export function suggestTags(tags: string[], prefix: string, given: string[], n = 8): string[] {
  const p = prefix.toLowerCase();
  const skip = new Set(given.filter((g) => g !== p));
  const usable = tags.filter((t) => !skip.has(t) && t !== p);
  const starts = usable.filter((t) => t.startsWith(p));
  const holds = p ? usable.filter((t) => !t.startsWith(p) && t.includes(p)) : [];
  return [...starts, ...holds].slice(0, n);
}

/** applyTag puts tag in place of fragment f; it returns the text and the caret after the tag. */
export function applyTag(text: string, f: Fragment, tag: string, mode: TagMode): { text: string; caret: number } {
  const before = text.slice(0, f.start);
  const after = text.slice(f.end);
  if (mode === "list") {
    const sep = after.trimStart().startsWith(",") ? "" : ", ";
    const out = before + tag + sep + after.trimStart();
    return { text: out, caret: before.length + tag.length + sep.length };
  }
  const sep = after.startsWith(" ") ? "" : " ";
  return { text: before + "#" + tag + sep + after, caret: before.length + tag.length + 1 + 1 };
}
