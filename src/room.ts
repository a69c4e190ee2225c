/**
 * ChatRoom: one Durable Object per stream (`idFromName(stream_id)`) — the wiring of the stream:
 * sockets, storage, timers and the outbox. The rules live in pure modules beside it:
 *   src/rules/room-state.ts   what a command does (roles, moderation, edits, slow mode, …)
 *   src/rules/text.ts         message text rules and entities
 *   src/rules/standing.ts     who sees the staff state, and the bans/timeouts that hold (state and stats routes)
 *   src/rules/budget.ts       token buckets (per user, per socket, per stream)
 *   src/room-store.ts         the SQLite tables
 *   src/outbox.ts             events on their way to the sinks' queues
 *   src/upload-store.ts       the stream's image uploads: who made them, which comment carries them
 *   src/metrics.ts            messages/s, fan-out latency, the stats answer and Analytics Engine points
 *   src/mirror.ts             the resume ring's frames (welcome, history, resume), shared with the shards
 *   src/audience.ts           where the viewers' sockets are: on this object, or on fan-out shards
 *   src/rules/limits.ts       the rate policy: every limit and how it is computed
 *
 * Sockets (src/audience.ts, chosen once from SHARD_MAX_SOCKETS): with 0 this object holds every
 * viewer's socket (src/fanout.ts); by default the worker asks admit() for a shard and the viewer's
 * socket lives there (src/shard.ts): its commands arrive through commands(), and every sequenced
 * entry goes to every shard (src/shard-links.ts).
 *
 * One pass per command: gate (frame budget, size, JSON, schema) → decide → apply + persist →
 * broadcast → outbox. Sockets use the WebSocket Hibernation API: everything a socket needs after a
 * wake-up lives in its attachment, and the in-memory maps are rebuilt from ctx.getWebSockets().
 *
 * Requests come only from the worker (src/worker.ts), which has authenticated the user and resolved
 * their role; a Durable Object is not reachable from the Internet, so the identity it sends is trusted.
 */
import { DurableObject } from "cloudflare:workers";
import { createAudience, type Audience } from "./audience";
import { loadConfig, type Env } from "./env";
import { describeError } from "./errors";
import { WS_OPEN } from "./fanout";
import { BACKLOG_SIZE, backlogFrame, historyFrame, historyPage, snapshotOf, welcomeFor, welcomeFrame, type MirrorSnapshot, type WelcomeFor } from "./mirror";
import { StreamMetrics, regionOf, streamDataPoints, streamStats, writePoints, type MetricsWriter } from "./metrics";
import { Outbox } from "./outbox";
import {
  ERROR_MESSAGES,
  HISTORY_SIZE,
  PING_FRAME,
  PONG_FRAME,
  toQueueEvent,
  type Command,
  type HeldFrame,
  type HiddenCommentFrame,
  type ModerationCommand,
  type ModlogFrame,
  type ModlogResponse,
  type ReviewQueueFrame,
  type RoomEvent,
  type SeqComment,
  type StatsResponse,
  type UserCardResponse,
} from "./protocol";
import {
  H_REGION,
  H_TICKET_NONCE,
  actorOf,
  checkUpgrade,
  jsonResponse,
  type AdmissionRefusal,
  type CommandResult,
  type RoomIdentity,
  type StateSnapshot,
  type UploadRegistration,
  type UploadVerdict,
} from "./room-api";
import type { AdmitResult, ShardCommand, ShardCommandResult, ShardReport } from "./shard-api";
import { RoomStore, type RingEntry } from "./room-store";
import { fullBucket, refund, take, type Bucket } from "./rules/budget";
import { roomLimits, roomMessageRate, type RoomLimits } from "./rules/limits";
import { JoinGate } from "./rules/joins";
import { joinsBusyResponse } from "./join-refusal";
import { apply, decide, effectiveRole, pruneTimeouts, restriction, type Actor, type Outcome, type RoomState } from "./rules/room-state";
import { seesStaffState, standing } from "./rules/standing";
import { logEntries } from "./rules/modlog";
import { expiredHeld, heldItem, type Held } from "./rules/review";
import { userCard } from "./user-card";
import { exhaustive } from "./rules/never";
import { UploadStore } from "./upload-store";
import { UPLOAD_TTL_MS } from "./upload-rules";

// ---------------------------------------------------------------------------------------------
// Tunables (quoted in the README; the rates and socket limits are src/rules/limits.ts)
// ---------------------------------------------------------------------------------------------

export { BACKLOG_SIZE };

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

  /** Where the viewers' sockets are: here, or on fan-out shards (src/audience.ts, from SHARD_MAX_SOCKETS). */
  private readonly audience: Audience;
  /** The room's rates (a field, so tests can give one room other limits). */
  private limits: RoomLimits;
  private readonly roomBucket: Bucket;
  /** Viewer joins per second (src/rules/joins.ts), made from `limits.joinsPerSec` on first use and when it changes. */
  private joinGate: JoinGate | null = null;
  private readonly outbox: Outbox;
  private readonly uploads: UploadStore;
  /** Messages/s and fan-out latency, in memory (src/metrics.ts). */
  private readonly metrics = new StreamMetrics();
  /** Where data points go (CHAT_METRICS, optional; a field so tests can put a double in). */
  private metricsOut: MetricsWriter | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const config = loadConfig(env);
    this.limits = roomLimits(config);
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
    this.audience = createAudience(config.SHARD_MAX_SOCKETS, {
      ctx,
      limits: () => this.limits,
      label: () => `stream=${this.state.streamId}`,
      isStaff: (a) => seesStaffState(this.state, a.userId, effectiveRole(this.state, a.userId, a.role), Date.now()),
      staffNotes: () => this.staffNotes(),
      onSent: (acceptedAt, sentAt) => this.metrics.sent(acceptedAt, sentAt),
      streamId: () => this.state.streamId,
      epoch: this.epoch,
      loadedSeq: this.state.seq,
      seq: () => this.state.seq,
      shard: (key) => env.CHAT_SHARD.get(env.CHAT_SHARD.idFromName(key)),
      snapshot: () => this.takeSnapshot(),
    });
    // A room starting again learns its audience (its shards' counts) before it admits anyone.
    void ctx.blockConcurrencyWhile(() => this.audience.restore());
    if (this.audience.sockets > 0) {
      console.log(`ChatRoom woke from hibernation stream=${this.state.streamId} sockets=${this.audience.sockets} seq=${this.state.seq}`);
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

  /**
   * An upgrade the worker has authenticated (JWT, or a ticket whose signature, expiry and stream it
   * verified), unsharded. Nothing is written before that; then only the stream id (first socket),
   * staff roles, the ticket's nonce (one use) and the socket itself.
   */
  override async fetch(request: Request): Promise<Response> {
    const checked = checkUpgrade(request);
    if (checked instanceof Response) return checked;
    const { url, streamId, identity } = checked;
    const now = Date.now();
    const refused = this.admission(identity, request.headers.get(H_TICKET_NONCE), now);
    if (refused?.error === "joins_busy") return joinsBusyResponse(refused.retry_after_ms);
    if (refused) {
      const { status, ok: _ok, retry_after_s, ...body } = refused;
      return jsonResponse(status, body, retry_after_s !== undefined ? { "retry-after": String(retry_after_s) } : {});
    }
    this.bind(streamId, identity);
    const { client, server } = this.audience.join(
      actorOf(identity),
      url.searchParams.get("batch") === "1",
      now,
      regionOf({ continent: request.headers.get(H_REGION) }),
      url.searchParams.get("seen") === "1",
    );
    const welcome = this.welcome(identity, now);
    server.send(welcomeFrame(this.state, this.epoch, identity, welcome));
    server.send(this.historyFrame(url.searchParams.get("since"), url.searchParams.get("epoch")));
    const queue = this.reviewQueueFor(identity.id, now);
    if (queue) server.send(queue);
    this.maybeReport(now);
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * For staff-only frames on shards (src/audience.ts AudienceHost.staffNotes): the room's moderator
   * grants (not banned), and the users it knows as staff (known roles and grants) who are banned or
   * were demoted by a room grant, few either way.
   */
  private staffNotes(): { granted: string[]; banned: string[] } {
    const granted: string[] = [];
    const banned = new Set<string>();
    for (const [u, r] of this.state.grants) {
      if (r !== "moderator") continue;
      if (this.state.bans.has(u)) banned.add(u);
      else granted.push(u);
    }
    for (const [u, r] of this.state.knownRoles) {
      if (r === "viewer") continue;
      const now = effectiveRole(this.state, u, r);
      // Banned, or demoted by a room grant (`role` → viewer): a shard without its mirror (evicted)
      // judges by the role the socket was admitted with, so both are named to skip.
      if ((this.state.bans.has(u) && now !== "owner") || now === "viewer") banned.add(u);
    }
    return { granted, banned: [...banned] };
  }

  /** The `review_queue` frame for `userId` when they see staff state (src/rules/review.ts), else null. */
  private reviewQueueFor(userId: string, now: number): string | null {
    const role = effectiveRole(this.state, userId, this.state.knownRoles.get(userId) ?? "viewer");
    if (!seesStaffState(this.state, userId, role, now)) return null;
    this.expireHeld(now);
    return JSON.stringify({ type: "review_queue", items: [...this.state.held.values()].map(heldItem) } satisfies ReviewQueueFrame);
  }

  /** RPC from a shard: the review queue for a staff member who just joined there (null for anyone else). */
  async reviewQueueFrame(streamId: string, userId: string): Promise<string | null> {
    this.bind(streamId);
    return this.reviewQueueFor(userId, Date.now());
  }

  /** Drops the held messages that expired (src/rules/review.ts HELD_TTL_MS). */
  private expireHeld(now: number): void {
    const gone = expiredHeld(this.state.held, now);
    if (gone.length === 0) return;
    for (const id of gone) this.state.held.delete(id);
    this.store.unhold(gone);
  }

  /** The user's part of a welcome now (src/mirror.ts welcomeFor), after their socket is counted. */
  private welcome(identity: RoomIdentity, now: number): WelcomeFor {
    return welcomeFor(this.state, identity, now, this.limits, this.audience.viewers);
  }

  /**
   * Admission, before any upgrade and before a ticket is used up: past MAX_VIEWERS_PER_STREAM open
   * sockets a viewer gets 503 `stream_full` (the owner and moderators always get in: a full chat is
   * when they are needed most); past ROOM_MAX_JOINS_PER_SEC viewer joins a viewer is refused
   * `joins_busy` (src/rules/joins.ts; staff exempt); a ticket's nonce (`<nonce>.<expires_at>`) is used
   * once, after both. Null = admitted.
   */
  private admission(identity: RoomIdentity, ticketNonce: string | null, now: number): AdmissionRefusal | null {
    const viewer = identity.role === "viewer";
    if (this.audience.sockets >= this.limits.maxViewers && viewer) {
      return { ok: false, status: 503, error: "stream_full", message: "This chat is full, try again shortly", retry_after_s: STREAM_FULL_RETRY_AFTER_S };
    }
    if (!this.joinGate || this.joinGate.ratePerSec !== this.limits.joinsPerSec) this.joinGate = new JoinGate(this.limits.joinsPerSec, now);
    const gate = this.joinGate.join(!viewer, now);
    if (!gate.ok) return { ok: false, status: 101, error: "joins_busy", retry_after_ms: gate.retryAfterMs };
    if (ticketNonce !== null) {
      const ticket = /^([A-Za-z0-9_-]{1,64})\.(\d{1,15})$/.exec(ticketNonce);
      if (!ticket || this.store.useTicket(ticket[1]!, Number(ticket[2]), now)) {
        return { ok: false, status: 401, error: "unauthorized", message: "Invalid, expired or already used ticket" };
      }
    }
    return null;
  }

  // -------------------------------------------------------------------------------------------
  // From the worker and the shards, in sharded mode (src/shard.ts, src/shard-links.ts)
  // -------------------------------------------------------------------------------------------

  /**
   * RPC from the worker: admits an authenticated upgrade in sharded mode and picks the shard of the
   * viewer's `region` it goes to (src/rules/placement.ts). The worker forwards the upgrade there with
   * the returned welcome. Same refusals as an unsharded upgrade (stream_full, a used ticket).
   */
  async admit(streamId: string, identity: RoomIdentity, region: string, ticketNonce: string | null): Promise<AdmitResult> {
    const now = Date.now();
    const refused = this.admission(identity, ticketNonce, now);
    if (refused) return refused;
    this.bind(streamId, identity);
    const shard = this.audience.place(identity.id, region, now, seesStaffState(this.state, identity.id, effectiveRole(this.state, identity.id, identity.role), now));
    this.maybeReport(now);
    return { ok: true, shard, region, welcome: this.welcome(identity, now) };
  }

  /**
   * RPC from a shard: its viewers' commands, in the order they arrived, each through the same pass
   * as a socket's (src/room.ts command()). One answer per command; the events travel in deliveries.
   */
  async commands(streamId: string, _key: string, items: ShardCommand[]): Promise<ShardCommandResult[]> {
    this.bind(streamId);
    return items.map(({ actor, cmd }) => {
      try {
        const r = this.command(actor, cmd);
        if (r.kind !== "ok") return r;
        // (a held result passes as is: the shard answers it with a `held` frame)
        return { kind: "ok", ...(r.id !== undefined ? { id: r.id } : {}), ...(r.seq !== undefined ? { seq: r.seq } : {}) };
      } catch (err) {
        console.error(`ChatRoom command from shard stream=${this.state.streamId} user=${actor.userId}: ${(err as Error)?.stack ?? err}`);
        return { kind: "error", code: "internal_error" };
      }
    });
  }

  /** RPC from a shard: its counts changed (presence, admission, stats). */
  async shardReport(streamId: string, key: string, report: ShardReport): Promise<void> {
    this.bind(streamId);
    if (key.startsWith(`${streamId}/`)) this.audience.report(key, report, Date.now());
  }

  /**
   * RPC from a shard without a mirror (new, or evicted) or behind a resume: the state joins need,
   * now. `empty`: the shard holds no socket, so its feed may start at this snapshot.
   */
  async mirrorSnapshot(streamId: string, key?: string, empty?: boolean): Promise<MirrorSnapshot> {
    this.bind(streamId);
    const snapshot = this.takeSnapshot();
    if (key && empty) this.audience.startsAt(key, snapshot.seq);
    return snapshot;
  }

  private takeSnapshot(): MirrorSnapshot {
    return snapshotOf(this.state, this.epoch, this.ring);
  }

  /** The keys of the stream's shards (`CHAT_SHARD.idFromName(key)`), for operators and tests. */
  async shardKeys(): Promise<string[]> {
    return this.audience.keys();
  }

  /** Development only: resets this object as an eviction would (see ChatShard.devReset; README "Faults"). */
  async devReset(reason: string): Promise<void> {
    this.ctx.abort(reason);
  }

  /** `history` (src/mirror.ts historyFrame): exact missed frames on a covered resume, else the cached backlog. */
  private historyFrame(sinceParam: string | null, epoch: string | null): string {
    if (sinceParam !== null && epoch === this.epoch) {
      return historyFrame({ epoch: this.epoch, seq: this.state.seq, ring: this.ring, comments: this.state.comments }, sinceParam, epoch);
    }
    return (this.backlogFrame ??= backlogFrame(this.state.comments));
  }

  /** RPC from the worker: `POST /v1/streams/{id}/chat/actions` (same rules as the socket). */
  async act(streamId: string, identity: RoomIdentity, cmd: ModerationCommand): Promise<CommandResult> {
    this.bind(streamId, identity);
    return this.command(actorOf(identity), cmd);
  }

  /**
   * RPC from the worker: `GET /v1/streams/{id}/chat/history` when Redis is not configured (the
   * default `npm run dev`): a page of this room's own comments in their current state, the last
   * HISTORY_SIZE — what Redis would hold once the queue caught up (src/mirror.ts historyPage). A
   * read never binds the room: one that no socket or action has bound yet has no comments.
   */
  async history(streamId: string, limit: number, before?: number): Promise<SeqComment[]> {
    if (this.state.streamId !== streamId) {
      if (this.state.streamId) throw new Error(`room for ${this.state.streamId} asked for the history of ${streamId}`);
      return [];
    }
    return historyPage(this.state.comments, limit, before);
  }

  /** RPC from the worker: `GET /v1/streams/{id}/chat/state`. */
  async snapshot(streamId: string, identity: RoomIdentity): Promise<StateSnapshot> {
    this.bind(streamId, identity);
    const s = this.state;
    const role = effectiveRole(s, identity.id, identity.role);
    const out: StateSnapshot = {
      role,
      pinned: s.pinned,
      slow_mode_s: s.slowModeS,
      viewers: this.audience.viewers,
      modes: s.modes,
      lockdown: s.lockdown !== null,
      ...(s.title ? { title: s.title } : {}),
    };
    const now = Date.now();
    if (!seesStaffState(s, identity.id, role, now)) return out;
    this.expireHeld(now);
    this.store.deleteTimeouts(pruneTimeouts(s, now));
    Object.assign(out, standing(s, now));
    const mods = new Set([...s.knownRoles].filter(([, r]) => r === "moderator").map(([u]) => u));
    for (const [u, r] of s.grants) r === "moderator" ? mods.add(u) : mods.delete(u);
    out.moderators = [...mods];
    out.blocked_terms = [...s.blockedTerms.keys()];
    out.hold_terms = [...s.blockedTerms].filter(([, a]) => a === "hold").map(([t]) => t);
    out.lockdown_preset = s.lockdownPreset;
    out.hidden = [...s.hidden];
    out.held = s.held.size;
    return out;
  }

  /**
   * RPC from the worker: `GET /v1/streams/{id}/chat/modlog` (owner and moderators not banned, else
   * `forbidden`): entries with seq < `before` (null = newest), newest first, `limit` (1 …
   * MODLOG_PAGE_MAX) at most; the page (src/protocol.ts ModlogResponse) as JSON text.
   */
  async modlog(streamId: string, identity: RoomIdentity, before: number | null, limit: number): Promise<{ ok: true; json: string } | { ok: false; code: "forbidden" }> {
    this.bind(streamId, identity);
    if (!seesStaffState(this.state, identity.id, effectiveRole(this.state, identity.id, identity.role), Date.now())) return { ok: false, code: "forbidden" };
    const entries = this.store.modlog(before, limit);
    const last = entries.at(-1);
    const page: ModlogResponse = { entries, ...(entries.length === limit && last && last.seq > 1 ? { next_before: last.seq } : {}) };
    // JSON text: the entries' free-form `details` are not an RPC-serialisable type.
    return { ok: true, json: JSON.stringify(page) };
  }

  /**
   * RPC from the worker: `GET /v1/streams/{id}/chat/users/{user_id}` (staff only, else `forbidden`):
   * the user card (src/protocol.ts UserCardResponse), as JSON text. `account` (ms) is what the worker found in
   * Postgres for the user, when it looked; else the room's note from their token.
   */
  async userCard(streamId: string, identity: RoomIdentity, userId: string, account: { username: string | null; createdAt: number | null } | null): Promise<{ ok: true; json: string } | { ok: false; code: "forbidden" }> {
    this.bind(streamId, identity);
    const now = Date.now();
    if (!seesStaffState(this.state, identity.id, effectiveRole(this.state, identity.id, identity.role), now)) return { ok: false, code: "forbidden" };
    return { ok: true, json: JSON.stringify(userCard(this.state, this.store, userId, account, now) satisfies UserCardResponse) };
  }

  /**
   * RPC from the worker: `GET /v1/streams/{id}/chat/stats`. The owner (admins are owners, src/roles.ts)
   * and moderators get the stream's figures (src/metrics.ts); anyone else, or a banned moderator, `forbidden`.
   */
  async stats(streamId: string, identity: RoomIdentity): Promise<{ ok: true; stats: StatsResponse } | { ok: false; code: "forbidden"; message: string }> {
    this.bind(streamId, identity);
    const now = Date.now();
    const role = effectiveRole(this.state, identity.id, identity.role);
    if (!seesStaffState(this.state, identity.id, role, now)) return { ok: false, code: "forbidden", message: ERROR_MESSAGES.forbidden };
    return { ok: true, stats: streamStats({ streamId: this.state.streamId, now, shards: this.audience.counts(), metrics: this.metrics, queueBacklog: this.outbox.backlog() }) };
  }

  /**
   * Writes the stream's data points to CHAT_METRICS at most once per METRICS_INTERVAL_MS, piggy-
   * backed on commands and upgrades (no timer, no storage write); never throws.
   */
  private maybeReport(now: number): void {
    if (!this.metricsOut || !this.metrics.reportDue(now)) return;
    try {
      const shards = this.audience.counts();
      const stats = streamStats({ streamId: this.state.streamId, now, shards, metrics: this.metrics, queueBacklog: this.outbox.backlog() });
      writePoints(this.metricsOut, streamDataPoints(stats, shards), `stream=${this.state.streamId}`);
    } catch (err) {
      console.warn(`ChatRoom metrics stream=${this.state.streamId}: ${describeError(err)}`);
    }
  }

  /**
   * RPC from the worker (`POST /v1/streams/{id}/chat/uploads`), after it checked the image and before
   * it puts the bytes to R2: the rules are src/upload-store.ts admit() (banned, too_many_uploads,
   * rate_limited); an admitted upload may be attached by a message of this user, and the alarm
   * deletes it if none does within UPLOAD_TTL_MS.
   */
  async registerUpload(streamId: string, userId: string, upload: UploadRegistration): Promise<UploadVerdict> {
    this.bind(streamId);
    const now = Date.now();
    const held = restriction(this.state, userId, effectiveRole(this.state, userId, this.state.knownRoles.get(userId) ?? "viewer"), now);
    const verdict = this.uploads.admit(userId, upload, held !== null && "banned" in held, this.limits.uploads, now);
    if (verdict.ok) await this.armAlarm(now + UPLOAD_TTL_MS);
    return verdict;
  }

  // -------------------------------------------------------------------------------------------
  // WebSocket events (Hibernation API)
  // -------------------------------------------------------------------------------------------

  /**
   * A frame from one of this room's own sockets (unsharded): gate → command() → its answer
   * (src/audience.ts). Synchronous, and a socket already closing (closed for abuse, moved to shards,
   * 4429) is dropped before anything else: workerd dispatches every frame its client had sent, also
   * after the close, and each one's cost is the flood's floor (issue 19 §4; BENCHMARKS.md "Floods
   * that cannot slow a room").
   */
  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (ws.readyState !== WS_OPEN) return;
    this.audience.message(ws, message, this.runCommand);
  }

  /** command() bound once, not a closure per frame. */
  private readonly runCommand: Parameters<Audience["message"]>[2] = (actor, cmd) => this.command(actor, cmd);

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.audience.closed(ws, code, reason);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    this.audience.failed(ws, error);
  }

  // -------------------------------------------------------------------------------------------
  // Commands: dedupe → budgets → decide → apply + persist → broadcast → outbox
  // -------------------------------------------------------------------------------------------

  private command(actor: Actor, cmd: Command): CommandResult {
    const cmid = cmd.client_msg_id;
    if (cmid !== undefined) {
      // A retry (e.g. after a reconnect): acknowledge again, never apply twice (a held one: held again).
      const seen = this.store.findAck(actor.userId, cmid);
      const held = seen?.id !== undefined && seen.seq === undefined ? this.state.held.get(seen.id) : undefined;
      if (held) return { kind: "held", id: held.comment.id, expires_at: new Date(held.expiresAt).toISOString() };
      if (seen) return { kind: "ok", events: [], ...seen };
    }
    const now = Date.now();
    // Every command draws on its user's rate (RATE_LIMIT_PER_SEC), whichever way it came (socket
    // or HTTP action): each may make a sequenced event that every viewer receives.
    const userWait = this.limits.user.take(actor.userId, now);
    /** The burst of the room budget a token was taken from (0 = none): refunded when the rules refuse or ignore the message. */
    let roomTaken = 0;
    if (userWait > 0) return { kind: "error", code: "rate_limited", retry_after_ms: userWait };
    if (cmd.type === "message" || cmd.type === "edit") {
      // The stream's total budget for what viewers post (src/rules/limits.ts roomMessageRate),
      // checked last so one user's flood cannot drain it for everyone. Moderation is exempt.
      const rate = roomMessageRate(this.limits, this.audience.unbatched);
      const roomWait = take(this.roomBucket, rate, rate, now);
      if (roomWait > 0) return { kind: "error", code: "room_busy", retry_after_ms: roomWait };
      roomTaken = rate;
    }
    const outcome: Outcome = decide(this.state, actor, cmd, now, {
      editWindowMs: this.limits.editWindowMs,
      newId: () => crypto.randomUUID(),
      // The room's own table decides (synchronously, so a sender's messages keep their order):
      // only this user's uploads to this stream, each attached to one comment at most.
      attachment: (uploadId, userId) => this.uploads.resolve(uploadId, userId, this.state.streamId),
      hasPosted: (userId) => this.store.hasPosted(userId),
    });
    // A visually empty text changes nothing; a sender waiting on its client_msg_id still gets an
    // answer (an ack with no id and no seq), so no client waits forever.
    // Only what the rules accept spends the stream's budget (issue 19 §4): a blank or refused
    // message gives its token back, so a flood of them cannot shed everybody else's with room_busy.
    if ((outcome.kind === "ignored" || outcome.kind === "error") && roomTaken > 0) refund(this.roomBucket, roomTaken);
    if (outcome.kind === "ignored") return cmid !== undefined ? { kind: "ok", events: [] } : outcome;
    if (outcome.kind === "error") return outcome;
    // The user card's account age (no database: the token's claim) is remembered for those who post.
    const noteAccount = () => {
      if (typeof actor.accountCreatedAt === "number") this.store.noteAccount(actor.userId, actor.accountCreatedAt);
    };
    // A held or hidden message is a message to slow mode (decide() checked it) though it makes no
    // event: otherwise a shadow-hidden user would notice slow mode never applies, and a first-timer
    // could fill their review slots at once.
    if ((outcome.kind === "held" || outcome.kind === "hidden") && this.state.slowModeS > 0) {
      this.state.lastMessageAt.set(actor.userId, now);
      this.store.slowLast(actor.userId, now);
    }
    if (outcome.kind === "held") {
      noteAccount();
      return this.hold(actor, outcome.held, cmid);
    }
    if (outcome.kind === "hidden") {
      // Not sequenced: to its author's sockets and staff only (never the ring, Redis or Kafka).
      this.store.countPost(actor.userId, now);
      noteAccount();
      if (cmid !== undefined) this.store.saveAck(actor.userId, cmid, { id: outcome.comment.id });
      this.audience.direct(JSON.stringify({ type: "hidden_comment", comment: outcome.comment } satisfies HiddenCommentFrame), { staff: true, users: [actor.userId] });
      return { kind: "ok", events: [], id: outcome.comment.id };
    }
    // The log's entries are read against the state before the events (a deletion's author).
    const drafts = logEntries(this.state, actor.userId, cmd, outcome, now);
    // All writes below happen in this one event: they commit together, and the output gate holds
    // the broadcasts until they are durable.
    const at = new Date(now).toISOString();
    const entries: RingEntry[] = [];
    /** Comments this command deletes (author or moderator delete, a ban's `deleted`): their images go too. */
    const removed: string[] = [];
    let doomed = 0;
    for (const e of outcome.events) {
      doomed += this.trackUploads(e, removed, now);
      const touched = apply(this.state, e, now);
      const entry = this.store.persist(e, this.state, touched);
      this.ring.push(entry);
      if (this.ring.length > HISTORY_SIZE) this.ring.shift();
      this.outbox.add(e.seq, toQueueEvent(e, this.state.streamId, at, actor.userId));
      entries.push(entry);
      if (e.type === "comment" && e.comment.user_id === actor.userId) noteAccount();
    }
    if (outcome.blockedTerms) {
      this.state.blockedTerms = outcome.blockedTerms;
      this.store.setBlockedTerms(outcome.blockedTerms);
    }
    if (outcome.lockdownPreset) {
      this.state.lockdownPreset = outcome.lockdownPreset;
      this.store.setLockdownPreset(outcome.lockdownPreset);
    }
    if (outcome.hidden) {
      if (outcome.hidden.on) this.state.hidden.add(outcome.hidden.userId);
      else this.state.hidden.delete(outcome.hidden.userId);
      this.store.setHidden(outcome.hidden.userId, outcome.hidden.on);
    }
    // Staff see each entry live (after the events it records, which are broadcast below).
    const logged = this.store.log(drafts);
    if (cmid !== undefined) this.store.saveAck(actor.userId, cmid, outcome.ack);
    // Recorded as doomed in this same event, so a failed or interrupted R2 delete is retried by the alarm.
    if (removed.length > 0) doomed += this.uploads.doomComments(removed, now);
    if (doomed > 0) this.ctx.waitUntil(this.deleteDoomed());
    if (entries.length > 0) {
      this.backlogFrame = null;
      this.metrics.accepted(now, entries.length);
      // Encoded once, sent to every viewer (the sender included): by this object, or by every shard.
      this.audience.broadcast(entries, now);
      void this.drainOutbox();
      this.maybeReport(now);
    }
    for (const entry of logged) this.audience.direct(JSON.stringify({ type: "modlog", entry } satisfies ModlogFrame), { staff: true });
    return { kind: "ok", events: outcome.events, ...outcome.ack };
  }

  /**
   * Queues a held message (src/rules/review.ts): stored, sent to staff live, its expiry on the alarm.
   * The sender's answer is a `held` frame, also for a retry of the same client_msg_id.
   */
  private hold(actor: Actor, h: Held, cmid: string | undefined): CommandResult {
    this.state.held.set(h.comment.id, h);
    this.store.hold(h);
    if (cmid !== undefined) this.store.saveAck(actor.userId, cmid, { id: h.comment.id });
    const item = heldItem(h);
    this.audience.direct(JSON.stringify({ type: "held", id: item.id, comment: item.comment, reason: item.reason, expires_at: item.expires_at } satisfies HeldFrame), { staff: true });
    this.ctx.waitUntil(this.armAlarm(h.expiresAt));
    return { kind: "held", id: item.id, expires_at: item.expires_at };
  }

  /**
   * What an event does to the stream's uploads (src/upload-store.ts), in the same storage event:
   * a comment's attachments are bound to it; the comments a delete or a ban removes are added to
   * `removed` (their images go too); a ban dooms the user's unattached uploads at once (issue 22 §4).
   * Returns the uploads doomed here.
   */
  private trackUploads(e: RoomEvent, removed: string[], now: number): number {
    switch (e.type) {
      case "comment":
        if (e.comment.attachments) this.uploads.attach(e.comment.attachments.map((a) => a.upload_id), e.comment.id);
        return 0;
      case "comment_deleted":
        removed.push(e.id);
        return 0;
      case "moderation":
        if (e.deleted) removed.push(...e.deleted);
        // A ban (and a purge that bans) makes the users' unattached uploads unreachable at once.
        if (e.action === "ban" && e.user_id !== undefined) return this.uploads.doomPendingOf(e.user_id, now);
        if (e.action === "purge" && e.then === "ban") return (e.users ?? []).reduce((n, u) => n + this.uploads.doomPendingOf(u, now), 0);
        return 0;
      case "comment_edited":
      case "pinned":
        return 0;
      default:
        exhaustive(e);
        return 0;
    }
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

  /** Deletes the due doomed uploads from R2 (src/upload-store.ts deleteDue) and arms the alarm for the next. */
  private async deleteDoomed(): Promise<void> {
    const next = await this.uploads.deleteDue(this.env.CHAT_UPLOADS, this.state.streamId);
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
    this.expireHeld(now);
    const nextExpiry = Math.min(...[...this.state.held.values()].map((h) => h.expiresAt));
    if (Number.isFinite(nextExpiry)) await this.armAlarm(nextExpiry);
    this.uploads.doomExpired(now - UPLOAD_TTL_MS, now);
    this.uploads.pruneOrphans();
    await this.deleteDoomed();
  }
}
