/// <reference lib="dom" />
/**
 * The demo page's moderation panels for the owner and moderators (issue 18 §6), over the commands
 * the socket already has (`timeout`, `ban`, `blocked_terms`: src/protocol.ts):
 *
 *   Time out…       a dialog: 1 min / 10 min / 1 h / 24 h / a custom number of seconds
 *                   (TIMEOUT_MIN_S … TIMEOUT_MAX_S), an optional reason
 *   Ban…            a confirmation that says what the ban removes: the user's messages the page holds
 *                   within the room's last HISTORY_SIZE comments (what the room deletes: its ring),
 *                   and their pinned message; an optional reason
 *   Blocked terms   the stream's list (GET /v1/streams/{id}/chat/state gives staff `blocked_terms`),
 *                   add one, remove one; refusals (limit_reached, invalid_frame, …) said beside it
 *
 * Dialogs stay open until the room answered: a refusal is shown in the dialog, an ack closes it.
 * The markup is public/index.html's; elements are looked up when first used, so this module's pure
 * parts (banEffect, banWarning, timeoutSeconds) load in Node for the unit tests.
 */
import { HISTORY_SIZE, MAX_BLOCKED_TERMS, MAX_BLOCKED_TERM_CODE_POINTS, TIMEOUT_MAX_S, TIMEOUT_MIN_S } from "../protocol.js";
import { normalizeTerm } from "../rules/text.js";
import { ChatError, type ChatClient, type RoomView } from "./index.js";
import { $, add, button, el, showError } from "./page-dom.js";
import { plural } from "./page-words.js";

/** What the panels need from the page. */
export interface ModerationPage {
  /** The stream's client, null after leaving. */
  client(): ChatClient | null;
  /** An error in a plain sentence (page-words.ts errorText). */
  say(err: unknown): string;
  /** Reads GET …/chat/state again (the blocked terms are not broadcast: another moderator's change shows on a reload). */
  reload(): void;
}

/** Someone a moderation action is about. */
export interface Target {
  userId: string;
  name: string;
}

// ---------------------------------------------------------------------------------------------
// Pure parts (unit-tested): what a ban removes, the custom timeout
// ---------------------------------------------------------------------------------------------

/** What banning `userId` removes, counted on the page's view of the room. */
export interface BanEffect {
  /** Their comments within the room's last HISTORY_SIZE comments: the ban deletes these (its `deleted`). */
  messages: number;
  /** Their comments the page still shows from before that: the room no longer holds them, so they stay. */
  older: number;
  /** Their comment is the pinned one: `removed` when it is among `messages`, `unpinned` when it is older. */
  pinned: "removed" | "unpinned" | null;
}

/**
 * What a ban of `userId` removes (src/rules/room-state.ts decide: the user's comments still in the
 * room's ring, and the pin if it is theirs), from `view` — whose comments equal the room's for the
 * newest HISTORY_SIZE (the SDK's store), so the count is the event's `deleted` length.
 */
export function banEffect(view: Pick<RoomView, "comments" | "pinned">, userId: string): BanEffect {
  const ring = view.comments.slice(-HISTORY_SIZE);
  const messages = ring.filter((c) => c.comment.user_id === userId).length;
  const older = view.comments.slice(0, view.comments.length - ring.length).filter((c) => c.comment.user_id === userId).length;
  const pin = view.pinned;
  const pinned = pin?.user_id !== userId ? null : ring.some((c) => c.comment.id === pin.id) ? "removed" : "unpinned";
  return { messages, older, pinned };
}

/** The ban confirmation's sentences for `effect`. */
export function banWarning(effect: BanEffect): string {
  const parts: string[] = [];
  if (effect.messages > 0) {
    const incl = effect.pinned === "removed" ? ", including the pinned message" : "";
    parts.push(`This removes ${plural(effect.messages, "message")} of theirs from the chat for everyone${incl}.`);
  } else {
    parts.push("They have no recent messages in the chat to remove.");
  }
  if (effect.pinned === "unpinned") parts.push("Their pinned message is unpinned.");
  if (effect.older > 0) parts.push(`${plural(effect.older, "older message")} of theirs ${effect.older === 1 ? "stays" : "stay"}: too old for the chat to remove.`);
  parts.push("They can still read the chat. Unban lifts the ban, but does not bring the messages back.");
  return parts.join(" ");
}

/**
 * The timeout the dialog's choice means, in seconds: a preset's value, or the custom field's
 * whole number within TIMEOUT_MIN_S … TIMEOUT_MAX_S; else a sentence saying what is allowed.
 */
export function timeoutSeconds(choice: string, custom: string): number | { problem: string } {
  const raw = choice === "custom" ? custom.trim() : choice;
  const n = /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
  if (Number.isInteger(n) && n >= TIMEOUT_MIN_S && n <= TIMEOUT_MAX_S) return n;
  return { problem: `Enter a whole number of seconds from ${TIMEOUT_MIN_S} to ${TIMEOUT_MAX_S.toLocaleString("en")} (24 hours).` };
}

/** Words for a blocked-terms refusal (the codes that mean something particular here), else the page's. */
function termsError(err: unknown, say: (err: unknown) => string): string {
  if (err instanceof ChatError) {
    if (err.code === "limit_reached") return `This chat already blocks ${MAX_BLOCKED_TERMS} terms, the most it can. Remove one first.`;
    if (err.code === "invalid_frame") {
      return `That cannot be blocked: a term has 1 to ${MAX_BLOCKED_TERM_CODE_POINTS} characters, no control characters, and more than spaces, accents or invisible characters.`;
    }
    if (err.code === "forbidden") return "Only the owner and moderators can change the blocked terms.";
  }
  return say(err);
}

// ---------------------------------------------------------------------------------------------
// The panels
// ---------------------------------------------------------------------------------------------

/** The panels, wired to `page`: open the dialogs, show the stream's terms, forget everything on leaving. */
export interface ModerationPanels {
  openTimeout(target: Target): void;
  openBan(target: Target, view: Pick<RoomView, "comments" | "pinned">): void;
  /**
   * A stamp of the blocked-terms list: take it before asking GET …/chat/state, hand it to setTerms
   * with the answer, so an answer older than a change made here meanwhile cannot undo it.
   */
  termsVersion(): number;
  /** The stream's blocked terms as GET …/chat/state lists them (folded), read at `version`; ignored when stale. `hold`: those whose action is `hold`. */
  setTerms(terms: readonly string[], version: number, hold?: readonly string[]): void;
  /** Leaving the stream: dialogs closed, terms forgotten. */
  clear(): void;
}

/**
 * Wires the dialogs and the blocked-terms panel of public/index.html to `page`. Called once; the
 * elements must exist (a page and a script out of step throw here, not at the first click).
 */
export function moderationPanels(page: ModerationPage): ModerationPanels {
  const t = {
    dialog: $<HTMLDialogElement>("timeout-dialog"),
    form: $<HTMLFormElement>("timeout-form"),
    who: $("timeout-who"),
    custom: $<HTMLInputElement>("timeout-custom"),
    customHint: $("timeout-custom-hint"),
    reason: $<HTMLInputElement>("timeout-reason"),
    error: $("timeout-error"),
    confirm: $<HTMLButtonElement>("timeout-confirm"),
  };
  const b = {
    dialog: $<HTMLDialogElement>("ban-dialog"),
    form: $<HTMLFormElement>("ban-form"),
    who: $("ban-who"),
    effect: $("ban-effect"),
    reason: $<HTMLInputElement>("ban-reason"),
    error: $("ban-error"),
    confirm: $<HTMLButtonElement>("ban-confirm"),
  };
  const k = {
    panel: $<HTMLDetailsElement>("blocked-terms"),
    count: $("terms-count"),
    form: $<HTMLFormElement>("terms-form"),
    input: $<HTMLInputElement>("term-input"),
    add: $<HTMLButtonElement>("term-add"),
    hold: $<HTMLButtonElement>("term-hold"),
    error: $("terms-error"),
    list: $<HTMLUListElement>("terms-list"),
    empty: $("terms-empty"),
  };
  let timeoutTarget: Target | null = null;
  let banTarget: Target | null = null;
  let terms: string[] = [];
  /** The terms whose action is `hold` (issue 18 §2: held for review, not refused). */
  let holdTerms = new Set<string>();
  /** Changes made here so far (see termsVersion). */
  let version = 0;

  // Timeout dialog ------------------------------------------------------------------------------
  t.custom.min = String(TIMEOUT_MIN_S);
  t.custom.max = String(TIMEOUT_MAX_S);
  t.customHint.textContent = `${TIMEOUT_MIN_S} to ${TIMEOUT_MAX_S.toLocaleString("en")} seconds (24 hours).`;
  const choice = () => t.form.querySelector<HTMLInputElement>('input[name="timeout-length"]:checked')?.value ?? "600";
  // Typing a custom length picks "Custom".
  t.custom.addEventListener("focus", () => {
    const radio = t.form.querySelector<HTMLInputElement>('input[name="timeout-length"][value="custom"]');
    if (radio) radio.checked = true;
  });
  $("timeout-cancel").addEventListener("click", () => t.dialog.close());
  t.form.addEventListener("submit", (e) => {
    e.preventDefault();
    const c = page.client();
    const who = timeoutTarget;
    if (!c || !who) return;
    const seconds = timeoutSeconds(choice(), t.custom.value);
    if (typeof seconds !== "number") {
      showError(t.error, seconds.problem);
      t.custom.focus();
      return;
    }
    const reason = t.reason.value.trim();
    run(t, c.timeout(who.userId, seconds, reason === "" ? undefined : reason), (err) => page.say(err));
  });

  // Ban dialog ----------------------------------------------------------------------------------
  $("ban-cancel").addEventListener("click", () => b.dialog.close());
  b.form.addEventListener("submit", (e) => {
    e.preventDefault();
    const c = page.client();
    const who = banTarget;
    if (!c || !who) return;
    const reason = b.reason.value.trim();
    run(b, c.ban(who.userId, reason === "" ? undefined : reason), (err) => page.say(err));
  });

  // Blocked terms -------------------------------------------------------------------------------
  function drawTerms(): void {
    k.list.replaceChildren();
    for (const term of terms) {
      const li = el("li");
      li.dataset.term = term;
      add(li, el("span", "term", term), " ", holdTerms.has(term) ? el("span", "hint", "held for review") : el("span", "hint", "blocked"), " ", button("Remove", () => change({ remove: [term] }), { ariaLabel: `Remove blocked term ${term}` }));
      add(k.list, li);
    }
    k.count.textContent = `(${terms.length})`;
    k.empty.hidden = terms.length > 0;
  }

  function change(what: { add?: string[]; remove?: string[]; action?: "block" | "hold" }): void {
    const c = page.client();
    if (!c) return;
    showError(k.error, null);
    k.add.disabled = true;
    k.hold.disabled = true;
    c.blockTerms(what).then(
      () => {
        // Not broadcast: the ack is all we hear. The room stores terms folded, as normalizeTerm folds them.
        const gone = new Set((what.remove ?? []).map(normalizeTerm));
        terms = terms.filter((x) => !gone.has(x));
        for (const t of gone) if (t !== null) holdTerms.delete(t);
        for (const raw of what.add ?? []) {
          const folded = normalizeTerm(raw);
          if (folded === null) continue;
          if (!terms.includes(folded)) terms.push(folded);
          if (what.action === "hold") holdTerms.add(folded);
          else holdTerms.delete(folded);
        }
        if (what.add) k.input.value = "";
        version++;
        drawTerms();
      },
      (err: unknown) => showError(k.error, termsError(err, page.say)),
    ).finally(() => {
      k.add.disabled = false;
      k.hold.disabled = false;
    });
  }

  k.form.addEventListener("submit", (e) => {
    e.preventDefault();
    const term = k.input.value;
    if (term.trim() === "") {
      showError(k.error, "Type a word or phrase to block.");
      return;
    }
    change({ add: [term] });
  });
  k.hold.addEventListener("click", () => {
    const term = k.input.value;
    if (term.trim() === "") {
      showError(k.error, "Type a word or phrase to hold for review.");
      return;
    }
    change({ add: [term], action: "hold" });
  });
  // Opening the panel reads the list again: another moderator may have changed it.
  k.panel.addEventListener("toggle", () => {
    if (k.panel.open) page.reload();
  });
  drawTerms();

  return {
    openTimeout(target) {
      timeoutTarget = target;
      t.who.textContent = target.name;
      t.reason.value = "";
      t.custom.value = "";
      const preset = t.form.querySelector<HTMLInputElement>('input[name="timeout-length"][value="600"]');
      if (preset) preset.checked = true;
      open(t);
    },
    openBan(target, view) {
      banTarget = target;
      b.who.textContent = target.name;
      b.effect.textContent = banWarning(banEffect(view, target.userId));
      b.reason.value = "";
      open(b);
    },
    termsVersion: () => version,
    setTerms(list, at, hold: readonly string[] = []) {
      if (at !== version) return;
      terms = [...list];
      holdTerms = new Set(hold);
      drawTerms();
    },
    clear() {
      t.dialog.close();
      b.dialog.close();
      terms = [];
      holdTerms = new Set();
      version++;
      k.input.value = "";
      showError(k.error, null);
      drawTerms();
    },
  };
}

/** A dialog's parts that open() and run() use. */
interface DialogParts {
  dialog: HTMLDialogElement;
  error: HTMLElement;
  confirm: HTMLButtonElement;
}

/** Opens a dialog as a modal, its error line cleared and its confirm button enabled. */
function open(d: DialogParts): void {
  showError(d.error, null);
  d.confirm.disabled = false;
  if (!d.dialog.open) d.dialog.showModal();
}

/** Sends a dialog's command: the dialog closes on the ack, or shows the refusal and stays open. */
function run(d: DialogParts, command: Promise<unknown>, say: (err: unknown) => string): void {
  showError(d.error, null);
  d.confirm.disabled = true;
  command.then(
    () => d.dialog.close(),
    (err: unknown) => {
      d.confirm.disabled = false;
      showError(d.error, say(err));
    },
  );
}
