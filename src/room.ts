/**
 * ChatRoom: one Durable Object per stream (`idFromName(stream_id)`) — the wiring of the stream:
 * sockets, storage, timers and the outbox. The rules live in pure modules beside it:
 *   src/rules/room-state.ts   what a command does (roles, moderation, edits, slow mode, …)
 *   src/rules/text.ts         message text rules and entities
 *   src/rules/budget.ts       token buckets (per user, per socket, per stream)
 *   src/room-store.ts         the SQLite tables
 *   src/outbox.ts             events on their way to the sinks' queues
 *   src/upload-store.ts       the stream's image uploads: who made them, which comment carries them
 *   src/metrics.ts            messages/s, fan-out latency, the stats answer and Analytics Engine points
 *
 * One pass per command: gate (frame budget, size, JSON, schema) → decide → apply + persist →
 * broadcast → outbox. Sockets use the WebSocket Hibernation API: everything a socket needs after a
 * wake-up lives in its attachment, and the in-memory maps are rebuilt from ctx.getWebSockets().
 *
 * Requests come only from the worker (src/worker.ts), which has authenticated the user and resolved
 * their role; a Durable Object is not reachable from the Internet, so the identity it sends is trusted.
 */
import { DurableObject } from "cloudflare:workers";
import { loadConfig, type Env } from "./env";
import { describeError } from "./errors";
import { Fanout } from "./fanout";
import { ROOM_SHARD, StreamMetrics, regionOf, streamDataPoints, streamStats, writePoints, type MetricsWriter, type ShardCount } from "./metrics";
import { Outbox } from "./outbox";
import {
  ERROR_MESSAGES,
  HISTORY_SIZE,
  PING_FRAME,
  PONG_FRAME,
  isUuid,
  toQueueEvent,
  type Command,
  type ModerationCommand,
  type ServerFrame,
  type StatsResponse,
} from "./protocol";
import {
  H_IDENTITY,
  H_REGION,
  H_STREAM,
  H_TICKET_NONCE,
  error,
  readIdentity,
  roomLimits,
  type CommandResult,
  type RoomIdentity,
  type RoomLimits,
  type StateSnapshot,
  type UploadRegistration,
  type UploadVerdict,
} from "./room-api";
import { RoomStore, type RingEntry } from "./room-store";
import { fullBucket, take, type Bucket } from "./rules/budget";
import { apply, decide, effectiveRole, pruneTimeouts, restriction, restrictions, type Actor, type Outcome, type RoomState } from "./rules/room-state";
import { R2_DELETE_BATCH, UploadStore } from "./upload-store";
import { MAX_PENDING_UPLOADS, UPLOAD_TTL_MS, uploadKey } from "./uploads";

// ---------------------------------------------------------------------------------------------
// Tunables (quoted in the README; the socket ones are in src/fanout.ts)
// ---------------------------------------------------------------------------------------------

/** Comments sent to a newcomer that is not resuming (the ring holds HISTORY_SIZE frames for resumes). */
export const BACKLOG_SIZE = 50;

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", ...headers } });

/** Retry-After of a `stream_full` answer, seconds. */
export const STREAM_FULL_RETRY_AFTER_S = 30;

export class ChatRoom extends DurableObject<Env> {
  private readonly store: RoomStore;
  private readonly state: RoomState;
  private readonly epoch: string;
  /** The resume ring: the last HISTORY_SIZE sequenced frames, oldest first. */
  private readonly ring: RingEntry[];
  /** Cached `history` frame for newcomers (not resuming); cleared on every event. */
  private backlogFrame: string | null = null;

  /** The viewers' sockets (src/fanout.ts). */
  private readonly sockets: Fanout;
  /** The room's rates (a field, so tests can give one room other limits). */
  private limits: RoomLimits;
  private readonly roomBucket: Bucket;
  private readonly outbox: Outbox;
  private readonly uploads: UploadStore;
  /** Messages/s and fan-out latency, in memory (src/metrics.ts). */
  private readonly metrics = new StreamMetrics();
  /** Where data points go (CHAT_METRICS, optional; a field so tests can put a double in). */
  private metricsOut: MetricsWriter | undefined;

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
    this.metricsOut = env.CHAT_METRICS;
    this.sockets = new Fanout(
      ctx,
      () => this.limits,
      () => `stream=${this.state.streamId}`,
      (acceptedAt, sentAt) => this.metrics.sent(acceptedAt, sentAt),
    );
    if (this.sockets.size > 0) {
      console.log(`ChatRoom woke from hibernation stream=${this.state.streamId} sockets=${this.sockets.size} seq=${this.state.seq}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Identity
  // -------------------------------------------------------------------------------------------

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
    // Admission (MAX_VIEWERS_PER_STREAM), before any upgrade and before a ticket is used up. The
    // owner and moderators always get in: a full chat is when they are needed most.
    if (this.sockets.size >= this.limits.maxViewers && identity.role === "viewer") {
      return json(
        503,
        { error: "stream_full", message: "This chat is full, try again shortly" },
        { "retry-after": String(STREAM_FULL_RETRY_AFTER_S) },
      );
    }
    const now = Date.now();
    if (request.headers.has(H_TICKET_NONCE)) {
      const ticket = /^([A-Za-z0-9_-]{1,64})\.(\d{1,15})$/.exec(request.headers.get(H_TICKET_NONCE)!);
      if (!ticket || this.store.useTicket(ticket[1]!, Number(ticket[2]), now)) {
        return json(401, { error: "unauthorized", message: "Invalid, expired or already used ticket" });
      }
    }
    this.bind(streamId, identity);
    const actor: Actor = { userId: identity.id, username: identity.username, role: identity.role };
    const { client, server } = this.sockets.accept(actor, url.searchParams.get("batch") === "1", now, regionOf({ continent: request.headers.get(H_REGION) }));

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
        viewers: this.sockets.viewers,
        ...restrictions(s, identity.id, effectiveRole(s, identity.id, identity.role), now),
      } satisfies ServerFrame),
    );
    server.send(this.historyFrame(url.searchParams.get("since"), url.searchParams.get("epoch")));
    this.maybeReport(now);
    return new Response(null, { status: 101, webSocket: client });
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
    const out: StateSnapshot = { role, pinned: s.pinned, slow_mode_s: s.slowModeS, viewers: this.sockets.viewers };
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
   * RPC from the worker: `GET /v1/streams/{id}/chat/stats`. The owner (admins are owners, src/roles.ts)
   * and moderators get the stream's figures (src/metrics.ts); anyone else, or a banned moderator, `forbidden`.
   */
  async stats(streamId: string, identity: RoomIdentity): Promise<{ ok: true; stats: StatsResponse } | { ok: false; code: "forbidden"; message: string }> {
    this.bind(streamId, identity);
    const now = Date.now();
    const role = effectiveRole(this.state, identity.id, identity.role);
    const held = restriction(this.state, identity.id, role, now);
    if (role === "viewer" || (held && "banned" in held)) return { ok: false, code: "forbidden", message: ERROR_MESSAGES.forbidden };
    return { ok: true, stats: streamStats({ streamId: this.state.streamId, now, shards: this.shards(), metrics: this.metrics, queueBacklog: this.outbox.backlog() }) };
  }

  /** The sockets this stream holds, by shard: today the room holds them all. */
  private shards(): Record<string, ShardCount> {
    return { [ROOM_SHARD]: { sockets: this.sockets.size, users: this.sockets.viewers, perRegion: this.sockets.perRegion() } };
  }

  /**
   * Writes the stream's data points to CHAT_METRICS at most once per METRICS_INTERVAL_MS, piggy-
   * backed on commands and upgrades (no timer, no storage write); never throws.
   */
  private maybeReport(now: number): void {
    if (!this.metricsOut || !this.metrics.reportDue(now)) return;
    try {
      const shards = this.shards();
      const stats = streamStats({ streamId: this.state.streamId, now, shards, metrics: this.metrics, queueBacklog: this.outbox.backlog() });
      writePoints(this.metricsOut, streamDataPoints(stats, shards), `stream=${this.state.streamId}`);
    } catch (err) {
      console.warn(`ChatRoom metrics stream=${this.state.streamId}: ${describeError(err)}`);
    }
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
    const gated = this.sockets.gate(ws, message);
    if (!gated) return;
    const { conn, command } = gated;
    const cmid = command.client_msg_id;
    try {
      const r = this.command(conn.actor, command);
      if (r.kind === "error") {
        if (r.code === "message_too_long" || r.code === "invalid_text") this.sockets.strike(conn);
        const { kind: _k, ...e } = r;
        this.sockets.send(conn, JSON.stringify({ type: "error", ...e, ...(cmid !== undefined ? { client_msg_id: cmid } : {}) } satisfies ServerFrame));
      } else if (r.kind === "ok" && cmid !== undefined) {
        this.sockets.send(conn, JSON.stringify({ type: "ack", client_msg_id: cmid, id: r.id, seq: r.seq } satisfies ServerFrame));
      }
    } catch (err) {
      console.error(`ChatRoom webSocketMessage stream=${this.state.streamId} user=${conn.actor.userId}: ${(err as Error)?.stack ?? err}`);
      this.sockets.sendError(conn, "internal_error", cmid);
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.sockets.forget(ws);
    // Reciprocate, or the client sees 1006 instead of a clean close. 1005 ("no code") and the
    // other reserved codes cannot be sent back: answer those with 1000.
    try {
      ws.close(code === 1005 || code === 1006 || code === 1015 ? 1000 : code, reason);
    } catch {
      // already closed
    }
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    console.warn(`ChatRoom webSocketError stream=${this.state.streamId} user=${this.sockets.userOf(ws) ?? "?"}: ${describeError(error)}`);
    this.sockets.forget(ws);
  }

  // -------------------------------------------------------------------------------------------
  // Commands: dedupe → budgets → decide → apply + persist → broadcast → outbox
  // -------------------------------------------------------------------------------------------

  private command(actor: Actor, cmd: Command): CommandResult {
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
      const rate = Math.max(1, Math.min(this.limits.roomPerSec, this.limits.deliveriesPerSec / Math.max(1, this.sockets.unbatched)));
      const roomWait = take(this.roomBucket, rate, rate, now);
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
    if (cmid !== undefined) this.store.saveAck(actor.userId, cmid, outcome.ack);
    // Recorded as doomed in this same event, so a failed or interrupted R2 delete is retried by the alarm.
    if (removed.length > 0 && this.uploads.doomComments(removed, now) > 0) this.ctx.waitUntil(this.deleteDoomed());
    if (frames.length > 0) {
      this.backlogFrame = null;
      this.metrics.accepted(now, frames.length);
      for (const f of frames) this.sockets.broadcast(f, now);
      void this.drainOutbox();
      this.maybeReport(now);
    }
    return { kind: "ok", events: outcome.events, ...outcome.ack };
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
