"use client";

import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { usePathname, useSearchParams } from "next/navigation";

import { ApiError, OfflineError, PRIORITIES, type Client, type Priority, type Task } from "../lib/api";
import { connectLive, socketURL, taskOf, type LiveState } from "../lib/live";
import { describeRule, formatDue } from "../lib/quickadd";
import { descriptionSnippet, foundOf, titleSegments, type Found } from "../lib/search";
import { apiQuery, dayKey, readFilters, SORTS, VIEW_LABELS, VIEWS, writeFilters, type Filters } from "../lib/views";
import { Inbox } from "./Inbox";
import { QuickAdd } from "./QuickAdd";
import { Snippet } from "./Snippet";
import { TaskList } from "./TaskList";

// The editor and the settings dialog load when first opened: not part of the first load.
const TaskEditor = lazy(() => import("./TaskEditor").then((m) => ({ default: m.TaskEditor })));
const Settings = lazy(() => import("./Settings").then((m) => ({ default: m.Settings })));

interface Toast {
  id: number;
  text: string;
  undo?: () => void;
}

/** matches says whether a task belongs in the list of filters f (the server's rules, for live changes). */
export function matches(t: Task, f: Filters, now: Date, q: URLSearchParams): boolean {
  const status = q.get("status");
  if (status && t.status !== status) return false;
  if (f.priority.length && !f.priority.includes(t.priority)) return false;
  if (f.tags.length) {
    const has = (x: string) => (t.tags ?? []).includes(x);
    if (f.match === "all" ? !f.tags.every(has) : !f.tags.some(has)) return false;
  }
  const due = t.due_at ? new Date(t.due_at).getTime() : undefined;
  const before = q.get("due_before");
  const after = q.get("due_after");
  if (before && (due === undefined || due >= Date.parse(before))) return false;
  if (after && (due === undefined || due < Date.parse(after))) return false;
  if (q.get("overdue") === "true" && (due === undefined || due >= now.getTime())) return false;
  if (f.q) {
    const words = f.q.toLowerCase().split(/\s+/).filter((w) => w && !w.startsWith("-") && w !== "or");
    const hay = (t.title + " " + (t.description ?? "")).toLowerCase();
    if (!words.every((w) => hay.includes(w.replace(/"/g, "")))) return false;
  }
  return true;
}

export function Tasks(props: { api: Client; user: string; token: () => string | null; realtimeURL: string; timeZone: string; onSignOut(): void }) {
  const { api, timeZone } = props;
  const pathname = usePathname();
  const params = useSearchParams();
  const filters = useMemo(() => readFilters(new URLSearchParams(params.toString())), [params]);
  const [tasks, setTasks] = useState<Task[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [found, setFound] = useState<Map<string, Found>>(() => new Map());
  const [tagNames, setTagNames] = useState<string[]>([]);
  const [loading, setLoading] = useState(false);
  const [listError, setListError] = useState("");
  const [live, setLive] = useState<LiveState>("connecting");
  const [online, setOnline] = useState(true);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [editing, setEditing] = useState<Task | null>(null);
  const [selected, setSelected] = useState(0);
  const [help, setHelp] = useState(false);
  const [settings, setSettings] = useState(false);
  const [reminders, setReminders] = useState(0);
  const [search, setSearch] = useState(filters.q);
  const quickAdd = useRef<HTMLInputElement>(null);
  const searchBox = useRef<HTMLInputElement>(null);
  const sentinel = useRef<HTMLLIElement>(null);
  const hidden = useRef(new Set<string>());
  const queryRef = useRef<URLSearchParams>(new URLSearchParams());

  const setFilters = useCallback(
    (f: Partial<Filters>) => {
      const q = writeFilters({ ...filters, ...f }).toString();
      setSelected(0);
      // The native history API: Next keeps useSearchParams in step without
      // a request to the server.
      // A new view is a step the back button undoes; a filter tweak is not.
      const url = q ? `${pathname}?${q}` : pathname;
      if (f.view && f.view !== filters.view) window.history.pushState(null, "", url);
      else window.history.replaceState(null, "", url);
    },
    [filters, pathname],
  );

  const toast = useCallback((text: string, undo?: () => void) => {
    const id = Date.now() + Math.random();
    setToasts((ts) => [...ts.slice(-2), { id, text, undo }]);
    setTimeout(() => setToasts((ts) => ts.filter((t) => t.id !== id)), 6000);
  }, []);

  const fail = useCallback(
    (e: unknown) => {
      if (e instanceof OfflineError) setOnline(false);
      toast(e instanceof Error ? e.message : String(e));
    },
    [toast],
  );

  // The user's tags, most used first, for autocomplete: at start and after each save here.
  const loadTags = useCallback(() => {
    api.tags().then(
      (ts) => setTagNames(ts.map((t) => t.tag)),
      () => {},
    );
  }, [api]);
  useEffect(() => loadTags(), [loadTags]);

  // Load the first page whenever the filters change.
  const load = useCallback(
    async (signal?: AbortSignal) => {
      const q = apiQuery(filters, new Date(), timeZone);
      queryRef.current = q;
      setLoading(true);
      try {
        const page = await api.list(q, signal);
        setTasks(page.items.filter((t) => !hidden.current.has(t.id)));
        setFound(foundOf(page.items, page.matches));
        setNext(page.next_cursor);
        setListError("");
        setOnline(true);
      } catch (e) {
        if (e instanceof DOMException && e.name === "AbortError") return;
        if (e instanceof OfflineError) setOnline(false);
        setListError(e instanceof ApiError ? e.message : String(e instanceof Error ? e.message : e));
      } finally {
        setLoading(false);
      }
    },
    [api, filters, timeZone],
  );
  useEffect(() => {
    const ac = new AbortController();
    // Loading the list is what this effect synchronizes with the URL.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void load(ac.signal);
    return () => ac.abort();
  }, [load]);

  const loadMore = useCallback(async () => {
    if (!next || loading) return;
    const q = new URLSearchParams(queryRef.current);
    q.set("cursor", next);
    setLoading(true);
    try {
      const page = await api.list(q);
      setTasks((ts) => {
        const seen = new Set(ts.map((t) => t.id));
        return [...ts, ...page.items.filter((t) => !seen.has(t.id) && !hidden.current.has(t.id))];
      });
      setFound((f) => new Map([...f, ...foundOf(page.items, page.matches)]));
      setNext(page.next_cursor);
    } catch (e) {
      fail(e);
    } finally {
      setLoading(false);
    }
  }, [api, fail, loading, next]);

  // Infinite scroll: the next page loads as the list's end comes into view.
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !next) return;
    const io = new IntersectionObserver((es) => {
      if (es.some((e) => e.isIntersecting)) void loadMore();
    });
    io.observe(el);
    return () => io.disconnect();
  }, [loadMore, next]);

  // Put one task in place: replace it, add it, or take it out of this list.
  const apply = useCallback(
    (t: Task | undefined, removedID?: string) => {
      setTasks((ts) => {
        if (removedID) return ts.filter((x) => x.id !== removedID);
        if (!t || hidden.current.has(t.id)) return ts;
        const i = ts.findIndex((x) => x.id === t.id);
        const fits = matches(t, filters, new Date(), queryRef.current);
        if (i >= 0) {
          if (ts[i].version > t.version) return ts;
          return fits ? ts.map((x) => (x.id === t.id ? t : x)) : ts.filter((x) => x.id !== t.id);
        }
        return fits ? [t, ...ts] : ts;
      });
    },
    [filters],
  );

  // Live updates over the realtime socket, applied in place.
  useEffect(() => {
    const url = socketURL(props.realtimeURL, window.location);
    return connectLive(url, props.token, {
      onState: setLive,
      onResync: () => void load(),
      onEvent: (e) => {
        if (e.event.startsWith("todo.task.deleted")) {
          apply(undefined, e.subject);
          return;
        }
        if (e.event.startsWith("todo.reminder.")) {
          const title = (e.data as { task_title?: string } | null)?.task_title ?? "a task is due";
          toast(`Reminder: ${title}`);
          setReminders((n) => n + 1);
          if ("Notification" in window && Notification.permission === "granted" && document.visibilityState !== "visible") {
            new Notification("Reminder", { body: title });
          }
          return;
        }
        apply(taskOf(e));
      },
    });
  }, [apply, load, props.realtimeURL, props.token, toast]);

  useEffect(() => {
    const up = () => setOnline(true);
    const down = () => setOnline(false);
    window.addEventListener("online", up);
    window.addEventListener("offline", down);
    return () => {
      window.removeEventListener("online", up);
      window.removeEventListener("offline", down);
    };
  }, []);

  const complete = useCallback(
    async (t: Task) => {
      try {
        if (t.status === "done") {
          apply(await api.reopen(t.id));
          return;
        }
        const done = await api.complete(t.id);
        apply(done);
        toast(`Completed “${t.title}”${t.recurrence ? " — the next one is on its way" : ""}`, async () => {
          try {
            apply(await api.reopen(t.id));
          } catch (e) {
            fail(e);
          }
        });
      } catch (e) {
        fail(e);
      }
    },
    [api, apply, fail, toast],
  );

  // Delete waits for the toast to go: Undo within it keeps the task.
  const remove = useCallback(
    (t: Task) => {
      hidden.current.add(t.id);
      apply(undefined, t.id);
      let undone = false;
      const timer = setTimeout(async () => {
        if (undone) return;
        try {
          await api.remove(t.id);
        } catch (e) {
          if (!(e instanceof ApiError && e.status === 404)) {
            hidden.current.delete(t.id);
            apply(t);
            fail(e);
          }
        }
      }, 5000);
      toast(`Deleted “${t.title}”`, () => {
        undone = true;
        clearTimeout(timer);
        hidden.current.delete(t.id);
        apply(t);
      });
    },
    [api, apply, fail, toast],
  );

  // Debounced search into the URL.
  useEffect(() => {
    if (search === filters.q) return;
    const h = setTimeout(() => setFilters({ q: search }), 250);
    return () => clearTimeout(h);
  }, [search, filters.q, setFilters]);

  const groups = useMemo(() => {
    if (filters.view !== "upcoming") return [{ key: "", label: "", first: 0, items: tasks }];
    const out: { key: string; label: string; first: number; items: Task[] }[] = [];
    for (const t of tasks) {
      const key = t.due_at ? dayKey(new Date(t.due_at), timeZone) : "none";
      let g = out.find((x) => x.key === key);
      if (!g) {
        const label = t.due_at ? new Intl.DateTimeFormat(undefined, { timeZone, weekday: "long", month: "long", day: "numeric" }).format(new Date(t.due_at)) : "No date";
        g = { key, label, first: 0, items: [] };
        out.push(g);
      }
      g.items.push(t);
    }
    // Rows are numbered in the order they are shown, as j and k move.
    let n = 0;
    for (const g of out) {
      g.first = n;
      n += g.items.length;
    }
    return out;
  }, [filters.view, tasks, timeZone]);
  // The rows in the order they are shown: what j, k, x and e act on.
  const shown = useMemo(() => groups.flatMap((g) => g.items), [groups]);

  // Keyboard: q quick add, / search, j/k move, x complete, e edit, # tags, ? help.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const el = e.target as HTMLElement | null;
      if (el && (el.closest("input, textarea, select, dialog") || el.isContentEditable)) return;
      if (e.metaKey || e.ctrlKey || e.altKey) return;
      const cur = shown[selected];
      switch (e.key) {
        case "q":
          e.preventDefault();
          quickAdd.current?.focus();
          break;
        case "/":
          e.preventDefault();
          searchBox.current?.focus();
          break;
        case "j":
          setSelected((i) => Math.min(i + 1, Math.max(shown.length - 1, 0)));
          break;
        case "k":
          setSelected((i) => Math.max(i - 1, 0));
          break;
        case "x":
          if (cur) void complete(cur);
          break;
        case "e":
          if (cur) setEditing(cur);
          break;
        case "#":
          e.preventDefault();
          document.getElementById("filter-tags")?.focus();
          break;
        case "?":
          setHelp((h) => !h);
          break;
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [complete, selected, shown]);

  useEffect(() => {
    document.querySelector<HTMLElement>(`[data-index="${selected}"]`)?.scrollIntoView({ block: "nearest" });
  }, [selected]);


  return (
    <div className="shell">
      <header className="top">
        <h1>Todo</h1>
        <span className={`live live-${live}`} id="live-state" data-state={live} role="status">
          {live === "live" ? "Live" : live === "connecting" ? "Connecting…" : "Reconnecting…"}
        </span>
        <Inbox api={api} timeZone={timeZone} version={reminders} onError={fail} />
        <button id="settings-button" aria-haspopup="dialog" onClick={() => setSettings(true)}>
          Settings
        </button>
        <span id="who">Signed in as {props.user}</span>
        <button onClick={props.onSignOut}>Sign out</button>
      </header>
      {!online && (
        <p className="offline" role="alert" id="offline">
          You are offline: changes will not be saved until the connection is back. Nothing you typed is lost.
        </p>
      )}
      <nav aria-label="Views" className="views">
        {VIEWS.map((v) => (
          <button key={v} aria-current={filters.view === v ? "page" : undefined} onClick={() => setFilters({ view: v })} data-view={v}>
            {VIEW_LABELS[v]}
          </button>
        ))}
      </nav>
      <main>
        <QuickAdd
          api={api}
          timeZone={timeZone}
          ref={quickAdd}
          tags={tagNames}
          onCreated={(t) => {
            apply(t);
            if (t.tags.length) loadTags();
          }}
        />
        <section className="filters" aria-label="Filters">
          <label>
            Search
            <input id="search" ref={searchBox} type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="Search (/)" />
          </label>
          <label>
            Priority
            <select
              id="filter-priority"
              value={filters.priority[0] ?? ""}
              onChange={(e) => setFilters({ priority: e.target.value ? [e.target.value as Priority] : [] })}
            >
              <option value="">any</option>
              {PRIORITIES.map((p) => (
                <option key={p}>{p}</option>
              ))}
            </select>
          </label>
          <label>
            Tags
            <input
              id="filter-tags"
              defaultValue={filters.tags.join(", ")}
              key={filters.tags.join(",")}
              placeholder="home, work"
              onBlur={(e) => setFilters({ tags: e.target.value.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean) })}
              onKeyDown={(e) => {
                if (e.key === "Enter") (e.target as HTMLInputElement).blur();
              }}
            />
          </label>
          <label>
            Match
            <select id="filter-match" value={filters.match} onChange={(e) => setFilters({ match: e.target.value as "all" | "any" })}>
              <option value="all">all tags</option>
              <option value="any">any tag</option>
            </select>
          </label>
          <label>
            Sort
            <select id="sort" value={filters.sort} onChange={(e) => setFilters({ sort: e.target.value as Filters["sort"] })}>
              <option value="">default</option>
              {SORTS.map((s) => (
                <option key={s} value={s}>
                  {s.startsWith("-") ? `${s.slice(1).replace("_", " ")} ↓` : `${s.replace("_", " ")} ↑`}
                </option>
              ))}
            </select>
          </label>
        </section>
        {listError && (
          <p role="alert" className="error" id="list-error">
            {listError}
          </p>
        )}
        <h2 className="visually-hidden">{VIEW_LABELS[filters.view]}</h2>
        {groups.map((g) => (
          <section key={g.key || "all"} aria-label={g.label || VIEW_LABELS[filters.view]}>
            {g.label && <h3 className="day">{g.label}</h3>}
            <TaskList
              id={g.key ? undefined : "tasks"}
              items={g.items}
              first={g.first}
              selected={selected}
              keyOf={(t) => t.id}
              rowProps={(t, i) => ({
                className: `task prio-${t.priority}${i === selected ? " selected" : ""}${t.status === "done" ? " done" : ""}`,
                "data-id": t.id,
              })}
              row={(t) => (
                <>
                  <input type="checkbox" checked={t.status === "done"} onChange={() => void complete(t)} aria-label={`${t.status === "done" ? "Reopen" : "Complete"} ${t.title}`} />
                  <div className="body">
                    <span className="title">
                      <Snippet segments={titleSegments(t, found.get(t.id), filters.q)} />
                    </span>
                    {filters.q && descriptionSnippet(t, found.get(t.id)) && (
                      <span className="snippet" data-field="description">
                        <Snippet segments={descriptionSnippet(t, found.get(t.id)) ?? []} />
                      </span>
                    )}
                    <span className="meta">
                      {t.priority !== "none" && <span className="prio">{t.priority}</span>}
                      {t.due_at && <time dateTime={t.due_at}>{formatDue(new Date(t.due_at), timeZone)}</time>}
                      {t.recurrence && <span className="repeat">↻ {describeRule(t.recurrence.rule, t.time_zone)}</span>}
                      {(t.tags ?? []).map((tag) => (
                        <button key={tag} className="tag" onClick={() => setFilters({ tags: [tag] })}>
                          #{tag}
                        </button>
                      ))}
                    </span>
                  </div>
                  <button onClick={() => setEditing(t)} aria-label={`Edit ${t.title}`}>
                    Edit
                  </button>
                  <button onClick={() => remove(t)} aria-label={`Delete ${t.title}`}>
                    Delete
                  </button>
                </>
              )}
            />
          </section>
        ))}
        {!loading && tasks.length === 0 && !listError && <p className="empty">Nothing here.</p>}
        <ul className="tasks" aria-hidden="true">
          <li ref={sentinel} className="sentinel">
            {loading ? "Loading…" : ""}
          </li>
        </ul>
      </main>
      <div className="toasts" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className="toast" role="status">
            {t.text}
            {t.undo && (
              <button
                onClick={() => {
                  t.undo?.();
                  setToasts((ts) => ts.filter((x) => x.id !== t.id));
                }}
              >
                Undo
              </button>
            )}
          </div>
        ))}
      </div>
      {help && (
        <div className="help" role="dialog" aria-label="Keyboard shortcuts">
          <h2>Keyboard shortcuts</h2>
          <dl>
            <dt>q</dt>
            <dd>quick add</dd>
            <dt>/</dt>
            <dd>search</dd>
            <dt>j / k</dt>
            <dd>next / previous task</dd>
            <dt>x</dt>
            <dd>complete or reopen</dd>
            <dt>e</dt>
            <dd>edit</dd>
            <dt>#</dt>
            <dd>filter by tags</dd>
            <dt>?</dt>
            <dd>this help</dd>
          </dl>
          <button onClick={() => setHelp(false)}>Close</button>
        </div>
      )}
      {settings && (
        <Suspense fallback={null}>
          <Settings api={api} timeZone={timeZone} onClose={() => setSettings(false)} />
        </Suspense>
      )}
      {editing && (
        <Suspense fallback={null}>
          <TaskEditor
            api={api}
            task={editing}
            zone={timeZone}
            tags={tagNames}
            onSaved={(t) => {
              apply(t);
              loadTags();
            }}
            onClose={() => setEditing(null)}
          />
        </Suspense>
      )}
    </div>
  );
}
