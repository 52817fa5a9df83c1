import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import type { Client, Task } from "../lib/api";
import { QuickAdd } from "./QuickAdd";
import { TaskEditor } from "./TaskEditor";

afterEach(cleanup);
beforeAll(() => {
  HTMLDialogElement.prototype.showModal = function (this: HTMLDialogElement) {
    this.setAttribute("open", "");
  };
});

const mine = ["home", "work", "homework", "hobby"];

describe("tag autocomplete in quick add", () => {
  it("offers the user's tags for a #word and takes one with the keyboard, without adding the task", () => {
    const create = vi.fn();
    render(<QuickAdd api={{ create } as unknown as Client} timeZone="UTC" tags={mine} onCreated={() => {}} />);
    const input = screen.getByRole("combobox", { name: "Add a task" }) as HTMLInputElement;
    expect(input.getAttribute("aria-expanded")).toBe("false");
    fireEvent.change(input, { target: { value: "Pay rent #ho" } });
    const list = screen.getByRole("listbox", { name: "Your tags" });
    expect(within(list).getAllByRole("option").map((o) => o.textContent)).toEqual(["#home", "#homework", "#hobby"]);
    expect(input.getAttribute("aria-expanded")).toBe("true");
    expect(input.getAttribute("aria-activedescendant")).toBe(within(list).getAllByRole("option")[0].id);
    fireEvent.keyDown(input, { key: "ArrowDown" });
    expect(within(list).getAllByRole("option")[1].getAttribute("aria-selected")).toBe("true");
    fireEvent.keyDown(input, { key: "Enter" });
    expect(input.value).toBe("Pay rent #homework ");
    expect(screen.queryByRole("listbox")).toBeNull();
    expect(create).not.toHaveBeenCalled();
    expect(screen.getByText("#homework")).toBeTruthy(); // the preview's tags
  });

  it("closes on Escape and offers nothing outside a #word", () => {
    render(<QuickAdd api={{} as Client} timeZone="UTC" tags={mine} onCreated={() => {}} />);
    const input = screen.getByRole("combobox", { name: "Add a task" }) as HTMLInputElement;
    fireEvent.change(input, { target: { value: "Pay ho" } });
    expect(screen.queryByRole("listbox")).toBeNull();
    fireEvent.change(input, { target: { value: "Pay #w" } });
    expect(screen.getByRole("listbox")).toBeTruthy();
    fireEvent.keyDown(input, { key: "Escape" });
    expect(screen.queryByRole("listbox")).toBeNull();
    expect(input.value).toBe("Pay #w");
  });
});

describe("tag autocomplete in the editor", () => {
  it("completes the item of the comma list being typed, by click too", async () => {
    const task = { id: "t1", title: "x", description: "", status: "open", priority: "none", tags: ["work"], time_zone: "UTC", version: 1 } as Task;
    const patch = vi.fn(async () => task);
    render(<TaskEditor api={{ patch, history: async () => [] } as unknown as Client} task={task} zone="UTC" tags={mine} onSaved={() => {}} onClose={() => {}} />);
    const input = screen.getByRole("combobox", { name: "Tags" }) as HTMLInputElement;
    fireEvent.change(input, { target: { value: "work, hob" } });
    const options = within(screen.getByRole("listbox", { name: "Your tags" })).getAllByRole("option");
    expect(options.map((o) => o.textContent)).toEqual(["#hobby"]);
    fireEvent.mouseDown(options[0]);
    expect(input.value).toBe("work, hobby, ");
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await vi.waitFor(() => expect(patch).toHaveBeenCalledWith("t1", 1, { tags: ["work", "hobby"] }));
  });
});
