/**
 * What the worker, a stream's ChatRoom and its fan-out shards (src/shard.ts) exchange (DESIGN.md
 * "Hot streams and global viewers"): the shard's upgrade headers, the room's admission answer and
 * the welcome it decided, a viewer's command on its way to the room and its answer, the shard's
 * counts, and one delivery of sequenced entries with its acknowledgement.
 */
import { Role, type Command, type CommandError } from "./protocol";
import type { MirrorSnapshot, RingEntry, WelcomeFor } from "./mirror";
import type { AdmissionRefusal, HeldResult } from "./room-api";

/** Sharded upgrades: the shard's key (`{stream_id}/{region}-{n}`) the room admitted the socket to. */
export const H_SHARD = "x-chat-shard";
/** Sharded upgrades: the room's {@link AdmitWelcome}, URI-encoded JSON. */
export const H_WELCOME = "x-chat-welcome";

/**
 * The user-specific part of a welcome, decided by the room at admission (src/mirror.ts welcomeFor:
 * the shard's mirror does not hold bans, timeouts or grants) and carried to the shard in H_WELCOME.
 */
export type AdmitWelcome = WelcomeFor;

/**
 * The room's answer to an upgrade in sharded mode ({@link ChatRoom.admit}): the shard to forward it
 * to, or the HTTP refusal an unsharded upgrade would get (src/room-api.ts AdmissionRefusal).
 */
export type AdmitResult = { ok: true; shard: string; region: string; welcome: AdmitWelcome } | AdmissionRefusal;

/** A viewer's command, sent by their shard to the room (already through the shard's gate). */
export interface ShardCommand {
  actor: { userId: string; username: string | null; role: Role; member?: boolean; accountCreatedAt?: number | null };
  cmd: Command;
}

/** A command's answer as the shard needs it (the room's events travel in deliveries, not here). */
export type ShardCommandResult =
  | { kind: "ignored" }
  | CommandError
  | { kind: "ok"; id?: string; seq?: number }
  | HeldResult;

/** A shard's counts, reported to the room on change and returned by every delivery. */
export interface ShardReport {
  sockets: number;
  /** distinct users on this shard */
  users: number;
  /** sockets without ?batch=1 */
  unbatched: number;
  perRegion: Record<string, number>;
  /** sockets of owners and moderators (as admitted): staff-only frames go only to shards that have some */
  staff?: number;
}

/**
 * Who an unsequenced frame is for (src/audience.ts direct): the stream's staff (owner and
 * moderators, not banned), and/or the sockets of the users named. At most once: a socket that
 * misses one (a shard unreachable) gets the state again on its next join (review_queue, welcome).
 */
export interface Recipients {
  staff?: boolean;
  /**
   * With `staff`: users who are not staff for it whatever their socket's role says — banned owners'
   * and moderators' (a shard's mirror holds the bans made since its snapshot, not those before).
   */
  except?: string[];
  users?: string[];
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

/** The welcome header's value, parsed; null when missing or malformed (a known role and the four counts, finite and ≥ 0). */
export function readWelcome(header: string | null): AdmitWelcome | null {
  if (!header) return null;
  try {
    const w = JSON.parse(decodeURIComponent(header)) as AdmitWelcome;
    // Only the worker sets it (from the room's answer), but a shard trusts nothing it cannot check.
    const n = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0;
    if (!Role.safeParse(w.role).success || !n(w.viewers) || !n(w.messages_per_sec) || !n(w.frames_per_sec) || !n(w.sockets_per_user)) return null;
    return w;
  } catch {
    return null;
  }
}
