import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { ApiError, type Client, type Delivery, type NotificationSettings, type Webhook } from "../lib/api";
import { describeDelivery, Settings } from "./Settings";

afterEach(cleanup);
beforeAll(() => {
  // jsdom has no modal dialogs.
  HTMLDialogElement.prototype.showModal = function (this: HTMLDialogElement) {
    this.setAttribute("open", "");
  };
});

const failed: Delivery = {
  id: "d1",
  channel: "webhook",
  target: "https://hooks.example.com/down",
  webhook_id: "w0",
  status: "failed",
  attempts: 8,
  last_error: "webhook answered 500 Internal Server Error",
  task_id: "t1",
  task_title: "Feed the cat",
  created_at: "2026-12-01T09:00:00Z",
  next_attempt_at: null,
  done_at: "2026-12-01T10:00:00Z",
};
const sent: Delivery = { ...failed, id: "d2", status: "sent", attempts: 1, last_error: null, task_title: "Water the plants" };

function fakeApi(over: Partial<Client> = {}) {
  let hooks: Webhook[] = [];
  const api = {
    settings: vi.fn(async (): Promise<NotificationSettings> => ({ email: null, channels: ["in_app", "webhook", "email"] })),
    putSettings: vi.fn(async (s: NotificationSettings) => s),
    webhooks: vi.fn(async () => hooks),
    addWebhook: vi.fn(async (url: string) => {
      const h = { id: "w1", url, created_at: "2026-12-01T09:00:00Z" };
      hooks = [...hooks, h];
      return { ...h, secret: "whsec_s3cret" };
    }),
    deleteWebhook: vi.fn(async (id: string) => {
      hooks = hooks.filter((h) => h.id !== id);
    }),
    deliveries: vi.fn(async (status?: string) => (status === "failed" ? [failed] : [sent, failed])),
    ...over,
  };
  return api;
}

describe("Settings", () => {
  it("registers a webhook, shows its secret once, and deletes it", async () => {
    const api = fakeApi();
    render(<Settings api={api as unknown as Client} timeZone="UTC" onClose={() => {}} />);
    expect(await screen.findByText("No webhooks.")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Webhook URL"), { target: { value: "https://hooks.example.com/todo" } });
    fireEvent.click(screen.getByRole("button", { name: "Add webhook" }));
    const secret = (await screen.findByLabelText("Webhook secret")) as HTMLInputElement;
    expect(secret.value).toBe("whsec_s3cret");
    expect(api.addWebhook).toHaveBeenCalledWith("https://hooks.example.com/todo");
    expect(screen.getByRole("list", { name: "Registered webhooks" }).textContent).toContain("https://hooks.example.com/todo");
    fireEvent.click(screen.getByRole("button", { name: "I have copied it" }));
    expect(screen.queryByLabelText("Webhook secret")).toBeNull();
    expect(document.body.textContent).not.toContain("whsec_s3cret");

    fireEvent.click(screen.getByRole("button", { name: "Delete webhook https://hooks.example.com/todo" }));
    expect(await screen.findByText("No webhooks.")).toBeTruthy();
    expect(api.deleteWebhook).toHaveBeenCalledWith("w1");
  });

  it("shows why the server refused a webhook", async () => {
    const api = fakeApi({
      addWebhook: vi.fn(async () => {
        throw new ApiError(400, { title: "Bad Request", detail: "the webhook's target is a private address", status: 400 });
      }),
    });
    render(<Settings api={api as unknown as Client} timeZone="UTC" onClose={() => {}} />);
    await screen.findByText("No webhooks.");
    fireEvent.change(screen.getByLabelText("Webhook URL"), { target: { value: "http://10.0.0.1/" } });
    fireEvent.click(screen.getByRole("button", { name: "Add webhook" }));
    expect((await screen.findByRole("alert")).textContent).toContain("private address");
    expect(screen.queryByLabelText("Webhook secret")).toBeNull();
  });

  it("saves the e-mail address and the channels", async () => {
    const api = fakeApi();
    render(<Settings api={api as unknown as Client} timeZone="UTC" onClose={() => {}} />);
    const inApp = (await screen.findByLabelText("In the app (inbox)")) as HTMLInputElement;
    await vi.waitFor(() => expect(inApp.checked).toBe(true));
    fireEvent.click(screen.getByRole("checkbox", { name: "Webhooks" }));
    fireEvent.change(screen.getByLabelText("E-mail address"), { target: { value: " ada@example.com " } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByText("Saved.")).toBeTruthy();
    expect(api.putSettings).toHaveBeenCalledWith({ email: "ada@example.com", channels: ["in_app", "email"] });
  });

  it("shows the server's reason when settings are refused", async () => {
    const api = fakeApi({
      putSettings: vi.fn(async () => {
        throw new ApiError(400, { title: "Bad Request", detail: "invalid", errors: [{ field: "email", message: 'the email channel needs an "email" address' }] });
      }),
    });
    render(<Settings api={api as unknown as Client} timeZone="UTC" onClose={() => {}} />);
    await vi.waitFor(() => expect((screen.getByLabelText("E-mail") as HTMLInputElement).checked).toBe(true));
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect((await screen.findByRole("alert")).textContent).toContain("needs an");
  });

  it("lists recent deliveries with their failures, and only failures on request", async () => {
    const api = fakeApi();
    render(<Settings api={api as unknown as Client} timeZone="UTC" onClose={() => {}} />);
    const list = await screen.findByRole("list", { name: "Deliveries" });
    expect(within(list).getAllByRole("listitem")).toHaveLength(2);
    expect(list.textContent).toContain("webhook answered 500");
    expect(list.textContent).toContain("Water the plants");
    fireEvent.click(screen.getByLabelText("Failures only"));
    await vi.waitFor(() => expect(api.deliveries).toHaveBeenLastCalledWith("failed"));
    await vi.waitFor(() => expect(within(screen.getByRole("list", { name: "Deliveries" })).getAllByRole("listitem")).toHaveLength(1));
  });
});

describe("describeDelivery", () => {
  it("says where it went and how", () => {
    expect(describeDelivery(failed)).toBe("webhook https://hooks.example.com/down: failed after 8 attempts");
    expect(describeDelivery({ ...sent, target: null })).toBe("a deleted webhook: sent after 1 attempt");
    expect(describeDelivery({ ...sent, channel: "email", target: "ada@example.com", webhook_id: null })).toBe("e-mail to ada@example.com: sent after 1 attempt");
  });
});
