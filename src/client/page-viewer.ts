/// <reference lib="dom" />
/**
 * What every viewer sees of issue 18 on the demo page (staff too): the stream title instead of its
 * UUID, the chat modes in force, a pending warning with its "I understand" button (page.ts's composer
 * gate keeps the composer closed until then), and the state of our own messages the room held for review — "Held for
 * review", then "Not approved by a moderator" (or "Not reviewed in time"), with no Retry: resending
 * would only be held or refused again.
 *
 * Rendered from the SDK's store (`room.title`, `room.modes`, `room.warning`, `room.held`); the rows
 * of #outgoing are page.ts's (one per send, found by `data-client-msg-id`).
 */
import { ChatError, isStaffRole, type ChatClient, type OwnHeldMessage, type RoomView } from "./index.js";
import { add, button, clock, durationText, el, insertAfter, insertBefore } from "./page-dom.js";

/** The composer page.ts owns (its gate, composer-gate.ts, keeps it closed while a warning is pending). */
export interface ComposerParts {
  text: HTMLInputElement;
  /** Where the warning banner goes: just before this (the composer form). */
  form: HTMLElement;
}

export interface ViewerNotices {
  render(view: RoomView): void;
  /**
   * page.ts's failed() asks first: a send that ended in review (`review_denied`, `review_expired`)
   * is shown here, final, without Retry. True when it was one of those.
   */
  settledHeld(li: HTMLLIElement, err: unknown): boolean;
  dispose(): void;
}

/** Words for the modes in force, for viewers (owner and moderators are exempt). */
export function modesText(view: RoomView): string {
  const m = view.modes;
  const parts: string[] = [];
  if (m.emote_only) parts.push("Emote-only mode: messages may only contain emoji.");
  if (m.unique_s > 0) parts.push(`Unique chat: no repeating a message sent in the last ${durationText(m.unique_s)}.`);
  if (m.members_only) parts.push("Members-only mode: only members of this stream can chat.");
  if (m.account_age_s > 0) parts.push(`Accounts younger than ${durationText(m.account_age_s)} cannot chat.`);
  if (m.first_time_hold) parts.push("First messages are held until a moderator approves them.");
  return parts.join(" ");
}

const HELD_WORDS: Record<OwnHeldMessage["status"], string> = {
  held: "Held for review",
  denied: "Not approved by a moderator",
  expired: "Not reviewed in time",
};

/**
 * Mounts the viewer-facing parts: the title in `heading` (keeping `streamLabel`, the UUID, for when
 * none is set), a modes line after `after`, and the warning banner before the composer.
 */
export function mountViewerNotices(client: ChatClient, parts: { heading: HTMLElement; streamLabel: HTMLElement; after: HTMLElement; composer: ComposerParts }): ViewerNotices {
  const { heading, streamLabel, composer } = parts;
  const titleText = el("span", "stream-title");
  const modesInfo = el("p", "notice modes-info");
  modesInfo.id = "modes-info";
  insertAfter(parts.after, modesInfo);

  const banner = el("div", "warning-banner");
  banner.id = "warning";
  banner.setAttribute("role", "alert");
  banner.hidden = true;
  const reasonText = el("span", "warning-reason");
  const bannerError = el("span", "error");
  const understand = button("I understand", () => {
    understand.disabled = true;
    bannerError.textContent = "";
    client.acknowledgeWarning().then(
      () => composer.text.focus(),
      (err: unknown) => {
        understand.disabled = false;
        bannerError.textContent = err instanceof ChatError ? err.message : String(err);
      },
    );
  }, { className: "primary" });
  add(banner, el("strong", undefined, "A moderator warned you: "), reasonText, " ", understand, " ", bannerError);
  insertBefore(composer.form, banner);

  let shownTitle: string | null | undefined;

  function renderTitle(title: string | null): void {
    if (title === shownTitle) return;
    shownTitle = title;
    if (title) {
      titleText.textContent = title;
      streamLabel.hidden = true;
      heading.replaceChildren(titleText, streamLabel);
      heading.title = `Stream ${streamLabel.textContent ?? ""}`;
      document.title = `${title} — Live chat`;
    } else {
      streamLabel.hidden = false;
      heading.replaceChildren(document.createTextNode("Stream "), streamLabel);
      heading.removeAttribute("title");
      document.title = "Live chat";
    }
  }

  function renderWarning(view: RoomView): void {
    const w = view.warning;
    const was = !banner.hidden;
    banner.hidden = w === null;
    if (w) {
      reasonText.textContent = w.reason;
      understand.disabled = false;
      if (!was) understand.focus();
    }
    // The composer itself is page.ts's: its gate (composer-gate.ts) keeps it closed while warned.
  }

  /** Marks the outgoing row of a held message (page.ts made it with `data-client-msg-id`). */
  function markRow(li: HTMLLIElement, h: OwnHeldMessage): void {
    if (li.dataset.held === h.status) return;
    li.dataset.held = h.status;
    li.classList.remove("pending", "failed");
    li.classList.add("held");
    li.classList.toggle("denied", h.status !== "held");
    const note = li.querySelector<HTMLElement>(".note") ?? li.appendChild(el("span", "note"));
    note.replaceChildren();
    if (h.status === "held") {
      const at = Date.parse(h.expiresAt);
      add(note, HELD_WORDS.held, Number.isFinite(at) ? ` (a moderator decides by ${clock.format(new Date(at))})` : "");
    } else {
      const short = (h.text ?? "").trim().slice(0, 40) || "message";
      add(note, `${HELD_WORDS[h.status]} `, button("Remove", () => li.remove(), { ariaLabel: `Remove: ${short}` }));
    }
  }

  function renderHeld(view: RoomView): void {
    for (const h of view.held) {
      if (h.clientMsgId === null) continue;
      const li = document.querySelector<HTMLLIElement>(`#outgoing li[data-client-msg-id="${CSS.escape(h.clientMsgId)}"]`);
      if (li) markRow(li, h);
    }
  }

  return {
    render(view) {
      renderTitle(view.title);
      modesInfo.textContent = isStaffRole(view.role) ? "" : modesText(view);
      renderWarning(view);
      renderHeld(view);
    },
    settledHeld(li, err) {
      if (!(err instanceof ChatError) || (err.code !== "review_denied" && err.code !== "review_expired")) return false;
      const own = client.held.find((h) => h.clientMsgId === err.clientMsgId);
      markRow(li, own ?? { id: "", clientMsgId: err.clientMsgId ?? null, text: null, expiresAt: "", status: err.code === "review_denied" ? "denied" : "expired" });
      return true;
    },
    dispose() {
      modesInfo.remove();
      banner.remove();
      renderTitle(null);
    },
  };
}
