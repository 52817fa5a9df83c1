import type { Segment } from "../lib/api";

/** Snippet shows search segments as text, the found words in <mark>: never as markup. */
export function Snippet({ segments }: { segments: Segment[] }) {
  return (
    <>
      {segments.map((s, i) => (s.match ? <mark key={i}>{s.text}</mark> : <span key={i}>{s.text}</span>))}
    </>
  );
}
