/// <reference lib="dom" />
/**
 * "Remove similar messages" (issue 18 §5, purge): from any message, staff open a dialog with the
 * phrase prefilled from that message, pick how far back (1 min … 1 h) and what happens to the
 * authors (nothing, a timeout, a ban), and the room removes every matching message in one `purge`
 * event that replays exactly — on every viewer's page at once. The dialog counts the matching
 * messages this page shows, as a hint (the room compares with its own normalisation and its whole
 * ring).
 */
import { MAX_PURGE_PHRASE_CODE_POINTS, PURGE_MAX_S } from "../protocol.js";
import type { ChatClient, RoomView, StreamComment } from "./index.js";
import { add, button, el, firstCodePoints, labelled, plural, select } from "./page-dom.js";
import { TIMEOUT_CHOICES } from "./page-usercard.js";

export interface PurgeDialog {
  open(from: StreamComment, opener?: HTMLElement): void;
  render(view: RoomView): void;
  dispose(): void;
}

export const PURGE_WINDOWS: ReadonlyArray<readonly [string, string]> = [
  ["60", "1 minute"],
  ["300", "5 minutes"],
  ["900", "15 minutes"],
  [String(PURGE_MAX_S), "1 hour"],
];

/** Case- and space-insensitive form for the local count (the room's own rule decides what is removed). */
const loose = (s: string) => s.toLowerCase().replace(/\s+/g, " ").trim();

export function mountPurgeDialog(client: ChatClient, deps: { describeError(err: unknown): string; notice(text: string): void }): PurgeDialog {
  const dialog = el("dialog", "purge-dialog");
  dialog.id = "purge-dialog";
  dialog.setAttribute("aria-labelledby", "purge-title");
  const title = el("h2", undefined, "Remove similar messages");
  title.id = "purge-title";
  const form = el("form");
  form.method = "dialog";
  const phrase = el("input");
  phrase.required = true;
  phrase.maxLength = MAX_PURGE_PHRASE_CODE_POINTS * 2;
  phrase.spellcheck = false;
  const windowSel = select(PURGE_WINDOWS, "300");
  const thenSel = select(
    [
      ["none", "Only remove the messages"],
      ["timeout", "Also time out their authors"],
      ["ban", "Also ban their authors"],
    ],
    "none",
  );
  const duration = select(TIMEOUT_CHOICES.filter(([v]) => v !== "custom"), "600");
  const durationField = labelled("Timeout length", duration, "purge-timeout");
  durationField.hidden = true;
  const reason = el("input");
  reason.maxLength = 200;
  const matches = el("p", "hint");
  matches.setAttribute("aria-live", "polite");
  const error = el("p", "error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const submit = el("button", "primary danger", "Remove messages");
  submit.type = "submit";
  const cancel = button("Cancel", () => dialog.close(), { className: "" });
  const buttons = el("div", "action-row");
  add(buttons, submit, cancel);
  add(
    form,
    labelled("Messages containing", phrase, "purge-phrase", "field"),
    labelled("From the last", windowSel, "purge-window"),
    labelled("Then", thenSel, "purge-then"),
    durationField,
    labelled("Reason (optional)", reason, "purge-reason", "field"),
    matches,
    error,
    buttons,
  );
  add(dialog, title, form);
  document.body.appendChild(dialog);

  let view: RoomView = client.room;
  let opener: HTMLElement | null = null;

  function count(): void {
    const p = loose(phrase.value);
    const since = Date.now() - Number(windowSel.value) * 1000;
    const n = p ? view.comments.filter((c) => Date.parse(c.comment.created_at) >= since && loose(c.comment.message).includes(p)).length : 0;
    matches.textContent = p ? `${plural(n, "message")} shown here match${n === 1 ? "es" : ""}.` : "";
  }

  phrase.addEventListener("input", count);
  windowSel.addEventListener("change", count);
  thenSel.addEventListener("change", () => {
    durationField.hidden = thenSel.value !== "timeout";
    submit.textContent = thenSel.value === "ban" ? "Remove and ban" : thenSel.value === "timeout" ? "Remove and time out" : "Remove messages";
  });
  dialog.addEventListener("close", () => {
    opener?.focus();
    opener = null;
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const p = phrase.value.trim();
    if (!p) {
      phrase.focus();
      return;
    }
    error.hidden = true;
    submit.disabled = true;
    const then = thenSel.value === "timeout" || thenSel.value === "ban" ? thenSel.value : undefined;
    const r = reason.value.trim();
    client
      .purge(p, Number(windowSel.value), {
        ...(then ? { then } : {}),
        ...(then === "timeout" ? { timeoutS: Number(duration.value) } : {}),
        ...(r ? { reason: r } : {}),
      })
      .then(
        () => {
          deps.notice(`Messages containing “${p}” were removed${then === "ban" ? " and their authors banned" : then === "timeout" ? " and their authors timed out" : ""}.`);
          dialog.close();
        },
        (err: unknown) => {
          error.textContent = deps.describeError(err);
          error.hidden = false;
        },
      )
      .finally(() => (submit.disabled = false));
  });

  return {
    open(from, o) {
      opener = o ?? null;
      phrase.value = firstCodePoints(from.message.trim().replace(/\s+/g, " "), MAX_PURGE_PHRASE_CODE_POINTS);
      error.hidden = true;
      submit.disabled = false;
      count();
      if (!dialog.open) dialog.showModal();
      phrase.focus();
      phrase.select();
    },
    render(v) {
      view = v;
      if (dialog.open) count();
    },
    dispose() {
      if (dialog.open) dialog.close();
      dialog.remove();
    },
  };
}
