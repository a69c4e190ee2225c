/// <reference lib="dom" />
/**
 * The moderation log panel (issue 18 §3), for the owner and moderators: who did what, newest first.
 * Live entries come from the SDK's store (`room.modlog`, the `modlog` frames staff sockets get);
 * older ones page in over HTTP ("Load older": `chat.fetchModlog({ before })`, the modlog route).
 * Both are merged by the log's own `seq`, so an entry seen live and fetched again shows once. A ban
 * or timeout entry offers Unban in one click (`unban` lifts either).
 */
import type { ChatClient, ModlogEntry, RoomView } from "./index.js";
import { add, button, clock, durationText, el } from "./page-dom.js";

export interface ModlogPanel {
  readonly element: HTMLElement;
  render(view: RoomView): void;
  /** Fetches the newest page again (after a reconnect the live list may have a hole). */
  refresh(): void;
  dispose(): void;
}

/** Entries per "Load older" page. */
const PAGE = 50;

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** How many: the log stores counts (a ban's or purge's `deleted`), an event lists ids; either is read. */
const count = (v: unknown): number => num(v) ?? list(v).length;

/**
 * One entry in words, e.g. "timed out raider for 10 minutes" (the actor is shown beside it, so the
 * words never repeat them). Reads the details the room's log writes (src/rules/modlog.ts
 * logEntries: a ban's and purge's `deleted` is a count, blocked terms `added: [{term, action}]` and
 * `removed: [term]`); test/unit/modlog-words.test.ts checks every action against those entries. The
 * action names are the commands' (and events') names; an unknown one is shown as it is.
 */
export function describeEntry(e: ModlogEntry, name: (userId: string | undefined) => string): string {
  const d = e.details;
  const who = name(e.target);
  const seconds = num(d.seconds);
  switch (e.action) {
    case "timeout":
      return `timed out ${who}${seconds !== null ? ` for ${durationText(seconds)}` : ""}`;
    case "ban": {
      const n = count(d.deleted);
      return `banned ${who}${n > 0 ? ` (${n} message${n === 1 ? "" : "s"} removed)` : ""}`;
    }
    case "unban":
      return `lifted the ban or timeout of ${who}`;
    case "delete":
    case "comment_deleted":
      return `deleted a message of ${who}`;
    case "pin":
    case "pinned":
      return d.comment_id === null ? "unpinned the pinned message" : `pinned a message of ${who}`;
    case "unpin":
      return "unpinned the pinned message";
    case "slow_mode":
      return seconds ? `set slow mode to ${durationText(seconds)}` : "turned slow mode off";
    case "blocked_terms": {
      const added = list(d.added);
      const held = added.filter((a) => typeof a === "object" && a !== null && (a as { action?: unknown }).action === "hold").length;
      const removed = count(d.removed);
      const terms = (n: number) => `${n} blocked term${n === 1 ? "" : "s"}`;
      const kind = held === 0 ? "" : held === added.length ? " (hold for review)" : ` (${held} hold for review)`;
      const parts = [added.length ? `added ${terms(added.length)}${kind}` : "", removed ? `removed ${terms(removed)}` : ""];
      return parts.filter(Boolean).join(", ") || "changed the blocked terms";
    }
    case "role":
      return str(d.role) === "moderator" ? `made ${who} a moderator` : `removed the moderator role from ${who}`;
    case "chat_mode": {
      const mode = (str(d.mode) ?? "a mode").replace(/_/g, " ");
      return d.on === false ? `turned ${mode} mode off` : `turned ${mode} mode on${seconds ? ` (${durationText(seconds)})` : ""}`;
    }
    case "review":
      return `${str(d.decision) === "allow" ? "allowed" : "denied"} a held message of ${who}`;
    case "warn":
      return `warned ${who}`;
    case "warning_acknowledged":
    case "acknowledge_warning":
      return "acknowledged a warning";
    case "hide":
    case "hide_user":
      return `hid ${who}'s messages from everyone else`;
    case "unhide":
    case "unhide_user":
      return `stopped hiding ${who}'s messages`;
    case "lockdown":
      return d.on === false ? "ended the lockdown" : "turned lockdown on";
    case "lockdown_preset":
      return "saved the lockdown preset";
    case "purge": {
      const n = count(d.deleted);
      const users = list(d.users).length;
      const then = str(d.then);
      const phrase = str(d.phrase);
      return `removed ${n} message${n === 1 ? "" : "s"}${phrase ? ` containing “${phrase}”` : ""}${then && users ? ` and ${then === "ban" ? "banned" : "timed out"} ${users} user${users === 1 ? "" : "s"}` : ""}`;
    }
    case "title": {
      const t = str(d.title);
      return t ? `set the title to “${t}”` : "cleared the title";
    }
    default:
      return `${e.action.replace(/_/g, " ")}${e.target ? ` ${who}` : ""}`;
  }
}

/**
 * The log seqs of the entries that still offer Unban / Remove timeout: per target, only the newest
 * `ban` or `timeout` entry, when no `unban` came after it and (a timeout) it has not ended at `now`
 * (ms). So a lifted ban's button does not come back when the log redraws. `newestFirst` is the log
 * as the panel knows it, newest first.
 */
export function liftableEntries(newestFirst: readonly ModlogEntry[], now: number): Set<number> {
  const out = new Set<number>();
  const settled = new Set<string>();
  for (const e of newestFirst) {
    const target = e.target;
    if (target === undefined || settled.has(target)) continue;
    if (e.action === "unban") settled.add(target);
    else if (e.action === "ban" || e.action === "timeout") {
      settled.add(target);
      const until = typeof e.details.until === "string" ? Date.parse(e.details.until) : NaN;
      if (e.action === "ban" || !(until <= now)) out.add(e.seq);
    }
  }
  return out;
}

export function mountModlogPanel(
  client: ChatClient,
  deps: { describeError(err: unknown): string; name(userId: string | undefined): string; openCard(userId: string, name: string, opener: HTMLElement): void },
): ModlogPanel {
  const panel = el("details", "panel modlog-panel");
  panel.id = "modlog-panel";
  const summary = el("summary", undefined, "Moderation log");
  const error = el("p", "error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const empty = el("p", "empty-note", "No moderation actions yet.");
  const entries = el("ol", "modlog-list");
  entries.setAttribute("aria-label", "Moderation actions, newest first");
  const older = button("Load older", () => void load(nextBefore ?? undefined), { className: "" });
  older.hidden = true;
  add(panel, summary, error, empty, entries, older);

  /** Every entry known, by log seq (live and fetched). */
  const known = new Map<number, ModlogEntry>();
  let nextBefore: number | null = null;
  let loading = false;
  let loadedOnce = false;
  let live: readonly ModlogEntry[] = [];

  function showError(message: string | null): void {
    error.textContent = message ?? "";
    error.hidden = message === null;
  }

  async function load(before: number | undefined): Promise<void> {
    if (loading) return;
    loading = true;
    older.disabled = true;
    showError(null);
    try {
      const page = await client.fetchModlog({ ...(before !== undefined ? { before } : {}), limit: PAGE });
      for (const e of page.entries) known.set(e.seq, e);
      // Paging on from the oldest page we have; a refresh of the newest page keeps an older cursor.
      if (before !== undefined || nextBefore === null) nextBefore = page.next_before ?? null;
      loadedOnce = true;
    } catch (err) {
      showError(deps.describeError(err));
    } finally {
      loading = false;
      older.disabled = false;
      draw();
    }
  }

  function entryRow(e: ModlogEntry, liftable: boolean): HTMLLIElement {
    const li = el("li", "modlog-entry");
    li.dataset.seq = String(e.seq);
    li.dataset.action = e.action;
    const at = Date.parse(e.at);
    const time = el("time", undefined, Number.isFinite(at) ? clock.format(new Date(at)) : "");
    time.dateTime = e.at;
    const by = deps.name(e.by);
    add(li, time, " ", el("span", "author", by), " ", describeEntry(e, deps.name));
    if (e.reason) add(li, " — ", el("q", "reason", e.reason));
    const target = e.target;
    if (target !== undefined) {
      const name = deps.name(target);
      const card = button("Card", () => deps.openCard(target, name, card), { ariaLabel: `Open the user card of ${name}` });
      add(li, " ", card);
      if (liftable) {
        const unban = button(e.action === "ban" ? "Unban" : "Remove timeout", () => {
          unban.disabled = true;
          client.unban(target).then(
            () => (unban.textContent = "Lifted"),
            (err: unknown) => {
              unban.disabled = false;
              showError(deps.describeError(err));
            },
          );
        }, { ariaLabel: `${e.action === "ban" ? "Unban" : "Remove timeout of"} ${name}` });
        add(li, " ", unban);
      }
    }
    return li;
  }

  function draw(): void {
    for (const e of live) known.set(e.seq, e);
    const sorted = [...known.values()].sort((a, b) => b.seq - a.seq);
    const lift = liftableEntries(sorted, Date.now());
    entries.replaceChildren(...sorted.map((e) => entryRow(e, lift.has(e.seq))));
    empty.hidden = sorted.length > 0 || !loadedOnce;
    older.hidden = nextBefore === null;
  }

  panel.addEventListener("toggle", () => {
    if (panel.open && !loadedOnce) void load(undefined);
  });

  return {
    element: panel,
    render(view) {
      if (view.modlog === live) return;
      live = view.modlog;
      if (panel.open) draw();
    },
    refresh() {
      if (panel.open || loadedOnce) void load(undefined);
    },
    dispose() {
      panel.remove();
    },
  };
}
