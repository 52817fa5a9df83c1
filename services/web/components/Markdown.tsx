"use client";

import ReactMarkdown, { type Components } from "react-markdown";
import remarkGfm from "remark-gfm";

// Links leave the app in a new tab without the opener or the referrer;
// images (which the page's CSP would block anyway) become links to them.
const components: Components = {
  a: ({ href, children }) => (
    <a href={href} target="_blank" rel="noopener noreferrer nofollow">
      {children}
    </a>
  ),
  img: ({ src, alt }) => (
    <a href={typeof src === "string" ? src : undefined} target="_blank" rel="noopener noreferrer nofollow">
      {alt || "image"}
    </a>
  ),
};

/**
 * Markdown renders a task's description: CommonMark and GitHub's extensions
 * (task lists, tables, strikethrough, autolinks). Raw HTML is never
 * rendered (skipHtml drops it), and URLs with a scheme other than http(s),
 * mailto, irc(s) and xmpp (javascript:, data:, …) are emptied
 * (react-markdown's defaultUrlTransform).
 */
export default function Markdown({ text }: { text: string }) {
  return (
    <div className="markdown">
      <ReactMarkdown remarkPlugins={[remarkGfm]} skipHtml components={components}>
        {text}
      </ReactMarkdown>
    </div>
  );
}
