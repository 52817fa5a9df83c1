import { act, cleanup, render } from "@testing-library/react";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { TaskList, VIRTUAL_FROM } from "./TaskList";

afterEach(cleanup);

// jsdom lays nothing out: rows are 50 px high here, and scrolling the
// window moves scrollY and says so.
beforeAll(() => {
  Object.defineProperty(HTMLElement.prototype, "offsetHeight", {
    configurable: true,
    get(this: HTMLElement) {
      return this.tagName === "LI" ? 50 : 0;
    },
  });
  Object.defineProperty(document.documentElement, "scrollHeight", { configurable: true, get: () => 50 * 10_000 + 1000 });
  window.scrollTo = ((opts: ScrollToOptions | number, y?: number) => {
    const top = typeof opts === "number" ? (y ?? 0) : (opts.top ?? 0);
    Object.defineProperty(window, "scrollY", { value: top, configurable: true });
    window.dispatchEvent(new Event("scroll"));
  }) as typeof window.scrollTo;
});

const items = (n: number) => Array.from({ length: n }, (_, i) => `task ${i}`);

function list(n: number, selected: number) {
  return (
    <TaskList
      id="tasks"
      items={items(n)}
      first={0}
      selected={selected}
      keyOf={(t) => t}
      rowProps={(t, i) => ({ className: `task${i === selected ? " selected" : ""}`, "data-id": t })}
      row={(t) => <span>{t}</span>}
    />
  );
}

describe("TaskList", () => {
  it("renders a short list whole", () => {
    const { container } = render(list(VIRTUAL_FROM - 1, 0));
    expect(container.querySelectorAll("li")).toHaveLength(VIRTUAL_FROM - 1);
    expect(container.querySelector("ul.virtual")).toBeNull();
  });

  it("renders only the rows near the viewport of a long list, each saying its place", async () => {
    const { container } = render(list(10_000, 0));
    await vi.waitFor(() => expect(container.querySelector("ul.virtual")).not.toBeNull());
    const rows = container.querySelectorAll("li");
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.length).toBeLessThan(60);
    expect(rows[0].getAttribute("data-index")).toBe("0");
    expect(rows[0].getAttribute("aria-posinset")).toBe("1");
    expect(rows[0].getAttribute("aria-setsize")).toBe("10000");
    expect(rows[0].getAttribute("role")).toBeNull(); // a listitem of its ul
  });

  it("brings the row the keyboard selects into the page (j/k far down the list)", async () => {
    const { container, rerender } = render(list(10_000, 0));
    await vi.waitFor(() => expect(container.querySelector("ul.virtual")).not.toBeNull());
    await act(async () => rerender(list(10_000, 5000)));
    await act(async () => new Promise<void>((r) => requestAnimationFrame(() => r())));
    const row = container.querySelector('li[data-index="5000"]');
    expect(row?.textContent).toBe("task 5000");
    expect(row?.className).toContain("selected");
    expect(container.querySelectorAll("li").length).toBeLessThan(60);
  });
});
