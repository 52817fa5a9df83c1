// The task API client: JSON over fetch with the bearer token, problems
// (RFC 9457) as ApiError with their field errors.

export type Priority = "none" | "low" | "medium" | "high" | "urgent";
export const PRIORITIES: Priority[] = ["none", "low", "medium", "high", "urgent"];

export type Reminder = { before: string } | { at: string };

export interface Task {
  id: string;
  owner_id: string;
  title: string;
  description: string;
  status: "open" | "done";
  priority: Priority;
  tags: string[];
  due_at?: string | null;
  time_zone: string;
  reminders?: Reminder[] | null;
  recurrence?: { rule: string; anchor: "due" | "completion" } | null;
  series_id?: string | null;
  occurrence_at?: string | null;
  created_at: string;
  updated_at: string;
  completed_at?: string | null;
  version: number;
}

export interface Page {
  items: Task[];
  next_cursor: string | null;
  /** matches are, with a search, what it found in each task of the page (by id). */
  matches?: Record<string, SearchMatch>;
}

/** Segment is a piece of a search snippet: text, the found words marked. Never markup. */
export interface Segment {
  text: string;
  match?: boolean;
}

export interface SearchMatch {
  fields: ("title" | "description")[];
  title?: Segment[];
  description?: Segment[];
}

export interface TagCount {
  tag: string;
  count: number;
}

export interface FieldError {
  field: string;
  message: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  request_id?: string;
  errors?: FieldError[];
}

/** ApiError is a failed call: the HTTP status and the problem it returned. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    readonly current?: Task,
  ) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ApiError";
  }

  /** fieldErrors maps each named field to its message. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.problem.errors ?? []) out[e.field] = e.message;
    return out;
  }
}

/** OfflineError is a call that did not reach the server. */
export class OfflineError extends Error {
  constructor(cause: unknown) {
    super("the server cannot be reached", { cause });
    this.name = "OfflineError";
  }
}

export interface Notification {
  id: string;
  reminder_id: string;
  task_id: string;
  title: string;
  due_at: string | null;
  fire_at: string;
  created_at: string;
  read_at: string | null;
}

export interface AuditEntry {
  id: number;
  event_id: string;
  type: string;
  source: string;
  task_id: string;
  time: string;
}

export type Snooze = { for: string } | { until: string };

export type Channel = "in_app" | "webhook" | "email";
export const CHANNELS: Channel[] = ["in_app", "webhook", "email"];

export interface NotificationSettings {
  email: string | null;
  channels: Channel[];
}

export interface Webhook {
  id: string;
  url: string;
  created_at: string;
  /** secret is only in the answer to the registration. */
  secret?: string;
}

export type DeliveryStatus = "pending" | "sent" | "failed" | "canceled";

export interface Delivery {
  id: string;
  channel: "webhook" | "email";
  /** target is the webhook's URL (null once it is deleted) or the e-mail address. */
  target: string | null;
  webhook_id: string | null;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  task_id: string;
  task_title: string;
  created_at: string;
  next_attempt_at: string | null;
  done_at: string | null;
}

export type TaskPatch = Partial<Pick<Task, "title" | "description" | "priority" | "tags" | "due_at" | "time_zone" | "reminders" | "recurrence">>;
export type NewTask = TaskPatch & { title: string };

export interface Client {
  list(query: URLSearchParams, signal?: AbortSignal): Promise<Page>;
  get(id: string): Promise<Task>;
  create(t: NewTask): Promise<Task>;
  patch(id: string, version: number, p: TaskPatch): Promise<Task>;
  complete(id: string, version?: number): Promise<Task>;
  reopen(id: string, version?: number): Promise<Task>;
  remove(id: string, version?: number): Promise<void>;
  tags(): Promise<TagCount[]>;
  notifications(): Promise<{ items: Notification[]; next_cursor: string | null }>;
  markRead(id: string): Promise<Notification>;
  snooze(id: string, s: Snooze): Promise<{ fire_at: string }>;
  history(taskID: string): Promise<AuditEntry[]>;
  settings(): Promise<NotificationSettings>;
  putSettings(s: NotificationSettings): Promise<NotificationSettings>;
  webhooks(): Promise<Webhook[]>;
  addWebhook(url: string): Promise<Webhook>;
  deleteWebhook(id: string): Promise<void>;
  deliveries(status?: DeliveryStatus): Promise<Delivery[]>;
}

/** client calls the API at base ("" for this origin) with token(). */
export function client(base: string, token: () => string | null, fetchFn: typeof fetch = (...a) => fetch(...a)): Client {
  async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<T> {
    const h: Record<string, string> = { Accept: "application/json, application/problem+json", ...headers };
    const tok = token();
    if (tok) h.Authorization = `Bearer ${tok}`;
    if (body !== undefined) h["Content-Type"] = method === "PATCH" ? "application/merge-patch+json" : "application/json";
    let resp: Response;
    try {
      resp = await fetchFn(base + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: "no-store" });
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") throw e;
      throw new OfflineError(e);
    }
    if (resp.status === 204) return undefined as T;
    const text = await resp.text();
    const data: unknown = text ? JSON.parse(text) : undefined;
    if (!resp.ok) {
      const problem = (data ?? {}) as Problem & { current?: Task };
      throw new ApiError(resp.status, problem, problem.current);
    }
    return data as T;
  }
  const ifMatch = (v?: number): Record<string, string> => (v === undefined ? {} : { "If-Match": `"${v}"` });
  const enc = encodeURIComponent;
  return {
    list: (q, signal) => call<Page>("GET", `/api/v1/tasks?${q.toString()}`, undefined, {}, signal),
    get: (id) => call<Task>("GET", `/api/v1/tasks/${enc(id)}`),
    create: (t) => call<Task>("POST", "/api/v1/tasks", t),
    patch: (id, v, p) => call<Task>("PATCH", `/api/v1/tasks/${enc(id)}`, p, ifMatch(v)),
    complete: (id, v) => call<Task>("POST", `/api/v1/tasks/${enc(id)}/complete`, undefined, ifMatch(v)),
    reopen: (id, v) => call<Task>("POST", `/api/v1/tasks/${enc(id)}/reopen`, undefined, ifMatch(v)),
    remove: (id, v) => call<void>("DELETE", `/api/v1/tasks/${enc(id)}`, undefined, ifMatch(v)),
    tags: async () => (await call<{ items: TagCount[] }>("GET", "/api/v1/tags")).items,
    notifications: () => call("GET", "/api/v1/notifications?limit=50"),
    markRead: (id) => call("POST", `/api/v1/notifications/${enc(id)}/read`),
    snooze: (id, s) => call("POST", `/api/v1/notifications/${enc(id)}/snooze`, s),
    history: async (id) => (await call<{ items: AuditEntry[] }>("GET", `/api/v1/audit?task_id=${enc(id)}&limit=50`)).items,
    settings: () => call("GET", "/api/v1/notification-settings"),
    putSettings: (s) => call("PUT", "/api/v1/notification-settings", s),
    webhooks: async () => (await call<{ items: Webhook[] }>("GET", "/api/v1/webhooks")).items,
    addWebhook: (url) => call("POST", "/api/v1/webhooks", { url }),
    deleteWebhook: (id) => call<void>("DELETE", `/api/v1/webhooks/${enc(id)}`),
    deliveries: async (status) => (await call<{ items: Delivery[] }>("GET", `/api/v1/deliveries?limit=20${status ? `&status=${enc(status)}` : ""}`)).items,
  };
}
