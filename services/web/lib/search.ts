// What a search found in a task, as the list shows it: the server's
// snippets (text segments, the found words marked) while they still fit the
// task, else the title marked here.
import type { SearchMatch, Segment, Task } from "./api";
import { highlight } from "./views";

/** Found is the server's match of a task, kept with the version it was made for. */
export interface Found {
  version: number;
  match: SearchMatch;
}

/** foundOf keeps the matches of a page's tasks with their versions. */
export function foundOf(items: Task[], matches: Record<string, SearchMatch> | undefined): Map<string, Found> {
  const out = new Map<string, Found>();
  for (const t of items) {
    const m = matches?.[t.id];
    if (m) out.set(t.id, { version: t.version, match: m });
  }
  return out;
}

/** titleSegments are the title of t with the words of search q marked. */
export function titleSegments(t: Task, found: Found | undefined, q: string): Segment[] {
  const segs = found?.match.title;
  if (segs && segs.map((s) => s.text).join("") === t.title) return segs;
  return highlight(t.title, q).map((p) => (p.match ? { text: p.text, match: true } : { text: p.text }));
}

/** descriptionSnippet is the passage of t's description the search found, while t is unchanged. */
export function descriptionSnippet(t: Task, found: Found | undefined): Segment[] | null {
  if (!found || found.version !== t.version || !found.match.description?.length) return null;
  return found.match.description;
}
