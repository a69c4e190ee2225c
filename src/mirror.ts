/**
 * The resume ring and the frames built from it, shared by the stream's ChatRoom (the single writer)
 * and its fan-out shards (src/shard.ts), which keep a mirror of it so joins, history and resumes are
 * answered where the viewer's socket is (DESIGN.md "Hot streams and global viewers").
 *
 * Pure: no Workers APIs, no clock of its own; unit-tested in plain Node (test/unit/mirror.test.ts).
 *
 *   welcomeFor(state, identity, …)     the user's part of a welcome, as the room decides it
 *   welcomeFrame(state, epoch, …)      the `welcome` frame of a join (room or shard)
 *   historyFrame(view, since, epoch)   the `history` frame for a join or a resume
 *   historyPage(comments, limit, …)    a page of the history API from the room's comments (no Redis)
 *   eventFrame(entry)                  the frame a ring entry is broadcast as
 *   RoomMirror                         a shard's copy: a snapshot, then the room's entries applied in seq order
 */
import { HISTORY_SIZE, type ChatModes, type LockdownPreset, type Role, type SeqComment, type ServerFrame, type StreamComment } from "./protocol";
import type { RoomLimits } from "./rules/limits";
import { apply, effectiveRole, emptyState, restrictions, type CommentEntry, type RoomState } from "./rules/room-state";

/** One entry of the resume ring: its seq, whether it is a comment, and its stored JSON. */
export interface RingEntry {
  seq: number;
  comment: boolean;
  /** A comment: `{"seq":n,"comment":{…}}`; any other event: the event's JSON (its `type` included). */
  json: string;
}

/** Comments sent to a newcomer that is not resuming (the ring holds HISTORY_SIZE frames for resumes). */
export const BACKLOG_SIZE = 50;

/** The user-specific part of a welcome: what the room decided for this user, and the limits they are held to. */
export interface WelcomeFor {
  role: Role;
  muted_until?: string;
  banned?: boolean;
  /** their warning not yet acknowledged (issue 18 §4) */
  warning?: { reason: string; by: string; at: string };
  /** distinct users of the stream, this one included */
  viewers: number;
  /** RATE_LIMIT_PER_SEC */
  messages_per_sec: number;
  /** SOCKET_MAX_FRAMES_PER_SEC */
  frames_per_sec: number;
  /** MAX_SOCKETS_PER_USER (a shard applies it with the frame budget; not part of the frame) */
  sockets_per_user: number;
}

/**
 * The user's part of a welcome as the room decides it, at an unsharded upgrade or a sharded
 * admission (a shard's mirror holds no bans, timeouts or grants): the effective role, the user's
 * timeout end or ban at `now` (ms), the presence total `viewers` (this user included), and the limits.
 */
export function welcomeFor(
  state: RoomState,
  identity: { id: string; role: Role },
  now: number,
  limits: Pick<RoomLimits, "user" | "framesPerSec" | "socketsPerUser">,
  viewers: number,
): WelcomeFor {
  const role = effectiveRole(state, identity.id, identity.role);
  const w = state.warnings.get(identity.id);
  return {
    role,
    ...restrictions(state, identity.id, role, now),
    ...(w ? { warning: { reason: w.reason, by: w.by, at: new Date(w.at).toISOString() } } : {}),
    viewers,
    messages_per_sec: limits.user.ratePerSec,
    frames_per_sec: limits.framesPerSec,
    sockets_per_user: limits.socketsPerUser,
  };
}

/**
 * The `welcome` frame (DESIGN.md "Frames"): the stream's seq, epoch, pinned comment and slow mode
 * from `state` (the room's, or a shard's mirror), and the user's role, restrictions and limits.
 */
export function welcomeFrame(
  state: Pick<RoomState, "streamId" | "seq" | "pinned" | "slowModeS" | "modes" | "lockdown" | "title">,
  epoch: string,
  user: { id: string; username: string | null },
  w: WelcomeFor,
): string {
  return JSON.stringify({
    type: "welcome",
    stream_id: state.streamId,
    user: { id: user.id, username: user.username },
    seq: state.seq,
    epoch,
    limits: { messages_per_sec: w.messages_per_sec, frames_per_sec: w.frames_per_sec },
    role: w.role,
    pinned: state.pinned,
    slow_mode_s: state.slowModeS,
    viewers: w.viewers,
    ...(w.muted_until ? { muted_until: w.muted_until } : {}),
    ...(w.banned ? { banned: w.banned } : {}),
    modes: state.modes,
    lockdown: state.lockdown !== null,
    ...(state.title ? { title: state.title } : {}),
    ...(w.warning ? { warning: w.warning } : {}),
  } satisfies ServerFrame);
}

/** What the history frame is built from. */
export interface ResumeView {
  epoch: string;
  /** The last seq applied. */
  seq: number;
  /** The last HISTORY_SIZE entries, oldest first. */
  ring: readonly RingEntry[];
  /** Current state (edits applied, deletions gone), in seq order. */
  comments: ReadonlyMap<string, CommentEntry>;
}

/**
 * The `history` frame: on a resume (`since`, decimal, and the same `epoch`) that the ring still
 * covers, exactly the missed entries (comments in `comments`, everything else in `events`,
 * `recovered: true`); otherwise the latest BACKLOG_SIZE comments in their current state
 * (`recovered: false`). Malformed `since`/`epoch` values get the backlog, never an error.
 */
export function historyFrame(view: ResumeView, sinceParam: string | null, epochParam: string | null): string {
  if (sinceParam !== null && epochParam === view.epoch && /^\d{1,15}$/.test(sinceParam)) {
    const since = Number(sinceParam);
    const oldest = view.ring[0]?.seq ?? view.seq + 1;
    if (since <= view.seq && since >= oldest - 1) {
      const missed = view.ring.filter((r) => r.seq > since);
      const comments = missed.filter((r) => r.comment).map((r) => r.json);
      const events = missed.filter((r) => !r.comment).map((r) => r.json);
      const rest = events.length > 0 ? `,"events":[${events.join(",")}]` : "";
      return `{"type":"history","comments":[${comments.join(",")}],"recovered":true${rest}}`;
    }
  }
  return backlogFrame(view.comments);
}

/** The `history` frame of a newcomer: the latest BACKLOG_SIZE comments, current state, `recovered: false`. */
export function backlogFrame(comments: ReadonlyMap<string, CommentEntry>): string {
  const latest = [...comments.values()].slice(-BACKLOG_SIZE).map((e) => JSON.stringify(e));
  return `{"type":"history","comments":[${latest.join(",")}],"recovered":false}`;
}

/**
 * One page of `GET /v1/streams/{id}/chat/history` from the room's own comments in their current
 * state (the last HISTORY_SIZE, seq order): the newest `limit` with a seq below `before` (all when
 * absent), oldest first — the page Redis answers for the same stream (src/sinks/redis-history.ts
 * readHistoryFrom). The worker's fallback when Redis is not configured (README "Running locally").
 */
export function historyPage(comments: ReadonlyMap<string, CommentEntry>, limit: number, before?: number): SeqComment[] {
  const all = [...comments.values()];
  const page: SeqComment[] = [];
  for (let i = all.length - 1; i >= 0 && page.length < limit; i--) {
    const e = all[i]!;
    if (before === undefined || e.seq < before) page.push({ seq: e.seq, comment: e.comment });
  }
  return page.reverse();
}

/** The frame a ring entry is sent as: a comment's stored `{"seq","comment"}` with the type in front; any other event as stored. */
export function eventFrame(entry: RingEntry): string {
  return entry.comment ? `{"type":"comment",${entry.json.slice(1)}` : entry.json;
}

/**
 * Everything a shard needs to start its mirror, taken by the room in one synchronous step (so it
 * is consistent with every entry the room sends after it). Sizes: ≤ HISTORY_SIZE ring entries and
 * ≤ HISTORY_SIZE comments (~100–200 KB at most).
 */
export interface MirrorSnapshot {
  stream_id: string;
  epoch: string;
  seq: number;
  ring: RingEntry[];
  /** Current state, seq order. */
  comments: CommentEntry[];
  pinned: StreamComment | null;
  slow_mode_s: number;
  /** issue 18: the modes, the lockdown (what it restores), the title, the room's role grants and hidden users (staff-only frames) */
  modes?: ChatModes;
  lockdown?: LockdownPreset | null;
  title?: string;
  grants?: Record<string, "moderator" | "viewer">;
}

/** The room's snapshot for its shards, taken synchronously from its state, epoch and ring. */
export function snapshotOf(state: RoomState, epoch: string, ring: readonly RingEntry[]): MirrorSnapshot {
  return {
    stream_id: state.streamId,
    epoch,
    seq: state.seq,
    ring: ring.slice(),
    comments: [...state.comments.values()],
    pinned: state.pinned,
    slow_mode_s: state.slowModeS,
    modes: state.modes,
    lockdown: state.lockdown,
    title: state.title,
    grants: Object.fromEntries(state.grants),
  };
}

/** How many reviewed or purged held ids a mirror remembers (RoomMirror.heldGone): more than a queue holds. */
export const REMOVED_HELD_MAX = 2_000;

/**
 * A shard's copy of the room: the ring and the part of the rules' state that joins need (comments,
 * pinned, slow mode, seq). Built from a snapshot, then advanced only by the room's entries in seq
 * order: an entry already applied is skipped, a gap (or another epoch) is reported, never papered over.
 */
export class RoomMirror {
  readonly epoch: string;
  readonly state: RoomState;
  readonly ring: RingEntry[];
  private backlog: string | null = null;
  /**
   * Held messages this mirror saw leave the review queue (reviewed, or removed by a purge), newest
   * last, at most REMOVED_HELD_MAX: a review queue or `held` frame the room sent before it reaches
   * the shard after them (separate RPCs), and must not bring a decided message back to staff.
   */
  private readonly removedHeld = new Set<string>();

  constructor(snapshot: MirrorSnapshot) {
    this.epoch = snapshot.epoch;
    this.state = emptyState(snapshot.stream_id);
    this.state.seq = snapshot.seq;
    this.state.pinned = snapshot.pinned;
    this.state.slowModeS = snapshot.slow_mode_s;
    if (snapshot.modes) this.state.modes = { ...snapshot.modes };
    this.state.lockdown = snapshot.lockdown ?? null;
    this.state.title = snapshot.title ?? "";
    for (const [u, r] of Object.entries(snapshot.grants ?? {})) this.state.grants.set(u, r);
    for (const c of snapshot.comments) this.state.comments.set(c.comment.id, { seq: c.seq, comment: c.comment });
    this.ring = snapshot.ring.slice(-HISTORY_SIZE);
  }

  /** The last seq applied. */
  get seq(): number {
    return this.state.seq;
  }

  /**
   * Applies `entries` (ascending seq) of `epoch`. Returns the entries newly applied (to broadcast),
   * and `gap: true` when an entry does not follow the last one applied or the epoch is another:
   * the mirror then needs a new snapshot (entries before the gap stay applied). `now` (ms) is what
   * the rules record as the time of a ban; it does not change any frame.
   */
  accept(epoch: string, entries: readonly RingEntry[], now: number): { applied: RingEntry[]; gap: boolean } {
    const applied: RingEntry[] = [];
    if (epoch !== this.epoch) return { applied, gap: entries.length > 0 };
    for (const entry of entries) {
      if (entry.seq <= this.state.seq) continue;
      if (entry.seq !== this.state.seq + 1) return { applied, gap: true };
      const parsed = JSON.parse(entry.json) as Record<string, unknown>;
      const event = (entry.comment ? { type: "comment", ...parsed } : parsed) as Parameters<typeof apply>[1];
      apply(this.state, event, now);
      if (event.type === "moderation") {
        if (event.action === "review" && event.id) this.removedHeld.add(event.id);
        if (event.action === "purge") for (const id of event.deleted ?? []) this.removedHeld.add(id);
        while (this.removedHeld.size > REMOVED_HELD_MAX) this.removedHeld.delete(this.removedHeld.values().next().value!);
      }
      this.ring.push(entry);
      if (this.ring.length > HISTORY_SIZE) this.ring.shift();
      applied.push(entry);
    }
    if (applied.length > 0) this.backlog = null;
    return { applied, gap: false };
  }

  /**
   * Whether the held message `id` of `userId` is known here to have left the review queue since
   * this mirror's snapshot: reviewed, purged, or its author banned (a ban drops their held messages).
   */
  heldGone(id: string, userId: string): boolean {
    return this.removedHeld.has(id) || this.state.bans.has(userId);
  }

  /** The `history` frame for a join (`since`/`epoch` from the upgrade's query, or null). */
  historyFrame(sinceParam: string | null, epochParam: string | null): string {
    const view: ResumeView = { epoch: this.epoch, seq: this.state.seq, ring: this.ring, comments: this.state.comments };
    if (sinceParam !== null && epochParam === this.epoch) return historyFrame(view, sinceParam, epochParam);
    return (this.backlog ??= backlogFrame(this.state.comments));
  }

  /** The ring entries after `seq` (what sockets that saw up to `seq` missed), oldest first; null when the ring no longer reaches back that far. */
  since(seq: number): RingEntry[] | null {
    const oldest = this.ring[0]?.seq ?? this.state.seq + 1;
    if (seq < oldest - 1) return null;
    return this.ring.filter((r) => r.seq > seq);
  }
}
