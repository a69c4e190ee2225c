/**
 * ChatShard: a fan-out shard of one stream (DESIGN.md "Hot streams and global viewers") — a second
 * Durable Object class that holds up to SHARD_MAX_SOCKETS viewers' sockets (hibernatable) for the
 * stream's ChatRoom, which stays the single writer. Named `{stream_id}/{region}-{n}` and created
 * near its region (`locationHint`, src/rules/placement.ts) by the worker's first upgrade to it.
 *
 *   viewer ──ws──▶ shard ──commands() RPC──▶ room          (sends: batched while one is in flight)
 *   viewer ◀──ws── shard ◀──deliver() RPC── room          (sequenced entries, in seq order, batched)
 *
 * It keeps a mirror of the room's ring and current comments (src/mirror.ts), so welcome, history
 * and resume are answered here: a reconnect storm costs the room one small admit() per socket, not
 * a history each. The sockets are src/fanout.ts, exactly as in an unsharded room (frame budget,
 * batching, presence, abusive sockets closed for good). Wiring only: every rule is the room's.
 *
 * In memory only: the mirror, the presence total and the uplink queue; after an eviction the next
 * delivery or upgrade brings a snapshot. The stream id and the shard's key are in SQLite (meta).
 */
import { DurableObject } from "cloudflare:workers";
import { loadConfig, type Env } from "./env";
import { describeError, withTimeout } from "./errors";
import { AnswerQueue, commandAnswer } from "./answers";
import { Fanout, answerClose, type Conn, type SocketActor } from "./fanout";
import { regionOf } from "./metrics";
import { RoomMirror, eventFrame, welcomeFrame, type RingEntry } from "./mirror";
import { PING_FRAME, PONG_FRAME, errorFrame, type Command, type HeldFrame, type ReviewQueueFrame } from "./protocol";
import { BucketMap } from "./rules/budget";
import { SHED_FACTOR, roomLimits, shedding, type RoomLimits } from "./rules/limits";
import { effectiveRole } from "./rules/room-state";
import { seesStaffState } from "./rules/standing";
import { H_REGION, checkUpgrade } from "./room-api";
import {
  H_SHARD,
  H_WELCOME,
  readWelcome,
  type DeliveryAck,
  type Recipients,
  type ShardCommand,
  type ShardCommandResult,
  type ShardDelivery,
  type ShardReport,
} from "./shard-api";

// Shedding before the room (SHED_FACTOR × the per-user rate) is src/rules/limits.ts shedding(). A
// `room_busy` is not cached here: a repeat of an acknowledged client_msg_id must still get its ack.
/** How often at most a shard reports changed counts to its room (ms). */
export const REPORT_INTERVAL_MS = 500;
/** An ack waits for the frames it acknowledges (so the sender sees its comment first), at most this long (ms). */
export const ACK_HOLD_MS = 5_000;
/** A commands() RPC the room does not answer within this long fails its commands with `internal_error` (ms). */
export const UPLINK_TIMEOUT_MS = 5_000;
/** Commands waiting for the room, at most; past it a command is refused at once with `room_busy`. */
export const MAX_UPLINK = 5_000;
/** How long a close waits for its report to reach the room before it is answered anyway (ms). */
export const CLOSE_REPORT_WAIT_MS = 1_000;
/** Close code for sockets of a shard that fell more than the ring behind: reconnect and resume (1012 "service restart"). */
export const CLOSE_RESYNC = 1012;

export class ChatShard extends DurableObject<Env> {
  private streamId = "";
  private key = "";
  private mirror: RoomMirror | null = null;
  private syncing: Promise<RoomMirror> | null = null;
  /** The last seq broadcast to this shard's sockets; null = unknown (woken after an eviction). */
  private sent: number | null = null;
  /** The stream's distinct users, from the room (presence); null until heard since this object started. */
  private viewersTotal: number | null = null;
  private limits: RoomLimits;
  private readonly sockets: Fanout;
  // Uplink: commands wait while one commands() RPC is in flight, then go together.
  private uplink: Array<{ conn: Conn; item: ShardCommand; resolve: (r: ShardCommandResult) => void; reject: (e: unknown) => void }> = [];
  private uplinkBusy = false;
  /** The last seq the room assigned to a socket's command (a closing socket lingers until it is broadcast). */
  private readonly lastSeqOf = new WeakMap<Conn, number>();
  /** Per socket, its commands' answers in arrival order (src/answers.ts). */
  private readonly answers: AnswerQueue<Conn>;
  private reportTimer: ReturnType<typeof setTimeout> | null = null;
  private reportChain: Promise<void> = Promise.resolve();
  /** Per-user shedding (src/rules/limits.ts SHED_FACTOR); rebuilt when the limits change. */
  private shed: BucketMap;
  /** Upgrades accepted by the room and not yet holding a socket here (counted, so admission sees them). */
  private joining = 0;
  private reported = "";

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.limits = roomLimits(loadConfig(env));
    this.shed = shedding(this.limits);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
    for (const row of ctx.storage.sql.exec<{ k: string; v: string }>("SELECT k, v FROM meta")) {
      if (row.k === "stream_id") this.streamId = row.v;
      if (row.k === "key") this.key = row.v;
    }
    this.answers = new AnswerQueue<Conn>(
      (conn, frame) => this.sockets.send(conn, frame),
      (conn) => conn.ws.readyState === WebSocket.OPEN,
      () => this.mirror?.seq ?? 0,
      ACK_HOLD_MS,
    );
    this.sockets = new Fanout(ctx, {
      limits: () => this.limits,
      label: () => `stream=${this.streamId} shard=${this.key}`,
      total: () => this.viewersTotal,
      onChange: () => this.reportSoon(),
      linger: (conn) => this.settled(conn),
      answer: (conn, frame) => this.answers.fill(conn, this.answers.slot(conn), frame, 0),
    });
  }

  /** The stream and key are fixed by the first request (the object's name). */
  private bind(streamId: string, key: string): void {
    if (this.key === key && this.streamId === streamId) return;
    if (this.key && this.key !== key) throw new Error(`shard ${this.key} asked to serve ${key}`);
    this.streamId = streamId;
    this.key = key;
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('stream_id', ?), ('key', ?)", streamId, key);
  }

  private room() {
    return this.env.CHAT_ROOM.get(this.env.CHAT_ROOM.idFromName(this.streamId));
  }

  // -------------------------------------------------------------------------------------------
  // From the worker: the upgrade the room admitted
  // -------------------------------------------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    const key = request.headers.get(H_SHARD) ?? "";
    const checked = checkUpgrade(request, {
      streamOk: (streamId) => key.startsWith(`${streamId}/`),
      credentials: () => readWelcome(request.headers.get(H_WELCOME)),
    });
    if (checked instanceof Response) return checked;
    const { url, streamId, identity, credentials: welcome } = checked;
    this.bind(streamId, key);
    // The room's socket limits, which tests and a future per-stream setting may change.
    if (this.limits.framesPerSec !== welcome.frames_per_sec || this.limits.socketsPerUser !== welcome.sockets_per_user || this.limits.user.ratePerSec !== welcome.messages_per_sec) {
      const user = new BucketMap(welcome.messages_per_sec, welcome.messages_per_sec);
      this.limits = { ...this.limits, user, framesPerSec: welcome.frames_per_sec, socketsPerUser: welcome.sockets_per_user };
      this.shed = shedding(this.limits);
    }
    this.viewersTotal = Math.max(this.viewersTotal ?? 0, welcome.viewers);
    this.joining++;
    let mirror: RoomMirror;
    try {
      mirror = await this.ensureMirror();
      // A resume from a seq this shard has not seen yet (the client was on a shard further ahead):
      // bring the mirror up to the room first, so the answer is exact, not a backlog and repeats.
      const since = url.searchParams.get("since");
      if (since !== null && /^\d{1,15}$/.test(since) && Number(since) > mirror.seq && url.searchParams.get("epoch") === mirror.epoch) {
        mirror = await this.refreshMirror();
      }
    } finally {
      this.joining--;
    }
    const now = Date.now();
    const region = regionOf({ continent: request.headers.get(H_REGION) });
    const actor: SocketActor = {
      userId: identity.id,
      username: identity.username,
      role: welcome.role,
      ...(identity.member ? { member: true } : {}),
      ...(typeof identity.created_at === "number" ? { accountCreatedAt: identity.created_at } : {}),
    };
    const { client, server } = this.sockets.accept(actor, url.searchParams.get("batch") === "1", now, region, url.searchParams.get("seen") === "1");
    server.send(welcomeFrame(mirror.state, mirror.epoch, identity, welcome));
    server.send(mirror.historyFrame(url.searchParams.get("since"), url.searchParams.get("epoch")));
    // Staff get the review queue after history, from the room (the mirror holds none of it).
    if (welcome.role !== "viewer" && !welcome.banned) {
      this.ctx.waitUntil(
        withTimeout(this.room().reviewQueueFrame(this.streamId, identity.id), UPLINK_TIMEOUT_MS, "the room's reviewQueueFrame() RPC")
          .then((frame) => {
            if (frame && server.readyState === WebSocket.OPEN) server.send(this.pruneQueue(frame));
          })
          .catch((err) => console.warn(`ChatShard ${this.key}: review queue for ${identity.id} failed: ${describeError(err)}`)),
      );
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * The room's `review_queue` frame without the messages this shard's mirror saw decided since the
   * room answered (the answer and the review's delivery are separate RPCs: either may come first).
   */
  private pruneQueue(frame: string): string {
    const mirror = this.mirror;
    if (!mirror) return frame;
    const q = JSON.parse(frame) as ReviewQueueFrame;
    const items = q.items.filter((i) => !mirror.heldGone(i.id, i.comment.user_id));
    return items.length === q.items.length ? frame : JSON.stringify({ type: "review_queue", items } satisfies ReviewQueueFrame);
  }

  /**
   * RPC from the room: an unsequenced frame (held messages and the mod log to staff, a hidden user's
   * message to its author and staff) to this shard's sockets of `to` (src/shard-api.ts Recipients).
   * Staff are judged on the mirror: the role the room admitted them with, its grants since, not banned.
   * Returns how many sockets it went to.
   */
  async direct(streamId: string, key: string, frame: string, to: Recipients): Promise<number> {
    this.bind(streamId, key);
    const now = Date.now();
    // A held message to staff that was decided before this frame got here (see pruneQueue): not sent.
    if (this.mirror && frame.startsWith('{"type":"held"')) {
      const h = JSON.parse(frame) as HeldFrame;
      if (h.comment && this.mirror.heldGone(h.id, h.comment.user_id)) return 0;
    }
    const users = to.users ? new Set(to.users) : null;
    const except = new Set(to.except ?? []);
    const staff = (a: SocketActor) => {
      if (except.has(a.userId)) return false;
      if (!this.mirror) return a.role !== "viewer";
      return seesStaffState(this.mirror.state, a.userId, effectiveRole(this.mirror.state, a.userId, a.role), now);
    };
    const wanted = (a: SocketActor) => (users?.has(a.userId) ?? false) || (to.staff === true && staff(a));
    return this.sockets.sendWhere(frame, wanted, to.staff ? undefined : to.users);
  }

  /** The mirror, fetched from the room once when this shard has none (concurrent joins share the fetch). */
  private async ensureMirror(): Promise<RoomMirror> {
    return this.mirror ?? this.refreshMirror();
  }

  /**
   * A snapshot from the room, kept when newer than the mirror; sockets already here get what they
   * missed (catchUp). A shard with no sockets tells the room so: its feed then starts at this snapshot.
   */
  private refreshMirror(): Promise<RoomMirror> {
    this.syncing ??= this.room()
      .mirrorSnapshot(this.streamId, this.key, this.sockets.size === 0)
      .then((snapshot) => {
        if (!this.mirror || this.mirror.epoch !== snapshot.epoch || this.mirror.seq < snapshot.seq) {
          this.mirror = new RoomMirror(snapshot);
          if (this.sockets.size === 0) this.sent = this.mirror.seq;
          this.catchUp(this.mirror, Date.now());
        }
        return this.mirror;
      })
      .finally(() => {
        this.syncing = null;
      });
    return this.syncing;
  }

  // -------------------------------------------------------------------------------------------
  // From the room: sequenced entries (RPC)
  // -------------------------------------------------------------------------------------------

  /**
   * The room's entries after `prev`, in seq order (src/shard-links.ts). Broadcasts what is new to
   * every socket — first what sockets missed while this shard was away (from the mirror's ring),
   * then the entries — and answers with the shard's counts, plus `need: "snapshot"` when the
   * mirror could not apply them (none yet, a gap, another epoch).
   */
  async deliver(d: ShardDelivery): Promise<DeliveryAck> {
    this.bind(d.stream_id, d.key);
    const now = Date.now();
    if (d.snapshot && (!this.mirror || this.mirror.epoch !== d.snapshot.epoch || this.mirror.seq <= d.snapshot.seq)) {
      this.mirror = new RoomMirror(d.snapshot);
    }
    if (this.sent === null && d.prev >= 0) this.sent = d.prev;
    let need = false;
    if (this.mirror) {
      const before = this.mirror.seq;
      const { applied, gap } = this.mirror.accept(d.epoch, d.entries, now);
      need = gap;
      // Nothing known about what the sockets saw: they saw what the mirror held.
      if (this.sent === null) this.sent = before;
      this.catchUp(this.mirror, now, this.sent === before ? applied : undefined);
    } else {
      need = true;
    }
    if (d.viewers !== undefined && d.viewers !== this.viewersTotal) {
      this.viewersTotal = d.viewers;
      this.sockets.refreshViewers();
    }
    const ack: DeliveryAck = this.currentCounts();
    this.reported = JSON.stringify(ack);
    if (need) ack.need = "snapshot";
    return ack;
  }

  /**
   * Sends every socket the entries after `sent` that the mirror holds, then the held acks they
   * unblock. `applied`: the entries the mirror just applied, when the sockets had seen everything
   * before them (the usual delivery): exactly what they miss, without a walk over the ring.
   */
  private catchUp(mirror: RoomMirror, now: number, applied?: readonly RingEntry[]): void {
    if (this.sent !== null && this.sent < mirror.seq) {
      const missed: readonly RingEntry[] | null = applied ?? mirror.since(this.sent);
      if (missed === null) {
        // What the sockets missed is no longer in the ring: they are closed (1012), so each client
        // reconnects and resumes — exactly, or with a fresh backlog (recovered: false) — never a silent gap.
        console.warn(`ChatShard ${this.key}: sockets are more than the ring behind (sent=${this.sent}, seq=${mirror.seq}); closing them to resync`);
        this.sockets.closeAll(CLOSE_RESYNC, "fell behind: reconnect and resume");
      } else {
        for (const e of missed) this.sockets.broadcast(eventFrame(e), undefined, e.seq);
      }
      this.sent = mirror.seq;
    }
    this.answers.release(now);
  }

  /**
   * Development only (README "Faults"; the worker's `POST /dev/faults/evict`, DEV_TOKENS=true):
   * resets this object as an eviction or crash would (`DurableObjectState.abort`): its memory is
   * gone, its storage stays. The RPC call itself rejects (the object went away under it).
   */
  async devReset(reason: string): Promise<void> {
    this.ctx.abort(reason);
  }

  /** RPC from the room (starting again): this shard's counts. */
  async counts(): Promise<ShardReport> {
    return this.currentCounts();
  }

  private currentCounts(): ShardReport {
    return {
      sockets: this.sockets.size + this.joining,
      users: this.sockets.viewers,
      unbatched: this.sockets.unbatched,
      perRegion: this.sockets.perRegion(),
      staff: this.sockets.staff,
    };
  }

  /** Tells the room when this shard's counts changed, at most every REPORT_INTERVAL_MS (joins: the room counted them at admission). */
  private reportSoon(): void {
    if (this.reportTimer !== null || !this.streamId) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = null;
      void this.reportNow();
    }, REPORT_INTERVAL_MS);
  }

  /**
   * Reports the counts now, when they changed since the last report (closes: so a freed place is
   * known to admission before the client sees its close answered). Calls queue behind the report in
   * flight and mostly find nothing new to say: a mass disconnect costs a few RPCs. Never rejects.
   */
  private reportNow(): Promise<void> {
    this.reportChain = this.reportChain.then(async () => {
      const counts = this.currentCounts();
      const text = JSON.stringify(counts);
      if (text === this.reported || !this.streamId) return;
      this.reported = text;
      try {
        await withTimeout(this.room().shardReport(this.streamId, this.key, counts), UPLINK_TIMEOUT_MS, "the room's shardReport() RPC");
      } catch (err) {
        this.reported = "";
        console.warn(`ChatShard ${this.key} report failed: ${describeError(err)}`);
      }
    });
    return this.reportChain;
  }

  // -------------------------------------------------------------------------------------------
  // WebSocket events (Hibernation API): commands go to the room
  // -------------------------------------------------------------------------------------------

  /**
   * A viewer's frame: the gate (src/fanout.ts), synchronously — a frame it drops (a closed or
   * lingering socket, over the frame budget, malformed) costs no promise (issue 19 §4) — then the
   * command's way to the room (serve), whose promise is the event's.
   */
  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void | Promise<void> {
    const gated = this.sockets.gate(ws, message);
    if (gated) return this.serve(gated.conn, gated.command);
  }

  /** A gated command: the shard's shedding, then the room; its answer in its place among the socket's answers. */
  private async serve(conn: Conn, command: Command): Promise<void> {
    const cmid = command.client_msg_id;
    // This command's place among the socket's answers: they leave in the order the commands came.
    const slot = this.answers.slot(conn);
    const now = Date.now();
    // The room's order: the user's own limit first, then the stream's budget.
    if (this.shed.ratePerSec !== this.limits.user.ratePerSec * SHED_FACTOR) this.shed = shedding(this.limits);
    const wait = this.shed.take(conn.actor.userId, now);
    if (wait > 0) return this.answers.fill(conn, slot, errorFrame({ code: "rate_limited", retry_after_ms: wait }, cmid), 0);
    if (this.uplink.length >= MAX_UPLINK) return this.answers.fill(conn, slot, errorFrame({ code: "room_busy", retry_after_ms: 1_000 }, cmid), 0);
    let r: ShardCommandResult;
    try {
      r = await this.toRoom(conn, { actor: conn.actor, cmd: command });
    } catch (err) {
      console.error(`ChatShard ${this.key} command user=${conn.actor.userId}: ${describeError(err)}`);
      return this.answers.fill(conn, slot, errorFrame({ code: "internal_error" }, cmid), 0);
    }
    if (r.kind === "ok" && r.seq !== undefined) this.lastSeqOf.set(conn, Math.max(r.seq, this.lastSeqOf.get(conn) ?? 0));
    const answer = commandAnswer(r, cmid);
    if (answer.strike) this.sockets.strike(conn);
    this.answers.fill(conn, slot, answer.frame, answer.seq);
  }

  /**
   * Resolves when `conn` has no answer pending or held back and the room's last event of it is
   * broadcast (at most ACK_HOLD_MS): a socket closed for abuse first sees what was accepted from
   * it, as on an unsharded room.
   */
  private async settled(conn: Conn): Promise<void> {
    const until = Date.now() + ACK_HOLD_MS;
    const busy = () => this.answers.has(conn) || (this.lastSeqOf.get(conn) ?? 0) > (this.mirror?.seq ?? 0);
    while (busy() && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** One command to the room; commands that arrive while an RPC is in flight go in the next one, in order. */
  private toRoom(conn: Conn, item: ShardCommand): Promise<ShardCommandResult> {
    return new Promise((resolve, reject) => {
      this.uplink.push({ conn, item, resolve, reject });
      if (!this.uplinkBusy) void this.flushUplink();
    });
  }

  private async flushUplink(): Promise<void> {
    this.uplinkBusy = true;
    try {
      while (this.uplink.length > 0) {
        // A socket closed while its commands waited (abuse, 4429) is not served: they are dropped unanswered.
        const batch = this.uplink.filter((b) => this.sockets.isOpen(b.conn));
        for (const b of this.uplink) if (!batch.includes(b)) b.resolve({ kind: "ignored" });
        this.uplink = [];
        if (batch.length === 0) break;
        try {
          const results = await withTimeout(this.room().commands(this.streamId, this.key, batch.map((b) => b.item)), UPLINK_TIMEOUT_MS, "the room's commands() RPC");
          batch.forEach((b, i) => b.resolve(results[i] ?? { kind: "error", code: "internal_error" }));
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.uplinkBusy = false;
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.sockets.forget(ws);
    await Promise.race([this.reportNow(), new Promise((r) => setTimeout(r, CLOSE_REPORT_WAIT_MS))]);
    answerClose(ws, code, reason);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    console.warn(`ChatShard webSocketError ${this.key} user=${this.sockets.userOf(ws) ?? "?"}: ${describeError(error)}`);
    this.sockets.forget(ws);
  }
}
