"use client";

import { lazy, Suspense, type ReactNode } from "react";

// The virtualizer loads with the first long list: not part of the first load.
const VirtualList = lazy(() => import("./VirtualList"));

/** VIRTUAL_FROM is the length from which a list renders only the rows near the viewport. */
export const VIRTUAL_FROM = 100;

export interface Props<T> {
  id?: string;
  items: T[];
  /** first is the list-wide index of items[0] (lists of the Upcoming view follow each other). */
  first: number;
  /** selected is the list-wide index of the row the keyboard (j/k) is on. */
  selected: number;
  keyOf(t: T): string;
  rowProps(t: T, index: number): { className: string; "data-id": string };
  row(t: T, index: number): ReactNode;
}

/**
 * TaskList is a list of tasks. A long one (VIRTUAL_FROM rows or more) is
 * virtualized with @tanstack/react-virtual over the window's scroll: only
 * the rows near the viewport are in the page, each still a listitem that
 * says its place (aria-posinset of aria-setsize), and the row the keyboard
 * selects is scrolled to and rendered.
 */
export function TaskList<T>(props: Props<T>) {
  if (props.items.length < VIRTUAL_FROM) return <PlainList {...props} />;
  // Until the virtualizer is loaded, the whole list.
  return (
    <Suspense fallback={<PlainList {...props} />}>
      <VirtualList {...(props as Props<unknown>)} />
    </Suspense>
  );
}

function PlainList<T>(props: Props<T>) {
  return (
    <ul id={props.id} className="tasks">
      {props.items.map((t, k) => {
        const i = props.first + k;
        return (
          <li key={props.keyOf(t)} data-index={i} {...props.rowProps(t, i)}>
            {props.row(t, i)}
          </li>
        );
      })}
    </ul>
  );
}

