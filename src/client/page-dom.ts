/// <reference lib="dom" />
/**
 * The demo page's DOM helpers, shared by its modules (page.ts, page-moderation.ts): elements are
 * built with DOM APIs only (createElement, textContent), never innerHTML, and links only ever get
 * http/https targets.
 */

/**
 * `append` for DOM nodes. (With @cloudflare/workers-types in the same program, `Element.append`
 * is typed as HTMLRewriter's, which takes strings only; appendChild is unaffected.)
 */
export function add(parent: Node, ...children: Array<Node | string>): void {
  for (const c of children) parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
}

/** A new element with an optional class and text. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A `type="button"` button (class `link` unless given) that calls `onClick`, with an optional accessible name. */
export function button(label: string, onClick: () => void, opts: { className?: string; ariaLabel?: string } = {}): HTMLButtonElement {
  const b = el("button", opts.className ?? "link", label);
  b.type = "button";
  if (opts.ariaLabel) b.setAttribute("aria-label", opts.ariaLabel);
  b.addEventListener("click", onClick);
  return b;
}

/** The element of index.html with this id (throws when the page lacks it: a page and script out of step). */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`index.html has no #${id}`);
  return e as T;
}

/** Shows `message` in an error line, or hides the line when null. */
export function showError(e: HTMLElement, message: string | null): void {
  e.textContent = message ?? "";
  e.hidden = message === null;
}

/** The link target of a `url` entity, or null: only absolute http/https URLs become links. */
export function safeHref(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
}

