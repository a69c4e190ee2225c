/// <reference lib="dom" />
/**
 * The review panel (issue 18 §2), for the owner and moderators: every message the room holds for
 * review — author, text, why (a `hold` blocked term, or a first message under first-time hold), how
 * long ago and when it expires — with Allow / Deny, counts, and keyboard shortcuts:
 *
 *   J or ↓   next held message          A   allow the selected message
 *   K or ↑   previous held message      D   deny the selected message
 *
 * (written on the panel too). The list is the SDK's `room.reviewQueue`: replaced on every join by the
 * server's `review_queue`, grown by live `held` frames, shrunk by `review` events — so a decision by
 * another moderator removes the item here as well. The first decision wins; a late one is refused
 * with `already_reviewed`, shown in the panel's alert line.
 */
import type { ChatClient, HeldItem, RoomEvent, RoomView } from "./index.js";
import { add, ago, button, el, plural, until } from "./page-dom.js";

export interface ReviewPanel {
  readonly element: HTMLElement;
  render(view: RoomView): void;
  /** Counts decisions (`review` events) while the page is open. */
  noteEvent(e: RoomEvent): void;
  dispose(): void;
}

const REASONS: Record<HeldItem["reason"], string> = {
  blocked_term: "contains a held term",
  first_time: "first message in this chat",
};

/** How often the ages and expiries on the panel are redrawn while it has items (ms). */
const TICK_MS = 30_000;

export function mountReviewPanel(client: ChatClient, deps: { describeError(err: unknown): string; openCard(userId: string, name: string, opener: HTMLElement): void }): ReviewPanel {
  const panel = el("details", "panel review-panel");
  panel.id = "review-panel";
  panel.open = true;
  const summary = el("summary", undefined, "Review queue");
  const badge = el("span", "badge", "0");
  badge.setAttribute("aria-label", "0 waiting");
  add(summary, " ", badge);
  const help = el("p", "hint", "Keys: J / K move between messages, A allows and D denies the selected one.");
  help.id = "review-keys";
  const counts = el("p", "counts");
  counts.setAttribute("aria-live", "polite");
  const error = el("p", "error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const empty = el("p", "empty-note", "Nothing is waiting for review.");
  const list = el("ul", "review-list");
  list.setAttribute("aria-label", "Messages held for review");
  list.setAttribute("aria-describedby", "review-keys");
  add(panel, summary, help, counts, error, empty, list);

  let items: readonly HeldItem[] = [];
  let selected: string | null = null;
  let allowed = 0;
  let denied = 0;
  const deciding = new Set<string>();
  const rows = new Map<string, HTMLLIElement>();
  let timer: ReturnType<typeof setInterval> | undefined;

  function showError(message: string | null): void {
    error.textContent = message ?? "";
    error.hidden = message === null;
  }

  function decide(item: HeldItem, decision: "allow" | "deny"): void {
    if (deciding.has(item.id)) return;
    deciding.add(item.id);
    showError(null);
    draw();
    client.review(item.id, decision).then(
      () => deciding.delete(item.id),
      (err: unknown) => {
        deciding.delete(item.id);
        showError(deps.describeError(err));
        draw();
      },
    );
  }

  function row(item: HeldItem, index: number): HTMLLIElement {
    const li = el("li", "held-item");
    li.dataset.id = item.id;
    li.tabIndex = item.id === selected || (selected === null && index === 0) ? 0 : -1;
    const name = item.comment.username ?? "anonymous";
    const text = item.comment.message;
    li.setAttribute("aria-label", `Held message ${index + 1} of ${items.length} from ${name}: ${text}`);
    const meta = el("div", "meta");
    const who = button(name, () => deps.openCard(item.comment.user_id, name, who), { className: "author link", ariaLabel: `Open the user card of ${name}` });
    const heldAt = Date.parse(item.held_at);
    const expires = Date.parse(item.expires_at);
    const when = el("span", "when", `${Number.isFinite(heldAt) ? `held ${ago(heldAt)}` : "held"} · expires ${Number.isFinite(expires) ? until(expires) : "soon"}`);
    add(meta, who, el("span", "reason", REASONS[item.reason]), when);
    const body = el("p", "text", text);
    const busy = deciding.has(item.id);
    const short = [...text].slice(0, 40).join("");
    const allow = button("Allow", () => decide(item, "allow"), { className: "allow", ariaLabel: `Allow message from ${name}: ${short}`, keys: "A" });
    const deny = button("Deny", () => decide(item, "deny"), { className: "deny", ariaLabel: `Deny message from ${name}: ${short}`, keys: "D" });
    allow.disabled = deny.disabled = busy;
    const actions = el("div", "actions");
    add(actions, allow, deny);
    add(li, meta, body, actions);
    li.addEventListener("focusin", () => select(item.id, false));
    return li;
  }

  function select(id: string | null, focus: boolean): void {
    selected = id;
    for (const [rid, li] of rows) {
      li.tabIndex = rid === id ? 0 : -1;
      li.classList.toggle("selected", rid === id);
    }
    if (focus && id !== null) rows.get(id)?.focus();
  }

  /** Redraws the list; `before` is the list as it was drawn, so a decided item hands its place to the next. */
  function draw(before: readonly HeldItem[] = items): void {
    const hadFocus = list.contains(document.activeElement);
    const oldIndex = selected === null ? 0 : Math.max(0, before.findIndex((i) => i.id === selected));
    rows.clear();
    list.replaceChildren(...items.map((item, i) => {
      const li = row(item, i);
      rows.set(item.id, li);
      return li;
    }));
    if (selected !== null && !rows.has(selected)) {
      // The selected message was decided (here or by someone else): the next one takes its place.
      selected = items[Math.min(oldIndex, items.length - 1)]?.id ?? null;
    }
    select(selected ?? items[0]?.id ?? null, hadFocus);
    empty.hidden = items.length > 0;
    badge.textContent = String(items.length);
    badge.setAttribute("aria-label", `${items.length} waiting`);
    counts.textContent = `${plural(items.length, "message")} waiting · ${allowed} allowed · ${denied} denied since you opened the chat`;
  }

  list.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || items.length === 0) return;
    const i = Math.max(0, items.findIndex((x) => x.id === selected));
    const key = e.key.toLowerCase();
    let handled = true;
    if (key === "j" || key === "arrowdown") select(items[Math.min(i + 1, items.length - 1)]!.id, true);
    else if (key === "k" || key === "arrowup") select(items[Math.max(i - 1, 0)]!.id, true);
    else if (key === "a") decide(items[i]!, "allow");
    else if (key === "d") decide(items[i]!, "deny");
    else handled = false;
    if (handled) e.preventDefault();
  });

  return {
    element: panel,
    render(view) {
      if (view.reviewQueue === items) return;
      const before = items;
      items = view.reviewQueue;
      draw(before);
      if (items.length > 0 && timer === undefined) timer = setInterval(() => draw(), TICK_MS);
      if (items.length === 0 && timer !== undefined) {
        clearInterval(timer);
        timer = undefined;
      }
    },
    noteEvent(e) {
      if (e.type !== "moderation" || e.action !== "review") return;
      if (e.decision === "allow") allowed++;
      else denied++;
      draw();
    },
    dispose() {
      clearInterval(timer);
      timer = undefined;
      panel.remove();
    },
  };
}
