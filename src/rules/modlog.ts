/**
 * The moderation log (issue 18 §3; README "Moderation log"), pure: which entries one accepted
 * command writes. The room numbers and stores them (src/room-store.ts `modlog`, at most
 * MODLOG_MAX per stream), sends each to staff sockets (`modlog` frames) and pages them on
 * `GET /v1/streams/{id}/chat/modlog`.
 *
 * Logged: every moderation event (timeout, ban, unban, slow mode, role, chat modes, reviews,
 * warnings and their acknowledgement, hides, lockdown, purge, title), a deletion by someone other
 * than the author, a pin or unpin asked for, blocked-term edits and the lockdown preset (neither
 * broadcast). Not logged: comments, edits, an author deleting their own comment, and the unpin a
 * deletion makes on its own (the deletion's entry says it).
 */
import type { Command, ModlogEntry, RoomEvent } from "../protocol";
import { exhaustive } from "./never";
import type { Outcome, RoomState } from "./room-state";
import { excerpt } from "./text";

/** Entries kept per stream (the oldest go first); the user card reads its history from them. */
export const MODLOG_MAX = 10_000;
/** Entries one modlog page returns by default, and at most. */
export const MODLOG_PAGE_DEFAULT = 50;
export const MODLOG_PAGE_MAX = 200;

/** An entry before the room numbers it (`seq`). */
export type LogDraft = Omit<ModlogEntry, "seq">;

/**
 * The entries `cmd` from `by`, accepted at `now` (ms) with `outcome`, writes — computed against
 * `state` as it was before the outcome was applied (a deletion's author is looked up there).
 */
export function logEntries(state: RoomState, by: string, cmd: Command, outcome: Extract<Outcome, { kind: "ok" }>, now: number): LogDraft[] {
  const at = new Date(now).toISOString();
  const out: LogDraft[] = [];
  if (cmd.type === "blocked_terms" && outcome.blockedTerms) {
    const added = [...outcome.blockedTerms].filter(([t, a]) => state.blockedTerms.get(t) !== a).map(([t, a]) => ({ term: t, action: a }));
    const removed = [...state.blockedTerms.keys()].filter((t) => !outcome.blockedTerms!.has(t));
    if (added.length + removed.length > 0) out.push({ action: "blocked_terms", by, at, details: { added, removed } });
    return out;
  }
  if (outcome.hidden) {
    out.push({ action: outcome.hidden.on ? "hide" : "unhide", by, at, target: outcome.hidden.userId, details: {} });
    return out;
  }
  if (cmd.type === "lockdown_preset" && outcome.lockdownPreset) {
    out.push({ action: "lockdown_preset", by, at, details: { ...outcome.lockdownPreset } });
    return out;
  }
  for (const e of outcome.events) {
    const entry = eventEntry(state, e, cmd, at);
    if (entry) out.push(entry);
  }
  return out;
}

function eventEntry(state: RoomState, e: RoomEvent, cmd: Command, at: string): LogDraft | null {
  switch (e.type) {
    case "comment":
    case "comment_edited":
      return null;
    case "comment_deleted": {
      const c = state.comments.get(e.id)?.comment;
      if (!c || c.user_id === e.by) return null; // an author's own deletion is not moderation
      return { action: "delete", by: e.by, at, target: c.user_id, details: { comment_id: e.id, excerpt: excerpt(c.message) }, event_seq: e.seq };
    }
    case "pinned":
      if (cmd.type !== "pin" && cmd.type !== "unpin") return null;
      return { action: e.comment ? "pin" : "unpin", by: e.by, at, ...(e.comment ? { target: e.comment.user_id } : {}), details: { comment_id: e.comment?.id ?? null }, event_seq: e.seq };
    case "moderation": {
      const { type: _t, seq, action, by, user_id, reason, deleted, ...rest } = e;
      const details: Record<string, unknown> = { ...rest };
      if (deleted) details.deleted = deleted.length;
      if (e.id) details.comment_id = e.id;
      delete details.id;
      return { action, by, at, ...(user_id ? { target: user_id } : {}), ...(reason ? { reason } : {}), details, event_seq: seq };
    }
    default:
      exhaustive(e);
      return null;
  }
}

/** True when `entry` names `userId` as its target, or among a purge's `users`: the user card's history. */
export function concerns(entry: ModlogEntry, userId: string): boolean {
  if (entry.target === userId) return true;
  const users = entry.details.users;
  return Array.isArray(users) && users.includes(userId);
}
