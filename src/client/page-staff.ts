/// <reference lib="dom" />
/**
 * Issue 18 on the demo page: moderation a streamer can run under a hate raid, without curl. page.ts
 * mounts this once per joined stream (mountModeration) and calls three hooks:
 *
 *   decorateRow(li, comment)   each message row it draws: names become buttons that open the user
 *                              card (staff), a shadow-hidden comment is marked "hidden" (staff), and
 *                              staff get "Remove similar" (purge) among the row's actions
 *   settledHeld(li, err)       its failed(): a held message that was denied or expired is final
 *   dispose()                  leaving the stream
 *
 * Everything else renders from the SDK's store on `change` (registered after page.ts's own listener,
 * so it runs after page.ts has drawn the rows):
 *
 *   every viewer   page-viewer.ts    title, modes in force, pending warning + "I understand", held rows
 *   staff          page-modes.ts     Lockdown button, chat modes, title, lockdown preset (owner)
 *                  page-review.ts    the review queue (Allow / Deny, J/K/A/D)
 *                  page-modlog.ts    the moderation log (live + "Load older", Unban)
 *                  page-usercard.ts  the user card dialog
 *                  page-purge.ts     the "Remove similar messages" dialog
 */
import { isStaffRole, type ChatClient, type LockdownPreset, type RoomView, type ViewComment } from "./index.js";
import { ICONS, add, button, el, icon, insertAfter } from "./page-dom.js";
import { mountModesPanel } from "./page-modes.js";
import { mountModlogPanel } from "./page-modlog.js";
import { mountPurgeDialog } from "./page-purge.js";
import { mountReviewPanel } from "./page-review.js";
import { mountUserCard } from "./page-usercard.js";
import { mountViewerNotices } from "./page-viewer.js";

export interface ModerationContext {
  client: ChatClient;
  /** page.ts's plainError: an error in words. */
  describeError(err: unknown): string;
  /** Our user id (the session's), or null. */
  me(): string | null;
}

export interface Moderation {
  /** Called by page.ts for every message row it draws (see the header). */
  decorateRow(li: HTMLLIElement, sc: ViewComment): void;
  /** Called first by page.ts's failed(): true when the send ended in review and is shown as such. */
  settledHeld(li: HTMLLIElement, err: unknown): boolean;
  /** Opens the user card (staff). */
  openUserCard(userId: string, name: string, opener?: HTMLElement): void;
  /** The saved lockdown preset, from the state route page.ts reads (owner's editor). */
  showPreset(preset: LockdownPreset): void;
  dispose(): void;
}

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`index.html has no #${id}`);
  return e as T;
}

/** Mounts the moderation panels for one stream's client; see the header for what goes where. */
export function mountModeration(ctx: ModerationContext): Moderation {
  const { client, describeError } = ctx;
  const noticeLine = byId("notice");
  const notice = (text: string) => (noticeLine.textContent = text);

  /** Usernames by user id, from everything this page has seen (comments, the queue, cards). */
  const names = new Map<string, string>();
  const name = (userId: string | undefined): string => {
    if (userId === undefined) return "someone";
    if (userId === ctx.me()) return "you";
    return names.get(userId) ?? `user ${userId.slice(0, 8)}`;
  };

  const viewer = mountViewerNotices(client, {
    heading: byId("chat-title"),
    streamLabel: byId("stream-label"),
    after: byId("slow-info"),
    composer: { text: byId<HTMLInputElement>("text"), form: byId("composer") },
  });

  const root = el("section", "staff-panels");
  root.id = "staff-panels";
  root.setAttribute("aria-label", "Moderation tools");
  root.hidden = true;
  insertAfter(byId("mod-tools"), root);

  const card = mountUserCard(client, { describeError, name, me: ctx.me, notice });
  const openCard = (userId: string, n: string, opener?: HTMLElement) => card.open(userId, n, opener);
  const modes = mountModesPanel(client, { describeError, notice });
  const review = mountReviewPanel(client, { describeError, openCard });
  const modlog = mountModlogPanel(client, { describeError, name, openCard });
  const purge = mountPurgeDialog(client, { describeError, notice });
  add(root, modes.bar, review.element, modes.element, modlog.element);

  function render(view: RoomView): void {
    for (const c of view.comments) if (c.comment.username) names.set(c.comment.user_id, c.comment.username);
    for (const h of view.reviewQueue) if (h.comment.username) names.set(h.comment.user_id, h.comment.username);
    viewer.render(view);
    const staff = isStaffRole(view.role);
    root.hidden = !staff;
    if (!staff) return;
    modes.render(view);
    review.render(view);
    modlog.render(view);
    card.render(view);
    purge.render(view);
  }

  const offs = [
    client.on("change", render),
    client.on("event", (e) => review.noteEvent(e)),
    client.on("history", ({ events }) => {
      for (const e of events) review.noteEvent(e);
      // A reconnect may have missed live log entries: the newest page fills the hole.
      if (isStaffRole(client.room.role)) modlog.refresh();
    }),
  ];
  render(client.room);

  return {
    decorateRow(li, sc) {
      const view = client.room;
      if (!isStaffRole(view.role)) return;
      const c = sc.comment;
      const who = c.username ?? "anonymous";
      if (c.username) names.set(c.user_id, c.username);
      const author = li.querySelector<HTMLElement>(".meta .author");
      if (author) {
        const b = button(who, () => card.open(c.user_id, who, b), { className: "author link", ariaLabel: `Open the user card of ${who}` });
        author.replaceWith(b);
      }
      if (sc.hidden) {
        li.classList.add("hidden-comment");
        const mark = el("span", "hidden-mark");
        add(mark, icon(ICONS.hidden), " hidden");
        mark.title = "Shadow-hidden: only its author and moderators see this message";
        li.querySelector(".meta")?.appendChild(mark);
      }
      const actions = li.querySelector(".actions");
      if (actions && c.message.trim() !== "") {
        const short = [...c.message].slice(0, 40).join("");
        const similar = button("Remove similar", () => purge.open(c, similar), { ariaLabel: `Remove messages similar to: ${short}` });
        actions.appendChild(similar);
      }
    },
    settledHeld: (li, err) => viewer.settledHeld(li, err),
    openUserCard: openCard,
    showPreset: (preset) => modes.showPreset(preset),
    dispose() {
      for (const off of offs) off();
      viewer.dispose();
      modes.dispose();
      review.dispose();
      modlog.dispose();
      card.dispose();
      purge.dispose();
      root.remove();
    },
  };
}
