/**
 * ChatRoom: one Durable Object per stream (`idFromName(stream_id)`).
 *
 * It owns the stream's real-time state:
 *   - the viewers' sockets, through the WebSocket Hibernation API: the runtime keeps the sockets
 *     open while this object is evicted from memory, and everything a socket needs after a
 *     wake-up (who it is, how it wants frames) lives in its attachment;
 *   - the sequence number and a ring of the last HISTORY_SIZE comments, in the object's SQLite
 *     storage, so newcomers get a backlog and reconnecting clients get exactly what they missed;
 *   - client_msg_id acknowledgements (durable, so a retry after a reconnect is not re-broadcast);
 *   - per-user rate limits (in memory: a bucket only matters while messages are flowing);
 *   - an outbox of queue events, so a comment that was broadcast always reaches CHAT_EVENTS even if
 *     the Queue is briefly unavailable (retried by alarm with backoff, in seq order).
 *
 * Requests come only from the worker (src/worker.ts), which has already authenticated the user;
 * a Durable Object is not reachable from the Internet, so the identity headers are trusted.
 */
import { DurableObject } from "cloudflare:workers";
import { loadConfig, type Config, type Env } from "./env";
import { Outbox } from "./outbox";
import { BucketMap, fullBucket, take, type Bucket } from "./rules/budget";
import {
  CLOSE_POLICY_VIOLATION,
  CLOSE_TOO_MANY_SOCKETS,
  ClientFrame,
  ERROR_MESSAGES,
  HISTORY_SIZE,
  MAX_FRAME_BYTES,
  MAX_MESSAGE_CODE_POINTS,
  PING_FRAME,
  PONG_FRAME,
  codePointLength,
  isUuid,
  toQueueEvent,
  type ErrorCode,
  type MessageFrame,
  type SeqComment,
  type ServerFrame,
} from "./protocol";

// ---------------------------------------------------------------------------------------------
// Tunables (quoted in the README)
// ---------------------------------------------------------------------------------------------

/** Comments sent to a newcomer that is not resuming (the ring holds HISTORY_SIZE for resumes). */
export const BACKLOG_SIZE = 50;
/**
 * A socket that sends more than MAX_STRIKES rejected frames (invalid, too long, too large, binary)
 * within STRIKE_WINDOW_MS is closed with 1008. `rate_limited` and `room_busy` are not strikes: a
 * client that hits a rate limit is slowed down, not disconnected (issue 9, kind 3).
 */
export const MAX_STRIKES = 20;
export const STRIKE_WINDOW_MS = 10_000;
/**
 * Frame budget (issue 9, kind 1): each socket may send SOCKET_MAX_FRAMES_PER_SEC frames of any
 * kind, with a burst of FRAME_BURST_FACTOR × that. Frames over budget are dropped unprocessed; a
 * socket that has more than FRAME_BURST_FACTOR × burst frames dropped within STRIKE_WINDOW_MS is
 * closed with 1008, and nothing it queued is processed after that.
 */
export const FRAME_BURST_FACTOR = 2;
/** Coalescing window for `?batch=1` clients (DESIGN.md: ≤ 25 ms). */
export const BATCH_WINDOW_MS = 25;
/** How long client_msg_id acknowledgements are remembered, in sequence numbers. */
const ACK_RETENTION_SEQ = 10_000;

/**
 * Internal headers set by the worker on requests to this object, after it has authenticated the
 * request (a Durable Object is not reachable from the Internet; the worker strips these from the
 * client's request). Values are encoded by the worker, never copied from the request.
 */
export const H_STREAM = "x-chat-stream";
export const H_IDENTITY = "x-chat-identity";
/** A verified ticket's nonce and expiry (ms), `<nonce>.<expires_at>`: the room enforces one use. */
export const H_TICKET_NONCE = "x-chat-ticket-nonce";

/** What a socket carries through hibernation (kept small: it is stored per connection). */
interface Attachment {
  /** user id */
  u: string;
  /** username */
  n: string | null;
  /** 1 = accepts batch frames */
  b?: 1;
  /** connected at, ms (the oldest of a user's sockets is closed first) */
  t: number;
  /** 1 = closed by the room: never served again, even after a wake-up */
  x?: 1;
}

interface Conn {
  ws: WebSocket;
  userId: string;
  username: string | null;
  batch: boolean;
  connectedAt: number;
  strikes: number;
  strikeWindowStart: number;
  /** Per-socket frame budget. */
  frames: Bucket;
  dropped: number;
  droppedWindowStart: number;
}

export interface RoomIdentity {
  id: string;
  username: string | null;
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8" } });

const OPEN = 1; // WebSocket.READY_STATE_OPEN

/** A room's rates and caps, from the worker's configuration (README "Limits"). */
export interface RoomLimits {
  /** Per user per stream: RATE_LIMIT_PER_SEC, burst = rate. */
  user: BucketMap;
  /** Per stream: ROOM_MAX_MESSAGES_PER_SEC, burst = rate. */
  roomPerSec: number;
  /** Per socket, frames of any kind: SOCKET_MAX_FRAMES_PER_SEC, burst = FRAME_BURST_FACTOR × rate. */
  framesPerSec: number;
  /** MAX_SOCKETS_PER_USER. */
  socketsPerUser: number;
}

export function roomLimits(c: Pick<Config, "RATE_LIMIT_PER_SEC" | "ROOM_MAX_MESSAGES_PER_SEC" | "SOCKET_MAX_FRAMES_PER_SEC" | "MAX_SOCKETS_PER_USER">): RoomLimits {
  return {
    user: new BucketMap(c.RATE_LIMIT_PER_SEC, c.RATE_LIMIT_PER_SEC),
    roomPerSec: c.ROOM_MAX_MESSAGES_PER_SEC,
    framesPerSec: c.SOCKET_MAX_FRAMES_PER_SEC,
    socketsPerUser: c.MAX_SOCKETS_PER_USER,
  };
}

export class ChatRoom extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private streamId: string | null = null;
  private epoch = "";
  private seq = 0;
  /** Ring of the last HISTORY_SIZE comments, oldest first: seq numbers and `{"seq","comment"}` JSON. */
  private ringSeq: number[] = [];
  private ringJson: string[] = [];
  /** Cached `history` frame for newcomers (not resuming); cleared on every new comment. */
  private backlogFrame: string | null = null;

  private readonly conns = new Map<WebSocket, Conn>();
  private readonly plain = new Set<Conn>();
  private readonly batched = new Set<Conn>();
  private readonly byUser = new Map<string, Set<Conn>>();
  private readonly cfg: Config;
  /** The room's rates (a field, so tests can give one room other limits). */
  private limits: RoomLimits;
  /** The stream's total message budget (ROOM_MAX_MESSAGES_PER_SEC, burst = rate). */
  private readonly roomBucket: Bucket;

  // Batched delivery state (shared by every batch=1 client: one encoding per flush).
  private batchWindowOpen = false;
  private batchPending: string[] = [];

  /** Events on their way to the sinks' queues, one cursor per queue (src/outbox.ts). */
  private readonly outbox: Outbox;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.cfg = loadConfig(env);
    this.limits = roomLimits(this.cfg);
    this.roomBucket = fullBucket(this.limits.roomPerSec, Date.now());
    // `{"type":"ping"}` is answered by the runtime without waking the object (exact string match;
    // a ping with other spacing is parsed and answered in webSocketMessage).
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    // SQLite calls are synchronous; if this throws, the constructor fails and the next request retries.
    this.loadState();
    this.outbox = new Outbox(
      this.sql,
      [
        { name: "kafka", queue: env.CHAT_EVENTS },
        { name: "history", queue: env.CHAT_HISTORY },
      ],
      { label: `stream=${this.streamId}` },
    );
    if (this.outbox.pending()) void this.drainOutbox();
    for (const ws of ctx.getWebSockets()) this.adopt(ws);
    if (this.conns.size > 0) {
      console.log(`ChatRoom woke from hibernation stream=${this.streamId} sockets=${this.conns.size} seq=${this.seq}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // State
  // -------------------------------------------------------------------------------------------

  private loadState(): void {
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS ring (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS acks (
        user_id TEXT NOT NULL, client_msg_id TEXT NOT NULL, comment_id TEXT NOT NULL, seq INTEGER NOT NULL,
        PRIMARY KEY (user_id, client_msg_id));
      CREATE INDEX IF NOT EXISTS acks_by_seq ON acks(seq);
      DROP TABLE IF EXISTS tickets;
      CREATE TABLE IF NOT EXISTS used_tickets (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
    `);
    const meta = new Map<string, string>();
    for (const row of this.sql.exec<{ k: string; v: string }>("SELECT k, v FROM meta")) meta.set(row.k, row.v);
    this.streamId = meta.get("stream_id") ?? null;
    this.seq = Number(meta.get("seq") ?? 0);
    this.epoch = meta.get("epoch") ?? "";
    if (!this.epoch) {
      // A new lineage of sequence numbers: clients holding a `since` from another epoch get a fresh backlog.
      this.epoch = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
      this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('epoch', ?)", this.epoch);
    }
    for (const row of this.sql.exec<{ seq: number; body: string }>("SELECT seq, body FROM ring ORDER BY seq")) {
      this.ringSeq.push(row.seq);
      this.ringJson.push(row.body);
    }
  }

  /** Rebuilds a connection from its attachment. Null for a socket the room closed or that is not open. */
  private adopt(ws: WebSocket): Conn | null {
    if (ws.readyState !== OPEN) return null;
    const a = ws.deserializeAttachment() as Attachment | null;
    if (!a || typeof a.u !== "string" || a.x === 1) return null;
    const conn: Conn = {
      ws,
      userId: a.u,
      username: a.n,
      batch: a.b === 1,
      connectedAt: a.t ?? 0,
      strikes: 0,
      strikeWindowStart: 0,
      frames: fullBucket(this.limits.framesPerSec * FRAME_BURST_FACTOR, Date.now()),
      dropped: 0,
      droppedWindowStart: 0,
    };
    this.conns.set(ws, conn);
    (conn.batch ? this.batched : this.plain).add(conn);
    let mine = this.byUser.get(conn.userId);
    if (!mine) this.byUser.set(conn.userId, (mine = new Set()));
    mine.add(conn);
    return conn;
  }

  private forget(ws: WebSocket): void {
    const conn = this.conns.get(ws);
    if (!conn) return;
    this.conns.delete(ws);
    this.plain.delete(conn);
    this.batched.delete(conn);
    const mine = this.byUser.get(conn.userId);
    mine?.delete(conn);
    if (mine?.size === 0) this.byUser.delete(conn.userId);
  }

  /**
   * Closes a socket for good (issue 9, kind 2): the attachment is marked first, so neither a frame
   * still queued nor a wake-up from hibernation can re-admit it; then it is forgotten and closed.
   */
  private closeConn(conn: Conn, code: number, reason: string): void {
    try {
      const a = conn.ws.deserializeAttachment() as Attachment;
      conn.ws.serializeAttachment({ ...a, x: 1 } satisfies Attachment);
    } catch {
      // already closed: nothing can be queued behind it
    }
    this.forget(conn.ws);
    try {
      conn.ws.close(code, reason);
    } catch {
      // already closing
    }
  }

  private setStreamId(id: string): void {
    if (this.streamId === id) return;
    if (this.streamId && this.streamId !== id) throw new Error(`room for ${this.streamId} asked to serve ${id}`);
    this.streamId = id;
    this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('stream_id', ?)", id);
  }

  // -------------------------------------------------------------------------------------------
  // HTTP from the worker: ticket minting and WebSocket upgrades
  // -------------------------------------------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const streamId = request.headers.get(H_STREAM);
    if (!streamId || !isUuid(streamId)) return json(400, { error: "invalid_stream_id", message: "Missing stream id" });
    if (url.pathname === "/ws") return this.upgrade(request, url, streamId.toLowerCase());
    return json(404, { error: "not_found", message: "No such route" });
  }

  /**
   * Accepts an upgrade the worker has authenticated (JWT, or a ticket whose signature, expiry and
   * stream it verified). Nothing is written before that: the only writes are the stream id (first
   * socket), the ticket's nonce (one use), and the socket itself.
   */
  private async upgrade(request: Request, url: URL, streamId: string): Promise<Response> {
    // The worker has checked the upgrade header already; a socket must never be returned to a
    // non-upgrade request (workerd throws), so check again here.
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return json(426, { error: "upgrade_required", message: "Expected a WebSocket upgrade" });
    }
    const identity = readIdentity(request.headers.get(H_IDENTITY));
    if (!identity) return json(401, { error: "unauthorized", message: "Missing credentials" });
    const now = Date.now();
    const ticket = /^([A-Za-z0-9_-]{1,64})\.(\d{1,15})$/.exec(request.headers.get(H_TICKET_NONCE) ?? "");
    if (request.headers.has(H_TICKET_NONCE)) {
      if (!ticket) return json(401, { error: "unauthorized", message: "Invalid ticket" });
      // One use: the nonce is remembered until the ticket would have expired anyway.
      if (this.sql.exec("SELECT 1 FROM used_tickets WHERE nonce = ?", ticket[1]!).toArray().length > 0) {
        return json(401, { error: "unauthorized", message: "Invalid, expired or already used ticket" });
      }
    }
    this.setStreamId(streamId);
    if (ticket) {
      this.sql.exec("DELETE FROM used_tickets WHERE expires_at < ?", now);
      this.sql.exec("INSERT INTO used_tickets (nonce, expires_at) VALUES (?, ?)", ticket[1]!, Number(ticket[2]));
    }
    this.enforceSocketCap(identity.id);

    const batch = url.searchParams.get("batch") === "1";
    const pair = new WebSocketPair();
    const server = pair[1];
    this.ctx.acceptWebSocket(server);
    const attachment: Attachment = { u: identity.id, n: identity.username, t: now };
    if (batch) attachment.b = 1;
    server.serializeAttachment(attachment);
    // Deliver anything still held in the batch window first, so the history below is the
    // complete picture and nothing arrives twice or out of order.
    this.flushBatch();
    this.adopt(server);

    server.send(
      JSON.stringify({
        type: "welcome",
        stream_id: this.streamId!,
        user: { id: identity.id, username: identity.username },
        seq: this.seq,
        epoch: this.epoch,
        limits: { messages_per_sec: this.limits.user.ratePerSec, frames_per_sec: this.limits.framesPerSec },
      } satisfies ServerFrame),
    );
    server.send(this.historyFrame(url.searchParams.get("since"), url.searchParams.get("epoch")));
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  /**
   * MAX_SOCKETS_PER_USER (issue 9, kind 6): before a user's new socket is accepted, their oldest
   * sockets beyond the cap − 1 are closed with CLOSE_TOO_MANY_SOCKETS (4429). Closing the oldest
   * rather than refusing the newest keeps a reload or a new device working when a dead socket has
   * not been noticed yet.
   */
  private enforceSocketCap(userId: string): void {
    const mine = this.byUser.get(userId);
    if (!mine) return;
    const excess = mine.size - (this.limits.socketsPerUser - 1);
    if (excess <= 0) return;
    const oldest = [...mine].sort((a, b) => a.connectedAt - b.connectedAt).slice(0, excess);
    for (const c of oldest) this.closeConn(c, CLOSE_TOO_MANY_SOCKETS, "too many sockets for this user");
  }

  /** `history`: exactly the comments after `since` when the ring still has them, else the backlog. */
  private historyFrame(sinceParam: string | null, epoch: string | null): string {
    if (sinceParam !== null && epoch === this.epoch && /^\d{1,15}$/.test(sinceParam)) {
      const since = Number(sinceParam);
      const oldest = this.ringSeq[0] ?? this.seq + 1;
      if (since <= this.seq && since >= oldest - 1) {
        const from = this.ringSeq.findIndex((s) => s > since);
        const slice = from === -1 ? [] : this.ringJson.slice(from);
        return `{"type":"history","comments":[${slice.join(",")}],"recovered":true}`;
      }
    }
    this.backlogFrame ??= `{"type":"history","comments":[${this.ringJson.slice(-BACKLOG_SIZE).join(",")}],"recovered":false}`;
    return this.backlogFrame;
  }

  // -------------------------------------------------------------------------------------------
  // WebSocket events (Hibernation API)
  // -------------------------------------------------------------------------------------------

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // A socket the room has closed may still have frames queued: they are never processed.
    if (ws.readyState !== OPEN) return;
    const conn = this.conns.get(ws) ?? this.adopt(ws);
    if (!conn) {
      ws.close(1011, "unknown connection");
      return;
    }
    // Every frame draws on the socket's budget before any other work, whatever it is.
    const now = Date.now();
    const budget = this.limits.framesPerSec;
    if (take(conn.frames, budget, budget * FRAME_BURST_FACTOR, now) > 0) return this.dropFrame(conn, now);
    try {
      if (typeof message !== "string") return this.reject(conn, "unsupported_binary");
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
      if (!parsed.success) return this.reject(conn, "invalid_frame");
      const frame = parsed.data;
      if (frame.type === "ping") {
        ws.send(PONG_FRAME);
        return;
      }
      this.onMessage(conn, frame);
    } catch (err) {
      console.error(`ChatRoom webSocketMessage stream=${this.streamId} user=${conn.userId}: ${(err as Error)?.stack ?? err}`);
      this.sendError(conn, "internal_error");
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.forget(ws);
    // Reciprocate, or the client sees 1006 instead of a clean close. 1005 ("no code") and the
    // other reserved codes cannot be sent back: answer those with 1000.
    try {
      ws.close(code === 1005 || code === 1006 || code === 1015 ? 1000 : code, reason);
    } catch {
      // already closed
    }
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    const conn = this.conns.get(ws);
    console.warn(`ChatRoom webSocketError stream=${this.streamId} user=${conn?.userId ?? "?"}: ${String(error)}`);
    this.forget(ws);
  }

  // -------------------------------------------------------------------------------------------
  // Messages
  // -------------------------------------------------------------------------------------------

  private onMessage(conn: Conn, frame: MessageFrame): void {
    const text = frame.text.trim();
    if (text.length === 0) return; // DESIGN.md: empty after trim is ignored
    const cmid = frame.client_msg_id;
    if (codePointLength(text) > MAX_MESSAGE_CODE_POINTS) return this.reject(conn, "message_too_long", cmid);

    if (cmid !== undefined) {
      const seen = this.sql
        .exec<{ comment_id: string; seq: number }>(
          "SELECT comment_id, seq FROM acks WHERE user_id = ? AND client_msg_id = ?",
          conn.userId,
          cmid,
        )
        .toArray()[0];
      if (seen) {
        // A retry (e.g. after a reconnect): acknowledge again, never broadcast twice.
        conn.ws.send(JSON.stringify({ type: "ack", client_msg_id: cmid, id: seen.comment_id, seq: seen.seq } satisfies ServerFrame));
        return;
      }
    }

    const now = Date.now();
    const userWait = this.limits.user.take(conn.userId, now);
    if (userWait > 0) return this.sendError(conn, "rate_limited", cmid, userWait);
    // The stream's total budget, checked last so one user's flood cannot drain it for everyone.
    const roomWait = take(this.roomBucket, this.limits.roomPerSec, this.limits.roomPerSec, now);
    if (roomWait > 0) return this.sendError(conn, "room_busy", cmid, roomWait);

    const seq = this.seq + 1;
    const sc: SeqComment = {
      seq,
      comment: {
        id: crypto.randomUUID(),
        stream_id: this.streamId!,
        user_id: conn.userId,
        username: conn.username,
        message: text,
        created_at: new Date().toISOString(),
      },
    };
    const body = JSON.stringify(sc);
    // All of this commits atomically (writes within one event are coalesced), and the runtime's
    // output gate holds the broadcast below until it is durable.
    this.sql.exec("INSERT INTO ring (seq, body) VALUES (?, ?)", seq, body);
    if (seq > HISTORY_SIZE) this.sql.exec("DELETE FROM ring WHERE seq <= ?", seq - HISTORY_SIZE);
    this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('seq', ?)", String(seq));
    this.outbox.add(seq, toQueueEvent(sc));
    if (cmid !== undefined) {
      this.sql.exec(
        "INSERT INTO acks (user_id, client_msg_id, comment_id, seq) VALUES (?, ?, ?, ?)",
        conn.userId,
        cmid,
        sc.comment.id,
        seq,
      );
      if (seq % 500 === 0) this.sql.exec("DELETE FROM acks WHERE seq <= ?", seq - ACK_RETENTION_SEQ);
    }
    this.seq = seq;
    this.ringSeq.push(seq);
    this.ringJson.push(body);
    if (this.ringSeq.length > HISTORY_SIZE) {
      this.ringSeq.shift();
      this.ringJson.shift();
    }
    this.backlogFrame = null;

    // Encoded once, sent to every viewer (including the sender).
    this.broadcast(`{"type":"comment",${body.slice(1)}`);
    if (cmid !== undefined) {
      conn.ws.send(JSON.stringify({ type: "ack", client_msg_id: cmid, id: sc.comment.id, seq } satisfies ServerFrame));
    }
    void this.drainOutbox();
  }

  private broadcast(frame: string): void {
    for (const c of this.plain) sendTo(c.ws, frame);
    if (this.batched.size === 0) return;
    if (!this.batchWindowOpen) {
      // A lone message is never held back: send it now and open a window for what follows.
      for (const c of this.batched) sendTo(c.ws, frame);
      this.openBatchWindow();
    } else {
      this.batchPending.push(frame);
    }
  }

  private openBatchWindow(): void {
    this.batchWindowOpen = true;
    setTimeout(() => {
      this.batchWindowOpen = false;
      if (this.batchPending.length > 0) {
        this.flushBatch();
        this.openBatchWindow();
      }
    }, BATCH_WINDOW_MS);
  }

  private flushBatch(): void {
    const pending = this.batchPending;
    if (pending.length === 0) return;
    this.batchPending = [];
    const frame = pending.length === 1 ? pending[0]! : `{"type":"batch","frames":[${pending.join(",")}]}`;
    for (const c of this.batched) sendTo(c.ws, frame);
  }

  private reject(conn: Conn, code: ErrorCode, clientMsgId?: string, retryAfterMs?: number): void {
    this.sendError(conn, code, clientMsgId, retryAfterMs);
    const now = Date.now();
    if (now - conn.strikeWindowStart > STRIKE_WINDOW_MS) {
      conn.strikeWindowStart = now;
      conn.strikes = 0;
    }
    if (++conn.strikes > MAX_STRIKES) {
      console.warn(`ChatRoom closing abusive socket stream=${this.streamId} user=${conn.userId}: too many rejected frames`);
      this.closeConn(conn, CLOSE_POLICY_VIOLATION, "too many rejected frames");
    }
  }

  /**
   * A frame over the socket's budget: dropped unread. The first drop in a window tells the client
   * (`rate_limited` + `retry_after_ms`); a socket that keeps sending is closed with 1008.
   */
  private dropFrame(conn: Conn, now: number): void {
    if (now - conn.droppedWindowStart > STRIKE_WINDOW_MS) {
      conn.droppedWindowStart = now;
      conn.dropped = 0;
    }
    const burst = this.limits.framesPerSec * FRAME_BURST_FACTOR;
    if (++conn.dropped > burst * FRAME_BURST_FACTOR) {
      console.warn(`ChatRoom closing abusive socket stream=${this.streamId} user=${conn.userId}: frame budget exceeded`);
      this.closeConn(conn, CLOSE_POLICY_VIOLATION, "frame budget exceeded");
    } else if (conn.dropped === 1) {
      this.sendError(conn, "rate_limited", undefined, Math.ceil(1000 / this.limits.framesPerSec));
    }
  }

  private sendError(conn: Conn, code: ErrorCode, clientMsgId?: string, retryAfterMs?: number): void {
    const frame: ServerFrame = { type: "error", code, message: ERROR_MESSAGES[code] };
    if (retryAfterMs !== undefined) frame.retry_after_ms = retryAfterMs;
    if (clientMsgId !== undefined) frame.client_msg_id = clientMsgId;
    sendTo(conn.ws, JSON.stringify(frame));
  }

  // -------------------------------------------------------------------------------------------
  // Outbox → CHAT_EVENTS queue
  // -------------------------------------------------------------------------------------------

  /** Hands pending events to the queues; after a failure the alarm retries (src/outbox.ts backoff). */
  private async drainOutbox(): Promise<void> {
    const { retryInMs } = await this.outbox.drain();
    if (retryInMs !== null) await this.ctx.storage.setAlarm(Date.now() + retryInMs);
  }

  override async alarm(): Promise<void> {
    await this.drainOutbox();
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function sendTo(ws: WebSocket, frame: string): void {
  if (ws.readyState !== OPEN) return;
  try {
    ws.send(frame);
  } catch {
    // Closed between the check and the send; webSocketClose/webSocketError cleans up.
  }
}

function readIdentity(header: string | null): RoomIdentity | null {
  if (!header) return null;
  try {
    const v = JSON.parse(decodeURIComponent(header)) as Partial<RoomIdentity>;
    if (typeof v.id !== "string" || !v.id) return null;
    return { id: v.id, username: typeof v.username === "string" ? v.username : null };
  } catch {
    return null;
  }
}

export function encodeIdentity(identity: RoomIdentity): string {
  return encodeURIComponent(JSON.stringify(identity));
}

const encoder = new TextEncoder();

function utf8Length(s: string): number {
  return encoder.encode(s).byteLength;
}
