"use client";

import { useState, type KeyboardEvent, type ReactNode, type SyntheticEvent } from "react";

import { applyTag, presentTags, suggestTags, tagFragment, type TagMode } from "../lib/tags";

/**
 * useTagAutocomplete makes a text input a combobox (ARIA 1.2) that
 * completes the tag being typed from the user's tags (most used first).
 * The input spreads inputProps, calls onKeyDown first in its own key
 * handler (true: the key was taken), and renders listbox after itself.
 */
export function useTagAutocomplete(o: { id: string; value: string; onValue(v: string): void; tags: string[]; mode: TagMode }) {
  const [open, setOpen] = useState(false);
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  const fragment = open ? tagFragment(o.value, caret, o.mode) : null;
  const options = fragment ? suggestTags(o.tags, fragment.prefix, presentTags(o.value, o.mode)) : [];
  const shown = options.length > 0;
  const listID = `${o.id}-tags`;
  const optionID = (i: number) => `${listID}-${i}`;

  const accept = (tag: string) => {
    if (!fragment) return;
    const r = applyTag(o.value, fragment, tag, o.mode);
    o.onValue(r.text);
    setOpen(false);
    setCaret(r.caret);
    // Once React has written the new value, the caret goes after the tag.
    requestAnimationFrame(() => {
      const el = document.getElementById(o.id) as HTMLInputElement | null;
      el?.setSelectionRange(r.caret, r.caret);
    });
  };

  const track = (e: SyntheticEvent<HTMLInputElement>) => setCaret(e.currentTarget.selectionStart ?? e.currentTarget.value.length);

  const inputProps = {
    role: "combobox" as const,
    "aria-autocomplete": "list" as const,
    "aria-expanded": shown,
    "aria-controls": shown ? listID : undefined,
    "aria-activedescendant": shown ? optionID(Math.min(active, options.length - 1)) : undefined,
    autoComplete: "off",
    onSelect: track,
    onBlur: () => setOpen(false),
  };

  /** changed is called from the input's onChange: typing opens the suggestions. */
  const changed = (e: SyntheticEvent<HTMLInputElement>) => {
    track(e);
    setActive(0);
    setOpen(true);
  };

  /** onKeyDown moves through the suggestions and takes one; true when it used the key. */
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>): boolean => {
    if (!shown) return false;
    const i = Math.min(active, options.length - 1);
    switch (e.key) {
      case "ArrowDown":
        setActive((i + 1) % options.length);
        break;
      case "ArrowUp":
        setActive((i - 1 + options.length) % options.length);
        break;
      case "Enter":
      case "Tab":
        accept(options[i]);
        break;
      case "Escape":
        setOpen(false);
        break;
      default:
        return false;
    }
    e.preventDefault();
    return true;
  };

  const listbox: ReactNode = shown ? (
    <ul id={listID} role="listbox" aria-label="Your tags" className="suggestions">
      {options.map((t, k) => (
        <li
          key={t}
          id={optionID(k)}
          role="option"
          aria-selected={k === Math.min(active, options.length - 1)}
          // mousedown, not click: the input keeps the focus.
          onMouseDown={(e) => {
            e.preventDefault();
            accept(t);
          }}
        >
          #{t}
        </li>
      ))}
    </ul>
  ) : null;

  return { inputProps, changed, onKeyDown, listbox };
}
