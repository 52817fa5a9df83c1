"use client";

import { useEffect, useLayoutEffect, useRef, useState } from "react";
import { useWindowVirtualizer } from "@tanstack/react-virtual";

import type { Props } from "./TaskList";

/** VirtualList is TaskList's long list: see TaskList. */
export default function VirtualList<T>(props: Props<T>) {
  const { items, first, selected } = props;
  const list = useRef<HTMLUListElement>(null);
  // Where the list starts on the page: the virtualizer counts from there.
  const [margin, setMargin] = useState(0);
  useLayoutEffect(() => {
    // What is above the list (filters, messages, the page's width) can move it.
    const measure = () => {
      const el = list.current;
      if (el) setMargin(Math.round(el.getBoundingClientRect().top + window.scrollY));
    };
    measure();
    window.addEventListener("resize", measure);
    return () => window.removeEventListener("resize", measure);
  }, [items.length]);
  const v = useWindowVirtualizer({
    count: items.length,
    estimateSize: () => 58,
    overscan: 8,
    scrollMargin: margin,
    getItemKey: (k) => props.keyOf(items[k]),
    indexAttribute: "data-vindex",
  });

  // The keyboard's row is brought into view (and so into the page) when
  // it moves; rows loaded as the user scrolls leave the page where it is.
  const shownSelected = useRef(selected);
  useEffect(() => {
    if (shownSelected.current === selected) return;
    shownSelected.current = selected;
    const k = selected - first;
    if (k >= 0 && k < items.length) v.scrollToIndex(k, { align: "auto" });
  }, [selected, first, items.length, v]);

  return (
    <ul id={props.id} ref={list} className="tasks virtual" style={{ height: v.getTotalSize() }}>
      {v.getVirtualItems().map((r) => {
        const t = items[r.index];
        const i = first + r.index;
        return (
          <li
            key={r.key}
            ref={v.measureElement}
            data-vindex={r.index}
            data-index={i}
            aria-setsize={items.length}
            aria-posinset={r.index + 1}
            {...props.rowProps(t, i)}
            style={{ transform: `translateY(${r.start - margin}px)` }}
          >
            {props.row(t, i)}
          </li>
        );
      })}
    </ul>
  );
}
