/**
 * Fan-out: a Durable Object's viewer sockets (WebSocket Hibernation API) — accepting them, the gate
 * every frame passes (frame budget, size, JSON, schema), broadcasting with optional batching,
 * presence counts, and closing abusive or surplus sockets for good. No rules, no storage: the
 * ChatRoom decides what a command does, this module only carries frames. The frame budget and the
 * strike rule it applies are src/rules/limits.ts; the bound on slow consumers (sockets that report
 * what they read and fall behind, closed 4408) is src/rules/consumers.ts.
 *
 * Everything a socket needs after a wake-up lives in its attachment (≤ 16 KiB, here ~150 bytes);
 * the maps below are caches rebuilt from ctx.getWebSockets().
 */
import {
  CLOSE_POLICY_VIOLATION,
  CLOSE_TOO_MANY_SOCKETS,
  ClientFrame,
  MAX_FRAME_BYTES,
  PONG_FRAME,
  Role,
  errorFrame,
  type Command,
  type ErrorCode,
  type ServerFrame,
} from "./protocol";
import { UNKNOWN_REGION } from "./metrics";
import { RateMeter, fullBucket, take, type Bucket } from "./rules/budget";
import { MAX_STRIKES, STRIKE_WINDOW_MS, coalescingWindowMs, frameBurst, framesDroppedBeforeClose } from "./rules/limits";
import {
  CLOSE_SLOW_CONSUMER,
  SLOW_CONSUMER_REASON,
  deliveredOver,
  newConsumer,
  parseSeenFrame,
  reported,
  type ConsumerBound,
  type ConsumerState,
} from "./rules/consumers";

/** `viewers` frames: at most one per interval, only when the count changed (DESIGN.md: every few seconds). */
export const VIEWERS_INTERVAL_MS = 3_000;

/** Who sends on a socket: the user and the role the worker resolved, and what the chat modes ask (src/rules/modes.ts). */
export interface SocketActor {
  userId: string;
  username: string | null;
  role: Role;
  /** a member of this stream (claim `stream_members`) */
  member?: boolean;
  /** account creation, ms; null/absent = unknown */
  accountCreatedAt?: number | null;
}

/** What a socket carries through hibernation (kept small: it is stored per connection). */
interface Attachment {
  u: string;
  n: string | null;
  /** role the worker resolved */
  r: Role;
  /** 1 = accepts batch frames */
  b?: 1;
  /** connected at, ms (the oldest of a user's sockets is closed first) */
  t: number;
  /** 1 = closed by the room: never served again, even after a wake-up */
  x?: 1;
  /** region (src/metrics.ts regionOf: a continent code or "unknown"); absent on sockets from before it existed */
  g?: string;
  /** 1 = a member of the stream */
  m?: 1;
  /** account created at, ms (absent = unknown) */
  c?: number;
  /** 1 = reports what it read (`?seen=1`): held to the slow-consumer bound */
  s?: 1;
}

/** One open socket, as the fan-out tracks it. */
export interface Conn {
  ws: WebSocket;
  actor: SocketActor;
  batch: boolean;
  connectedAt: number;
  /** src/metrics.ts regionOf */
  region: string;
  strikes: number;
  strikeWindowStart: number;
  frames: Bucket;
  dropped: number;
  droppedWindowStart: number;
  /** closed by the fan-out, lingering (see FanoutOptions.linger): never served again */
  closing?: boolean;
  /** Present when the socket reports what it read (`?seen=1`): src/rules/consumers.ts. */
  consumer?: ConsumerState;
}

/** The socket limits, read on every use (tests give one room other limits). */
export interface SocketLimits {
  /** SOCKET_MAX_FRAMES_PER_SEC */
  framesPerSec: number;
  /** MAX_SOCKETS_PER_USER */
  socketsPerUser: number;
  /** BATCH_MAX_WINDOW_MS: the longest coalescing window, ms (the window adapts below it: src/rules/limits.ts coalescingWindowMs). */
  batchMaxWindowMs: number;
  /** The modelled CPU of one send, µs (src/rules/limits.ts SEND_COST_US). */
  sendCostUs: number;
  /** SLOW_CONSUMER_MAX_BEHIND / SLOW_CONSUMER_GRACE_MS (src/rules/consumers.ts); maxBehind 0 = off. */
  slowConsumer: ConsumerBound;
}

/**
 * What a socket layer is told at construction. An unsharded room passes `onSent`; a fan-out shard
 * (src/shard.ts) passes the four shard hooks: the count its `viewers` frames carry (the stream's
 * total, from the room) instead of its own distinct users, a call whenever its own sockets change
 * (so it can report them to the room), lingering closes and ordered answers.
 */
export interface FanoutOptions {
  /** The socket limits, read on every use (tests give one room other limits). */
  limits: () => SocketLimits;
  /** Prefixes log lines, e.g. `stream=<id>`. */
  label: () => string;
  /**
   * Called once per broadcast given an `acceptedAt` (ms), when its frame has gone to the last socket
   * that gets it: at once, or when the batch window holding it is flushed (src/metrics.ts fan-out latency).
   */
  onSent?: (acceptedAt: number, sentAt: number) => void;
  /** The count `viewers` frames carry; null = not known (no frame is sent). Default: this layer's distinct users. */
  total?: () => number | null;
  /** The sockets changed (accepted, forgotten). */
  onChange?: () => void;
  /**
   * A shard's commands are answered asynchronously: a socket it closes (abuse, 4429) lingers — no
   * frame of it is served any more, but it still receives broadcasts — until this resolves (its
   * commands already with the room answered and broadcast), so it sees what was accepted from it.
   */
  linger?: (conn: Conn) => Promise<void>;
  /**
   * Where the gate's own answers (errors for refused frames, the pong of a parsed ping) go: a shard
   * queues them behind the socket's earlier answers so they cannot overtake an ack. Default: sent at once.
   */
  answer?: (conn: Conn, frame: string) => void;
}

/** WebSocket.READY_STATE_OPEN. */
export const WS_OPEN = 1;
const OPEN = WS_OPEN;

export class Fanout {
  private readonly conns = new Map<WebSocket, Conn>();
  private readonly plain = new Set<Conn>();
  private readonly batched = new Set<Conn>();
  private readonly byUser = new Map<string, Set<Conn>>();
  /**
   * Open sockets this layer will not serve and has already closed (an attachment marked closed by
   * the room, or none): their later frames are dropped without reading the attachment again.
   */
  private readonly refused = new WeakSet<WebSocket>();
  private staffConns = 0;
  // Batched delivery (shared by every batch=1 client: one encoding per flush).
  private batchWindowOpen = false;
  /** Frames broadcast in the last second, and how late the last window's timer fired (ms): the window's inputs. */
  private readonly broadcastRate = new RateMeter();
  private windowLagMs = 0;
  /** Answers to batched sockets that wait for the window's frames (Fanout.send), in order. */
  private heldAnswers: Array<[Conn, string]> = [];
  private batchPending: string[] = [];
  /** When the events in batchPending were accepted (ms), for the fan-out latency; same order. */
  private batchPendingAt: number[] = [];
  /** The highest seq among batchPending (-1 = none sequenced): what a flush delivers, for the slow-consumer check. */
  private batchPendingSeq = -1;
  /** The last sequenced event broadcast (null = none since this object started): caps `seen` reports. */
  private lastSeq: number | null = null;
  /** Open sockets per region. */
  private readonly regions = new Map<string, number>();
  // Presence: the last count sent, and whether a send is scheduled.
  private viewersSent = -1;
  private viewersTimer: ReturnType<typeof setTimeout> | null = null;

  private readonly limits: () => SocketLimits;
  private readonly label: () => string;

  /** Adopts the object's open sockets (after a wake-up from hibernation) from their attachments. */
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly options: FanoutOptions,
  ) {
    this.limits = options.limits;
    this.label = options.label;
    for (const ws of ctx.getWebSockets()) this.adopt(ws);
  }

  /** Open sockets. */
  get size(): number {
    return this.conns.size;
  }

  /** Open sockets of owners and moderators, by the role they were admitted with (staff-only frames). */
  get staff(): number {
    return this.staffConns;
  }

  /** Open sockets without `?batch=1`: each broadcast is one send to each of them. */
  get unbatched(): number {
    return this.plain.size;
  }

  /** Distinct users connected (what `viewers` counts). */
  get viewers(): number {
    return this.byUser.size;
  }

  /** Open sockets per region (src/metrics.ts regionOf), a copy. */
  perRegion(): Record<string, number> {
    return Object.fromEntries(this.regions);
  }

  /**
   * Accepts a new socket for `actor`: closes the user's oldest sockets beyond MAX_SOCKETS_PER_USER − 1
   * with 4429 (closing the oldest rather than refusing the newest keeps a reload or a new device
   * working when a dead socket has not been noticed yet), flushes the batch window (so the history
   * the caller sends next is the complete picture), and returns the pair's client end and the
   * server end to send welcome/history on. `seen`: the client asked for `?seen=1` (it reports what
   * it read, and is closed 4408 when it falls behind: src/rules/consumers.ts).
   */
  accept(actor: SocketActor, batch: boolean, now: number, region: string = UNKNOWN_REGION, seen = false): { client: WebSocket; server: WebSocket } {
    const mine = [...(this.byUser.get(actor.userId) ?? [])].filter((c) => !c.closing);
    const excess = mine.length - (this.limits().socketsPerUser - 1);
    if (excess > 0) {
      const oldest = mine.sort((a, b) => a.connectedAt - b.connectedAt).slice(0, excess);
      for (const c of oldest) this.closeConn(c, CLOSE_TOO_MANY_SOCKETS, "too many sockets for this user");
    }
    const pair = new WebSocketPair();
    const server = pair[1];
    this.ctx.acceptWebSocket(server);
    const attachment: Attachment = { u: actor.userId, n: actor.username, r: actor.role, t: now, g: region };
    if (batch) attachment.b = 1;
    if (seen) attachment.s = 1;
    if (actor.member) attachment.m = 1;
    if (typeof actor.accountCreatedAt === "number") attachment.c = actor.accountCreatedAt;
    server.serializeAttachment(attachment);
    this.flushBatch();
    this.adopt(server);
    this.scheduleViewers();
    this.options.onChange?.();
    return { client: pair[0], server };
  }

  /**
   * The gate every incoming frame passes, in order: a socket the room closed is never served;
   * the frame budget (before any other work); binary, size, JSON and schema checks (each refusal a
   * strike); a parsed ping is answered here. Returns the command to run with its sender, or null.
   *
   * The cheapest point comes first (issue 19 §4; BENCHMARKS.md "Floods that cannot slow a room"):
   * workerd dispatches every frame a client had sent, also after the room closed its socket, so a
   * flood's frames past the close cost one `readyState` read each (the socket is CLOSING from the
   * moment close() is called); a lingering close (FanoutOptions.linger) or a refused socket, one
   * lookup. A frame over the budget is dropped before the message is looked at.
   */
  gate(ws: WebSocket, message: string | ArrayBuffer): { conn: Conn; command: Command } | null {
    if (ws.readyState !== OPEN) return null;
    const conn = this.conns.get(ws) ?? this.adoptOrRefuse(ws);
    if (conn === null || conn.closing) return null;
    const budget = this.limits().framesPerSec;
    const now = Date.now();
    if (take(conn.frames, budget, frameBurst(budget), now) > 0) {
      this.dropFrame(conn, budget, now);
      return null;
    }
    if (typeof message !== "string") return this.reject(conn, "unsupported_binary");
    // The SDK's `seen` report, once a second per socket: read without JSON.parse or the schema.
    const seenSeq = parseSeenFrame(message);
    if (seenSeq !== null) {
      this.noteSeen(conn, seenSeq);
      return null;
    }
    // Cheap bound first: UTF-8 needs at least one byte per UTF-16 unit and at most three.
    if (message.length > MAX_FRAME_BYTES || (message.length * 3 > MAX_FRAME_BYTES && utf8Length(message) > MAX_FRAME_BYTES)) {
      return this.reject(conn, "frame_too_large");
    }
    let raw: unknown;
    try {
      raw = JSON.parse(message);
    } catch {
      return this.reject(conn, "invalid_json");
    }
    const parsed = ClientFrame.safeParse(raw);
    if (!parsed.success) {
      const cmid = (raw as { client_msg_id?: unknown } | null)?.client_msg_id;
      return this.reject(conn, "invalid_frame", typeof cmid === "string" && cmid.length <= 64 ? cmid : undefined);
    }
    if (parsed.data.type === "ping") {
      this.reply(conn, PONG_FRAME);
      return null;
    }
    if (parsed.data.type === "seen") {
      this.noteSeen(conn, parsed.data.seq);
      return null;
    }
    return { conn, command: parsed.data };
  }

  /** A socket closed by its client (or failed): forgotten; the presence count follows. */
  forget(ws: WebSocket): void {
    const conn = this.conns.get(ws);
    if (!conn) return;
    this.conns.delete(ws);
    this.plain.delete(conn);
    this.batched.delete(conn);
    if (conn.actor.role !== "viewer") this.staffConns--;
    const inRegion = (this.regions.get(conn.region) ?? 1) - 1;
    if (inRegion > 0) this.regions.set(conn.region, inRegion);
    else this.regions.delete(conn.region);
    const mine = this.byUser.get(conn.actor.userId);
    mine?.delete(conn);
    if (mine?.size === 0) this.byUser.delete(conn.actor.userId);
    this.scheduleViewers();
    this.options.onChange?.();
  }

  /** The presence total changed elsewhere (a shard's room): send it within VIEWERS_INTERVAL_MS. */
  refreshViewers(): void {
    this.scheduleViewers();
  }

  /** True while `conn` is open and not closed by this fan-out (abuse, 4429): its commands may still be served. */
  isOpen(conn: Conn): boolean {
    return conn.ws.readyState === OPEN && this.conns.get(conn.ws) === conn && !conn.closing;
  }

  /** The user a socket belongs to, for logs. */
  userOf(ws: WebSocket): string | undefined {
    return this.conns.get(ws)?.actor.userId;
  }

  /**
   * Sends `frame` to every open socket; `?batch=1` sockets may get it coalesced, within a window
   * that follows the load (0 when quiet, ≤ BATCH_MAX_WINDOW_MS: src/rules/limits.ts coalescingWindowMs).
   * With `acceptedAt` (ms), reports the event's fan-out to `onSent` once its last send is done.
   * `seq`: the frame is that sequenced event; each socket that reports what it read is then checked
   * against the slow-consumer bound (one comparison; src/rules/consumers.ts) and closed 4408 past it.
   */
  broadcast(frame: string, acceptedAt?: number, seq?: number): void {
    const bound = this.limits().slowConsumer;
    // One comparison per reporting socket; Infinity (no seq, or the bound off) never matches.
    const max = seq === undefined || bound.maxBehind <= 0 ? Infinity : bound.maxBehind;
    const at = seq ?? 0;
    let slow: Conn[] | null = null;
    if (seq !== undefined) this.lastSeq = seq;
    for (const c of this.plain) {
      sendTo(c.ws, frame);
      if (c.consumer && at - c.consumer.seen > max) (slow ??= []).push(c);
    }
    if (this.batched.size > 0) {
      const now = Date.now();
      this.broadcastRate.tick(now);
      if (this.batchWindowOpen) {
        this.batchPending.push(frame);
        if (acceptedAt !== undefined) this.batchPendingAt.push(acceptedAt);
        if (seq !== undefined && seq > this.batchPendingSeq) this.batchPendingSeq = seq;
        if (slow) this.closeSlow(slow, at, bound);
        return;
      }
      // A lone message is never held back: send it now and open a window for what follows, when the load asks for one.
      for (const c of this.batched) {
        sendTo(c.ws, frame);
        if (c.consumer && at - c.consumer.seen > max) (slow ??= []).push(c);
      }
      this.openBatchWindow(now);
    }
    if (slow) this.closeSlow(slow, at, bound);
    if (acceptedAt !== undefined) this.options.onSent?.(acceptedAt, Date.now());
  }


  /**
   * Sends `frame` to the open sockets whose actor `to` accepts (staff, or named users: src/audience.ts
   * direct), each through {@link send}, so it never overtakes broadcasts held for a batched socket.
   * `users`, when given, narrows the walk to those users' sockets.
   */
  sendWhere(frame: string, to: (actor: SocketActor) => boolean, users?: readonly string[]): number {
    let n = 0;
    const pick = (c: Conn) => {
      if (c.closing || !to(c.actor)) return;
      this.send(c, frame);
      n++;
    };
    if (users) for (const u of users) for (const c of this.byUser.get(u) ?? []) pick(c);
    else for (const c of this.conns.values()) pick(c);
    return n;
  }

  /**
   * A `seen` report (src/rules/consumers.ts reported): kept for a socket that opted in, ignored for
   * others (a raw client may send one; it costs a frame of its budget like any other).
   */
  private noteSeen(conn: Conn, seq: number): void {
    if (conn.consumer) reported(conn.consumer, seq, this.lastSeq);
  }

  /**
   * The sockets a delivery of `seq` found over the bound: each goes through the rule (its grace
   * clock), and those past it are closed for good with 4408 — after the loop that found them.
   */
  private closeSlow(candidates: Conn[], seq: number, bound: ConsumerBound): void {
    const now = Date.now();
    for (const c of candidates) {
      if (c.closing || !c.consumer || !deliveredOver(c.consumer, seq, now, bound)) continue;
      console.warn(`ChatRoom closing slow consumer ${this.label()} user=${c.actor.userId}: ${seq - c.consumer.seen} events behind its last report, over the bound without progress for ${c.consumer.overSince < 0 ? 0 : now - c.consumer.overSince} ms`);
      this.closeConn(c, CLOSE_SLOW_CONSUMER, SLOW_CONSUMER_REASON);
    }
  }

  /** Closes every socket for good (e.g. a shard that fell more than the ring behind: clients reconnect and resume). */
  closeAll(code: number, reason: string): void {
    for (const conn of [...this.conns.values()]) this.closeConn(conn, code, reason);
  }

  private reply(conn: Conn, frame: string): void {
    if (this.options.answer) this.options.answer(conn, frame);
    else this.send(conn, frame);
  }

  /** One frame to one socket (skipped when it is not open). */
  send(conn: Conn, frame: string): void {
    // A batched socket's own frames (an ack, an error) never overtake the broadcasts held for it:
    // while the window holds frames they wait and follow the flush, so a sender sees its comment first.
    if (conn.batch && this.batchPending.length > 0) this.heldAnswers.push([conn, frame]);
    else sendTo(conn.ws, frame);
  }

  /** A refusal the rules consider abuse (`message_too_long`, `invalid_text`): counts as a strike. */
  strike(conn: Conn): void {
    const now = Date.now();
    if (now - conn.strikeWindowStart > STRIKE_WINDOW_MS) {
      conn.strikeWindowStart = now;
      conn.strikes = 0;
    }
    if (++conn.strikes > MAX_STRIKES) {
      console.warn(`ChatRoom closing abusive socket ${this.label()} user=${conn.actor.userId}: too many rejected frames`);
      this.closeConn(conn, CLOSE_POLICY_VIOLATION, "too many rejected frames");
    }
  }

  // -------------------------------------------------------------------------------------------

  /**
   * A socket with no connection here (after a wake-up, adopted on its first frame): adopted, or —
   * when its attachment says the room closed it, or it has none — closed (1011) once and remembered,
   * so its later frames cost one WeakSet lookup instead of an attachment read and another close.
   */
  private adoptOrRefuse(ws: WebSocket): Conn | null {
    if (this.refused.has(ws)) return null;
    const conn = this.adopt(ws);
    if (conn) return conn;
    this.refused.add(ws);
    try {
      ws.close(1011, "unknown connection");
    } catch {
      // already closing
    }
    return null;
  }

  /** Rebuilds a connection from its attachment. Null for a socket the room closed or that is not open. */
  private adopt(ws: WebSocket): Conn | null {
    if (ws.readyState !== OPEN) return null;
    const a = ws.deserializeAttachment() as Attachment | null;
    if (!a || typeof a.u !== "string" || a.x === 1) return null;
    const conn: Conn = {
      ws,
      actor: {
        userId: a.u,
        username: a.n,
        role: Role.safeParse(a.r).data ?? "viewer",
        ...(a.m === 1 ? { member: true } : {}),
        ...(typeof a.c === "number" ? { accountCreatedAt: a.c } : {}),
      },
      batch: a.b === 1,
      connectedAt: a.t ?? 0,
      region: typeof a.g === "string" ? a.g : UNKNOWN_REGION,
      strikes: 0,
      strikeWindowStart: 0,
      frames: fullBucket(frameBurst(this.limits().framesPerSec), Date.now()),
      dropped: 0,
      droppedWindowStart: 0,
      ...(a.s === 1 ? { consumer: newConsumer() } : {}),
    };
    this.conns.set(ws, conn);
    (conn.batch ? this.batched : this.plain).add(conn);
    if (conn.actor.role !== "viewer") this.staffConns++;
    this.regions.set(conn.region, (this.regions.get(conn.region) ?? 0) + 1);
    let mine = this.byUser.get(conn.actor.userId);
    if (!mine) this.byUser.set(conn.actor.userId, (mine = new Set()));
    mine.add(conn);
    return conn;
  }

  /**
   * Closes a socket for good: the attachment is marked first, so neither a frame still queued nor
   * a wake-up from hibernation can re-admit it; then it is forgotten and closed.
   */
  private closeConn(conn: Conn, code: number, reason: string): void {
    if (conn.closing) return;
    try {
      conn.ws.serializeAttachment({ ...(conn.ws.deserializeAttachment() as Attachment), x: 1 } satisfies Attachment);
    } catch {
      // already closed: nothing can be queued behind it
    }
    conn.closing = true;
    const finish = () => {
      // What the window holds for it (its own accepted comment, its ack) goes out before the close.
      if (conn.batch) this.flushBatch();
      this.forget(conn.ws);
      try {
        conn.ws.close(code, reason);
      } catch {
        // already closing
      }
    };
    const linger = this.options.linger?.(conn);
    if (linger) void linger.then(finish, finish);
    else finish();
  }

  /** A malformed frame: an error to the client, in its place among the socket's answers (FanoutOptions.answer), and a strike. */
  private reject(conn: Conn, code: ErrorCode, clientMsgId?: string): null {
    this.reply(conn, errorFrame({ code }, clientMsgId));
    this.strike(conn);
    return null;
  }

  /**
   * A frame over the socket's budget: dropped unread. The first drop in a window tells the client
   * (`rate_limited` + `retry_after_ms`); a socket that keeps sending is closed with 1008.
   */
  private dropFrame(conn: Conn, framesPerSec: number, now: number): void {
    if (now - conn.droppedWindowStart > STRIKE_WINDOW_MS) {
      conn.droppedWindowStart = now;
      conn.dropped = 0;
    }
    if (++conn.dropped > framesDroppedBeforeClose(framesPerSec)) {
      console.warn(`ChatRoom closing abusive socket ${this.label()} user=${conn.actor.userId}: frame budget exceeded`);
      this.closeConn(conn, CLOSE_POLICY_VIOLATION, "frame budget exceeded");
    } else if (conn.dropped === 1) {
      this.reply(conn, errorFrame({ code: "rate_limited", retry_after_ms: Math.ceil(1000 / framesPerSec) }));
    }
  }

  /**
   * Opens a coalescing window of the length the load asks for (src/rules/limits.ts
   * coalescingWindowMs; none when it says 0). When it ends, what it collected goes out as one
   * frame and the next window opens. The timer's lateness (ms) is the object's busy time the
   * window cannot see otherwise: workerd's clock stands still while code runs, so `now` is the
   * start of the event that opened it and the lag includes the sends made after it.
   */
  private openBatchWindow(now: number): void {
    const windowMs = coalescingWindowMs({
      perSec: this.broadcastRate.perSec(now),
      unbatched: this.plain.size,
      batched: this.batched.size,
      lagMs: this.windowLagMs,
      maxMs: this.limits().batchMaxWindowMs,
      sendCostUs: this.limits().sendCostUs,
    });
    if (windowMs <= 0) {
      this.windowLagMs = 0;
      return;
    }
    // The next window is decided from how late this one's timer fires (CoalescingLoad.lagMs).
    this.batchWindowOpen = true;
    const due = now + windowMs;
    setTimeout(() => {
      const firedAt = Date.now();
      this.windowLagMs = Math.max(0, firedAt - due);
      this.batchWindowOpen = false;
      if (this.batchPending.length > 0) {
        this.flushBatch();
        this.openBatchWindow(firedAt);
      }
    }, windowMs);
  }

  private flushBatch(): void {
    const pending = this.batchPending;
    if (pending.length === 0) return;
    const pendingAt = this.batchPendingAt;
    const seq = this.batchPendingSeq;
    this.batchPending = [];
    this.batchPendingAt = [];
    this.batchPendingSeq = -1;
    const frame = pending.length === 1 ? pending[0]! : `{"type":"batch","frames":[${pending.join(",")}]}`;
    const bound = this.limits().slowConsumer;
    const max = seq < 0 || bound.maxBehind <= 0 ? Infinity : bound.maxBehind;
    let slow: Conn[] | null = null;
    for (const c of this.batched) {
      sendTo(c.ws, frame);
      if (c.consumer && seq - c.consumer.seen > max) (slow ??= []).push(c);
    }
    const held = this.heldAnswers;
    this.heldAnswers = [];
    for (const [c, answer] of held) sendTo(c.ws, answer);
    // The clock read after the sends: inside one event it only moves across I/O (README "Stats and metrics").
    const sentAt = Date.now();
    for (const at of pendingAt) this.options.onSent?.(at, sentAt);
    if (slow) this.closeSlow(slow, seq, bound);
  }

  /** Presence: one `viewers` frame per VIEWERS_INTERVAL_MS at most, only when the count changed; no storage. */
  private scheduleViewers(): void {
    if (this.viewersTimer !== null) return;
    this.viewersTimer = setTimeout(() => {
      this.viewersTimer = null;
      const count = this.options.total ? this.options.total() : this.byUser.size;
      if (count === null || count === this.viewersSent) return;
      this.viewersSent = count;
      const frame = JSON.stringify({ type: "viewers", count } satisfies ServerFrame);
      for (const c of this.conns.values()) sendTo(c.ws, frame);
    }, VIEWERS_INTERVAL_MS);
  }
}

/**
 * Answers a client's close (webSocketClose), or the client sees 1006 instead of a clean close.
 * 1005 ("no code") and the other reserved codes cannot be sent back: those are answered with 1000.
 */
export function answerClose(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code === 1005 || code === 1006 || code === 1015 ? 1000 : code, reason);
  } catch {
    // already closed
  }
}

function sendTo(ws: WebSocket, frame: string): void {
  if (ws.readyState !== OPEN) return;
  try {
    ws.send(frame);
  } catch {
    // Closed between the check and the send; webSocketClose/webSocketError cleans up.
  }
}

const encoder = new TextEncoder();

function utf8Length(s: string): number {
  return encoder.encode(s).byteLength;
}
