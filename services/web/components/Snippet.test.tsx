import { cleanup, render } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import type { Task } from "../lib/api";
import { descriptionSnippet, foundOf, titleSegments } from "../lib/search";
import { Snippet } from "./Snippet";

afterEach(cleanup);

const task = (over: Partial<Task>): Task =>
  ({ id: "t1", title: "Pay the receipts", description: "", version: 1, tags: [], status: "open", priority: "none", time_zone: "UTC", owner_id: "a", created_at: "", updated_at: "", ...over }) as Task;

describe("Snippet", () => {
  it("marks the found words and shows markup from the server as text", () => {
    const { container } = render(
      <p>
        <Snippet segments={[{ text: '<img src=x onerror="alert(1)"> ' }, { text: "invoice", match: true }, { text: " <b>due</b>" }]} />
      </p>,
    );
    const p = container.querySelector("p")!;
    expect(p.textContent).toBe('<img src=x onerror="alert(1)"> invoice <b>due</b>');
    expect(p.querySelector("img, b, script")).toBeNull();
    expect([...p.querySelectorAll("mark")].map((m) => m.textContent)).toEqual(["invoice"]);
  });
});

describe("the search's matches in the list", () => {
  const matches = {
    t1: { fields: ["title" as const, "description" as const], title: [{ text: "Pay " }, { text: "the", match: true }, { text: " receipts" }], description: [{ text: "from " }, { text: "the", match: true }, { text: " trip" }] },
  };
  it("uses the server's snippets while they fit the task", () => {
    const t = task({});
    const found = foundOf([t], matches).get("t1");
    expect(titleSegments(t, found, "the")).toEqual(matches.t1.title);
    expect(descriptionSnippet(t, found)).toEqual(matches.t1.description);
  });
  it("marks the title itself once the task changed, and drops the stale passage", () => {
    const found = foundOf([task({})], matches).get("t1");
    const changed = task({ title: "Pay all the receipts", version: 2 });
    expect(titleSegments(changed, found, "receipts")).toEqual([{ text: "Pay all the " }, { text: "receipts", match: true }]);
    expect(descriptionSnippet(changed, found)).toBeNull();
  });
  it("marks the title itself without a match from the server", () => {
    expect(titleSegments(task({}), undefined, "pay")).toEqual([{ text: "Pay", match: true }, { text: " the receipts" }]);
    expect(foundOf([task({})], undefined).size).toBe(0);
  });
});
