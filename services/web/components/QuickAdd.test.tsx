import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import type { Client, Task } from "../lib/api";
import { QuickAdd } from "./QuickAdd";

afterEach(cleanup);

describe("QuickAdd", () => {
  it("previews what it understood and sends it", async () => {
    const create = vi.fn(async (t: unknown) => ({ id: "1", ...(t as object) }) as unknown as Task);
    const onCreated = vi.fn();
    render(<QuickAdd api={{ create } as unknown as Client} timeZone="Europe/Berlin" onCreated={onCreated} />);
    const input = screen.getByLabelText("Add a task");
    fireEvent.change(input, { target: { value: "Pay rent every month on the 1st at 9am #home !high" } });
    expect(screen.getByText("every month on the 1st")).toBeTruthy();
    expect(screen.getByText("#home")).toBeTruthy();
    fireEvent.submit(input.closest("form")!);
    await vi.waitFor(() => expect(onCreated).toHaveBeenCalled());
    expect(create.mock.calls[0][0]).toMatchObject({
      title: "Pay rent",
      priority: "high",
      tags: ["home"],
      time_zone: "Europe/Berlin",
      recurrence: { rule: "FREQ=MONTHLY;BYMONTHDAY=1", anchor: "due" },
    });
    expect((input as HTMLInputElement).value).toBe("");
  });

  it("keeps what was typed when the server refuses it, and shows why", async () => {
    const { ApiError } = await import("../lib/api");
    const create = vi.fn(async () => {
      throw new ApiError(422, { title: "Unprocessable", detail: "invalid task", errors: [{ field: "title", message: "is too long" }] });
    });
    render(<QuickAdd api={{ create } as unknown as Client} timeZone="UTC" onCreated={() => {}} />);
    const input = screen.getByLabelText("Add a task") as HTMLInputElement;
    fireEvent.change(input, { target: { value: "Something" } });
    fireEvent.submit(input.closest("form")!);
    expect((await screen.findByRole("alert")).textContent).toContain("title: is too long");
    expect(input.value).toBe("Something");
  });
});
