import { describe, expect, it } from "vitest";

import { ApiError, client, OfflineError } from "./api";

describe("client", () => {
  it("sends the token, If-Match and a merge patch; reads problems", async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    const fake = async (url: string | URL | Request, init?: RequestInit) => {
      seen.push({ url: String(url), init: init ?? {} });
      return new Response(JSON.stringify({ title: "Unprocessable", status: 422, errors: [{ field: "title", message: "is required" }] }), {
        status: 422,
        headers: { "Content-Type": "application/problem+json" },
      });
    };
    const c = client("", () => "tok", fake as typeof fetch);
    const err = await c.patch("t1", 3, { title: "" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).fieldErrors()).toEqual({ title: "is required" });
    const h = seen[0].init.headers as Record<string, string>;
    expect(seen[0].url).toBe("/api/v1/tasks/t1");
    expect(h.Authorization).toBe("Bearer tok");
    expect(h["If-Match"]).toBe('"3"');
    expect(h["Content-Type"]).toBe("application/merge-patch+json");
  });
  it("says offline when the network fails", async () => {
    const c = client("", () => null, (async () => {
      throw new TypeError("Failed to fetch");
    }) as typeof fetch);
    await expect(c.tags()).rejects.toBeInstanceOf(OfflineError);
  });
  it("calls the notifier's settings, webhooks and deliveries", async () => {
    const seen: { method: string; url: string; body: unknown }[] = [];
    const fake = async (url: string | URL | Request, init?: RequestInit) => {
      seen.push({ method: init?.method ?? "GET", url: String(url), body: init?.body ? JSON.parse(String(init.body)) : undefined });
      if (init?.method === "DELETE") return new Response(null, { status: 204 });
      return new Response(JSON.stringify({ items: [] }), { status: 200 });
    };
    const c = client("", () => "tok", fake as typeof fetch);
    await c.deliveries("failed");
    await c.deliveries();
    await c.addWebhook("https://example.com/h");
    await c.deleteWebhook("w 1");
    await c.putSettings({ email: "ada@example.com", channels: ["email"] });
    expect(seen).toEqual([
      { method: "GET", url: "/api/v1/deliveries?limit=20&status=failed", body: undefined },
      { method: "GET", url: "/api/v1/deliveries?limit=20", body: undefined },
      { method: "POST", url: "/api/v1/webhooks", body: { url: "https://example.com/h" } },
      { method: "DELETE", url: "/api/v1/webhooks/w%201", body: undefined },
      { method: "PUT", url: "/api/v1/notification-settings", body: { email: "ada@example.com", channels: ["email"] } },
    ]);
  });
});
