import { act, cleanup, render } from "@testing-library/react";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { TaskList, VIRTUAL_FROM } from "./TaskList";

afterEach(() => {
  cleanup();
  window.scrollTo({ top: 0 });
});

// jsdom lays nothing out: here rows are 50 px high, the list starts at the
// top of the page, and scrolling the window moves scrollY and says so.
beforeAll(() => {
  Object.defineProperty(HTMLElement.prototype, "offsetHeight", {
    configurable: true,
    get(this: HTMLElement) {
      return this.tagName === "LI" ? 50 : 0;
    },
  });
  // The list starts at the top of the page: on screen, as far up as the page is scrolled.
  const rect = HTMLElement.prototype.getBoundingClientRect;
  HTMLElement.prototype.getBoundingClientRect = function (this: HTMLElement) {
    if (this.tagName !== "UL") return rect.call(this);
    return { x: 0, y: -window.scrollY, top: -window.scrollY, left: 0, right: 800, bottom: 0, width: 800, height: 0, toJSON: () => ({}) } as DOMRect;
  };
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

  it("leaves the page where it is when more rows load", async () => {
    const { container, rerender } = render(list(200, 0));
    await vi.waitFor(() => expect(container.querySelector("ul.virtual")).not.toBeNull());
    await act(async () => window.scrollTo({ top: 5000 }));
    await act(async () => new Promise<void>((r) => requestAnimationFrame(() => r())));
    expect(container.querySelector('li[data-index="100"]')).not.toBeNull();
    await act(async () => rerender(list(250, 0)));
    await act(async () => new Promise<void>((r) => requestAnimationFrame(() => r())));
    expect(window.scrollY).toBe(5000);
    expect(container.querySelector('li[data-index="0"]')).toBeNull();
    expect(container.querySelector('li[data-index="100"]')).not.toBeNull();
  });
});
