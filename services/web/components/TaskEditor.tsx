"use client";

import { lazy, Suspense, useEffect, useMemo, useRef, useState } from "react";

import { ApiError, PRIORITIES, type AuditEntry, type Client, type Priority, type Reminder, type Task, type TaskPatch } from "../lib/api";
import { describeRule, formatDue, nextOccurrences } from "../lib/quickadd";
import { instantOf, isZone, wallTime } from "../lib/zone";
import { RecurrenceBuilder } from "./RecurrenceBuilder";
import { useTagAutocomplete } from "./TagAutocomplete";

interface Draft {
  title: string;
  description: string;
  priority: Priority;
  tags: string;
  date: string;
  time: string;
  zone: string;
  reminders: string;
  rule: string;
  anchor: "due" | "completion";
}

function draftOf(t: Task, zone: string): Draft {
  const z = t.due_at ? t.time_zone || zone : zone;
  let date = "";
  let time = "";
  if (t.due_at) {
    const w = wallTime(new Date(t.due_at), z);
    date = `${w.year}-${String(w.month).padStart(2, "0")}-${String(w.day).padStart(2, "0")}`;
    time = `${String(w.hour).padStart(2, "0")}:${String(w.minute).padStart(2, "0")}`;
  }
  return {
    title: t.title,
    description: t.description ?? "",
    priority: t.priority,
    tags: (t.tags ?? []).join(", "),
    date,
    time,
    zone: z,
    reminders: (t.reminders ?? []).map((r) => ("before" in r ? r.before : r.at)).join(", "),
    rule: t.recurrence?.rule ?? "",
    anchor: t.recurrence?.anchor ?? "due",
  };
}

/** patchOf is the merge patch from task t to draft d: only what changed. */
export function patchOf(t: Task, d: Draft, zone: string): TaskPatch {
  const before = draftOf(t, zone);
  const p: TaskPatch = {};
  if (d.title !== before.title) p.title = d.title;
  if (d.description !== before.description) p.description = d.description;
  if (d.priority !== before.priority) p.priority = d.priority;
  if (d.tags !== before.tags)
    p.tags = d.tags
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  if (d.date !== before.date || d.time !== before.time || d.zone !== before.zone) {
    if (d.date) {
      const [year, month, day] = d.date.split("-").map(Number);
      const [hour, minute] = (d.time || "09:00").split(":").map(Number);
      // An unknown zone goes to the server as typed, which names the problem.
      p.due_at = instantOf({ year, month, day, hour, minute }, isZone(d.zone) ? d.zone : "UTC").toISOString();
      p.time_zone = d.zone;
    } else {
      p.due_at = null;
    }
  }
  if (d.reminders !== before.reminders) {
    p.reminders = d.reminders
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s): Reminder => (/^\d+[smhdw]$/.test(s) ? { before: s } : { at: s }));
  }
  if (d.rule !== before.rule || d.anchor !== before.anchor) p.recurrence = d.rule ? { rule: d.rule, anchor: d.anchor } : null;
  return p;
}

/** describeEvent says an audit entry's event type in words. */
export function describeEvent(type: string): string {
  const m = /^todo\.(task|reminder)\.([a-z_]+)\.v\d+$/.exec(type);
  if (!m) return type;
  const words: Record<string, string> = {
    "task.created": "created",
    "task.updated": "edited",
    "task.completed": "completed",
    "task.reopened": "reopened",
    "task.deleted": "deleted",
    "reminder.due": "reminder sent",
  };
  return words[`${m[1]}.${m[2]}`] ?? `${m[1]} ${m[2].replace(/_/g, " ")}`;
}

// The Markdown renderer loads with the first preview.
const Markdown = lazy(() => import("./Markdown"));

const presets: { label: string; value: string }[] = [
  { label: "At due time", value: "0s" },
  { label: "15 min before", value: "15m" },
  { label: "1 hour before", value: "1h" },
  { label: "1 day before", value: "1d" },
];

export function TaskEditor(props: { api: Client; task: Task; zone: string; tags?: string[]; onSaved(t: Task): void; onClose(): void }) {
  const [task, setTask] = useState(props.task);
  const [draft, setDraft] = useState(() => draftOf(props.task, props.zone));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState("");
  const [conflict, setConflict] = useState<Task | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const [history, setHistory] = useState<AuditEntry[] | null>(null);
  const [preview, setPreview] = useState(false);
  const tagAC = useTagAutocomplete({ id: "editor-tags", value: draft.tags, onValue: (v) => setDraft((d) => ({ ...d, tags: v })), tags: props.tags ?? [], mode: "list" });

  useEffect(() => {
    let live = true;
    props.api.history(props.task.id).then(
      (h) => live && setHistory(h),
      () => live && setHistory([]),
    );
    return () => {
      live = false;
    };
  }, [props.api, props.task.id]);

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
  }, []);

  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setDraft((d) => ({ ...d, [k]: v }));
  const occurrences = useMemo(() => {
    if (!draft.rule || !draft.date || !isZone(draft.zone)) return [];
    const [year, month, day] = draft.date.split("-").map(Number);
    const [hour, minute] = (draft.time || "09:00").split(":").map(Number);
    return nextOccurrences(draft.rule, instantOf({ year, month, day, hour, minute }, draft.zone), draft.zone, 5);
  }, [draft.rule, draft.date, draft.time, draft.zone]);

  async function save(base: Task) {
    const p = patchOf(base, draft, props.zone);
    if (Object.keys(p).length === 0) {
      props.onClose();
      return;
    }
    try {
      const t = await props.api.patch(base.id, base.version, p);
      props.onSaved(t);
      props.onClose();
    } catch (e) {
      if (e instanceof ApiError && e.status === 412) {
        setConflict(await props.api.get(base.id));
        return;
      }
      if (e instanceof ApiError) {
        setErrors(e.fieldErrors());
        setGeneral(e.message);
        return;
      }
      setGeneral(e instanceof Error ? e.message : String(e));
    }
  }

  const field = (name: string) => (errors[name] ? <span className="field-error" id={`err-${name}`}>{errors[name]}</span> : null);
  const described = (name: string) => (errors[name] ? `err-${name}` : undefined);

  return (
    <dialog ref={dialog} className="editor" aria-labelledby="editor-title" onClose={props.onClose}>
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          void save(task);
        }}
      >
        <h2 id="editor-title">Edit task</h2>
        {conflict && (
          <div role="alert" className="conflict">
            <p>This task was changed elsewhere while you edited it (now: “{conflict.title}”, {conflict.priority}, {conflict.status}).</p>
            <button
              type="button"
              onClick={() => {
                setTask(conflict);
                setConflict(null);
                void save(conflict);
              }}
            >
              Keep mine
            </button>
            <button
              type="button"
              onClick={() => {
                props.onSaved(conflict);
                props.onClose();
              }}
            >
              Take theirs
            </button>
          </div>
        )}
        <label>
          Title
          <input name="title" value={draft.title} onChange={(e) => set("title", e.target.value)} aria-describedby={described("title")} required />
          {field("title")}
        </label>
        <label>
          Description <span className="hint">(Markdown)</span>
          <textarea name="description" rows={4} value={draft.description} onChange={(e) => set("description", e.target.value)} aria-describedby={described("description")} />
          {field("description")}
        </label>
        {draft.description.trim() !== "" && (
          <div className="description-preview">
            <button type="button" aria-pressed={preview} aria-controls="description-preview" onClick={() => setPreview(!preview)}>
              Preview
            </button>
            {preview && (
              <section id="description-preview" aria-label="Description preview">
                <Suspense fallback={<p className="hint">Loading…</p>}>
                  <Markdown text={draft.description} />
                </Suspense>
              </section>
            )}
          </div>
        )}
        <div className="row">
          <label>
            Priority
            <select name="priority" value={draft.priority} onChange={(e) => set("priority", e.target.value as Priority)}>
              {PRIORITIES.map((p) => (
                <option key={p}>{p}</option>
              ))}
            </select>
          </label>
          <div className="combo">
            <label>
              Tags
              <input
                id="editor-tags"
                name="tags"
                {...tagAC.inputProps}
                value={draft.tags}
                onChange={(e) => {
                  set("tags", e.target.value);
                  tagAC.changed(e);
                }}
                onKeyDown={(e) => void tagAC.onKeyDown(e)}
                aria-describedby={described("tags")}
              />
            </label>
            {tagAC.listbox}
            {field("tags")}
          </div>
        </div>
        <div className="row">
          <label>
            Due date
            <input type="date" name="due_date" value={draft.date} onChange={(e) => set("date", e.target.value)} aria-describedby={described("due_at")} />
          </label>
          <label>
            Time
            <input type="time" name="due_time" value={draft.time} onChange={(e) => set("time", e.target.value)} />
          </label>
          <label>
            Time zone
            <input name="time_zone" value={draft.zone} onChange={(e) => set("zone", e.target.value)} aria-describedby={described("time_zone")} />
            {field("time_zone")}
          </label>
        </div>
        {field("due_at")}
        <fieldset>
          <legend>Reminders</legend>
          {presets.map((p) => {
            const list = draft.reminders.split(",").map((s) => s.trim()).filter(Boolean);
            const on = list.includes(p.value);
            return (
              <label key={p.value} className="inline">
                <input
                  type="checkbox"
                  checked={on}
                  onChange={() => set("reminders", (on ? list.filter((x) => x !== p.value) : [...list, p.value]).join(", "))}
                />
                {p.label}
              </label>
            );
          })}
          <label>
            All reminders (durations before, e.g. 30m, or RFC 3339 times)
            <input name="reminders" value={draft.reminders} onChange={(e) => set("reminders", e.target.value)} aria-describedby={described("reminders")} />
          </label>
          {field("reminders")}
        </fieldset>
        <fieldset>
          <legend>Repeat</legend>
          <RecurrenceBuilder rule={draft.rule} zone={isZone(draft.zone) ? draft.zone : "UTC"} onChange={(r) => set("rule", r)} describedBy={described("recurrence.rule")} />
          {field("recurrence.rule")}
          {field("recurrence")}
          {draft.rule && (
            <label>
              From
              <select name="anchor" value={draft.anchor} onChange={(e) => set("anchor", e.target.value as "due" | "completion")}>
                <option value="due">the due date</option>
                <option value="completion">completion</option>
              </select>
            </label>
          )}
          {draft.rule && (
            <p className="hint" data-field="rule-text">
              Repeats {describeRule(draft.rule, isZone(draft.zone) ? draft.zone : "UTC")}
            </p>
          )}
          {occurrences.length > 0 && (
            <ol className="occurrences" aria-label="Next occurrences">
              {occurrences.map((d) => (
                <li key={d.toISOString()}>{formatDue(d, draft.zone)}</li>
              ))}
            </ol>
          )}
        </fieldset>
        <details className="history">
          <summary>History</summary>
          {history === null ? (
            <p className="hint">Loading…</p>
          ) : history.length === 0 ? (
            <p className="hint">No history yet.</p>
          ) : (
            <ol aria-label="History">
              {history.map((h) => (
                <li key={h.id}>
                  <time dateTime={h.time}>{formatDue(new Date(h.time), props.zone)}</time> {describeEvent(h.type)}
                  {h.source.includes("recurring") ? " (by the recurring service)" : ""}
                </li>
              ))}
            </ol>
          )}
        </details>
        {general && (
          <p role="alert" className="error">
            {general}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" className="primary">
            Save
          </button>
        </div>
      </form>
    </dialog>
  );
}
