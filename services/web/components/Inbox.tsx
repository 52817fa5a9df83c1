"use client";

import { useCallback, useEffect, useState } from "react";

import type { Client, Notification, Snooze } from "../lib/api";
import { formatDue } from "../lib/quickadd";
import { addDays, instantOf, wallTime } from "../lib/zone";

/** snoozePresets are the snoozes offered for a notification, at now in timeZone. */
export function snoozePresets(now: Date, timeZone: string): { label: string; value: Snooze }[] {
  const tomorrow = addDays(wallTime(now, timeZone), 1);
  return [
    { label: "10 minutes", value: { for: "10m" } },
    { label: "1 hour", value: { for: "1h" } },
    { label: "Tomorrow 9:00", value: { until: instantOf({ ...tomorrow, hour: 9, minute: 0 }, timeZone).toISOString() } },
  ];
}

/** Inbox is the notifications of fired reminders: unread first, mark read, snooze. */
export function Inbox(props: { api: Client; timeZone: string; version: number; onError(e: unknown): void }) {
  const { api, onError } = props;
  const [open, setOpen] = useState(false);
  const [items, setItems] = useState<Notification[]>([]);
  const [until, setUntil] = useState("");

  const load = useCallback(async () => {
    try {
      setItems((await api.notifications()).items);
    } catch (e) {
      onError(e);
    }
  }, [api, onError]);
  useEffect(() => {
    // The inbox follows the reminders that fire (props.version).
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void load();
  }, [load, props.version]);

  const unread = items.filter((n) => !n.read_at).length;
  const act = async (f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (e) {
      onError(e);
    }
    await load();
  };

  return (
    <div className="inbox">
      <button id="inbox-button" aria-expanded={open} aria-controls="inbox" onClick={() => {
          if (!open) void load();
          setOpen(!open);
        }}>
        Inbox{unread > 0 ? ` (${unread})` : ""}
      </button>
      {open && (
        <section id="inbox" aria-label="Notifications" className="inbox-panel">
          <h2>Notifications</h2>
          {"Notification" in globalThis && Notification.permission === "default" && (
            <button onClick={() => void Notification.requestPermission()}>Show reminders as desktop notifications</button>
          )}
          {items.length === 0 && <p className="empty">No notifications.</p>}
          <ul>
            {items.map((n) => (
              <li key={n.id} className={n.read_at ? "read" : "unread"} data-id={n.id}>
                <span className="title">{n.title}</span>
                <span className="meta">{n.due_at ? `due ${formatDue(new Date(n.due_at), props.timeZone)}` : `at ${formatDue(new Date(n.fire_at), props.timeZone)}`}</span>
                {!n.read_at && (
                  <button onClick={() => void act(() => api.markRead(n.id))} aria-label={`Mark read: ${n.title}`}>
                    Mark read
                  </button>
                )}
                <label>
                  <span className="visually-hidden">Snooze “{n.title}”</span>
                  <select
                    value=""
                    onChange={(e) => {
                      const p = snoozePresets(new Date(), props.timeZone)[Number(e.target.value)];
                      if (p) void act(() => api.snooze(n.id, p.value));
                    }}
                  >
                    <option value="">Snooze…</option>
                    {snoozePresets(new Date(), props.timeZone).map((p, i) => (
                      <option key={p.label} value={i}>
                        {p.label}
                      </option>
                    ))}
                  </select>
                </label>
                <label>
                  <span className="visually-hidden">Snooze “{n.title}” until</span>
                  <input type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
                </label>
                <button
                  disabled={!until}
                  onClick={() => {
                    const [d, t] = until.split("T");
                    const [year, month, day] = d.split("-").map(Number);
                    const [hour, minute] = t.split(":").map(Number);
                    void act(() => api.snooze(n.id, { until: instantOf({ year, month, day, hour, minute }, props.timeZone).toISOString() }));
                  }}
                >
                  Snooze until
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}
