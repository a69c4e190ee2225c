/**
 * ChatRoom: one Durable Object per stream (`idFromName(stream_id)`) — the wiring of the stream:
 * sockets, storage, timers and the outbox. The rules live in pure modules beside it:
 *   src/rules/room-state.ts   what a command does (roles, moderation, edits, slow mode, …)
 *   src/rules/text.ts         message text rules and entities
 *   src/rules/budget.ts       token buckets (per user, per socket, per stream)
 *   src/room-store.ts         the SQLite tables
 *   src/outbox.ts             events on their way to the sinks' queues
 *   src/upload-store.ts       the stream's image uploads: who made them, which comment carries them
 *
 * One pass per command: gate (frame budget, size, JSON, schema) → decide → apply + persist →
 * broadcast → outbox. Sockets use the WebSocket Hibernation API: everything a socket needs after a
 * wake-up lives in its attachment, and the in-memory maps are rebuilt from ctx.getWebSockets().
 *
 * Requests come only from the worker (src/worker.ts), which has authenticated the user and resolved
 * their role; a Durable Object is not reachable from the Internet, so the identity it sends is trusted.
 */
import { DurableObject } from "cloudflare:workers";
import { loadConfig, type Config, type Env } from "./env";
import { describeError } from "./errors";
import { Outbox } from "./outbox";
import {
  CLOSE_POLICY_VIOLATION,
  CLOSE_TOO_MANY_SOCKETS,
  ClientFrame,
  ERROR_MESSAGES,
  HISTORY_SIZE,
  MAX_FRAME_BYTES,
  PING_FRAME,
  PONG_FRAME,
  Role,
  isUuid,
  toQueueEvent,
  type Command,
  type ErrorCode,
  type ModerationCommand,
  type RoomEvent,
  type ServerFrame,
} from "./protocol";
import { RoomStore, type RingEntry } from "./room-store";
import { BucketMap, fullBucket, take, type Bucket } from "./rules/budget";
import { apply, decide, effectiveRole, pruneTimeouts, restriction, restrictions, type Outcome, type RoomState } from "./rules/room-state";
import { R2_DELETE_BATCH, UploadStore } from "./upload-store";
import { MAX_PENDING_UPLOADS, UPLOAD_TTL_MS, uploadKey, type UploadContentType } from "./uploads";

// ---------------------------------------------------------------------------------------------
// Tunables (quoted in the README)
// ---------------------------------------------------------------------------------------------

/**
 * A socket that sends more than MAX_STRIKES rejected frames (invalid, too long, too large, binary)
 * within STRIKE_WINDOW_MS is closed with 1008. Rate limits, `room_busy` and rule refusals
 * (`forbidden`, `muted`, …) are not strikes: such a client is slowed down, not disconnected.
 */
export const MAX_STRIKES = 20;
export const STRIKE_WINDOW_MS = 10_000;
/**
 * Frame budget (issue 9): each socket may send SOCKET_MAX_FRAMES_PER_SEC frames of any kind, with
 * a burst of FRAME_BURST_FACTOR × that. Frames over budget are dropped unread; a socket with more
 * than FRAME_BURST_FACTOR × burst frames dropped within STRIKE_WINDOW_MS is closed with 1008.
 */
export const FRAME_BURST_FACTOR = 2;
/** Comments sent to a newcomer that is not resuming (the ring holds HISTORY_SIZE frames for resumes). */
export const BACKLOG_SIZE = 50;
/** Coalescing window for `?batch=1` clients (DESIGN.md: ≤ 25 ms). */
export const BATCH_WINDOW_MS = 25;
/** `viewers` frames: at most one per interval, only when the count changed (DESIGN.md: every few seconds). */
export const VIEWERS_INTERVAL_MS = 3_000;

/**
 * Internal headers set by the worker on requests to this object, after it has authenticated the
 * request; the worker builds them from validated values, never copies them from the request.
 */
export const H_STREAM = "x-chat-stream";
export const H_IDENTITY = "x-chat-identity";
/** A verified ticket's nonce and expiry (ms), `<nonce>.<expires_at>`: the room enforces one use. */
export const H_TICKET_NONCE = "x-chat-ticket-nonce";

/** Who the worker says the user is. `owner` = the stream's owner from Postgres, when known. */
export interface RoomIdentity {
  id: string;
  username: string | null;
  role: Role;
  owner?: string | null;
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
}

interface Conn {
  ws: WebSocket;
  actor: { userId: string; username: string | null; role: Role };
  batch: boolean;
  connectedAt: number;
  strikes: number;
  strikeWindowStart: number;
  frames: Bucket;
  dropped: number;
  droppedWindowStart: number;
}

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
  /** EDIT_WINDOW_S, ms. */
  editWindowMs: number;
  /** Image uploads per user per stream: UPLOADS_PER_MIN per minute, burst = UPLOADS_PER_MIN. */
  uploads: BucketMap;
}

export function roomLimits(
  c: Pick<
    Config,
    "RATE_LIMIT_PER_SEC" | "ROOM_MAX_MESSAGES_PER_SEC" | "SOCKET_MAX_FRAMES_PER_SEC" | "MAX_SOCKETS_PER_USER" | "EDIT_WINDOW_S" | "UPLOADS_PER_MIN"
  >,
): RoomLimits {
  return {
    uploads: new BucketMap(c.UPLOADS_PER_MIN / 60, c.UPLOADS_PER_MIN),
    user: new BucketMap(c.RATE_LIMIT_PER_SEC, c.RATE_LIMIT_PER_SEC),
    roomPerSec: c.ROOM_MAX_MESSAGES_PER_SEC,
    framesPerSec: c.SOCKET_MAX_FRAMES_PER_SEC,
    socketsPerUser: c.MAX_SOCKETS_PER_USER,
    editWindowMs: c.EDIT_WINDOW_S * 1000,
  };
}

/** The answer to a command, for the socket (frames) or the HTTP actions route (JSON). */
export type CommandResult =
  | { kind: "ignored" }
  | { kind: "error"; code: ErrorCode; message: string; until?: string; retry_after_ms?: number }
  | { kind: "ok"; events: RoomEvent[]; id?: string; seq?: number };

/** An upload the worker has checked (type by magic bytes, size) and asks the room to record. */
export interface UploadRegistration {
  /** src/uploads.ts newUploadId() */
  id: string;
  content_type: UploadContentType;
  /** bytes */
  size: number;
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

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8" } });

const OPEN = 1; // WebSocket.READY_STATE_OPEN

export class ChatRoom extends DurableObject<Env> {
  private readonly store: RoomStore;
  private readonly state: RoomState;
  private readonly epoch: string;
  /** The resume ring: the last HISTORY_SIZE sequenced frames, oldest first. */
  private readonly ring: RingEntry[];
  /** Cached `history` frame for newcomers (not resuming); cleared on every event. */
  private backlogFrame: string | null = null;

  private readonly conns = new Map<WebSocket, Conn>();
  private readonly plain = new Set<Conn>();
  private readonly batched = new Set<Conn>();
  private readonly byUser = new Map<string, Set<Conn>>();
  /** The room's rates (a field, so tests can give one room other limits). */
  private limits: RoomLimits;
  private readonly roomBucket: Bucket;
  private readonly outbox: Outbox;
  private readonly uploads: UploadStore;

  // Batched delivery (shared by every batch=1 client: one encoding per flush).
  private batchWindowOpen = false;
  private batchPending: string[] = [];
  // Presence: the last count sent, and whether a send is scheduled.
  private viewersSent = -1;
  private viewersTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.limits = roomLimits(loadConfig(env));
    this.roomBucket = fullBucket(this.limits.roomPerSec, Date.now());
    // `{"type":"ping"}` is answered by the runtime without waking the object (exact string match;
    // a ping with other spacing is parsed and answered in webSocketMessage).
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    // SQLite calls are synchronous; if this throws, the constructor fails and the next request retries.
    this.store = new RoomStore(ctx.storage.sql);
    ({ state: this.state, ring: this.ring, epoch: this.epoch } = this.store.load());
    this.uploads = new UploadStore(ctx.storage.sql);
    this.outbox = new Outbox(
      ctx.storage.sql,
      [
        { name: "kafka", queue: env.CHAT_EVENTS },
        { name: "history", queue: env.CHAT_HISTORY },
      ],
      { label: `stream=${this.state.streamId}` },
    );
    if (this.outbox.pending()) void this.drainOutbox();
    for (const ws of ctx.getWebSockets()) this.adopt(ws);
    if (this.conns.size > 0) {
      console.log(`ChatRoom woke from hibernation stream=${this.state.streamId} sockets=${this.conns.size} seq=${this.state.seq}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Connections
  // -------------------------------------------------------------------------------------------

  /** Rebuilds a connection from its attachment. Null for a socket the room closed or that is not open. */
  private adopt(ws: WebSocket): Conn | null {
    if (ws.readyState !== OPEN) return null;
    const a = ws.deserializeAttachment() as Attachment | null;
    if (!a || typeof a.u !== "string" || a.x === 1) return null;
    const conn: Conn = {
      ws,
      actor: { userId: a.u, username: a.n, role: Role.safeParse(a.r).data ?? "viewer" },
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
    let mine = this.byUser.get(conn.actor.userId);
    if (!mine) this.byUser.set(conn.actor.userId, (mine = new Set()));
    mine.add(conn);
    return conn;
  }

  private forget(ws: WebSocket): void {
    const conn = this.conns.get(ws);
    if (!conn) return;
    this.conns.delete(ws);
    this.plain.delete(conn);
    this.batched.delete(conn);
    const mine = this.byUser.get(conn.actor.userId);
    mine?.delete(conn);
    if (mine?.size === 0) this.byUser.delete(conn.actor.userId);
    this.scheduleViewers();
  }

  /**
   * Closes a socket for good: the attachment is marked first, so neither a frame still queued nor
   * a wake-up from hibernation can re-admit it; then it is forgotten and closed.
   */
  private closeConn(conn: Conn, code: number, reason: string): void {
    try {
      conn.ws.serializeAttachment({ ...(conn.ws.deserializeAttachment() as Attachment), x: 1 } satisfies Attachment);
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

  /** The stream id is fixed by the first authorised request (idFromName(stream_id)). */
  private bind(streamId: string, identity?: RoomIdentity): void {
    if (this.state.streamId !== streamId) {
      if (this.state.streamId) throw new Error(`room for ${this.state.streamId} asked to serve ${streamId}`);
      this.state.streamId = streamId;
      this.store.setMeta("stream_id", streamId);
    }
    if (!identity) return;
    if (identity.owner && identity.owner !== this.state.ownerId) {
      this.state.ownerId = identity.owner;
      this.store.setMeta("owner_id", identity.owner);
    }
    // Staff roles are remembered, so a moderator cannot act on them while they are offline.
    const known = this.state.knownRoles.get(identity.id);
    if (known !== identity.role && (identity.role !== "viewer" || known !== undefined)) {
      this.state.knownRoles.set(identity.id, identity.role);
      this.store.recordKnownRole(identity.id, identity.role);
    }
  }

  // -------------------------------------------------------------------------------------------
  // From the worker: WebSocket upgrades (fetch) and HTTP actions/state (RPC)
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
   * stream it verified). Nothing is written before that; then only the stream id (first socket),
   * staff roles, the ticket's nonce (one use) and the socket itself.
   */
  private async upgrade(request: Request, url: URL, streamId: string): Promise<Response> {
    // A socket must never be returned to a non-upgrade request (workerd throws): check again.
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return json(426, { error: "upgrade_required", message: "Expected a WebSocket upgrade" });
    }
    const identity = readIdentity(request.headers.get(H_IDENTITY));
    if (!identity) return json(401, { error: "unauthorized", message: "Missing credentials" });
    const now = Date.now();
    if (request.headers.has(H_TICKET_NONCE)) {
      const ticket = /^([A-Za-z0-9_-]{1,64})\.(\d{1,15})$/.exec(request.headers.get(H_TICKET_NONCE)!);
      if (!ticket || this.store.useTicket(ticket[1]!, Number(ticket[2]), now)) {
        return json(401, { error: "unauthorized", message: "Invalid, expired or already used ticket" });
      }
    }
    this.bind(streamId, identity);
    this.enforceSocketCap(identity.id);

    const pair = new WebSocketPair();
    const server = pair[1];
    this.ctx.acceptWebSocket(server);
    const attachment: Attachment = { u: identity.id, n: identity.username, r: identity.role, t: now };
    if (url.searchParams.get("batch") === "1") attachment.b = 1;
    server.serializeAttachment(attachment);
    // Deliver anything still held in the batch window first, so the history below is the
    // complete picture and nothing arrives twice or out of order.
    this.flushBatch();
    this.adopt(server);
    this.scheduleViewers();

    const s = this.state;
    server.send(
      JSON.stringify({
        type: "welcome",
        stream_id: s.streamId,
        user: { id: identity.id, username: identity.username },
        seq: s.seq,
        epoch: this.epoch,
        limits: { messages_per_sec: this.limits.user.ratePerSec, frames_per_sec: this.limits.framesPerSec },
        role: effectiveRole(s, identity.id, identity.role),
        pinned: s.pinned,
        slow_mode_s: s.slowModeS,
        viewers: this.byUser.size,
        ...restrictions(s, identity.id, effectiveRole(s, identity.id, identity.role), now),
      } satisfies ServerFrame),
    );
    server.send(this.historyFrame(url.searchParams.get("since"), url.searchParams.get("epoch")));
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  /**
   * MAX_SOCKETS_PER_USER: before a user's new socket is accepted, their oldest sockets beyond the
   * cap − 1 are closed with CLOSE_TOO_MANY_SOCKETS (4429). Closing the oldest rather than refusing
   * the newest keeps a reload or a new device working when a dead socket has not been noticed yet.
   */
  private enforceSocketCap(userId: string): void {
    const mine = this.byUser.get(userId);
    const excess = (mine?.size ?? 0) - (this.limits.socketsPerUser - 1);
    if (!mine || excess <= 0) return;
    const oldest = [...mine].sort((a, b) => a.connectedAt - b.connectedAt).slice(0, excess);
    for (const c of oldest) this.closeConn(c, CLOSE_TOO_MANY_SOCKETS, "too many sockets for this user");
  }

  /**
   * `history`: on a resume whose `since` the ring still covers, exactly the missed frames
   * (comments in `comments`, everything else in `events`); otherwise the latest BACKLOG_SIZE
   * comments in their current state.
   */
  private historyFrame(sinceParam: string | null, epoch: string | null): string {
    if (sinceParam !== null && epoch === this.epoch && /^\d{1,15}$/.test(sinceParam)) {
      const since = Number(sinceParam);
      const oldest = this.ring[0]?.seq ?? this.state.seq + 1;
      if (since <= this.state.seq && since >= oldest - 1) {
        const missed = this.ring.filter((r) => r.seq > since);
        const comments = missed.filter((r) => r.comment).map((r) => r.json);
        const events = missed.filter((r) => !r.comment).map((r) => r.json);
        const rest = events.length > 0 ? `,"events":[${events.join(",")}]` : "";
        return `{"type":"history","comments":[${comments.join(",")}],"recovered":true${rest}}`;
      }
    }
    if (this.backlogFrame === null) {
      const latest = [...this.state.comments.values()].slice(-BACKLOG_SIZE).map((e) => JSON.stringify(e));
      this.backlogFrame = `{"type":"history","comments":[${latest.join(",")}],"recovered":false}`;
    }
    return this.backlogFrame;
  }

  /** RPC from the worker: `POST /v1/streams/{id}/chat/actions` (same rules as the socket). */
  async act(streamId: string, identity: RoomIdentity, cmd: ModerationCommand): Promise<CommandResult> {
    this.bind(streamId, identity);
    return this.command({ userId: identity.id, username: identity.username, role: identity.role }, cmd);
  }

  /** RPC from the worker: `GET /v1/streams/{id}/chat/state`. */
  async snapshot(streamId: string, identity: RoomIdentity): Promise<StateSnapshot> {
    this.bind(streamId, identity);
    const s = this.state;
    const role = effectiveRole(s, identity.id, identity.role);
    const out: StateSnapshot = { role, pinned: s.pinned, slow_mode_s: s.slowModeS, viewers: this.byUser.size };
    if (role === "viewer") return out;
    const now = Date.now();
    this.store.deleteTimeouts(pruneTimeouts(s, now));
    out.bans = [...s.bans].map(([user_id, b]) => ({ user_id, by: b.by, at: new Date(b.at).toISOString(), ...(b.reason ? { reason: b.reason } : {}) }));
    out.timeouts = [...s.timeouts].map(([user_id, t]) => ({ user_id, until: new Date(t.until).toISOString(), by: t.by }));
    const mods = new Set([...s.knownRoles].filter(([, r]) => r === "moderator").map(([u]) => u));
    for (const [u, r] of s.grants) r === "moderator" ? mods.add(u) : mods.delete(u);
    out.moderators = [...mods];
    out.blocked_terms = [...s.blockedTerms];
    return out;
  }

  /**
   * RPC from the worker (`POST /v1/streams/{id}/chat/uploads`), after it checked the image and before
   * it puts the bytes to R2. Refuses a banned user (nothing they upload could ever be sent; a muted
   * user may upload, to send when the timeout ends), a user holding MAX_PENDING_UPLOADS uploads not attached yet (`too_many_uploads`, until the oldest
   * expires), and one over UPLOADS_PER_MIN (`rate_limited`); otherwise records the upload, so a
   * message of this user may attach it, and makes sure the alarm deletes it if none does within
   * UPLOAD_TTL_MS. A refusal takes no rate token.
   */
  async registerUpload(streamId: string, userId: string, upload: UploadRegistration): Promise<UploadVerdict> {
    this.bind(streamId);
    const now = Date.now();
    const held = restriction(this.state, userId, effectiveRole(this.state, userId, this.state.knownRoles.get(userId) ?? "viewer"), now);
    if (held && "banned" in held) return { ok: false, code: "banned", message: ERROR_MESSAGES.banned };
    const pending = this.uploads.pending(userId);
    if (pending.count >= MAX_PENDING_UPLOADS) {
      return {
        ok: false,
        code: "too_many_uploads",
        message: `${MAX_PENDING_UPLOADS} uploads not attached to a message yet: send them, or wait until they expire`,
        retry_after_ms: Math.max(1000, (pending.oldest ?? now) + UPLOAD_TTL_MS - now),
      };
    }
    const wait = this.limits.uploads.take(userId, now);
    if (wait > 0) return { ok: false, code: "rate_limited", message: ERROR_MESSAGES.rate_limited, retry_after_ms: wait };
    this.uploads.register(upload.id, userId, upload.content_type, upload.size, now);
    await this.armAlarm(now + UPLOAD_TTL_MS);
    return { ok: true };
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
    const budget = this.limits.framesPerSec;
    if (take(conn.frames, budget, budget * FRAME_BURST_FACTOR, Date.now()) > 0) return this.dropFrame(conn);
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
      if (!parsed.success) {
        const cmid = (raw as { client_msg_id?: unknown } | null)?.client_msg_id;
        return this.reject(conn, "invalid_frame", typeof cmid === "string" && cmid.length <= 64 ? cmid : undefined);
      }
      const frame = parsed.data;
      if (frame.type === "ping") return sendTo(ws, PONG_FRAME);
      const r = this.command(conn.actor, frame);
      const cmid = frame.client_msg_id;
      if (r.kind === "error") {
        if (r.code === "message_too_long" || r.code === "invalid_text") this.strike(conn);
        const { kind: _k, ...e } = r;
        sendTo(ws, JSON.stringify({ type: "error", ...e, ...(cmid !== undefined ? { client_msg_id: cmid } : {}) } satisfies ServerFrame));
      } else if (r.kind === "ok" && cmid !== undefined) {
        sendTo(ws, JSON.stringify({ type: "ack", client_msg_id: cmid, id: r.id, seq: r.seq } satisfies ServerFrame));
      }
    } catch (err) {
      console.error(`ChatRoom webSocketMessage stream=${this.state.streamId} user=${conn.actor.userId}: ${(err as Error)?.stack ?? err}`);
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
    console.warn(`ChatRoom webSocketError stream=${this.state.streamId} user=${conn?.actor.userId ?? "?"}: ${describeError(error)}`);
    this.forget(ws);
  }

  // -------------------------------------------------------------------------------------------
  // Commands: dedupe → budgets → decide → apply + persist → broadcast → outbox
  // -------------------------------------------------------------------------------------------

  private command(actor: Conn["actor"], cmd: Command): CommandResult {
    const cmid = cmd.client_msg_id;
    if (cmid !== undefined) {
      // A retry (e.g. after a reconnect): acknowledge again, never apply twice.
      const seen = this.store.findAck(actor.userId, cmid);
      if (seen) return { kind: "ok", events: [], ...seen };
    }
    const now = Date.now();
    // Every command draws on its user's rate (RATE_LIMIT_PER_SEC), whichever way it came (socket
    // or HTTP action): each may make a sequenced event that every viewer receives.
    const userWait = this.limits.user.take(actor.userId, now);
    if (userWait > 0) return error("rate_limited", { retry_after_ms: userWait });
    if (cmd.type === "message" || cmd.type === "edit") {
      // The stream's total budget for what viewers post, checked last so one user's flood cannot
      // drain it for everyone. Moderation is exempt: a raid is exactly when moderators must act.
      const roomWait = take(this.roomBucket, this.limits.roomPerSec, this.limits.roomPerSec, now);
      if (roomWait > 0) return error("room_busy", { retry_after_ms: roomWait });
    }
    const outcome: Outcome = decide(this.state, actor, cmd, now, {
      editWindowMs: this.limits.editWindowMs,
      newId: () => crypto.randomUUID(),
      // The room's own table decides (synchronously, so a sender's messages keep their order):
      // only this user's uploads to this stream, each attached to one comment at most.
      attachment: (uploadId, userId) => this.uploads.resolve(uploadId, userId, this.state.streamId),
    });
    // A visually empty text changes nothing; a sender waiting on its client_msg_id still gets an
    // answer (an ack with no id and no seq), so no client waits forever.
    if (outcome.kind === "ignored") return cmid !== undefined ? { kind: "ok", events: [] } : outcome;
    if (outcome.kind === "error") {
      return error(outcome.code, {
        ...(outcome.until ? { until: outcome.until } : {}),
        ...(outcome.retryAfterMs !== undefined ? { retry_after_ms: outcome.retryAfterMs } : {}),
      });
    }
    // All writes below happen in this one event: they commit together, and the output gate holds
    // the broadcasts until they are durable.
    const at = new Date(now).toISOString();
    const frames: string[] = [];
    /** Comments this command deletes (author or moderator delete, a ban's `deleted`): their images go too. */
    const removed: string[] = [];
    for (const e of outcome.events) {
      if (e.type === "comment" && e.comment.attachments) this.uploads.attach(e.comment.attachments.map((a) => a.upload_id), e.comment.id);
      else if (e.type === "comment_deleted") removed.push(e.id);
      else if (e.type === "moderation" && e.deleted) removed.push(...e.deleted);
      const touched = apply(this.state, e, now);
      const entry = this.store.persist(e, this.state, touched);
      this.ring.push(entry);
      if (this.ring.length > HISTORY_SIZE) this.ring.shift();
      this.outbox.add(e.seq, toQueueEvent(e, this.state.streamId, at, actor.userId));
      // Encoded once, sent to every viewer (the sender included). A comment's stored form is
      // `{"seq","comment"}`: its frame is the same JSON with the type in front.
      frames.push(entry.comment ? `{"type":"comment",${entry.json.slice(1)}` : entry.json);
    }
    if (outcome.blockedTerms) {
      this.state.blockedTerms = outcome.blockedTerms;
      this.store.setBlockedTerms(outcome.blockedTerms);
    }
    if (cmid !== undefined) this.store.saveAck(actor.userId, cmid, outcome.ack, this.state.seq);
    // Recorded as doomed in this same event, so a failed or interrupted R2 delete is retried by the alarm.
    if (removed.length > 0 && this.uploads.doomComments(removed, now) > 0) this.ctx.waitUntil(this.deleteDoomed());
    if (frames.length > 0) {
      this.backlogFrame = null;
      for (const f of frames) this.broadcast(f);
      void this.drainOutbox();
    }
    return { kind: "ok", events: outcome.events, ...outcome.ack };
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

  /** Presence: one `viewers` frame per VIEWERS_INTERVAL_MS at most, only when the count changed; no storage. */
  private scheduleViewers(): void {
    if (this.viewersTimer !== null) return;
    this.viewersTimer = setTimeout(() => {
      this.viewersTimer = null;
      const count = this.byUser.size;
      if (count === this.viewersSent) return;
      this.viewersSent = count;
      const frame = JSON.stringify({ type: "viewers", count } satisfies ServerFrame);
      for (const c of this.conns.values()) sendTo(c.ws, frame);
    }, VIEWERS_INTERVAL_MS);
  }

  // -------------------------------------------------------------------------------------------
  // Refusals
  // -------------------------------------------------------------------------------------------

  /** A malformed frame: an error to the client, and a strike. */
  private reject(conn: Conn, code: ErrorCode, clientMsgId?: string): void {
    this.sendError(conn, code, clientMsgId);
    this.strike(conn);
  }

  private strike(conn: Conn): void {
    const now = Date.now();
    if (now - conn.strikeWindowStart > STRIKE_WINDOW_MS) {
      conn.strikeWindowStart = now;
      conn.strikes = 0;
    }
    if (++conn.strikes > MAX_STRIKES) {
      console.warn(`ChatRoom closing abusive socket stream=${this.state.streamId} user=${conn.actor.userId}: too many rejected frames`);
      this.closeConn(conn, CLOSE_POLICY_VIOLATION, "too many rejected frames");
    }
  }

  /**
   * A frame over the socket's budget: dropped unread. The first drop in a window tells the client
   * (`rate_limited` + `retry_after_ms`); a socket that keeps sending is closed with 1008.
   */
  private dropFrame(conn: Conn): void {
    const now = Date.now();
    if (now - conn.droppedWindowStart > STRIKE_WINDOW_MS) {
      conn.droppedWindowStart = now;
      conn.dropped = 0;
    }
    if (++conn.dropped > this.limits.framesPerSec * FRAME_BURST_FACTOR * FRAME_BURST_FACTOR) {
      console.warn(`ChatRoom closing abusive socket stream=${this.state.streamId} user=${conn.actor.userId}: frame budget exceeded`);
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
  // Outbox → the sinks' queues
  // -------------------------------------------------------------------------------------------

  /** Hands pending events to the queues; after a failure the alarm retries (src/outbox.ts backoff). */
  private async drainOutbox(): Promise<void> {
    const { retryInMs } = await this.outbox.drain();
    if (retryInMs !== null) await this.armAlarm(Date.now() + retryInMs);
  }

  // -------------------------------------------------------------------------------------------
  // Uploads → R2 deletes
  // -------------------------------------------------------------------------------------------

  /**
   * Deletes the due doomed uploads from R2 (R2_DELETE_BATCH keys per call). A failure is logged and
   * its keys retried by the alarm with backoff (src/upload-store.ts); then the alarm is armed for
   * whatever uploads need next.
   */
  private async deleteDoomed(): Promise<void> {
    for (;;) {
      const now = Date.now();
      const ids = this.uploads.dueDoomed(now, R2_DELETE_BATCH);
      if (ids.length === 0) break;
      try {
        await this.env.CHAT_UPLOADS.delete(ids.map((id) => uploadKey(this.state.streamId, id)));
        this.uploads.forgetDoomed(ids);
      } catch (err) {
        console.error(`ChatRoom upload delete failed stream=${this.state.streamId} uploads=${ids.length}: ${describeError(err)}`);
        this.uploads.retryDoomed(ids, now);
        break;
      }
      if (ids.length < R2_DELETE_BATCH) break;
    }
    const next = this.uploads.nextDue();
    if (next !== null) await this.armAlarm(next);
  }

  /**
   * One alarm per object serves every timer: it is only ever moved earlier here, and alarm() does
   * all that is due and re-arms for the earliest of what is left (outbox retry, next upload expiry,
   * next delete retry). Inside alarm() getAlarm() is null until something sets it.
   */
  private async armAlarm(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || at < current) await this.ctx.storage.setAlarm(at);
  }

  /** The outbox's retries, and the uploads: never attached within UPLOAD_TTL_MS → deleted from R2. */
  override async alarm(): Promise<void> {
    await this.drainOutbox();
    const now = Date.now();
    this.uploads.doomExpired(now - UPLOAD_TTL_MS, now);
    this.uploads.pruneOrphans();
    await this.deleteDoomed();
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function error(code: ErrorCode, extra: { until?: string; retry_after_ms?: number } = {}): CommandResult {
  return { kind: "error", code, message: ERROR_MESSAGES[code], ...extra };
}

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

const encoder = new TextEncoder();

function utf8Length(s: string): number {
  return encoder.encode(s).byteLength;
}
