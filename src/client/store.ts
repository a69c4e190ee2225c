/**
 * The room as an app renders it, rebuilt from the server's frames: a pure reducer, no I/O.
 *
 *   welcomeView(view, welcome)            the connection's own facts (who we are, role, viewers)
 *   resetView(view, welcome, frames)      fresh join / lost resume: the backlog is the truth
 *   applyEvent(view, frame)               one sequenced frame, in seq order (idempotent by seq)
 *   setViewers(view, count)               the unsequenced presence count
 *   applyHeld / setReviewQueue / addModlogEntry / addHiddenComment / expireHeld
 *                                         issue 18's unsequenced frames (review queue, our held
 *                                         messages, the live moderation log, shadow-hidden comments)
 *
 * Every function returns a new RoomView when something changed and the same object when nothing
 * did, and never mutates its input, so `prev !== next` is a complete change test (React, Svelte,
 * or the demo page comparing comment objects to re-render only what changed).
 *
 * The rules mirror the room's (src/rules/room-state.ts `apply`, DESIGN.md "Room events"): an
 * edit replaces the text and entities and sets `edited_at` (also on the pinned copy; the same
 * src/rules/edits.ts applyEdit the room and Redis history use); a deletion
 * or a ban's `deleted` list removes comments; `pinned` replaces the pin (a deletion of the pinned
 * comment is followed by its own `pinned: null` event, so it is not cleared here); moderation
 * events about us update our own `role`, `mutedUntil` and `banned`. Issue 18's actions: `chat_mode`
 * and `lockdown` set `modes` (a lockdown also slow mode), `title` the title, `warn` /
 * `warning_acknowledged` about us our `warning`, `purge` removes its `deleted` comments (and matching
 * ones older than the room's ring, which it cannot list: purgeBeyondRing) and treats
 * its `users` like a timeout (`until`) or ban event, `review` takes the item out of the staff queue
 * and marks our own denied message, `hide`/`unhide` keep the staff's list of hidden users. Replaying
 * the same frames in seq order therefore gives the same view, which is what makes a client that
 * resumed after a disconnect end exactly where one that stayed connected is.
 *
 * The unsequenced frames (`held`, `review_queue`, `modlog`, `hidden_comment`) never move `seq`: a
 * shadow-hidden comment is shown at the position it arrived (its `seq` is the view's `seq` then),
 * so it cannot open or close a hole in the sequence.
 */
import { applyEdit } from "../rules/edits.js";
import { exhaustive } from "../rules/never.js";
import { excerpt } from "../rules/text.js";
import { ACCOUNT_AGE_DEFAULT_S, HISTORY_SIZE, PURGE_MAX_S, UNIQUE_DEFAULT_S } from "../protocol.js";
import type {
  ChatMode,
  ChatModes,
  HeldFrame,
  HeldItem,
  ModerationFrame,
  ModlogEntry,
  Role,
  RoomEvent,
  SeqComment,
  StreamComment,
  WelcomeFrame,
} from "./types.js";

/** Comments a view keeps by default (the oldest are dropped first). */
export const DEFAULT_MAX_COMMENTS = 500;
/** Live moderation log entries a view keeps (older ones: `chat.fetchModlog()`). */
export const MAX_LIVE_MODLOG = 200;
/** The review queue a view keeps at most (the server bounds its own queue; this guards memory). */
export const MAX_REVIEW_QUEUE = 500;

/** Every chat mode off. */
export const MODES_OFF: ChatModes = Object.freeze({ emote_only: false, unique_s: 0, members_only: false, account_age_s: 0, first_time_hold: false });

/**
 * A comment as the view holds it. `hidden: true` only in a staff member's view, on a comment of a
 * shadow-hidden user (`hidden_comment`): nobody but its author and staff received it. Its author's
 * own view shows it like any other comment.
 */
export interface ViewComment extends SeqComment {
  hidden?: true;
}

/** A warning a moderator gave us, waiting for `acknowledgeWarning()`; we cannot chat until then. */
export interface PendingWarning {
  reason: string;
  /** The moderator's user id. */
  by: string;
  /** When it was given (RFC 3339), when the server said (the welcome does; a live `warn` event does not). */
  at: string | null;
}

/**
 * One of our own messages the room held for review instead of posting it (`held` frame).
 * `held`: waiting for a moderator; `denied`: a moderator refused it; `expired`: nobody decided by
 * `expiresAt` (this device's clock). Allowed ones leave the list: they are ordinary comments now.
 */
export interface OwnHeldMessage {
  /** The held comment's id (it keeps it when allowed). */
  id: string;
  clientMsgId: string | null;
  /** The text we sent, when this client sent it. */
  text: string | null;
  expiresAt: string;
  status: "held" | "denied" | "expired";
}

/** The room's state as far as this client knows it. Immutable: each change makes a new object. */
export interface RoomView {
  /**
   * Current comments in seq order: edits applied, deleted ones gone; at most `maxComments`. A
   * shadow-hidden user's comment (its author's own, or any for staff) sits where it arrived.
   */
  readonly comments: readonly ViewComment[];
  /** The pinned comment in its current state, or null. */
  readonly pinned: StreamComment | null;
  /** Slow mode spacing in seconds (0 = off). Owners and moderators are exempt. */
  readonly slowModeS: number;
  /** Distinct users connected (presence; not sequenced), null before the first welcome. */
  readonly viewers: number | null;
  /** Our user id (from the welcome), null before the first one. */
  readonly userId: string | null;
  /** Our role in the stream, null before the first welcome. */
  readonly role: Role | null;
  /**
   * End of our latest timeout (RFC 3339) as the server announced it, or null. It may already be
   * past: compare with the clock (`isMuted`). A fresh join only reports a running timeout.
   */
  readonly mutedUntil: string | null;
  /** True while we are banned (we can read, not send). */
  readonly banned: boolean;
  /** The last seq applied (0: none). Frames at or below it are ignored. */
  readonly seq: number;
  /** The chat modes in force (README "Chat modes"); owner and moderators are exempt. */
  readonly modes: ChatModes;
  /** True while a lockdown holds the modes (and slow mode) at the owner's preset. */
  readonly lockdown: boolean;
  /** The stream's title, or null when none is set. */
  readonly title: string | null;
  /** Our warning waiting to be acknowledged, or null. Sends are refused (`warning_pending`) until then. */
  readonly warning: PendingWarning | null;
  /** Our own messages held for review (or denied / expired there), oldest first. */
  readonly held: readonly OwnHeldMessage[];
  /** Staff: the messages waiting for review, oldest first (replaced on every join). Empty for viewers. */
  readonly reviewQueue: readonly HeldItem[];
  /** Staff: moderation log entries received live, oldest first (at most MAX_LIVE_MODLOG). */
  readonly modlog: readonly ModlogEntry[];
  /** Staff: users shadow-hidden by `hide` events seen by this client (the user card says for anyone). */
  readonly hiddenUsers: readonly string[];
}

/** A view before any connection. */
export function emptyView(): RoomView {
  return {
    comments: [],
    pinned: null,
    slowModeS: 0,
    viewers: null,
    userId: null,
    role: null,
    mutedUntil: null,
    banned: false,
    seq: 0,
    modes: MODES_OFF,
    lockdown: false,
    title: null,
    warning: null,
    held: [],
    reviewQueue: [],
    modlog: [],
    hiddenUsers: [],
  };
}

/** True for the roles that moderate (owner, moderator; platform admins arrive as owner). */
export function isStaffRole(role: Role | null): boolean {
  return role === "owner" || role === "moderator";
}

/** True while `view.mutedUntil` is in the future (`now` in ms). */
export function isMuted(view: RoomView, now: number = Date.now()): boolean {
  return view.mutedUntil !== null && Date.parse(view.mutedUntil) > now;
}

/**
 * A welcome's facts that no sequenced frame carries: who we are, our role (it may come from the
 * identity provider or Postgres, not only from `role` events) and the viewer count. Pin, slow
 * mode, mute and ban are left to the frames (or to resetView), so a resume replays them in order.
 */
export function welcomeView(view: RoomView, w: WelcomeFrame): RoomView {
  const next: RoomView = {
    ...view,
    userId: w.user.id,
    role: w.role ?? view.role ?? "viewer",
    viewers: w.viewers ?? view.viewers,
  };
  return shallowEqual(view, next) ? view : next;
}

/**
 * Starts over from what the server says now: a fresh join, or a reconnect it could not resume.
 * `frames` are the sequenced frames the client delivers for this history, in seq order: those at
 * or below `welcome.seq` are the backlog (comments in their current state), the rest arrived live
 * in the meantime and are applied on top. Pin, slow mode, mute, ban, modes, lockdown, title and our
 * warning come from the welcome. Shadow-hidden comments, the review queue (a `review_queue` frame
 * follows for staff) and the hidden users are dropped: the server's state replaces them. Our held
 * messages stay (the server still holds them), except those the backlog shows allowed; the live
 * moderation log stays too (it has its own sequence; older entries come from fetchModlog()).
 */
export function resetView(view: RoomView, w: WelcomeFrame, frames: readonly RoomEvent[], maxComments = DEFAULT_MAX_COMMENTS): RoomView {
  const backlog: SeqComment[] = [];
  const later: RoomEvent[] = [];
  for (const f of frames) {
    if (f.seq > w.seq) later.push(f);
    else if (f.type === "comment") backlog.push({ seq: f.seq, comment: f.comment });
  }
  const posted = new Set(backlog.map((c) => c.comment.id));
  const role = w.role ?? "viewer";
  let next: RoomView = {
    comments: capped(backlog, maxComments),
    pinned: w.pinned ?? null,
    slowModeS: w.slow_mode_s ?? 0,
    viewers: w.viewers ?? view.viewers,
    userId: w.user.id,
    role,
    mutedUntil: w.muted_until ?? null,
    banned: w.banned ?? false,
    seq: w.seq,
    modes: w.modes ? { ...w.modes } : MODES_OFF,
    lockdown: w.lockdown ?? false,
    title: w.title ? w.title : null,
    warning: w.warning ? { reason: w.warning.reason, by: w.warning.by, at: w.warning.at } : null,
    held: view.userId === w.user.id ? view.held.filter((h) => !posted.has(h.id)) : [],
    reviewQueue: [],
    modlog: view.userId === w.user.id && isStaffRole(role) ? view.modlog : [],
    hiddenUsers: [],
  };
  for (const f of later) next = applyEvent(next, f, maxComments);
  return next;
}

/** The presence count changed. */
export function setViewers(view: RoomView, count: number): RoomView {
  return view.viewers === count ? view : { ...view, viewers: count };
}

/**
 * Applies one sequenced frame. Frames must come in seq order (the SequenceTracker guarantees
 * it); a frame at or below `view.seq` was applied already and changes nothing.
 */
export function applyEvent(view: RoomView, e: RoomEvent, maxComments = DEFAULT_MAX_COMMENTS): RoomView {
  if (e.seq <= view.seq) return view;
  const next: Draft = { ...view, seq: e.seq };
  switch (e.type) {
    case "comment":
      next.comments = capped([...view.comments, { seq: e.seq, comment: e.comment }], maxComments);
      // An allowed held message is posted as an ordinary comment with its own id: it leaves the
      // queue and our held list whichever comes first, this comment or the `review` event.
      settleHeld(next, e.comment.id, "allow");
      break;
    case "comment_edited": {
      const i = findIndex(view.comments, e.id);
      if (i >= 0) {
        const comments = view.comments.slice();
        comments[i] = { ...comments[i]!, comment: applyEdit(comments[i]!.comment, e) };
        next.comments = comments;
      }
      if (view.pinned?.id === e.id) next.pinned = applyEdit(view.pinned, e);
      requote(next, new Set([e.id]), () => excerpt(e.message));
      break;
    }
    case "comment_deleted": {
      const i = findIndex(view.comments, e.id);
      if (i >= 0) next.comments = [...view.comments.slice(0, i), ...view.comments.slice(i + 1)];
      requote(next, new Set([e.id]), () => "");
      break;
    }
    case "pinned":
      next.pinned = e.comment;
      break;
    case "moderation":
      applyModeration(view, next, e);
      break;
    default:
      // Only a cast gets here (the client validates every frame): the seq moves, nothing else.
      exhaustive(e);
  }
  return next;
}

type Draft = { -readonly [K in keyof RoomView]: RoomView[K] };

/** One `moderation` event onto `next` (a copy of `view` with the new seq). */
function applyModeration(view: RoomView, next: Draft, e: ModerationFrame): void {
  const me = view.userId;
  const aboutMe = e.user_id !== undefined && e.user_id === me;
  switch (e.action) {
    case "slow_mode":
      next.slowModeS = e.seconds ?? 0;
      break;
    case "ban":
      removeComments(next, e.deleted);
      // The room never holds an owner (src/rules/room-state.ts restriction()).
      if (aboutMe && view.role !== "owner") next.banned = true;
      break;
    case "unban":
      // `lifted` says what the unban lifted (src/rules/room-state.ts); older events lifted bans only.
      if (aboutMe && (!e.lifted || e.lifted.includes("ban"))) next.banned = false;
      if (aboutMe && e.lifted?.includes("timeout")) next.mutedUntil = null;
      break;
    case "timeout":
      if (aboutMe && e.until !== undefined) next.mutedUntil = e.until;
      break;
    case "role":
      // Owners stay owners (the room never sends a role event about one).
      if (aboutMe && e.role !== undefined && view.role !== "owner") {
        next.role = e.role;
        if (!isStaffRole(e.role)) {
          // No longer staff: what only staff are sent is no longer ours to show.
          next.reviewQueue = [];
          next.modlog = [];
          next.hiddenUsers = [];
          if (next.comments.some((c) => c.hidden)) next.comments = next.comments.filter((c) => !c.hidden || c.comment.user_id === me);
        }
      }
      break;
    case "chat_mode":
      if (e.mode !== undefined) next.modes = withMode(view.modes, e.mode, e.on ?? false, e.seconds);
      break;
    case "lockdown":
      next.lockdown = e.on ?? !view.lockdown;
      if (e.modes) next.modes = { ...e.modes };
      if (e.seconds !== undefined) next.slowModeS = e.seconds;
      break;
    case "review":
      if (e.id !== undefined) settleHeld(next, e.id, e.decision ?? "deny");
      break;
    case "warn":
      if (aboutMe) next.warning = { reason: e.reason ?? "", by: e.by, at: null };
      break;
    case "warning_acknowledged":
      if (aboutMe) next.warning = null;
      break;
    case "purge":
      removeComments(next, e.deleted);
      purgeBeyondRing(next, e);
      // The authors it acted on, like a timeout or ban event of each.
      if (me !== null && e.users?.includes(me) && view.role !== "owner") {
        if (e.then === "ban") next.banned = true;
        else if (e.then === "timeout" && e.until !== undefined) next.mutedUntil = e.until;
      }
      break;
    case "title":
      next.title = e.title ? e.title : null;
      break;
    default:
      exhaustive(e.action);
  }
}

/** The modes after one `chat_mode` event: a flag, or a window/minimum in seconds (0 = off). */
function withMode(modes: ChatModes, mode: ChatMode, on: boolean, seconds: number | undefined): ChatModes {
  switch (mode) {
    case "emote_only":
      return { ...modes, emote_only: on };
    case "members_only":
      return { ...modes, members_only: on };
    case "first_time_hold":
      return { ...modes, first_time_hold: on };
    case "unique":
      return { ...modes, unique_s: on ? (seconds ?? UNIQUE_DEFAULT_S) : 0 };
    case "account_age":
      return { ...modes, account_age_s: on ? (seconds ?? ACCOUNT_AGE_DEFAULT_S) : 0 };
    default:
      exhaustive(mode);
      return modes;
  }
}

/** Removes the comments a ban or purge lists (hidden ones too), and empties quotes of them. */
function removeComments(next: Draft, deleted: readonly string[] | undefined): void {
  if (!deleted?.length) return;
  const gone = new Set(deleted);
  if (next.comments.some((c) => gone.has(c.comment.id))) next.comments = next.comments.filter((c) => !gone.has(c.comment.id));
  requote(next, gone, () => "");
}

/** Case- and whitespace-insensitive form of a text, for matching a purge's phrase. */
const loose = (s: string) => s.toLowerCase().replace(/\s+/g, " ").trim();

/**
 * A purge's `deleted` names what the room still holds: its ring, the last HISTORY_SIZE frames. A
 * view keeps more (maxComments, default 500), and under a raid at the room's budget the ring turns
 * over in seconds, so comments from before the ring that contain the phrase (case- and
 * space-insensitively) and are at most PURGE_MAX_S older than the newest comment go too. No fresh
 * join shows a comment from before the ring, so this keeps a connected view equal to a new one; and
 * it depends only on the view and the event, so a resume replays it exactly.
 */
function purgeBeyondRing(next: Draft, e: ModerationFrame): void {
  const phrase = e.phrase === undefined ? "" : loose(e.phrase);
  if (phrase === "") return;
  const outOfRing = e.seq - HISTORY_SIZE;
  if (!next.comments.some((c) => c.seq <= outOfRing)) return;
  let newest = -Infinity;
  for (const c of next.comments) newest = Math.max(newest, Date.parse(c.comment.created_at) || -Infinity);
  const since = newest - PURGE_MAX_S * 1000;
  const gone = new Set<string>();
  for (const c of next.comments) {
    if (c.seq > outOfRing) break; // seq order: the rest are in the ring, where `deleted` is the truth
    if (Date.parse(c.comment.created_at) >= since && loose(c.comment.message).includes(phrase)) gone.add(c.comment.id);
  }
  if (gone.size > 0) removeComments(next, [...gone]);
}

/**
 * A held message was decided (a `review` event, or its comment arrived): out of the staff queue;
 * our own held row leaves when allowed and is marked `denied` when denied.
 */
function settleHeld(next: Draft, id: string, decision: "allow" | "deny"): void {
  if (next.reviewQueue.some((h) => h.id === id)) next.reviewQueue = next.reviewQueue.filter((h) => h.id !== id);
  const i = next.held.findIndex((h) => h.id === id);
  if (i < 0) return;
  if (decision === "allow") next.held = [...next.held.slice(0, i), ...next.held.slice(i + 1)];
  else if (next.held[i]!.status !== "denied") next.held = next.held.map((h, j) => (j === i ? { ...h, status: "denied" } : h));
}

// ---------------------------------------------------------------------------------------------
// Unsequenced frames of issue 18: they never move `seq`
// ---------------------------------------------------------------------------------------------

/**
 * A `held` frame. With `comment` (to staff): a new item of the review queue (`held_at` is the
 * comment's `created_at`: the server held it when it was posted). Without (to the sender): one of our
 * messages is held — `text` is what we sent, when the client knows it. An id already known is left alone.
 */
export function applyHeld(view: RoomView, frame: HeldFrame, text: string | null = null): RoomView {
  if (frame.comment) {
    if (view.reviewQueue.some((h) => h.id === frame.id)) return view;
    // Already decided (its review event or comment came first, e.g. on a resume): nothing to queue.
    if (view.comments.some((c) => c.comment.id === frame.id)) return view;
    const item: HeldItem = { id: frame.id, comment: frame.comment, reason: frame.reason ?? "blocked_term", held_at: frame.comment.created_at, expires_at: frame.expires_at };
    return { ...view, reviewQueue: capped([...view.reviewQueue, item], MAX_REVIEW_QUEUE) };
  }
  if (view.held.some((h) => h.id === frame.id)) return view;
  const own: OwnHeldMessage = { id: frame.id, clientMsgId: frame.client_msg_id ?? null, text, expiresAt: frame.expires_at, status: "held" };
  return { ...view, held: [...view.held, own] };
}

/** A `review_queue` frame (staff, on every join and resume): the whole queue, oldest first. */
export function setReviewQueue(view: RoomView, items: readonly HeldItem[]): RoomView {
  if (items.length === 0 && view.reviewQueue.length === 0) return view;
  return { ...view, reviewQueue: capped([...items], MAX_REVIEW_QUEUE) };
}

/** A live `modlog` entry (staff): kept in log-seq order, once, the newest MAX_LIVE_MODLOG. */
export function addModlogEntry(view: RoomView, entry: ModlogEntry, max = MAX_LIVE_MODLOG): RoomView {
  if (view.modlog.some((m) => m.seq === entry.seq)) return view;
  const log = [...view.modlog, entry].sort((a, b) => a.seq - b.seq);
  // A shadow hide is not a room event (the hidden user must not see it): staff learn it from the log.
  const target = entry.target;
  let hiddenUsers = view.hiddenUsers;
  if (target !== undefined && entry.action === "hide" && !hiddenUsers.includes(target)) hiddenUsers = [...hiddenUsers, target];
  if (target !== undefined && entry.action === "unhide") hiddenUsers = hiddenUsers.filter((u) => u !== target);
  return { ...view, modlog: log.length > max ? log.slice(log.length - max) : log, hiddenUsers };
}

/**
 * A `hidden_comment` frame: a shadow-hidden user's message, sent only to its author and to staff.
 * It is shown where it arrived (`seq` = the view's current seq; the seq does not move), marked
 * `hidden` for staff and unmarked for its author. A comment already shown is left alone.
 */
export function addHiddenComment(view: RoomView, comment: StreamComment, maxComments = DEFAULT_MAX_COMMENTS): RoomView {
  if (findIndex(view.comments, comment.id) >= 0) return view;
  const entry: ViewComment = isStaffRole(view.role) ? { seq: view.seq, comment, hidden: true } : { seq: view.seq, comment };
  return { ...view, comments: capped([...view.comments, entry], maxComments) };
}

/**
 * Held messages past their expiry at `now` (ms): our own ones become `expired`, staff's queue items
 * leave the queue. `expires_at` is the server's clock; the client adds its own grace before calling this.
 */
export function expireHeld(view: RoomView, now: number): RoomView {
  const past = (at: string) => Date.parse(at) <= now;
  const queue = view.reviewQueue.some((h) => past(h.expires_at)) ? view.reviewQueue.filter((h) => !past(h.expires_at)) : view.reviewQueue;
  const held = view.held.some((h) => h.status === "held" && past(h.expiresAt))
    ? view.held.map((h) => (h.status === "held" && past(h.expiresAt) ? { ...h, status: "expired" as const } : h))
    : view.held;
  return queue === view.reviewQueue && held === view.held ? view : { ...view, reviewQueue: queue, held };
}

/** The earliest `expires_at` (ms) among our waiting held messages and the staff queue, or null. */
export function nextHeldExpiry(view: RoomView): number | null {
  let min: number | null = null;
  for (const at of [...view.held.filter((h) => h.status === "held").map((h) => h.expiresAt), ...view.reviewQueue.map((h) => h.expires_at)]) {
    const t = Date.parse(at);
    if (Number.isFinite(t) && (min === null || t < min)) min = t;
  }
  return min;
}

/**
 * Replies quoting an edited comment show its new text, those quoting a deleted one an empty
 * excerpt — as the room does (src/rules/room-state.ts apply), so removed text never lives on.
 */
function requote(next: { comments: RoomView["comments"]; pinned: RoomView["pinned"] }, targets: Set<string>, quote: (id: string) => string): void {
  let changed = false;
  const comments = next.comments.map((c) => {
    const r = c.comment.reply_to;
    if (!r || !targets.has(r.id) || r.excerpt === quote(r.id)) return c;
    changed = true;
    const comment = { ...c.comment, reply_to: { ...r, excerpt: quote(r.id) } };
    if (next.pinned?.id === comment.id) next.pinned = comment;
    return c.hidden ? { seq: c.seq, comment, hidden: true as const } : { seq: c.seq, comment };
  });
  if (changed) next.comments = comments;
}

/** Applies frames in order (see applyEvent). */
export function applyEvents(view: RoomView, frames: readonly RoomEvent[], maxComments = DEFAULT_MAX_COMMENTS): RoomView {
  let next = view;
  for (const f of frames) next = applyEvent(next, f, maxComments);
  return next;
}

/**
 * The sequenced frames of a `history`, merged by seq: its comments (as `comment` frames) and its
 * `events` (a resume's missed edits, deletions, pins and moderation).
 */
export function historyFrames(comments: readonly SeqComment[], events: readonly RoomEvent[] = []): RoomEvent[] {
  const frames: RoomEvent[] = comments.map((c) => ({ type: "comment", seq: c.seq, comment: c.comment }));
  frames.push(...events);
  return frames.sort((a, b) => a.seq - b.seq);
}

function capped<T>(list: T[], max: number): T[] {
  return list.length > max ? list.slice(list.length - max) : list;
}

/** Index of a comment by id; searched from the end, where edits and deletions mostly land. */
function findIndex(list: readonly ViewComment[], id: string): number {
  for (let i = list.length - 1; i >= 0; i--) if (list[i]!.comment.id === id) return i;
  return -1;
}

function shallowEqual(a: RoomView, b: RoomView): boolean {
  return (Object.keys(a) as Array<keyof RoomView>).every((k) => a[k] === b[k]);
}
