/// <reference lib="dom" />
/**
 * The demo page's DOM and wording helpers, shared by its modules (page.ts, page-moderation.ts,
 * page-staff.ts and the panels it mounts): DOM APIs only (createElement, textContent), never
 * innerHTML — every string shown may come from a user (names, messages, reasons, titles) — and links
 * only ever get http/https targets. Icons are inline SVG, never emoji, so they render without an
 * emoji font.
 */

/** `append` for DOM nodes (see page.ts `add`: Element.append is typed as HTMLRewriter's here). */
export function add(parent: Node, ...children: Array<Node | string | null | undefined>): void {
  for (const c of children) if (c !== null && c !== undefined) parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
}

/**
 * `ref.after(node)` / `ref.before(node)` for DOM nodes (typed as HTMLRewriter's with
 * @cloudflare/workers-types in the program, like Element.append).
 */
export function insertAfter(ref: Node, ...nodes: Node[]): void {
  let at = ref;
  for (const n of nodes) {
    ref.parentNode?.insertBefore(n, at.nextSibling);
    at = n;
  }
}
export function insertBefore(ref: Node, node: Node): void {
  ref.parentNode?.insertBefore(node, ref);
}

/** An element with an optional class and text. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A `type="button"` button; `ariaLabel` when the visible label alone is ambiguous. */
export function button(label: string, onClick: () => void, opts: { className?: string; ariaLabel?: string; keys?: string } = {}): HTMLButtonElement {
  const b = el("button", opts.className ?? "link", label);
  b.type = "button";
  if (opts.ariaLabel) b.setAttribute("aria-label", opts.ariaLabel);
  if (opts.keys) b.setAttribute("aria-keyshortcuts", opts.keys);
  b.addEventListener("click", onClick);
  return b;
}

/** A labelled control: `<label for=id>text</label>` beside the control (which gets the id). */
export function labelled(text: string, control: HTMLElement | HTMLSelectElement, id: string, className = "field-inline"): HTMLElement {
  control.id = id;
  const wrap = el("div", className);
  const label = el("label", undefined, text);
  label.htmlFor = id;
  add(wrap, label, control);
  return wrap;
}

/** A `<select>` of `[value, label]` options. */
export function select(options: ReadonlyArray<readonly [string, string]>, value: string): HTMLSelectElement {
  const s = el("select");
  for (const [v, text] of options) add(s, new Option(text, v));
  s.value = value;
  return s;
}

/** A number input with bounds. */
export function numberInput(value: number, min: number, max: number): HTMLInputElement {
  const i = el("input");
  i.type = "number";
  i.inputMode = "numeric";
  i.min = String(min);
  i.max = String(max);
  i.step = "1";
  i.value = String(value);
  return i;
}

export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

export const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/** A length in words, for durations the moderators pick: "90 seconds", "10 minutes", "1 hour", "2 days". */
export function durationText(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120 && s % 60 !== 0) return plural(s, "second");
  if (s < 7200 && s % 3600 !== 0) return plural(Math.round(s / 60), "minute");
  if (s < 172_800 && s % 86_400 !== 0) return plural(Math.round(s / 3600), "hour");
  return plural(Math.round(s / 86_400), "day");
}

/** How long ago `at` (ms) was, from `now`: "just now", "3 minutes ago", "2 hours ago". */
export function ago(at: number, now: number = Date.now()): string {
  const s = Math.round((now - at) / 1000);
  if (s < 45) return "just now";
  return `${durationText(Math.max(60, Math.round(s / 60) * 60))} ago`;
}

/** How long until `at` (ms): "in 4 minutes", or "now" when it is past. */
export function until(at: number, now: number = Date.now()): string {
  const s = Math.round((at - now) / 1000);
  if (s <= 0) return "now";
  return `in ${durationText(s < 120 ? s : Math.round(s / 60) * 60)}`;
}

/** The first `n` code points of `text` (never splits a surrogate pair). */
export function firstCodePoints(text: string, n: number): string {
  return [...text].slice(0, n).join("");
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** A small decorative icon (inline SVG path in a 16×16 box; `aria-hidden`). */
export function icon(path: string, className = "icon"): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", className);
  const p = document.createElementNS(SVG_NS, "path");
  p.setAttribute("d", path);
  p.setAttribute("fill", "currentColor");
  svg.appendChild(p);
  return svg;
}

/** A shield (lockdown) and an eye with a slash (hidden), 16×16. */
export const ICONS = {
  shield: "M8 1 2 3.5v4C2 11 4.6 14 8 15c3.4-1 6-4 6-7.5v-4L8 1Zm0 2.1 4 1.7v2.7c0 2.5-1.7 4.8-4 5.6V3.1Z",
  hidden: "M1.7 1 1 1.7l2.3 2.3C2.1 5 1.2 6.4.8 8c1 3.3 4 5.5 7.2 5.5 1.3 0 2.5-.3 3.6-.9l2.7 2.7.7-.7L1.7 1ZM8 12c-2.4 0-4.6-1.5-5.6-4 .4-1 1-1.9 1.8-2.6l1.6 1.6A2.5 2.5 0 0 0 9 10.2l1.4 1.4c-.8.3-1.6.4-2.4.4Zm0-8c2.4 0 4.6 1.5 5.6 4-.3.8-.8 1.6-1.4 2.2l1 1c.9-.9 1.6-2 2-3.2C14.2 4.7 11.2 2.5 8 2.5c-1 0-2 .2-2.9.6l1.2 1.2C6.8 4.1 7.4 4 8 4Z",
} as const;

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

