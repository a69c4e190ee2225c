/**
 * A stream's audience: where its viewers' sockets are, as the ChatRoom sees them. The room picks
 * one at construction ({@link createAudience}, from SHARD_MAX_SOCKETS) and never asks again:
 *
 *   LocalAudience    SHARD_MAX_SOCKETS = 0: the room holds every socket itself (src/fanout.ts); the
 *                    worker forwards upgrades to the room's fetch(), frames arrive in webSocketMessage.
 *   ShardedAudience  SHARD_MAX_SOCKETS > 0: the sockets are on fan-out shards (src/shard.ts); the worker
 *                    asks the room's admit() for a shard (placement: src/rules/placement.ts), viewers'
 *                    commands arrive through commands(), entries go out through src/shard-links.ts.
 *
 * Both answer the same questions (how many sockets, users, unbatched sockets; counts per shard),
 * take the room's sequenced entries (`broadcast`), and accept the calls of the other mode's entry
 * points by refusing them loudly (a worker and a room configured differently is a deployment error).
 */
import { answerClose, Fanout, type SocketActor } from "./fanout";
import { commandAnswer, type AnsweredResult } from "./answers";
import { describeError } from "./errors";
import { ROOM_SHARD, type ShardCount } from "./metrics";
import { eventFrame, type MirrorSnapshot, type RingEntry } from "./mirror";
import { errorFrame, type Command } from "./protocol";
import type { RoomLimits } from "./rules/limits";
import { SHARD_MAX_SOCKETS_CEILING } from "./env";
import { ShardLinks, type ShardStub } from "./shard-links";
import type { Recipients, ShardReport } from "./shard-api";

/** What the room needs of its viewers, wherever their sockets are. */
export interface Audience {
  /** Open sockets (what MAX_VIEWERS_PER_STREAM admits): the room's own, or reported and admitted over every shard. */
  readonly sockets: number;
  /** Distinct users connected (what `viewers` frames show; summed per shard when sharded). */
  readonly viewers: number;
  /** The unbatched sockets one object sends each broadcast to (the room's, or the fullest shard's): src/rules/limits.ts roomMessageRate. */
  readonly unbatched: number;
  /** Sockets, users and regions per shard (stats, Analytics Engine); the room's own under ROOM_SHARD. */
  counts(): Record<string, ShardCount>;
  /** The keys of the stream's shards (operators and tests); none when unsharded. */
  keys(): string[];
  /** Sends the room's sequenced entries (accepted at `acceptedAt`, ms), in order, to every viewer. */
  broadcast(entries: readonly RingEntry[], acceptedAt: number): void;
  /** Sends an unsequenced frame to staff and/or named users only (src/shard-api.ts Recipients), at most once. */
  direct(frame: string, to: Recipients): void;
  /** A room starting again: what it must know of its audience before it admits anyone. */
  restore(): Promise<void>;
  /** Unsharded: accepts an admitted upgrade's socket on the room. Throws when the viewers are on shards. */
  join(actor: SocketActor, batch: boolean, now: number, region: string, seen?: boolean): { client: WebSocket; server: WebSocket };
  /** Sharded: places an admitted viewer (`staff`: an owner or moderator) on a shard of `region` and returns its key. Throws when unsharded. */
  place(userId: string, region: string, now: number, staff?: boolean): string;
  /** A shard's counts (its report); ignored when unsharded. */
  report(key: string, r: ShardReport, now: number): void;
  /** A shard without sockets took a snapshot at `seq` (its feed starts there); ignored when unsharded. */
  startsAt(key: string, seq: number): void;
  /** A frame on one of the room's own sockets, run through the gate and `run` (the room's command pass), then answered. */
  message(ws: WebSocket, message: string | ArrayBuffer, run: (actor: SocketActor, cmd: Command) => AnsweredResult): void;
  /** One of the room's own sockets closed (answered) or failed. */
  closed(ws: WebSocket, code: number, reason: string): void;
  failed(ws: WebSocket, error: unknown): void;
}

/** What either audience needs from the room. */
export interface AudienceHost {
  ctx: DurableObjectState;
  limits: () => RoomLimits;
  /** Prefixes log lines, e.g. `stream=<id>`. */
  label: () => string;
  /** Whether a socket's user receives staff-only frames now (src/rules/standing.ts seesStaffState). */
  isStaff: (actor: SocketActor) => boolean;
  /**
   * Sharded: who staff-only frames must reach or skip beyond what the shards know: `granted`, the
   * users the room made moderators (admitted as viewers, their shards may count no staff); `banned`,
   * the users the room knows as staff who are banned or demoted by a room grant (a shard's mirror
   * may not hold the ban or the grant, or may be gone after an eviction).
   */
  staffNotes?: () => { granted: string[]; banned: string[] };
  /** An entry accepted at `acceptedAt` has gone to its last socket (or shard) at `sentAt` (ms): the fan-out latency. */
  onSent: (acceptedAt: number, sentAt: number) => void;
  /** Sharded: see src/shard-links.ts LinkHost. */
  streamId: () => string;
  epoch: string;
  loadedSeq: number;
  seq: () => number;
  shard: (key: string) => ShardStub;
  snapshot: () => MirrorSnapshot;
}

/** The audience SHARD_MAX_SOCKETS asks for (src/env.ts; 0 = unsharded). */
export function createAudience(shardMaxSockets: number, host: AudienceHost): Audience {
  return shardMaxSockets > 0 ? new ShardedAudience(shardMaxSockets, host) : new LocalAudience(host);
}

/** Every viewer's socket on the room itself. */
export class LocalAudience implements Audience {
  private readonly fanout: Fanout;

  constructor(private readonly host: AudienceHost) {
    this.fanout = new Fanout(host.ctx, { limits: host.limits, label: host.label, onSent: host.onSent });
  }

  get sockets(): number {
    return this.fanout.size;
  }

  get viewers(): number {
    return this.fanout.viewers;
  }

  get unbatched(): number {
    return this.fanout.unbatched;
  }

  counts(): Record<string, ShardCount> {
    return { [ROOM_SHARD]: { sockets: this.fanout.size, users: this.fanout.viewers, perRegion: this.fanout.perRegion() } };
  }

  keys(): string[] {
    return [];
  }

  broadcast(entries: readonly RingEntry[], acceptedAt: number): void {
    for (const e of entries) this.fanout.broadcast(eventFrame(e), acceptedAt, e.seq);
  }

  direct(frame: string, to: Recipients): void {
    const users = to.users ? new Set(to.users) : null;
    this.fanout.sendWhere(frame, (a) => (users?.has(a.userId) ?? false) || (to.staff === true && this.host.isStaff(a)), to.staff ? undefined : to.users);
  }

  async restore(): Promise<void> {}

  join(actor: SocketActor, batch: boolean, now: number, region: string, seen = false): { client: WebSocket; server: WebSocket } {
    return this.fanout.accept(actor, batch, now, region, seen);
  }

  place(): string {
    throw new Error("this room holds its viewers' sockets (SHARD_MAX_SOCKETS=0): upgrades go to its fetch(), not admit()");
  }

  report(): void {}

  startsAt(): void {}

  message(ws: WebSocket, message: string | ArrayBuffer, run: (actor: SocketActor, cmd: Command) => AnsweredResult): void {
    const gated = this.fanout.gate(ws, message);
    if (!gated) return;
    const { conn, command } = gated;
    const cmid = command.client_msg_id;
    let answer: ReturnType<typeof commandAnswer>;
    try {
      answer = commandAnswer(run(conn.actor, command), cmid);
    } catch (err) {
      console.error(`ChatRoom webSocketMessage ${this.host.label()} user=${conn.actor.userId}: ${(err as Error)?.stack ?? err}`);
      answer = { frame: errorFrame({ code: "internal_error" }, cmid), seq: 0, strike: false };
    }
    // The answer first: a strike may close the socket (1008), and the refusal that did it must reach the client (as Fanout.gate's own).
    if (answer.frame) this.fanout.send(conn, answer.frame);
    if (answer.strike) this.fanout.strike(conn);
  }

  closed(ws: WebSocket, code: number, reason: string): void {
    this.fanout.forget(ws);
    answerClose(ws, code, reason);
  }

  failed(ws: WebSocket, error: unknown): void {
    console.warn(`ChatRoom webSocketError ${this.host.label()} user=${this.fanout.userOf(ws) ?? "?"}: ${describeError(error)}`);
    this.fanout.forget(ws);
  }
}

/** Close code for a socket a sharded room finds on itself (accepted before SHARD_MAX_SOCKETS changed): reconnect through a shard. */
export const CLOSE_MOVED_TO_SHARDS = 1012;

/** Every viewer's socket on a fan-out shard; the room feeds them (src/shard-links.ts). */
export class ShardedAudience implements Audience {
  private readonly links: ShardLinks;

  constructor(
    private readonly shardMax: number,
    private readonly host: AudienceHost,
  ) {
    this.links = new ShardLinks(host.ctx.storage.sql, {
      streamId: host.streamId,
      epoch: host.epoch,
      loadedSeq: host.loadedSeq,
      seq: host.seq,
      stub: host.shard,
      snapshot: host.snapshot,
      onSent: host.onSent,
    });
  }

  get sockets(): number {
    return this.links.sockets;
  }

  get viewers(): number {
    return this.links.viewers;
  }

  get unbatched(): number {
    return this.links.maxUnbatched;
  }

  counts(): Record<string, ShardCount> {
    return this.links.counts();
  }

  keys(): string[] {
    return this.links.keys();
  }

  broadcast(entries: readonly RingEntry[], acceptedAt: number): void {
    this.links.broadcast(entries, acceptedAt);
  }

  direct(frame: string, to: Recipients): void {
    if (!to.staff || !this.host.staffNotes) return this.links.direct(frame, to);
    const { granted, banned } = this.host.staffNotes();
    this.links.direct(frame, banned.length > 0 ? { ...to, except: banned } : to, granted);
  }

  /** A room starting again reads its shards' counts before it admits anyone (admission and presence would start from 0). */
  restore(): Promise<void> {
    return this.links.refresh();
  }

  join(): never {
    throw new Error("this stream's viewers are on fan-out shards (SHARD_MAX_SOCKETS>0): upgrades go through admit()");
  }

  /** A user's sockets stay together up to MAX_SOCKETS_PER_USER past a full shard, never past the platform's cap. */
  place(userId: string, region: string, now: number, staff = false): string {
    const slack = Math.max(0, Math.min(this.host.limits().socketsPerUser, SHARD_MAX_SOCKETS_CEILING - this.shardMax));
    return this.links.admit(userId, region, this.shardMax, slack, now, staff);
  }

  report(key: string, r: ShardReport, now: number): void {
    this.links.report(key, r, now);
  }

  startsAt(key: string, seq: number): void {
    this.links.startsAt(key, seq);
  }

  /** The room holds no viewer socket when sharded: one found here reconnects, and its next join goes to a shard. */
  message(ws: WebSocket): void {
    ws.close(CLOSE_MOVED_TO_SHARDS, "this chat's viewers moved to fan-out shards: reconnect");
  }

  closed(ws: WebSocket, code: number, reason: string): void {
    answerClose(ws, code, reason);
  }

  failed(): void {}
}
