"use client";

import { useMemo, useState, type Ref } from "react";

import { ApiError, type Client, type NewTask, type Task } from "../lib/api";
import { parseQuickAdd, type QuickAdd as Parsed } from "../lib/quickadd";
import { useTagAutocomplete } from "./TagAutocomplete";

/** toNewTask is the create request of a quick add. */
export function toNewTask(p: Parsed): NewTask {
  const t: NewTask = { title: p.title, priority: p.priority, tags: p.tags, time_zone: p.timeZone };
  if (p.due) t.due_at = p.due.toISOString();
  if (p.reminders.length) t.reminders = p.reminders;
  if (p.recurrence) t.recurrence = { rule: p.recurrence.rule, anchor: p.recurrence.anchor };
  return t;
}

export function QuickAdd({ api, timeZone, ref, tags = [], onCreated }: { api: Client; timeZone: string; ref?: Ref<HTMLInputElement>; tags?: string[]; onCreated(t: Task): void }) {
  const [text, setText] = useState("");
  const ac = useTagAutocomplete({ id: "quick-add-input", value: text, onValue: setText, tags, mode: "quick" });
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const parsed = useMemo(() => (text.trim() ? parseQuickAdd(text, { now: new Date(), timeZone: timeZone }) : null), [text, timeZone]);

  return (
    <form
      id="quick-add"
      className="quick-add"
      onSubmit={async (e) => {
        e.preventDefault();
        if (!parsed || !parsed.title || busy) return;
        setBusy(true);
        try {
          const t = await api.create(toNewTask(parsed));
          setText("");
          setError("");
          onCreated(t);
        } catch (err) {
          // What was typed stays in the box.
          setError(err instanceof ApiError ? [err.message, ...(err.problem.errors ?? []).map((f) => `${f.field}: ${f.message}`)].join(" — ") : String(err instanceof Error ? err.message : err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <label htmlFor="quick-add-input" className="visually-hidden">
        Add a task
      </label>
      <div className="combo">
        <input
          id="quick-add-input"
          ref={ref}
          name="title"
          placeholder="Add a task: Pay rent every month on the 1st at 9am #home !high"
          {...ac.inputProps}
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            ac.changed(e);
          }}
          aria-describedby="quick-add-preview"
          onKeyDown={(e) => {
            if (ac.onKeyDown(e)) return;
            if (e.key === "Escape") (e.target as HTMLInputElement).blur();
          }}
        />
        {ac.listbox}
      </div>
      <button type="submit" className="primary" disabled={!parsed?.title || busy}>
        Add
      </button>
      <div id="quick-add-preview" className="preview" aria-live="polite">
        {parsed && (
          <dl>
            <div>
              <dt>Title</dt>
              <dd data-field="title">{parsed.title || "—"}</dd>
            </div>
            {parsed.dueText && (
              <div>
                <dt>Due</dt>
                <dd data-field="due">
                  {parsed.dueText} <small>({parsed.timeZone})</small>
                </dd>
              </div>
            )}
            {parsed.recurrence && (
              <div>
                <dt>Repeats</dt>
                <dd data-field="recurrence">
                  {parsed.recurrence.text}
                  {parsed.recurrence.anchor === "completion" ? " after completion" : ""}
                </dd>
              </div>
            )}
            {parsed.tags.length > 0 && (
              <div>
                <dt>Tags</dt>
                <dd data-field="tags">{parsed.tags.map((t) => "#" + t).join(" ")}</dd>
              </div>
            )}
            {parsed.priority !== "none" && (
              <div>
                <dt>Priority</dt>
                <dd data-field="priority">{parsed.priority}</dd>
              </div>
            )}
            {parsed.reminders.length > 0 && (
              <div>
                <dt>Reminders</dt>
                <dd data-field="reminders">{parsed.reminders.map((r) => ("before" in r ? (r.before === "0s" ? "at due time" : `${r.before} before`) : r.at)).join(", ")}</dd>
              </div>
            )}
          </dl>
        )}
      </div>
      {error && (
        <p role="alert" className="error" id="quick-add-error">
          {error}
        </p>
      )}
    </form>
  );
}
