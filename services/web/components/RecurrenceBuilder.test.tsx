import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import type { Client, Task } from "../lib/api";
import { RecurrenceBuilder } from "./RecurrenceBuilder";
import { TaskEditor } from "./TaskEditor";

afterEach(cleanup);
beforeAll(() => {
  // jsdom has no modal dialogs.
  HTMLDialogElement.prototype.showModal = function (this: HTMLDialogElement) {
    this.setAttribute("open", "");
  };
});

describe("RecurrenceBuilder", () => {
  it("builds a weekly rule from the form", () => {
    const onChange = vi.fn();
    render(<RecurrenceBuilder rule="" zone="Europe/Berlin" onChange={onChange} />);
    fireEvent.change(screen.getByLabelText("Repeats"), { target: { value: "WEEKLY" } });
    expect(onChange).toHaveBeenLastCalledWith("FREQ=WEEKLY");
    fireEvent.change(screen.getByRole("spinbutton", { name: /Every/ }), { target: { value: "2" } });
    fireEvent.click(screen.getByLabelText("Tue"));
    fireEvent.click(screen.getByLabelText("Thu"));
    fireEvent.click(screen.getByLabelText("after"));
    fireEvent.change(screen.getByLabelText("Number of times"), { target: { value: "5" } });
    expect(onChange).toHaveBeenLastCalledWith("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=5");
    fireEvent.click(screen.getByLabelText("on"));
    fireEvent.change(screen.getByLabelText("Last day"), { target: { value: "2027-12-31" } });
    expect(onChange).toHaveBeenLastCalledWith("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;UNTIL=20271231T225959Z");
    fireEvent.change(screen.getByLabelText("Repeats"), { target: { value: "none" } });
    expect(onChange).toHaveBeenLastCalledWith("");
  });

  it("shows a rule it can express in the form", () => {
    render(<RecurrenceBuilder rule="FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR" zone="UTC" onChange={() => {}} />);
    expect((screen.getByLabelText("Repeats") as HTMLSelectElement).value).toBe("MONTHLY");
    expect((screen.getByRole("spinbutton", { name: /Every/ }) as HTMLInputElement).value).toBe("3");
    expect((screen.getByLabelText("the") as HTMLInputElement).checked).toBe(true);
    expect((screen.getByLabelText("Which weekday of the month") as HTMLSelectElement).value).toBe("-1");
    expect((screen.getByLabelText("Weekday") as HTMLSelectElement).value).toBe("FR");
    expect((screen.getByLabelText("never") as HTMLInputElement).checked).toBe(true);
  });

  it("keeps the rules the form cannot express as text", () => {
    const onChange = vi.fn();
    render(<RecurrenceBuilder rule="FREQ=HOURLY;INTERVAL=6" zone="UTC" onChange={onChange} />);
    expect((screen.getByLabelText("Repeats") as HTMLSelectElement).value).toBe("custom");
    const text = screen.getByLabelText("Rule (RRULE)") as HTMLInputElement;
    expect(text.value).toBe("FREQ=HOURLY;INTERVAL=6");
    fireEvent.change(text, { target: { value: "FREQ=HOURLY;INTERVAL=8" } });
    expect(onChange).toHaveBeenLastCalledWith("FREQ=HOURLY;INTERVAL=8");
  });
});

describe("TaskEditor's recurrence", () => {
  it("previews the rule in words with the next occurrences, and saves it", async () => {
    const task: Task = {
      id: "t1",
      owner_id: "alice",
      title: "Pay rent",
      description: "",
      status: "open",
      priority: "none",
      tags: [],
      due_at: "2027-01-15T08:00:00Z",
      time_zone: "Europe/Berlin",
      created_at: "2026-12-01T00:00:00Z",
      updated_at: "2026-12-01T00:00:00Z",
      version: 4,
    };
    const patch = vi.fn(async (_id: string, _v: number, p: object) => ({ ...task, ...p, version: 5 }) as Task);
    const api = { patch, history: vi.fn(async () => []) } as unknown as Client;
    const onSaved = vi.fn();
    render(<TaskEditor api={api} task={task} zone="Europe/Berlin" onSaved={onSaved} onClose={() => {}} />);
    fireEvent.change(screen.getByLabelText("Repeats"), { target: { value: "MONTHLY" } });
    fireEvent.change(screen.getByLabelText("Day of the month"), { target: { value: "-1" } });
    expect(screen.getByText("Repeats every month on the last day")).toBeTruthy();
    const next = within(screen.getByRole("list", { name: "Next occurrences" })).getAllByRole("listitem");
    expect(next).toHaveLength(5);
    expect(next[0].textContent).toMatch(/31/);
    expect(next[1].textContent).toMatch(/28/);
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await vi.waitFor(() => expect(onSaved).toHaveBeenCalled());
    expect(patch).toHaveBeenCalledWith("t1", 4, { recurrence: { rule: "FREQ=MONTHLY;BYMONTHDAY=-1", anchor: "due" } });
  });
});
