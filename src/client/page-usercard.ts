/// <reference lib="dom" />
/**
 * The user card (issue 18 §3), for the owner and moderators: click a name and a dialog shows that
 * user in this stream — message count, account age, restrictions, and their history of timeouts,
 * bans and warnings with the reasons and who gave them (`chat.fetchUserCard`, the user-card route) —
 * with the actions a moderator needs on the spot: time out (1 min / 10 min / 1 h / 24 h / custom),
 * ban (asks to confirm first), unban, warn (needs a reason), hide / unhide, and for the owner make or
 * remove a moderator. After each action the card is fetched again, so it shows what the room did.
 *
 * A non-modal `<dialog>` (show(), not showModal()): a moderator in a raid keeps typing, reading
 * and opening other cards while it is open — the chat is never made inert behind it. Focus moves into
 * it, Escape closes it, and focus goes back to the name that opened it.
 */
import { TIMEOUT_MAX_S, TIMEOUT_MIN_S } from "../protocol.js";
import type { ChatClient, ModlogEntry, RoomView, UserCardResponse } from "./index.js";
import { add, ago, button, clock, el, insertAfter, labelled, numberInput, plural, select } from "./page-dom.js";
import { describeEntry } from "./page-modlog.js";

export interface UserCard {
  open(userId: string, name: string, opener?: HTMLElement): void;
  render(view: RoomView): void;
  dispose(): void;
}

/** The timeout choices of the card (seconds); "custom" asks for minutes. */
export const TIMEOUT_CHOICES: ReadonlyArray<readonly [string, string]> = [
  ["60", "1 minute"],
  ["600", "10 minutes"],
  ["3600", "1 hour"],
  ["86400", "24 hours"],
  ["custom", "Custom…"],
];

export function mountUserCard(
  client: ChatClient,
  deps: { describeError(err: unknown): string; name(userId: string | undefined): string; me(): string | null; notice(text: string): void },
): UserCard {
  const dialog = el("dialog", "user-card");
  dialog.id = "user-card";
  dialog.setAttribute("aria-labelledby", "user-card-title");
  const title = el("h2", undefined, "User");
  title.id = "user-card-title";
  const close = button("Close", () => dialog.close(), { className: "" });
  const head = el("div", "card-head");
  add(head, title, close);
  const status = el("p", "notice");
  status.setAttribute("role", "status");
  const facts = el("dl", "facts");
  const historyTitle = el("h3", undefined, "Moderation history");
  const history = el("ul", "card-history");
  const error = el("p", "error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const actions = el("div", "card-actions");
  add(dialog, head, status, facts, historyTitle, history, actions, error);
  document.body.appendChild(dialog);

  let current: { userId: string; name: string } | null = null;
  let card: UserCardResponse | null = null;
  let opener: HTMLElement | null = null;
  let view: RoomView = client.room;
  let request = 0;
  /** What the moderator typed or picked in the card: kept when the card is drawn again after an action. */
  const typed = { reason: "", duration: "600", minutes: "30" };

  // A non-modal dialog gets no Escape handling from the browser.
  dialog.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      dialog.close();
    }
  });
  dialog.addEventListener("close", () => {
    current = null;
    opener?.focus();
    opener = null;
  });

  function showError(message: string | null): void {
    error.textContent = message ?? "";
    error.hidden = message === null;
  }

  async function load(): Promise<void> {
    const who = current;
    if (!who) return;
    const mine = ++request;
    status.textContent = card ? "" : "Loading…";
    try {
      const c = await client.fetchUserCard(who.userId);
      if (mine !== request || current !== who) return;
      card = c;
      status.textContent = "";
      draw();
    } catch (err) {
      if (mine !== request) return;
      status.textContent = "";
      showError(deps.describeError(err));
    }
  }

  /** Runs an action of the card, then shows the room's answer: an error, or the card fetched again. */
  function run(what: () => Promise<unknown>, done: string): void {
    showError(null);
    what().then(
      () => {
        deps.notice(done);
        void load();
      },
      (err: unknown) => showError(deps.describeError(err)),
    );
  }

  function fact(term: string, value: string): void {
    add(facts, el("dt", undefined, term), el("dd", undefined, value));
  }

  function historyRow(e: ModlogEntry): HTMLLIElement {
    const li = el("li");
    const at = Date.parse(e.at);
    add(li, el("time", undefined, Number.isFinite(at) ? new Date(at).toLocaleString() : e.at), " ", el("span", "author", deps.name(e.by)), " ", describeEntry(e, deps.name));
    if (e.reason) add(li, " — ", el("q", "reason", e.reason));
    return li;
  }

  function draw(): void {
    const who = current;
    if (!who) return;
    facts.replaceChildren();
    history.replaceChildren();
    actions.replaceChildren();
    const c = card;
    title.textContent = c?.username ?? who.name;
    if (!c) return;
    const now = Date.now();
    fact("Role", c.role === "owner" ? "Owner" : c.role === "moderator" ? "Moderator" : "Viewer");
    fact("Messages here", c.first_message_at ? `${c.messages} (first ${ago(Date.parse(c.first_message_at), now)})` : String(c.messages));
    fact("Account created", c.account_created_at ? `${ago(Date.parse(c.account_created_at), now)} (${new Date(c.account_created_at).toLocaleDateString()})` : "Unknown");
    const state: string[] = [];
    if (c.banned) state.push("Banned");
    const muted = c.muted_until ? Date.parse(c.muted_until) : NaN;
    if (muted > now) state.push(`Timed out until ${clock.format(new Date(muted))}`);
    if (c.hidden) state.push("Hidden: only they and moderators see their messages");
    if (c.warning_pending) state.push("Warned: has not acknowledged yet");
    fact("Status", state.length ? state.join(" · ") : "Can chat");
    const count = (action: string) => c.history.filter((e) => e.action === action).length;
    historyTitle.textContent = `Moderation history: ${plural(count("timeout"), "timeout")} · ${plural(count("ban"), "ban")} · ${plural(count("warn"), "warning")}`;
    if (c.history.length === 0) add(history, el("li", "empty-note", "Nothing yet."));
    for (const e of c.history) add(history, historyRow(e));
    drawActions(c);
  }

  function drawActions(c: UserCardResponse): void {
    const me = deps.me();
    const myRole = view.role;
    const target = c.user_id;
    // The room's own rule: a moderator cannot act on the owner or another moderator; nobody on the owner.
    const canAct = target !== me && c.role !== "owner" && (myRole === "owner" || c.role !== "moderator");
    if (!canAct) {
      add(actions, el("p", "hint", target === me ? "This is you." : "Moderators cannot act on the owner or on other moderators."));
      return;
    }
    const name = c.username ?? current?.name ?? "this user";
    const reason = el("input");
    reason.maxLength = 200;
    reason.value = typed.reason;
    reason.addEventListener("input", () => (typed.reason = reason.value));
    reason.placeholder = "Shown in the log; required for a warning";
    const reasonField = labelled("Reason", reason, "card-reason");
    const withReason = () => (reason.value.trim() ? reason.value.trim() : undefined);

    const duration = select(TIMEOUT_CHOICES, typed.duration);
    const custom = numberInput(Number(typed.minutes), Math.ceil(TIMEOUT_MIN_S / 60), Math.floor(TIMEOUT_MAX_S / 60));
    custom.value = typed.minutes;
    custom.addEventListener("input", () => (typed.minutes = custom.value));
    const customField = labelled("Minutes", custom, "card-custom-minutes");
    customField.hidden = duration.value !== "custom";
    duration.addEventListener("change", () => {
      typed.duration = duration.value;
      customField.hidden = duration.value !== "custom";
      if (!customField.hidden) custom.focus();
    });
    const timeoutSeconds = () => (duration.value === "custom" ? Math.round(Number(custom.value) * 60) : Number(duration.value));
    const timeout = button("Time out", () => {
      const s = timeoutSeconds();
      if (!(s >= TIMEOUT_MIN_S && s <= TIMEOUT_MAX_S)) {
        showError(`A timeout lasts from 1 minute to ${TIMEOUT_MAX_S / 3600} hours.`);
        custom.focus();
        return;
      }
      run(() => client.timeout(target, s, withReason()), `${name} is timed out.`);
    }, { className: "", ariaLabel: `Time out ${name}` });
    const timeoutRow = el("div", "action-row");
    add(timeoutRow, labelled("Time out for", duration, "card-timeout"), customField, timeout);

    const row = el("div", "action-row");
    if (c.banned || (c.muted_until !== null && Date.parse(c.muted_until) > Date.now())) {
      add(row, button(c.banned ? "Unban" : "Remove timeout", () => run(() => client.unban(target), `${name} can chat again.`), { className: "", ariaLabel: `${c.banned ? "Unban" : "Remove timeout of"} ${name}` }));
    }
    if (!c.banned) {
      const shown = view.comments.filter((x) => x.comment.user_id === target).length;
      const ban = button("Ban", () => {
        // Two steps: the first click asks, saying what the ban removes.
        const confirm = button(`Confirm ban (removes ${plural(shown, "recent message")} shown here)`, () => run(() => client.ban(target, withReason()), `${name} is banned.`), {
          className: "danger",
        });
        const cancel = button("Cancel", () => {
          confirm.remove();
          cancel.remove();
          ban.hidden = false;
          ban.focus();
        }, { className: "" });
        ban.hidden = true;
        insertAfter(ban, confirm, cancel);
        confirm.focus();
      }, { className: "danger", ariaLabel: `Ban ${name}` });
      add(row, ban);
    }
    add(
      row,
      button("Warn", () => {
        const r = withReason();
        if (!r) {
          showError("Enter the reason for the warning: they are shown it and must acknowledge it.");
          reason.focus();
          return;
        }
        run(() => client.warn(target, r), `${name} is warned.`);
      }, { className: "", ariaLabel: `Warn ${name}` }),
      c.hidden
        ? button("Unhide", () => run(() => client.unhideUser(target), `${name}'s messages are public again.`), { className: "", ariaLabel: `Unhide ${name}` })
        : button("Hide", () => run(() => client.hideUser(target), `${name}'s new messages are hidden from everyone else.`), { className: "", ariaLabel: `Hide ${name}'s messages` }),
    );
    if (myRole === "owner") {
      const mod = c.role === "moderator";
      add(row, button(mod ? "Remove moderator" : "Make moderator", () => run(() => client.setRole(target, mod ? "viewer" : "moderator"), mod ? `${name} is a viewer again.` : `${name} is a moderator.`), { className: "" }));
    }
    add(actions, reasonField, timeoutRow, row);
  }

  return {
    open(userId, name, from) {
      opener = from ?? (document.activeElement instanceof HTMLElement ? document.activeElement : null);
      current = { userId, name };
      card = null;
      typed.reason = "";
      typed.duration = "600";
      typed.minutes = "30";
      showError(null);
      title.textContent = name;
      facts.replaceChildren();
      history.replaceChildren();
      actions.replaceChildren();
      if (!dialog.open) dialog.show();
      close.focus();
      void load();
    },
    render(v) {
      view = v;
    },
    dispose() {
      if (dialog.open) dialog.close();
      dialog.remove();
    },
  };
}
