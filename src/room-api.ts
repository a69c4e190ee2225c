/**
 * What the worker and a stream's ChatRoom exchange: the internal headers of an upgrade, the
 * identity the worker resolved, the room's limits, and the results of its RPC methods (commands,
 * state, uploads). The worker imports this module, never the room's internals.
 */
import type { Config } from "./env";
import { ERROR_MESSAGES, Role, type Command, type ErrorCode, type RoomEvent } from "./protocol";
import { BucketMap } from "./rules/budget";
import type { RoomState } from "./rules/room-state";
import type { UploadContentType } from "./upload-rules";
import type { MirrorSnapshot, RingEntry, WelcomeFor } from "./mirror";

/**
 * Internal headers set by the worker on requests to this object, after it has authenticated the
 * request; the worker builds them from validated values, never copies them from the request.
 */
export const H_STREAM = "x-chat-stream";
export const H_IDENTITY = "x-chat-identity";
/** A verified ticket's nonce and expiry (ms), `<nonce>.<expires_at>`: the room enforces one use. */
export const H_TICKET_NONCE = "x-chat-ticket-nonce";
/** The viewer's region, src/metrics.ts regionOf(request.cf): counted per socket for the stats. */
export const H_REGION = "x-chat-region";
/** Sharded upgrades: the shard's key (`{stream_id}/{region}-{n}`) the room admitted the socket to. */
export const H_SHARD = "x-chat-shard";
/** Sharded upgrades: the room's {@link AdmitWelcome}, URI-encoded JSON. */
export const H_WELCOME = "x-chat-welcome";

/** Who the worker says the user is. `owner` = the stream's owner from Postgres, when known. */
export interface RoomIdentity {
  id: string;
  username: string | null;
  role: Role;
  owner?: string | null;
}

/** A room's rates and caps, from the worker's configuration (README "Limits"). */
export interface RoomLimits {
  /** Per user per stream: RATE_LIMIT_PER_SEC, burst = rate. */
  user: BucketMap;
  /** Per stream: ROOM_MAX_MESSAGES_PER_SEC, burst = rate. */
  roomPerSec: number;
  /**
   * Per stream: ROOM_MAX_DELIVERIES_PER_SEC, sends to unbatched sockets per second. The room's
   * message rate is min(roomPerSec, this ÷ unbatched sockets): the work of a broadcast grows with
   * its viewers, so 100 msg/s is fine for 300 unbatched viewers and not for 1,000 (BENCHMARKS.md).
   */
  deliveriesPerSec: number;
  /** Per socket, frames of any kind: SOCKET_MAX_FRAMES_PER_SEC, burst = FRAME_BURST_FACTOR × rate. */
  framesPerSec: number;
  /** MAX_SOCKETS_PER_USER. */
  socketsPerUser: number;
  /** EDIT_WINDOW_S, ms. */
  editWindowMs: number;
  /** Image uploads per user per stream: UPLOADS_PER_MIN per minute, burst = UPLOADS_PER_MIN. */
  uploads: BucketMap;
  /** MAX_VIEWERS_PER_STREAM: open sockets past which viewers get 503 `stream_full`. */
  maxViewers: number;
}

/** The limits for a configuration (src/env.ts). */
export function roomLimits(
  c: Pick<
    Config,
    "RATE_LIMIT_PER_SEC" | "ROOM_MAX_MESSAGES_PER_SEC" | "ROOM_MAX_DELIVERIES_PER_SEC" | "SOCKET_MAX_FRAMES_PER_SEC" | "MAX_SOCKETS_PER_USER" | "EDIT_WINDOW_S" | "UPLOADS_PER_MIN" | "MAX_VIEWERS_PER_STREAM"
  >,
): RoomLimits {
  return {
    uploads: new BucketMap(c.UPLOADS_PER_MIN / 60, c.UPLOADS_PER_MIN),
    user: new BucketMap(c.RATE_LIMIT_PER_SEC, c.RATE_LIMIT_PER_SEC),
    roomPerSec: c.ROOM_MAX_MESSAGES_PER_SEC,
    deliveriesPerSec: c.ROOM_MAX_DELIVERIES_PER_SEC,
    framesPerSec: c.SOCKET_MAX_FRAMES_PER_SEC,
    socketsPerUser: c.MAX_SOCKETS_PER_USER,
    editWindowMs: c.EDIT_WINDOW_S * 1000,
    maxViewers: c.MAX_VIEWERS_PER_STREAM,
  };
}

/** The answer to a command, for the socket (frames) or the HTTP actions route (JSON). */
export type CommandResult =
  | { kind: "ignored" }
  | { kind: "error"; code: ErrorCode; message: string; until?: string; retry_after_ms?: number }
  | { kind: "ok"; events: RoomEvent[]; id?: string; seq?: number };

/** An upload the worker has checked (type by magic bytes, size, header bounds) and asks the room to record. */
export interface UploadRegistration {
  /** src/upload-rules.ts newUploadId() */
  id: string;
  content_type: UploadContentType;
  /** bytes */
  size: number;
  /** px, as the image's header declares them (src/rules/image-header.ts, within its bounds) */
  width: number;
  height: number;
  /** 1 for a still image */
  frames: number;
}

/** The room's answer to {@link ChatRoom.registerUpload}: go ahead, or why not (HTTP 429 / 403). */
export type UploadVerdict =
  | { ok: true }
  | { ok: false; code: "rate_limited" | "too_many_uploads" | "banned"; message: string; retry_after_ms?: number };

/** `GET /v1/streams/{id}/chat/state`; the staff-only fields are absent for viewers. */
export interface StateSnapshot {
  role: Role;
  pinned: RoomState["pinned"];
  slow_mode_s: number;
  viewers: number;
  bans?: Array<{ user_id: string; by: string; at: string; reason?: string }>;
  timeouts?: Array<{ user_id: string; until: string; by: string }>;
  moderators?: string[];
  blocked_terms?: string[];
}

/** A command's error result with DESIGN.md's message for the code. */
export function error(code: ErrorCode, extra: { until?: string; retry_after_ms?: number } = {}): CommandResult {
  return { kind: "error", code, message: ERROR_MESSAGES[code], ...extra };
}

/** The identity header's value, parsed; null when missing or malformed. */
export function readIdentity(header: string | null): RoomIdentity | null {
  if (!header) return null;
  try {
    const v = JSON.parse(decodeURIComponent(header)) as Partial<RoomIdentity>;
    if (typeof v.id !== "string" || !v.id) return null;
    return {
      id: v.id,
      username: typeof v.username === "string" ? v.username : null,
      role: Role.safeParse(v.role).data ?? "viewer",
      owner: typeof v.owner === "string" ? v.owner : null,
    };
  } catch {
    return null;
  }
}

/** The identity header's value (URI-encoded JSON: header-safe whatever the username holds). */
export function encodeIdentity(identity: RoomIdentity): string {
  return encodeURIComponent(JSON.stringify(identity));
}

// ---------------------------------------------------------------------------------------------
// Fan-out shards (src/shard.ts): what the worker, the room and a shard exchange
// ---------------------------------------------------------------------------------------------

/**
 * The user-specific part of a welcome, decided by the room at admission (the shard's mirror does
 * not hold bans, timeouts or grants): src/mirror.ts WelcomeFor, plus MAX_SOCKETS_PER_USER, which
 * the shard applies with the frame budget.
 */
export interface AdmitWelcome extends WelcomeFor {
  /** MAX_SOCKETS_PER_USER */
  sockets_per_user: number;
}

/**
 * The room's answer to an upgrade in sharded mode ({@link ChatRoom.admit}): the shard to forward it
 * to, or the HTTP refusal (503 `stream_full` + Retry-After seconds, 401 for a used ticket).
 */
export type AdmitResult =
  | { ok: true; shard: string; region: string; welcome: AdmitWelcome }
  | { ok: false; status: 401 | 503; error: "unauthorized" | "stream_full"; message: string; retry_after_s?: number };

/** A viewer's command, sent by their shard to the room (already through the shard's gate). */
export interface ShardCommand {
  actor: { userId: string; username: string | null; role: Role };
  cmd: Command;
}

/** A command's answer as the shard needs it (the room's events travel in deliveries, not here). */
export type ShardCommandResult =
  | { kind: "ignored" }
  | { kind: "error"; code: ErrorCode; message: string; until?: string; retry_after_ms?: number }
  | { kind: "ok"; id?: string; seq?: number };

/** A shard's counts, reported to the room on change and returned by every delivery. */
export interface ShardReport {
  sockets: number;
  /** distinct users on this shard */
  users: number;
  /** sockets without ?batch=1 */
  unbatched: number;
  perRegion: Record<string, number>;
}

/**
 * One room → shard delivery (ChatShard.deliver): the room's entries after `prev`, in seq order.
 * `prev` = the last seq the room knows this shard broadcast (−1 = unknown, e.g. after the room
 * restarted): a shard that lost its memory uses it to send its sockets what they missed.
 * `snapshot` restarts the shard's mirror; `viewers` is the stream's distinct users (presence).
 */
export interface ShardDelivery {
  stream_id: string;
  /** the shard's key, `{stream_id}/{region}-{n}` */
  key: string;
  epoch: string;
  prev: number;
  entries: RingEntry[];
  snapshot?: MirrorSnapshot;
  viewers?: number;
}

/** A shard's answer to a delivery: its counts, and `need: "snapshot"` when its mirror cannot apply the entries. */
export type DeliveryAck = ShardReport & { need?: "snapshot" };

/** The welcome header's value (URI-encoded JSON, like the identity's). */
export function encodeWelcome(welcome: AdmitWelcome): string {
  return encodeURIComponent(JSON.stringify(welcome));
}

/** The welcome header's value, parsed; null when missing or malformed (a role and the four counts, finite and ≥ 0). */
export function readWelcome(header: string | null): AdmitWelcome | null {
  if (!header) return null;
  try {
    const w = JSON.parse(decodeURIComponent(header)) as AdmitWelcome;
    const n = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0;
    if (typeof w.role !== "string" || !n(w.viewers) || !n(w.messages_per_sec) || !n(w.frames_per_sec) || !n(w.sockets_per_user)) return null;
    return w;
  } catch {
    return null;
  }
}
