import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import type { Client, Task } from "../lib/api";
import Markdown from "./Markdown";
import { TaskEditor } from "./TaskEditor";

afterEach(cleanup);
beforeAll(() => {
  HTMLDialogElement.prototype.showModal = function (this: HTMLDialogElement) {
    this.setAttribute("open", "");
  };
});

describe("Markdown", () => {
  it("renders CommonMark and GitHub's task lists and tables", () => {
    const { container } = render(<Markdown text={"# Trip\n\n- [x] tickets\n- [ ] **passport**\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nSee <https://example.com/x>."} />);
    expect(container.querySelector("h1")?.textContent).toBe("Trip");
    expect(container.querySelectorAll('input[type="checkbox"]')).toHaveLength(2);
    expect(container.querySelector("strong")?.textContent).toBe("passport");
    expect(container.querySelector("table td")?.textContent).toBe("1");
    const a = container.querySelector("a")!;
    expect(a.getAttribute("href")).toBe("https://example.com/x");
    expect(a.getAttribute("rel")).toBe("noopener noreferrer nofollow");
  });

  it("renders no raw HTML and no script URLs", () => {
    const { container } = render(
      <Markdown
        text={'<script>alert(1)</script>\n\n<img src=x onerror="alert(1)">\n\nhi <b onclick="alert(1)">there</b> <iframe src="https://evil.example"></iframe>\n\n[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=)\n\n![pic](https://example.com/p.png)'}
      />,
    );
    expect(container.querySelector("script, img, b, iframe, [onerror], [onclick]")).toBeNull();
    expect(container.innerHTML).not.toMatch(/javascript:|data:text/);
    for (const a of container.querySelectorAll("a")) expect(a.getAttribute("href") ?? "").toMatch(/^(https:|$)/);
    expect(container.textContent).toContain("pic");
  });
});

describe("the editor's description", () => {
  it("previews the Markdown it is given", async () => {
    const task: Task = { id: "t1", owner_id: "alice", title: "x", description: "Bring **snacks**", status: "open", priority: "none", tags: [], time_zone: "UTC", created_at: "", updated_at: "", version: 1 };
    render(<TaskEditor api={{ history: async () => [] } as unknown as Client} task={task} zone="UTC" onSaved={() => {}} onClose={() => {}} />);
    const toggle = screen.getByRole("button", { name: "Preview" });
    expect(toggle.getAttribute("aria-pressed")).toBe("false");
    fireEvent.click(toggle);
    const region = await screen.findByRole("region", { name: "Description preview" });
    await vi.waitFor(() => expect(region.querySelector("strong")?.textContent).toBe("snacks"));
    fireEvent.change(screen.getByRole("textbox", { name: /Description/ }), { target: { value: "Bring _fruit_" } });
    await vi.waitFor(() => expect(region.querySelector("em")?.textContent).toBe("fruit"));
  });
});
