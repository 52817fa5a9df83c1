// Live updates: the realtime socket, authenticated by its first message,
// resumed with the last cursor after a reconnect.
import type { Task } from "./api";

export type LiveState = "connecting" | "live" | "offline";

export interface LiveEvent {
  id: string;
  event: string;
  subject: string;
  data: unknown;
}

export interface LiveHandlers {
  onState(s: LiveState): void;
  onEvent(e: LiveEvent): void;
  /** onResync: events were missed; reload the state over the API. */
  onResync(): void;
}

/** socketURL is the realtime URL: the configured one, or /ws on this host. */
export function socketURL(configured: string, loc: Pick<Location, "protocol" | "host">): string {
  if (configured) return configured;
  return (loc.protocol === "https:" ? "wss://" : "ws://") + loc.host + "/ws";
}

/** connectLive keeps a socket open until the returned function is called. */
export function connectLive(url: string, token: () => string | null, h: LiveHandlers): () => void {
  let ws: WebSocket | null = null;
  let cursor: string | undefined;
  let retries = 0;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pinger: ReturnType<typeof setInterval> | undefined;
  let first = true;

  const open = () => {
    if (stopped) return;
    const tok = token();
    if (!tok) return;
    h.onState("connecting");
    const sock = new WebSocket(url);
    ws = sock;
    sock.onopen = () => sock.send(JSON.stringify(cursor ? { type: "auth", token: tok, cursor } : { type: "auth", token: tok }));
    sock.onmessage = (m) => {
      let msg: { type: string; cursor?: string } & Partial<LiveEvent>;
      try {
        msg = JSON.parse(String(m.data));
      } catch {
        return;
      }
      if (msg.cursor) cursor = msg.cursor;
      if (msg.type === "ready") {
        retries = 0;
        h.onState("live");
        // A first connection has nothing to catch up on; a reconnect
        // without a cursor may have missed events.
        if (!first && !cursor) h.onResync();
        first = false;
      } else if (msg.type === "resync") {
        retries = 0;
        h.onState("live");
        if (!first) h.onResync();
        first = false;
      } else if (msg.type === "event" && msg.id && msg.event) {
        h.onEvent({ id: msg.id, event: msg.event, subject: msg.subject ?? "", data: msg.data });
      }
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      if (stopped) return;
      h.onState("offline");
      retries++;
      timer = setTimeout(open, Math.min(30000, 500 * 2 ** Math.min(retries, 6)));
    };
  };
  open();
  pinger = setInterval(() => {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ping" }));
  }, 25000);
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearInterval(pinger);
    pinger = undefined;
    const s = ws;
    ws = null;
    s?.close();
  };
}

/** taskOf is the task snapshot of a task event, if it is one. */
export function taskOf(e: LiveEvent): Task | undefined {
  if (!e.event.startsWith("todo.task.")) return undefined;
  const t = e.data as Task | null;
  return t && typeof t === "object" && typeof t.id === "string" ? t : undefined;
}
