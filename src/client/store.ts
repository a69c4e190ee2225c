/**
 * The room as an app renders it, rebuilt from the server's frames: a pure reducer, no I/O.
 *
 *   welcomeView(view, welcome)            the connection's own facts (who we are, role, viewers)
 *   resetView(view, welcome, frames)      fresh join / lost resume: the backlog is the truth
 *   applyEvent(view, frame)               one sequenced frame, in seq order (idempotent by seq)
 *   setViewers(view, count)               the unsequenced presence count
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
 * events about us update our own `role`, `mutedUntil` and `banned`. Replaying the same frames in
 * seq order therefore gives the same view, which is what makes a client that resumed after a
 * disconnect end exactly where one that stayed connected is.
 */
import { applyEdit } from "../rules/edits.js";
import { exhaustive } from "../rules/never.js";
import { excerpt } from "../rules/text.js";
import type { Role, RoomEvent, SeqComment, StreamComment, WelcomeFrame } from "./types.js";

/** Comments a view keeps by default (the oldest are dropped first). */
export const DEFAULT_MAX_COMMENTS = 500;

/** The room's state as far as this client knows it. Immutable: each change makes a new object. */
export interface RoomView {
  /** Current comments in seq order: edits applied, deleted ones gone; at most `maxComments`. */
  readonly comments: readonly SeqComment[];
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
}

/** A view before any connection. */
export function emptyView(): RoomView {
  return { comments: [], pinned: null, slowModeS: 0, viewers: null, userId: null, role: null, mutedUntil: null, banned: false, seq: 0 };
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
 * in the meantime and are applied on top. Pin, slow mode, mute and ban come from the welcome.
 */
export function resetView(view: RoomView, w: WelcomeFrame, frames: readonly RoomEvent[], maxComments = DEFAULT_MAX_COMMENTS): RoomView {
  const backlog: SeqComment[] = [];
  const later: RoomEvent[] = [];
  for (const f of frames) {
    if (f.seq > w.seq) later.push(f);
    else if (f.type === "comment") backlog.push({ seq: f.seq, comment: f.comment });
  }
  let next: RoomView = {
    comments: capped(backlog, maxComments),
    pinned: w.pinned ?? null,
    slowModeS: w.slow_mode_s ?? 0,
    viewers: w.viewers ?? view.viewers,
    userId: w.user.id,
    role: w.role ?? "viewer",
    mutedUntil: w.muted_until ?? null,
    banned: w.banned ?? false,
    seq: w.seq,
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
  const next: { -readonly [K in keyof RoomView]: RoomView[K] } = { ...view, seq: e.seq };
  switch (e.type) {
    case "comment":
      next.comments = capped([...view.comments, { seq: e.seq, comment: e.comment }], maxComments);
      break;
    case "comment_edited": {
      const i = findIndex(view.comments, e.id);
      if (i >= 0) {
        const comments = view.comments.slice();
        comments[i] = { seq: comments[i]!.seq, comment: applyEdit(comments[i]!.comment, e) };
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
    case "moderation": {
      const aboutMe = e.user_id !== undefined && e.user_id === view.userId;
      switch (e.action) {
        case "slow_mode":
          next.slowModeS = e.seconds ?? 0;
          break;
        case "ban":
          if (e.deleted?.length) {
            const gone = new Set(e.deleted);
            next.comments = view.comments.filter((c) => !gone.has(c.comment.id));
            requote(next, gone, () => "");
          }
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
          if (aboutMe && e.role !== undefined && view.role !== "owner") next.role = e.role;
          break;
        default:
          exhaustive(e.action);
      }
      break;
    }
    default:
      // Only a cast gets here (the client validates every frame): the seq moves, nothing else.
      exhaustive(e);
  }
  return next;
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
    return { seq: c.seq, comment };
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

function capped(list: SeqComment[], max: number): SeqComment[] {
  return list.length > max ? list.slice(list.length - max) : list;
}

/** Index of a comment by id; searched from the end, where edits and deletions mostly land. */
function findIndex(list: readonly SeqComment[], id: string): number {
  for (let i = list.length - 1; i >= 0; i--) if (list[i]!.comment.id === id) return i;
  return -1;
}

function shallowEqual(a: RoomView, b: RoomView): boolean {
  return (Object.keys(a) as Array<keyof RoomView>).every((k) => a[k] === b[k]);
}
