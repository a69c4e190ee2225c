/**
 * The stream's rules, as a pure state machine (no I/O, no Workers APIs): DESIGN.md "Room events:
 * rich chat and moderation".
 *
 *   decide(state, actor, command, now, opts) → Outcome     what a command would do; state untouched
 *   apply(state, event)                                   the state after one sequenced event
 *
 * The ChatRoom (src/room.ts) runs one pass per command: parse → decide → apply → persist →
 * broadcast → outbox. Replaying the same events with apply() gives the same state, which is what
 * makes a resumed client end where a connected one is.
 *
 * Roles: `actor.role` is what the worker resolved (JWT claims, Postgres) and the socket carries;
 * on every command it is re-checked against the room's own grants (`role` frames) and bans.
 * A moderator cannot act on the owner or another moderator; nobody acts on themselves.
 */
import {
  HISTORY_SIZE,
  MAX_BLOCKED_TERMS,
  MAX_REASON_CODE_POINTS,
  type Attachment,
  type ChatModes,
  type Command,
  type CommandError,
  type ErrorCode,
  type LockdownPreset,
  type ModerationFrame,
  type Role,
  type RoomEvent,
  type StreamComment,
  type TermAction,
} from "../protocol";
import { applyEdit } from "./edits";
import { applyTool, decideTool, isToolCommand } from "./moderation";
import { DEFAULT_LOCKDOWN_PRESET, MODES_OFF, UniqueWindow, modeRefusal, uniqueKey } from "./modes";
import { assertNever, exhaustive } from "./never";
import { HELD_TTL_MS, MAX_HELD, MAX_HELD_PER_USER, termVerdict, type Held } from "./review";
import { excerpt, normalizeTerm, prepareText } from "./text";

/**
 * Caps on the moderation state a room keeps (it is loaded whole when the object starts): bans,
 * active timeouts, and room role grants. Past a cap the command gets `limit_reached`.
 */
export const MAX_BANS = 10_000;
export const MAX_TIMEOUTS = 10_000;
export const MAX_GRANTS = 1_000;

/** A comment in its current state (edits applied), with the seq it was created at. */
export interface CommentEntry {
  seq: number;
  comment: StreamComment;
}

/** Everything the rules need to know about one stream. The room keeps it in memory and in SQLite. */
export interface RoomState {
  streamId: string;
  /** Last seq assigned (0 if none). */
  seq: number;
  /** The stream's owner from Postgres, when the worker knew it. */
  ownerId: string | null;
  /** The last `maxComments` comments, current state, in seq order (Map keeps insertion order). */
  comments: Map<string, CommentEntry>;
  pinned: StreamComment | null;
  /** Slow mode spacing, seconds; 0 = off. */
  slowModeS: number;
  /** Roles granted in the room with `role` frames; they override the worker's moderator/viewer. */
  grants: Map<string, "moderator" | "viewer">;
  /** Roles users connected with (owner/moderator only), so offline staff stay protected. */
  knownRoles: Map<string, Role>;
  bans: Map<string, { by: string; at: number; reason?: string }>;
  /** user id → when the timeout ends (ms) and who gave it. */
  timeouts: Map<string, { until: number; by: string }>;
  /** normalizeTerm() forms → what a match does (refuse, or hold for review). */
  blockedTerms: Map<string, TermAction>;
  /** user id → when their last comment was accepted while slow mode was on, ms (slow mode spaces from it; stored too). */
  lastMessageAt: Map<string, number>;
  /** The chat modes (src/rules/modes.ts). */
  modes: ChatModes;
  /** While a lockdown holds: what it will restore (the modes and slow mode before it). */
  lockdown: LockdownPreset | null;
  /** What `lockdown` turns on (the owner's `lockdown_preset`, or DEFAULT_LOCKDOWN_PRESET). */
  lockdownPreset: LockdownPreset;
  /** The stream's title ("" = none). */
  title: string;
  /** user id → their warning not yet acknowledged (`at` ms). */
  warnings: Map<string, { reason: string; by: string; at: number }>;
  /** Users whose new messages only they and staff see (shadow hide). */
  hidden: Set<string>;
  /** Messages waiting for review, by comment id, oldest first (src/rules/review.ts). */
  held: Map<string, Held>;
  /** The normal forms accepted in the `unique` window (in memory only; src/rules/modes.ts). */
  recent: UniqueWindow;
}

/** Who sends a command. */
export interface Actor {
  userId: string;
  username: string | null;
  /** The role the worker resolved; see effectiveRole(). */
  role: Role;
  /** A member/subscriber of this stream (token claim `stream_members`; README "Chat modes"). */
  member?: boolean;
  /** When the account was created, ms (Postgres `users.created_at`, else the token's `account_created_at`); null/absent = unknown. */
  accountCreatedAt?: number | null;
}

export interface RuleOptions {
  /** EDIT_WINDOW_S in ms. */
  editWindowMs: number;
  /** Comment ids (crypto.randomUUID in the room; deterministic in tests). */
  newId: () => string;
  /** Resolves an upload id of `userId` in this stream to its attachment, or null (DESIGN.md "Images in chat"). */
  attachment?: (uploadId: string, userId: string) => Attachment | null;
  /** Whether `userId` ever had a comment accepted in this stream (first_time_hold); absent = yes. */
  hasPosted?: (userId: string) => boolean;
}

/** What a command does. Errors carry DESIGN.md's codes; `ignored` is a visually empty message. */
export type Outcome =
  | { kind: "ignored" }
  | CommandError
  | {
      kind: "ok";
      /** Sequenced events, seqs state.seq + 1 … in order. */
      events: RoomEvent[];
      /** What to acknowledge: the comment created or acted on, and the first event's seq. */
      ack: { id?: string; seq?: number };
      /** blocked_terms only (not broadcast): the new complete term map. */
      blockedTerms?: Map<string, TermAction>;
      /** lockdown_preset only (not broadcast): the owner's new preset. */
      lockdownPreset?: LockdownPreset;
      /** hide_user / unhide_user (not broadcast: a shadow hide the hidden user can see is no hide). */
      hidden?: { userId: string; on: boolean };
    }
  /** A message held for review (not broadcast): the room queues it and tells the sender and staff. */
  | { kind: "held"; held: Held }
  /** A message of a hidden user (not sequenced): to its author and staff only. */
  | { kind: "hidden"; comment: StreamComment };

/** An empty state for a new stream. */
export function emptyState(streamId: string): RoomState {
  return {
    streamId,
    seq: 0,
    ownerId: null,
    comments: new Map(),
    pinned: null,
    slowModeS: 0,
    grants: new Map(),
    knownRoles: new Map(),
    bans: new Map(),
    timeouts: new Map(),
    blockedTerms: new Map(),
    lastMessageAt: new Map(),
    modes: { ...MODES_OFF },
    lockdown: null,
    lockdownPreset: { ...DEFAULT_LOCKDOWN_PRESET },
    title: "",
    warnings: new Map(),
    hidden: new Set(),
    held: new Map(),
    recent: new UniqueWindow(),
  };
}

/** The role a user acts with now: owners stay owners; the room's grants override moderator/viewer. */
export function effectiveRole(state: RoomState, userId: string, claimed: Role): Role {
  if (claimed === "owner" || state.ownerId === userId) return "owner";
  return state.grants.get(userId) ?? claimed;
}

/** The role of a user who is the target of an action, whether connected or not. */
export function targetRole(state: RoomState, userId: string): Role {
  if (state.ownerId === userId || state.knownRoles.get(userId) === "owner") return "owner";
  return state.grants.get(userId) ?? state.knownRoles.get(userId) ?? "viewer";
}

/**
 * The ban or timeout that holds `userId` (acting with `role`, see effectiveRole) at `now` (ms), if any.
 *
 * The rule (README "Room events", issue 22): a ban, and a running timeout, hold **whatever the
 * user's role** until an `unban` lifts them (or the timeout ends). Becoming a moderator — by a room
 * grant, a token claim or Postgres — never lifts or hides one, and losing the role never revives
 * anything, because nothing was ever suspended. So the state route's lists, the welcome's
 * `banned`/`muted_until`, sends, moderation, uploads and the stats route all read this one answer.
 * The only exception is the owner (admins act as owner), who is never restricted: a ban made before
 * the room knew who the owner was cannot lock them out of their own chat.
 */
export function restriction(state: RoomState, userId: string, role: Role, now: number): { banned: true } | { until: number } | null {
  if (role === "owner") return null;
  if (state.bans.has(userId)) return { banned: true };
  const t = state.timeouts.get(userId);
  if (t && t.until > now) return { until: t.until };
  return null;
}

/** A user's own restrictions, for `welcome` (RFC 3339 `muted_until`). */
export function restrictions(state: RoomState, userId: string, role: Role, now: number): { muted_until?: string; banned?: boolean } {
  const r = restriction(state, userId, role, now);
  if (!r) return {};
  return "banned" in r ? { banned: true } : { muted_until: new Date(r.until).toISOString() };
}

/** A refusal with DESIGN.md's `code` (and `until` / `retry_after_ms` when it has them). */
export const err = (code: ErrorCode, extra: Omit<CommandError, "kind" | "code"> = {}): CommandError => ({ kind: "error", code, ...extra });
const iso = (ms: number) => new Date(ms).toISOString();
/** The owner and moderators. */
export const isStaff = (r: Role) => r === "owner" || r === "moderator";

/** Why `actor` may not act on `target`, or null when it may (DESIGN.md: moderators not on owner/moderators). */
export function guardTarget(state: RoomState, actorId: string, actorRole: Role, target: string): Outcome | null {
  if (!isStaff(actorRole) || target === actorId) return err("forbidden");
  const t = targetRole(state, target);
  if (t === "owner" || (t === "moderator" && actorRole !== "owner")) return err("forbidden");
  return null;
}

/** What an `unban` of `userId` at `now` (ms) would lift: their ban, their running timeout, both or neither. */
function liftable(state: RoomState, userId: string, now: number): Array<"ban" | "timeout"> {
  const lifted: Array<"ban" | "timeout"> = [];
  if (state.bans.has(userId)) lifted.push("ban");
  if ((state.timeouts.get(userId)?.until ?? 0) > now) lifted.push("timeout");
  return lifted;
}

/**
 * Decides what `cmd` from `actor` does at `now` (ms). Never mutates `state`. Moderation
 * (README "Room events", issue 22): a ban or timeout holds whatever the target's role; `unban`
 * lifts both (its event's `lifted` says which), by the owner or a moderator — a banned moderator
 * only by the owner, since moderators cannot act on moderators; `role` → moderator of a banned or
 * timed-out user is `target_restricted` (unban first); demoting one is allowed and changes nothing
 * about the restriction.
 */
export function decide(state: RoomState, actor: Actor, cmd: Command, now: number, opts: RuleOptions): Outcome {
  const role = effectiveRole(state, actor.userId, actor.role);
  const by = actor.userId;
  const next = state.seq + 1;
  const ok = (events: RoomEvent[], id?: string): Outcome => ({ kind: "ok", events, ack: { id, seq: events[0]?.seq } });

  // Timed-out and banned users are readers: every command but deleting their own comment (and
  // acknowledging a warning) is refused.
  const held = restriction(state, actor.userId, role, now);
  const ownDelete = cmd.type === "delete" && state.comments.get(cmd.id)?.comment.user_id === actor.userId;
  if (held && !ownDelete && cmd.type !== "acknowledge_warning") return "banned" in held ? err("banned") : err("muted", { until: iso(held.until) });

  if (isToolCommand(cmd)) return decideTool(state, actor, role, cmd, now);
  switch (cmd.type) {
    case "message":
    case "edit": {
      const target = cmd.type === "edit" ? state.comments.get(cmd.id) : undefined;
      if (cmd.type === "edit") {
        if (!target) return err("not_found");
        if (target.comment.user_id !== actor.userId) return err("forbidden");
        if (now - Date.parse(target.comment.created_at) > opts.editWindowMs) return err("edit_window_passed");
      }
      // A warned user acknowledges first (issue 18 §4), whatever they send.
      if (state.warnings.has(actor.userId) && !isStaff(role)) return err("warning_pending");
      const prepared = prepareText(cmd.text);
      if (prepared.kind === "invalid") return err(prepared.code);
      // An image alone is a message; text that is visually empty and nothing else is ignored.
      const withImages = cmd.type === "message" && (cmd.attachments?.length ?? 0) > 0;
      if (prepared.kind === "empty" && !withImages) return { kind: "ignored" };
      const text = prepared.kind === "ok" ? prepared : { text: "", entities: [] };
      // The chat modes (src/rules/modes.ts); an edit is not held to `unique` (it is the same message).
      const subject = { staff: isStaff(role), member: actor.member === true, accountCreatedAt: actor.accountCreatedAt ?? null };
      const modes = cmd.type === "edit" ? { ...state.modes, unique_s: 0 } : state.modes;
      const refusal = modeRefusal(modes, subject, text.text, withImages, now, state.recent);
      if (refusal) return err(refusal);
      // A `hold` term holds a new message for review; an edit cannot be held, so it is refused.
      const verdict = termVerdict(text.text, state.blockedTerms);
      if (verdict === "block" || (verdict === "hold" && cmd.type === "edit" && !isStaff(role))) return err("blocked_term");
      if (cmd.type === "edit") {
        return ok(
          [{ type: "comment_edited", seq: next, id: cmd.id, message: text.text, entities: text.entities, edited_at: iso(now) }],
          cmd.id,
        );
      }
      if (role === "viewer" && state.slowModeS > 0) {
        const last = state.lastMessageAt.get(actor.userId);
        const wait = last === undefined ? 0 : last + state.slowModeS * 1000 - now;
        if (wait > 0) return err("slow_mode", { retry_after_ms: wait });
      }
      const comment: StreamComment = {
        id: opts.newId(),
        stream_id: state.streamId,
        user_id: actor.userId,
        username: actor.username,
        message: text.text,
        created_at: iso(now),
      };
      if (cmd.reply_to !== undefined) {
        const t = state.comments.get(cmd.reply_to);
        if (!t) return err("not_found");
        comment.reply_to = { id: t.comment.id, user_id: t.comment.user_id, username: t.comment.username, excerpt: excerpt(t.comment.message) };
      }
      if (text.entities.length > 0) comment.entities = text.entities;
      if (cmd.attachments?.length) {
        const found = [...new Set(cmd.attachments)].map((id) => opts.attachment?.(id, actor.userId) ?? null);
        if (found.some((a) => a === null)) return err("invalid_attachment");
        comment.attachments = found as Attachment[];
      }
      if (!isStaff(role)) {
        // A hidden user's message reaches only them and staff; it is never held (nobody else would see it).
        if (state.hidden.has(actor.userId)) return { kind: "hidden", comment };
        const reason = verdict === "hold" ? "blocked_term" : state.modes.first_time_hold && !(opts.hasPosted?.(actor.userId) ?? true) ? "first_time" : null;
        if (reason) {
          if (state.held.size >= MAX_HELD) return err("review_queue_full", { retry_after_ms: 5_000 });
          let mine = 0;
          for (const h of state.held.values()) if (h.comment.user_id === actor.userId) mine++;
          if (mine >= MAX_HELD_PER_USER) return err("review_queue_full", { retry_after_ms: 5_000 });
          return { kind: "held", held: { comment, reason, heldAt: now, expiresAt: now + HELD_TTL_MS } };
        }
      }
      return ok([{ type: "comment", seq: next, comment }], comment.id);
    }

    case "delete": {
      const target = state.comments.get(cmd.id);
      if (!target) return err("not_found");
      if (target.comment.user_id !== actor.userId) {
        const refused = guardTarget(state, actor.userId, role, target.comment.user_id);
        if (refused) return refused;
      }
      const events: RoomEvent[] = [{ type: "comment_deleted", seq: next, id: cmd.id, by }];
      if (state.pinned?.id === cmd.id) events.push({ type: "pinned", seq: next + 1, comment: null, by });
      return ok(events, cmd.id);
    }

    case "pin":
    case "unpin": {
      if (!isStaff(role)) return err("forbidden");
      if (cmd.type === "unpin") return state.pinned ? ok([{ type: "pinned", seq: next, comment: null, by }]) : ok([]);
      const target = state.comments.get(cmd.id);
      if (!target) return err("not_found");
      if (state.pinned?.id === cmd.id) return ok([], cmd.id); // already pinned: nothing changes, no event
      return ok([{ type: "pinned", seq: next, comment: target.comment, by }], cmd.id);
    }

    case "timeout":
    case "ban":
    case "unban": {
      const refused = guardTarget(state, actor.userId, role, cmd.user_id);
      if (refused) return refused;
      const m: ModerationFrame = { type: "moderation", seq: next, action: cmd.type, user_id: cmd.user_id, by };
      if (cmd.type !== "unban" && cmd.reason !== undefined) {
        // Shown to every viewer: the message text rules apply, then it is cut to one short line.
        const r = prepareText(cmd.reason, Number.MAX_SAFE_INTEGER);
        if (r.kind === "invalid") return err("invalid_text");
        if (r.kind === "ok") m.reason = excerpt(r.text, MAX_REASON_CODE_POINTS);
      }
      if (cmd.type === "timeout" && !state.timeouts.has(cmd.user_id) && state.timeouts.size >= MAX_TIMEOUTS) return err("limit_reached");
      if (cmd.type === "ban" && !state.bans.has(cmd.user_id) && state.bans.size >= MAX_BANS) return err("limit_reached");
      if (cmd.type === "timeout") {
        m.seconds = cmd.seconds;
        m.until = iso(now + cmd.seconds * 1000);
        return ok([m]);
      }
      if (cmd.type === "unban") {
        // `unban` lifts a ban and a running timeout alike (Twitch's /unban does): the event says which.
        const lifted = liftable(state, cmd.user_id, now);
        return lifted.length > 0 ? ok([{ ...m, lifted }]) : ok([]);
      }
      // A ban also removes the user's comments still in the ring (and the pin, if it was theirs).
      m.deleted = [...state.comments.values()].filter((e) => e.comment.user_id === cmd.user_id).map((e) => e.comment.id);
      const events: RoomEvent[] = [m];
      if (state.pinned?.user_id === cmd.user_id) events.push({ type: "pinned", seq: next + 1, comment: null, by });
      return ok(events);
    }

    case "slow_mode":
      if (!isStaff(role)) return err("forbidden");
      if (cmd.seconds === state.slowModeS) return ok([]); // no change, no event
      return ok([{ type: "moderation", seq: next, action: "slow_mode", seconds: cmd.seconds, by }]);

    case "blocked_terms": {
      if (!isStaff(role)) return err("forbidden");
      const terms = new Map(state.blockedTerms);
      const removed = new Set((cmd.remove ?? []).map(normalizeTerm).filter((t): t is string => t !== null));
      for (const t of removed) terms.delete(t);
      for (const raw of cmd.add ?? []) {
        const t = normalizeTerm(raw);
        // A term both added and removed in one frame is a contradiction, not an order to guess.
        if (t === null || removed.has(t)) return err("invalid_frame");
        terms.set(t, cmd.action ?? "block");
      }
      if (terms.size > MAX_BLOCKED_TERMS) return err("limit_reached");
      return { kind: "ok", events: [], ack: {}, blockedTerms: terms };
    }

    case "role": {
      if (role !== "owner" || cmd.user_id === actor.userId || targetRole(state, cmd.user_id) === "owner") return err("forbidden");
      // A ban or timeout holds whatever the role (restriction()), so making a restricted user a
      // moderator would hand moderation to someone who cannot use it: refused, never silently kept.
      if (cmd.role === "moderator" && liftable(state, cmd.user_id, now).length > 0) return err("target_restricted");
      if (state.grants.get(cmd.user_id) === cmd.role) return ok([]); // already so: no event
      if (!state.grants.has(cmd.user_id) && state.grants.size >= MAX_GRANTS) return err("limit_reached");
      return ok([{ type: "moderation", seq: next, action: "role", user_id: cmd.user_id, role: cmd.role, by }]);
    }

    default:
      return assertNever(cmd, "decide");
  }
}

/**
 * Applies one sequenced event (from decide(), or replayed) to `state`, in place. `now` (ms) is
 * when it was accepted (slow mode). Keeps at most `maxComments` comments. Returns the ids of the
 * other comments whose current state changed with it: replies quoting an edited comment get its new
 * text as their excerpt, replies quoting a deleted one (also by a ban) an empty excerpt, so removed
 * text does not live on in quotes.
 */
export function apply(state: RoomState, e: RoomEvent, now: number, maxComments = HISTORY_SIZE): string[] {
  state.seq = e.seq;
  switch (e.type) {
    case "comment": {
      state.comments.set(e.comment.id, { seq: e.seq, comment: e.comment });
      while (state.comments.size > maxComments) state.comments.delete(state.comments.keys().next().value!);
      // Slow mode spaces from the last message posted while it is on — what the room stores (slow_last,
      // src/room-store.ts), so a room started again from storage spaces exactly as the live one did.
      if (state.slowModeS > 0) state.lastMessageAt.set(e.comment.user_id, now);
      if (state.modes.unique_s > 0) state.recent.add(uniqueKey(e.comment.message), now);
      return [];
    }
    case "comment_edited": {
      const entry = state.comments.get(e.id);
      if (!entry) return [];
      entry.comment = applyEdit(entry.comment, e);
      if (state.pinned?.id === e.id) state.pinned = entry.comment;
      return requote(state, new Set([e.id]), (id) => (id === e.id ? excerpt(e.message) : ""));
    }
    case "comment_deleted":
      state.comments.delete(e.id);
      return requote(state, new Set([e.id]), () => "");
    case "pinned":
      state.pinned = e.comment;
      return [];
    case "moderation":
      switch (e.action) {
        case "timeout":
          state.timeouts.set(e.user_id!, { until: Date.parse(e.until!), by: e.by });
          return [];
        case "ban": {
          state.bans.set(e.user_id!, { by: e.by, at: now, ...(e.reason ? { reason: e.reason } : {}) });
          dropHeldOf(state, [e.user_id!]);
          return removeComments(state, e.deleted ?? []);
        }
        case "unban":
          // Events from before `lifted` existed lifted bans only: replaying them must not lift more.
          if (!e.lifted || e.lifted.includes("ban")) state.bans.delete(e.user_id!);
          if (e.lifted?.includes("timeout")) state.timeouts.delete(e.user_id!);
          return [];
        case "slow_mode":
          state.slowModeS = e.seconds ?? 0;
          if (state.slowModeS === 0) state.lastMessageAt.clear();
          return [];
        case "role":
          state.grants.set(e.user_id!, e.role!);
          return [];
        case "chat_mode":
        case "review":
        case "warn":
        case "warning_acknowledged":
        case "lockdown":
        case "purge":
        case "title":
          return applyTool(state, e, now);
        default:
          exhaustive(e.action);
          return [];
      }
    default:
      // Not reachable with a typed event. The shard's mirror casts the room's JSON: a type from a
      // newer room (mid-deploy) only moves the seq, as it always did.
      exhaustive(e);
      return [];
  }
}

/** Removes the comments `ids` from the ring (and the review queue); returns the replies re-quoted. */
export function removeComments(state: RoomState, ids: readonly string[]): string[] {
  const gone = new Set(ids);
  for (const id of gone) {
    state.comments.delete(id);
    state.held.delete(id);
  }
  return requote(state, gone, () => "");
}

/** Drops the held messages of `users` (a ban: nobody reviews a banned user's messages). */
export function dropHeldOf(state: RoomState, users: readonly string[]): void {
  const who = new Set(users);
  for (const [id, h] of state.held) if (who.has(h.comment.user_id)) state.held.delete(id);
}

/** Gives replies to any of `targets` the excerpt `text(target)`; returns the replies changed. */
function requote(state: RoomState, targets: Set<string>, text: (target: string) => string): string[] {
  const changed: string[] = [];
  for (const entry of state.comments.values()) {
    const r = entry.comment.reply_to;
    if (!r || !targets.has(r.id)) continue;
    const quote = text(r.id);
    if (r.excerpt === quote) continue;
    entry.comment = { ...entry.comment, reply_to: { ...r, excerpt: quote } };
    if (state.pinned?.id === entry.comment.id) state.pinned = entry.comment;
    changed.push(entry.comment.id);
  }
  return changed;
}

/** Drops timeouts that have ended (called now and then; `restrictions` ignores them anyway). */
export function pruneTimeouts(state: RoomState, now: number): string[] {
  const ended: string[] = [];
  for (const [user, t] of state.timeouts) if (t.until <= now) ended.push(user);
  for (const user of ended) state.timeouts.delete(user);
  return ended;
}
