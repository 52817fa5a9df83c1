"use client";

import { useCallback, useEffect, useRef, useState } from "react";

import { ApiError, CHANNELS, type Channel, type Client, type Delivery, type NotificationSettings, type Webhook } from "../lib/api";
import { formatDue } from "../lib/quickadd";

const CHANNEL_LABELS: Record<Channel, string> = {
  in_app: "In the app (inbox)",
  webhook: "Webhooks",
  email: "E-mail",
};

const STATUS_LABELS: Record<Delivery["status"], string> = {
  pending: "pending",
  sent: "sent",
  failed: "failed",
  canceled: "canceled",
};

/** describeDelivery says in words where a delivery went and how it went. */
export function describeDelivery(d: Delivery): string {
  const where = d.channel === "email" ? `e-mail to ${d.target ?? "?"}` : d.target ? `webhook ${d.target}` : "a deleted webhook";
  const tries = d.attempts === 1 ? "1 attempt" : `${d.attempts} attempts`;
  return `${where}: ${STATUS_LABELS[d.status]} after ${tries}`;
}

function message(e: unknown): string {
  if (e instanceof ApiError) {
    const fields = (e.problem.errors ?? []).map((f) => f.message);
    return fields.length ? fields.join("; ") : e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

/**
 * Settings is the dialog of the notification settings: the channels and the
 * e-mail address, the webhooks (a new one's secret is shown once), and the
 * recent deliveries with their failures.
 */
export function Settings(props: { api: Client; timeZone: string; onClose(): void }) {
  const { api } = props;
  const dialog = useRef<HTMLDialogElement>(null);
  const [settings, setSettings] = useState<NotificationSettings | null>(null);
  const [email, setEmail] = useState("");
  const [channels, setChannels] = useState<Channel[]>([]);
  const [settingsMsg, setSettingsMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const [hooks, setHooks] = useState<Webhook[] | null>(null);
  const [url, setURL] = useState("");
  const [hookError, setHookError] = useState("");
  const [created, setCreated] = useState<Webhook | null>(null);
  const [deliveries, setDeliveries] = useState<Delivery[] | null>(null);
  const [failedOnly, setFailedOnly] = useState(false);
  const [loadError, setLoadError] = useState("");

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
  }, []);

  useEffect(() => {
    let live = true;
    Promise.all([api.settings(), api.webhooks()]).then(
      ([s, h]) => {
        if (!live) return;
        setSettings(s);
        setEmail(s.email ?? "");
        setChannels(s.channels);
        setHooks(h);
      },
      (e: unknown) => live && setLoadError(message(e)),
    );
    return () => {
      live = false;
    };
  }, [api]);

  const loadDeliveries = useCallback(async () => {
    try {
      setDeliveries(await api.deliveries(failedOnly ? "failed" : undefined));
    } catch (e) {
      setLoadError(message(e));
    }
  }, [api, failedOnly]);
  useEffect(() => {
    // The list follows the "failures only" switch.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void loadDeliveries();
  }, [loadDeliveries]);

  async function saveSettings() {
    setSettingsMsg(null);
    try {
      const s = await api.putSettings({ email: email.trim() || null, channels });
      setSettings(s);
      setSettingsMsg({ ok: true, text: "Saved." });
    } catch (e) {
      setSettingsMsg({ ok: false, text: message(e) });
    }
  }

  async function addHook() {
    setHookError("");
    setCreated(null);
    try {
      const h = await api.addWebhook(url.trim());
      setCreated(h);
      setURL("");
      setHooks((hs) => [...(hs ?? []), { id: h.id, url: h.url, created_at: h.created_at }]);
    } catch (e) {
      setHookError(message(e));
    }
  }

  async function deleteHook(h: Webhook) {
    setHookError("");
    try {
      await api.deleteWebhook(h.id);
      setHooks((hs) => (hs ?? []).filter((x) => x.id !== h.id));
      if (created?.id === h.id) setCreated(null);
    } catch (e) {
      setHookError(message(e));
    }
  }

  const toggle = (c: Channel) => setChannels((cs) => (cs.includes(c) ? cs.filter((x) => x !== c) : CHANNELS.filter((x) => x === c || cs.includes(x))));

  return (
    <dialog ref={dialog} className="editor settings" aria-labelledby="settings-title" onClose={props.onClose}>
      <h2 id="settings-title">Notification settings</h2>
      {loadError && (
        <p role="alert" className="error">
          {loadError}
        </p>
      )}
      <form
        id="settings-form"
        onSubmit={(e) => {
          e.preventDefault();
          void saveSettings();
        }}
      >
        <fieldset disabled={!settings}>
          <legend>Where reminders go</legend>
          {CHANNELS.map((c) => (
            <label key={c} className="inline">
              <input type="checkbox" name="channel" value={c} checked={channels.includes(c)} onChange={() => toggle(c)} />
              {CHANNEL_LABELS[c]}
            </label>
          ))}
          <label>
            E-mail address
            <input id="settings-email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} placeholder="ada@example.com" />
          </label>
          <p className="hint">E-mail is sent only where the platform has a mail server.</p>
          <button type="submit" className="primary">
            Save
          </button>
          {settingsMsg && (
            <p role={settingsMsg.ok ? "status" : "alert"} className={settingsMsg.ok ? "hint" : "error"}>
              {settingsMsg.text}
            </p>
          )}
        </fieldset>
      </form>

      <section aria-labelledby="webhooks-title">
        <h3 id="webhooks-title">Webhooks</h3>
        <p className="hint">Each reminder is POSTed to every webhook as a CloudEvent, signed with the webhook&apos;s secret (the Webhook-Signature header).</p>
        {hooks === null ? (
          <p className="hint">Loading…</p>
        ) : hooks.length === 0 ? (
          <p className="empty">No webhooks.</p>
        ) : (
          <ul className="webhooks" aria-label="Registered webhooks">
            {hooks.map((h) => (
              <li key={h.id} data-id={h.id}>
                <code>{h.url}</code>
                <button type="button" onClick={() => void deleteHook(h)} aria-label={`Delete webhook ${h.url}`}>
                  Delete
                </button>
              </li>
            ))}
          </ul>
        )}
        {created?.secret && (
          <div role="status" className="secret" id="webhook-secret">
            <p>
              The secret of <code>{created.url}</code> — copy it now, it is not shown again:
            </p>
            <input readOnly aria-label="Webhook secret" value={created.secret} onFocus={(e) => e.target.select()} />
            <button type="button" onClick={() => setCreated(null)}>
              I have copied it
            </button>
          </div>
        )}
        <form
          id="webhook-form"
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            if (url.trim()) void addHook();
          }}
        >
          <label>
            Webhook URL
            <input id="webhook-url" type="url" value={url} onChange={(e) => setURL(e.target.value)} placeholder="https://example.com/hooks/todo" aria-describedby={hookError ? "webhook-error" : undefined} />
          </label>
          <button type="submit" disabled={!url.trim()}>
            Add webhook
          </button>
        </form>
        {hookError && (
          <p role="alert" className="error" id="webhook-error">
            {hookError}
          </p>
        )}
      </section>

      <section aria-labelledby="deliveries-title">
        <h3 id="deliveries-title">Recent deliveries</h3>
        <div className="row">
          <label className="inline">
            <input type="checkbox" checked={failedOnly} onChange={(e) => setFailedOnly(e.target.checked)} />
            Failures only
          </label>
          <button type="button" onClick={() => void loadDeliveries()}>
            Refresh
          </button>
        </div>
        {deliveries === null ? (
          <p className="hint">Loading…</p>
        ) : deliveries.length === 0 ? (
          <p className="empty">{failedOnly ? "No failed deliveries." : "No deliveries yet."}</p>
        ) : (
          <ul className="deliveries" aria-label="Deliveries">
            {deliveries.map((d) => (
              <li key={d.id} data-status={d.status} className={`delivery delivery-${d.status}`}>
                <span className="title">{d.task_title || "(untitled task)"}</span>
                <span className="meta">
                  <time dateTime={d.created_at}>{formatDue(new Date(d.created_at), props.timeZone)}</time> · {describeDelivery(d)}
                  {d.status === "pending" && d.next_attempt_at ? ` · next try ${formatDue(new Date(d.next_attempt_at), props.timeZone)}` : ""}
                </span>
                {d.last_error && <span className="error delivery-error">{d.last_error}</span>}
              </li>
            ))}
          </ul>
        )}
      </section>
      <div className="actions">
        <button type="button" onClick={props.onClose}>
          Close
        </button>
      </div>
    </dialog>
  );
}
