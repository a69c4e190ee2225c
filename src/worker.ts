/**
 * Edge live-stream chat — the worker (Hono).
 *
 *   browser/app ──wss──▶ this worker ──stub.fetch──▶ ChatRoom Durable Object (src/room.ts), one per stream
 *                                                        │ outbox (src/outbox.ts): one cursor per queue
 *                                   CHAT_EVENTS queue ◀──┤──▶ CHAT_HISTORY queue
 *                        this worker's queue(), by batch.queue (src/consumer.ts):
 *                          chat-events → Kafka (REST proxy), chat-history → Redis history (Upstash REST)
 *
 * Bindings (wrangler.toml):
 *   CHAT_ROOM     Durable Object namespace, class ChatRoom
 *   CHAT_SHARD    Durable Object namespace, class ChatShard: a stream's fan-out shards (src/shard.ts), when SHARD_MAX_SOCKETS > 0
 *   CHAT_DEAD_LETTERS  Durable Object namespace, class DeadLetters: the one object "dead-letters" where the dead letter
 *                 queues' messages are parked for the admin routes below (src/dead-letters.ts)
 *   CHAT_EVENTS   Queue chat-events: producer (the room's outbox) and consumer (queue() below → Kafka), DLQ chat-events-dlq
 *   CHAT_HISTORY  Queue chat-history: producer (the room's outbox) and consumer (queue() below → Redis), DLQ chat-history-dlq
 *   (consumer only) chat-events-dlq, chat-history-dlq: queue() below parks their messages in CHAT_DEAD_LETTERS
 *   CHAT_UPLOADS  R2 bucket chat-uploads: chat images, uploads/{stream_id}/{upload_id} (src/uploads.ts; the room deletes them)
 *   CHAT_METRICS  Analytics Engine dataset chat_metrics (optional): the rooms' and the consumer's data points (src/metrics.ts)
 *   ASSETS        static files in ./public (the demo page)
 * Variables and secrets (all optional unless noted; validated once by src/env.ts):
 *   JWT_SECRET (HS256) and/or JWT_JWKS_URL (RS256/ES256) — at least one required
 *   JWT_ISSUER, JWT_AUDIENCE       enforced when set
 *   ALLOWED_ORIGINS                comma list; upgrades with another Origin get 403
 *   DEV_TOKENS                     "true" enables POST /dev/token (local development only)
 *   RATE_LIMIT_PER_SEC             messages per user per stream per second (default 10)
 *   ROOM_MAX_MESSAGES_PER_SEC      messages per stream per second, all users (default 100)
 *   ROOM_MAX_DELIVERIES_PER_SEC    sends/s to unbatched sockets; caps the message rate by audience (default 30,000)
 *   ROOM_MAX_JOINS_PER_SEC         viewer joins/s per stream, burst the same; more → closed 1013 joins_busy (default 250)
 *   MAX_VIEWERS_PER_STREAM         open sockets per stream; viewers past it get 503 stream_full (default 30,000)
 *   SHARD_MAX_SOCKETS              sockets per fan-out shard (default 5,000, ≤ 32,768); 0 = the room holds every socket
 *   BATCH_MAX_WINDOW_MS            longest coalescing window for ?batch=1 sockets, ms (default 25; adaptive below it)
 *   SLOW_CONSUMER_MAX_BEHIND       events a ?seen=1 socket may be behind its last `seen` report (default 150; 0 = off)
 *   SLOW_CONSUMER_GRACE_MS         how long it may stay over that without progress before it is closed 4408 slow_consumer (default 3,000)
 *   EDIT_WINDOW_S                  how long an author may edit a comment (default 300)
 *   SOCKET_MAX_FRAMES_PER_SEC      frames per socket per second, any kind (default 20, burst 40)
 *   MAX_SOCKETS_PER_USER           sockets per user per stream; the oldest is closed with 4429 (default 5)
 *   TICKET_SECRET                  signs WebSocket tickets (default: derived from JWT_SECRET)
 *   MAX_UPLOAD_BYTES               largest image upload, bytes (default 5 MiB)
 *   UPLOADS_PER_MIN                image uploads per user per stream per minute (default 10)
 *   UPSTASH_REDIS_REST_URL/_TOKEN  history sink and history API (unset: the history API asks the stream's room)
 *   KAFKA_REST_URL, KAFKA_REST_TOKEN | KAFKA_REST_USER/_PASSWORD, KAFKA_CHAT_TOPIC (streams.chat)
 *   DATABASE_URL, NEON_WS_PROXY    usernames and roles from Postgres (Neon driver)
 *   SINK_RETRY_MAX_DELAY_S         cap of the queue consumer's retry backoff, seconds (default 60)
 *   SINK_MAX_RETRIES               = max_retries of chat-events/chat-history in wrangler.toml (default 100)
 */
import { Hono, type Context } from "hono";
import { describeError } from "./errors";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { AuthError, DEV_USERNAME_RE, DEV_TOKEN_TTL_S, bearerToken, mintDevToken, verifyJwt, type Identity } from "./auth";
import { ConfigError, loadConfig, type Config, type Env } from "./env";
import { ERROR_MESSAGES, ModerationCommand, Role, isUuid, type ErrorCode } from "./protocol";
import { H_IDENTITY, H_REGION, H_STREAM, H_TICKET_NONCE, encodeIdentity, type RoomIdentity } from "./room-api";
import { H_SHARD, H_WELCOME, encodeWelcome } from "./shard-api";
import { locationHint } from "./rules/placement";
import { regionOf } from "./metrics";
import { MODLOG_PAGE_DEFAULT, MODLOG_PAGE_MAX } from "./rules/modlog";
import { resolveRole } from "./roles";
import { TICKET_TTL_S, mintTicket, ticketSecret, verifyTicket } from "./tickets";
import { handleQueueBatch } from "./consumer";
import {
  DISCARD_MAX,
  LIST_DEFAULT,
  LIST_MAX,
  REPLAY_DEFAULT,
  REPLAY_MAX,
  boundedInt,
  isDeadLetterSink,
  isDeadLetterState,
  type ListQuery,
  type ReplayQuery,
} from "./dead-letter-rules";
import { deadLetters } from "./dead-letter-store";
import { replayDeadLetters } from "./replay";
import { lookupUser, resolveUser } from "./usernames";
import { HISTORY_SOURCE_HEADER, noteRoomFallback, readHistory } from "./history";
import { getUpload, postUpload } from "./uploads";
import { FAULT_QUEUES, MAX_ARMED_BATCHES, armQueueFailure, type FaultQueue, type InjectedWhen } from "./dev-faults";
import { joinsBusyResponse } from "./join-refusal";

export { ChatRoom } from "./room";
export { ChatShard } from "./shard";
export { DeadLetters } from "./dead-letters";

type AppEnv = { Bindings: Env; Variables: { config: Config } };

const app = new Hono<AppEnv>();

// ---------------------------------------------------------------------------------------------
// Errors: expected failures are HTTPExceptions with a JSON body; anything else is logged and
// answered with a plain 500 — never a stack trace or internal detail.
// ---------------------------------------------------------------------------------------------

function fail(status: 400 | 401 | 403 | 404 | 413 | 415 | 422 | 426 | 429 | 500 | 503, error: string, message: string): never {
  throw new HTTPException(status, {
    res: new Response(JSON.stringify({ error, message }), {
      status,
      headers: { "content-type": "application/json; charset=utf-8" },
    }),
  });
}

app.onError((err, c) => {
  if (err instanceof HTTPException) return err.getResponse();
  if (err instanceof ConfigError) {
    console.error(err.message);
    return c.json({ error: "misconfigured", message: "The service is misconfigured" }, 500);
  }
  console.error(`worker ${c.req.method} ${new URL(c.req.url).pathname}: ${(err as Error)?.stack ?? err}`);
  return c.json({ error: "internal_error", message: "Internal error" }, 500);
});

app.notFound((c) => c.json({ error: "not_found", message: "No such route" }, 404));

app.use("*", async (c, next) => {
  c.set("config", loadConfig(c.env));
  await next();
});

// Browsers on other origins may call the JSON API with a bearer token (no cookies are used, so
// this does not widen what a token allows).
app.use(
  "/v1/*",
  cors({
    origin: (origin, c: Context<AppEnv>) => {
      const allowed = c.get("config").ALLOWED_ORIGINS;
      return allowed.length === 0 ? "*" : allowed.includes(origin) ? origin : null;
    },
    allowHeaders: ["Authorization", "Content-Type"],
    allowMethods: ["GET", "POST", "OPTIONS"],
    exposeHeaders: [HISTORY_SOURCE_HEADER],
    maxAge: 600,
  }),
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function streamIdParam(c: Context<AppEnv>): string {
  const id = c.req.param("stream_id") ?? "";
  if (!isUuid(id)) fail(400, "invalid_stream_id", "stream_id must be a UUID");
  return id.toLowerCase();
}

async function authenticate(c: Context<AppEnv>): Promise<Identity> {
  const token = bearerToken(c.req.header("authorization"));
  if (!token) fail(401, "unauthorized", "Missing bearer token");
  try {
    return await verifyJwt(token, c.get("config"));
  } catch (err) {
    if (err instanceof AuthError) fail(401, "unauthorized", `Invalid token: ${err.message}`);
    throw err;
  }
}

/** Who the user is in this stream: id, username (Postgres or claim) and role (claims, Postgres). */
async function roomIdentity(c: Context<AppEnv>, identity: Identity, streamId: string): Promise<RoomIdentity> {
  const cfg = c.get("config");
  const [{ username, createdAt }, { role, ownerId }] = await Promise.all([
    resolveUser(cfg, identity, c.executionCtx),
    resolveRole(cfg, identity, streamId, c.executionCtx),
  ]);
  return {
    id: identity.userId,
    username,
    role,
    owner: ownerId,
    ...(identity.streamMembers?.has(streamId) ? { member: true } : {}),
    ...(createdAt !== null ? { created_at: createdAt } : {}),
  };
}

function roomFor(c: Context<AppEnv>, streamId: string) {
  return c.env.CHAT_ROOM.get(c.env.CHAT_ROOM.idFromName(streamId));
}

function originDenied(c: Context<AppEnv>): boolean {
  const origin = c.req.header("origin");
  const allowed = c.get("config").ALLOWED_ORIGINS;
  return origin !== undefined && allowed.length > 0 && !allowed.includes(origin);
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

app.get("/healthz", (c) => c.json({ ok: true }));

/**
 * WebSocket upgrade. Checks, in DESIGN.md's order, all before any upgrade and before any Durable
 * Object is touched: stream_id not a UUID → 400; not an upgrade → 426; no/bad credentials → 401
 * (a `?ticket=` is verified here: signature, expiry, stream — src/tickets.ts); Origin not allowed → 403.
 * Only the ticket's one-time use is left to the room.
 */
app.get("/ws/streams/:stream_id/chat", async (c) => {
  const streamId = streamIdParam(c);
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    fail(426, "upgrade_required", "Expected a WebSocket upgrade");
  }
  const url = new URL(c.req.url);
  const cfg = c.get("config");
  // Only what the room needs, rebuilt from validated values: nothing from the request is copied on.
  const headers = new Headers({ upgrade: "websocket", [H_STREAM]: streamId, [H_REGION]: regionOf(c.req.raw.cf) });
  const ticket = url.searchParams.get("ticket");
  let identity: RoomIdentity;
  let ticketNonce: string | null = null;
  if (c.req.header("authorization") || ticket === null) {
    const jwtIdentity = await authenticate(c);
    if (originDenied(c)) fail(403, "forbidden_origin", "Origin not allowed");
    identity = await roomIdentity(c, jwtIdentity, streamId);
  } else {
    const claims = await verifyTicket(await ticketSecret(cfg), ticket, streamId);
    if (!claims) fail(401, "unauthorized", "Invalid, expired or foreign ticket");
    if (originDenied(c)) fail(403, "forbidden_origin", "Origin not allowed");
    const role = Role.safeParse(claims.role).data ?? "viewer";
    identity = {
      id: claims.userId,
      username: claims.username,
      role,
      owner: claims.ownerId,
      ...(claims.member ? { member: true } : {}),
      ...(claims.createdAt !== null && claims.createdAt !== undefined ? { created_at: claims.createdAt } : {}),
    };
    ticketNonce = `${claims.nonce}.${claims.expiresAt}`;
  }
  headers.set(H_IDENTITY, encodeIdentity(identity));
  const inner = new URL("https://room/ws");
  for (const key of ["since", "epoch", "batch", "seen"]) {
    const v = url.searchParams.get(key);
    if (v !== null) inner.searchParams.set(key, v);
  }
  if (cfg.SHARD_MAX_SOCKETS === 0) {
    if (ticketNonce !== null) headers.set(H_TICKET_NONCE, ticketNonce);
    return roomFor(c, streamId).fetch(new Request(inner, { headers }));
  }
  // Sharded (DESIGN.md "Hot streams and global viewers"): the room admits (and uses the ticket) and
  // picks a shard of the viewer's region; the socket lives there, created near that region on first use.
  const verdict = await roomFor(c, streamId).admit(streamId, identity, headers.get(H_REGION)!, ticketNonce);
  if (!verdict.ok && verdict.error === "joins_busy") return joinsBusyResponse(verdict.retry_after_ms);
  if (!verdict.ok) {
    const { status, error, message, retry_after_s } = verdict;
    return c.json({ error, message }, status, retry_after_s !== undefined ? { "retry-after": String(retry_after_s) } : {});
  }
  headers.set(H_SHARD, verdict.shard);
  headers.set(H_WELCOME, encodeWelcome(verdict.welcome));
  const hint = locationHint(verdict.region);
  const shard = c.env.CHAT_SHARD.get(c.env.CHAT_SHARD.idFromName(verdict.shard), hint ? { locationHint: hint } : undefined);
  return shard.fetch(new Request(inner, { headers }));
});

/**
 * One-time ticket for browsers (which cannot set headers on a WebSocket): minted and signed here,
 * so neither minting nor a guess ever reaches a Durable Object.
 */
app.post("/v1/streams/:stream_id/chat/tickets", async (c) => {
  const streamId = streamIdParam(c);
  const cfg = c.get("config");
  const who = await roomIdentity(c, await authenticate(c), streamId);
  const ticket = await mintTicket(await ticketSecret(cfg), {
    streamId,
    userId: who.id,
    username: who.username,
    role: who.role,
    ownerId: who.owner ?? null,
    member: who.member === true,
    createdAt: who.created_at ?? null,
  });
  return c.json({ ticket, expires_in: TICKET_TTL_S });
});

/** HTTP status for each command error code (DESIGN.md "Room events": the same codes as the socket). */
const ACTION_STATUS: Partial<Record<ErrorCode, 400 | 403 | 404 | 409 | 429 | 503>> = {
  forbidden: 403,
  not_found: 404,
  banned: 403,
  muted: 403,
  edit_window_passed: 409,
  target_restricted: 409,
  // A held message someone else decided first (or that expired): a conflict, not a malformed request.
  already_reviewed: 409,
  rate_limited: 429,
  room_busy: 503,
  slow_mode: 429,
};

/**
 * Moderation for the streamer's backend and bots: the body is one moderation frame (delete, pin,
 * unpin, timeout, ban, unban, slow_mode, blocked_terms, role) → `{"events":[...],"id"?,"seq"?}`
 * (the sequenced events it produced, as broadcast), or the socket's error codes as JSON.
 */
app.post("/v1/streams/:stream_id/chat/actions", async (c) => {
  const streamId = streamIdParam(c);
  const identity = await authenticate(c);
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    fail(400, "invalid_json", "Body must be one moderation frame as JSON");
  }
  const parsed = ModerationCommand.safeParse(body);
  if (!parsed.success) fail(400, "invalid_frame", `Not a moderation frame: ${parsed.error.issues[0]?.path.join(".") || "type"}: ${parsed.error.issues[0]?.message}`);
  const who = await roomIdentity(c, identity, streamId);
  const r = await roomFor(c, streamId).act(streamId, who, parsed.data);
  if (r.kind === "error") {
    // The one error shape (src/protocol.ts CommandError) gets its message here, at the edge, as errorFrame() does on the socket.
    const { kind: _k, code, ...rest } = r;
    return c.json({ error: code, message: ERROR_MESSAGES[code], ...rest }, ACTION_STATUS[code] ?? 400);
  }
  if (r.kind === "ignored") return c.json({ events: [] });
  if (r.kind === "held") return c.json({ events: [], held: { id: r.id, expires_at: r.expires_at } });
  return c.json({ events: r.events, ...(r.id ? { id: r.id } : {}), ...(r.seq ? { seq: r.seq } : {}) });
});

/**
 * The moderation log (issue 18 §3; README "Moderation log"), owner and moderators only (403
 * otherwise): `?before=<seq>` pages back, `?limit=` 1 … MODLOG_PAGE_MAX (default MODLOG_PAGE_DEFAULT).
 */
app.get("/v1/streams/:stream_id/chat/modlog", async (c) => {
  const streamId = streamIdParam(c);
  const who = await roomIdentity(c, await authenticate(c), streamId);
  const limitRaw = c.req.query("limit");
  const beforeRaw = c.req.query("before");
  const limit = limitRaw === undefined ? MODLOG_PAGE_DEFAULT : Number(limitRaw);
  // Digits only, like `before`: Number() would also take "1e2", "0x10", " 5" and "5.0".
  if ((limitRaw !== undefined && !/^\d{1,3}$/.test(limitRaw)) || !Number.isInteger(limit) || limit < 1 || limit > MODLOG_PAGE_MAX) fail(400, "invalid_limit", `limit must be an integer from 1 to ${MODLOG_PAGE_MAX}`);
  const before = beforeRaw === undefined ? null : Number(beforeRaw);
  if (before !== null && (!/^\d{1,15}$/.test(beforeRaw!) || before < 1)) fail(400, "invalid_before", "before must be a log seq (a positive integer)");
  const r = await roomFor(c, streamId).modlog(streamId, who, before, limit);
  if (!r.ok) fail(403, "forbidden", ERROR_MESSAGES.forbidden);
  return c.body(r.json, 200, { "content-type": "application/json; charset=utf-8" });
});

/**
 * The user card (issue 18 §3), owner and moderators only: the user's standing, messages here, account
 * age (Postgres `users.created_at`, else the token claim the room saw) and moderation history.
 */
app.get("/v1/streams/:stream_id/chat/users/:user_id", async (c) => {
  const streamId = streamIdParam(c);
  const userId = c.req.param("user_id");
  if (!isUuid(userId)) fail(400, "invalid_user_id", "user_id must be a UUID");
  const cfg = c.get("config");
  const who = await roomIdentity(c, await authenticate(c), streamId);
  let account: { username: string | null; createdAt: number | null } | null = null;
  if (cfg.DATABASE_URL) {
    try {
      const row = await lookupUser(cfg, userId.toLowerCase());
      account = { username: row.name, createdAt: row.createdAt };
    } catch (err) {
      console.warn(`user card: Postgres lookup failed for ${userId}: ${describeError(err)}`);
    }
  }
  const r = await roomFor(c, streamId).userCard(streamId, who, userId.toLowerCase(), account);
  if (!r.ok) fail(403, "forbidden", ERROR_MESSAGES.forbidden);
  return c.body(r.json, 200, { "content-type": "application/json; charset=utf-8" });
});

/** Pinned comment, slow mode, viewers; for owner/moderators also bans, timeouts, moderators, blocked terms. */
app.get("/v1/streams/:stream_id/chat/state", async (c) => {
  const streamId = streamIdParam(c);
  const who = await roomIdentity(c, await authenticate(c), streamId);
  return c.json(await roomFor(c, streamId).snapshot(streamId, who));
});

/**
 * The stream's figures (src/metrics.ts; README "Stats and metrics") for its owner, moderators and
 * admins; anyone else gets 403 `forbidden`.
 */
app.get("/v1/streams/:stream_id/chat/stats", async (c) => {
  const streamId = streamIdParam(c);
  const who = await roomIdentity(c, await authenticate(c), streamId);
  const r = await roomFor(c, streamId).stats(streamId, who);
  if (!r.ok) fail(403, r.code, r.message);
  return c.json(r.stats);
});

// Images in chat (src/uploads.ts): upload (authenticated here) and serve (no credentials: the id is the capability).
app.post("/v1/streams/:stream_id/chat/uploads", async (c) => postUpload(c, streamIdParam(c), (await authenticate(c)).userId));
app.get("/v1/uploads/:stream_id/:upload_id", getUpload);

/**
 * The stream's last comments, oldest first (`limit` 1–200, `before` a seq): from Redis, or, when Redis
 * is not configured, from the stream's room (header `x-history-source` says which).
 */
app.get("/v1/streams/:stream_id/chat/history", async (c) => {
  const streamId = streamIdParam(c);
  await authenticate(c);
  const limitRaw = c.req.query("limit");
  const beforeRaw = c.req.query("before");
  const limit = limitRaw === undefined ? 50 : Number(limitRaw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) fail(400, "invalid_limit", "limit must be an integer from 1 to 200");
  let before: number | undefined;
  if (beforeRaw !== undefined) {
    before = Number(beforeRaw);
    if (!Number.isInteger(before) || before < 1) fail(400, "invalid_before", "before must be a positive integer (a seq)");
  }
  let comments: Awaited<ReturnType<typeof readHistory>>;
  try {
    comments = await readHistory(c.get("config"), streamId, limit, before);
  } catch (err) {
    console.error(`history: Redis read failed stream=${streamId}: ${describeError(err)}`);
    fail(503, "history_unavailable", "History storage is unavailable, try again shortly");
  }
  if (comments === null) {
    // No Redis (the default `npm run dev`): the room's own last 200 comments, in their current state.
    // A Redis that is configured but failing is never replaced by this: that is the 503 above.
    noteRoomFallback();
    comments = await roomFor(c, streamId).history(streamId, limit, before);
    return c.json({ comments }, 200, { [HISTORY_SOURCE_HEADER]: "room" });
  }
  return c.json({ comments }, 200, { [HISTORY_SOURCE_HEADER]: "redis" });
});

// ---------------------------------------------------------------------------------------------
// Operators: dead letters (issue 19 §7; README "Dead letters"). Platform admins only (the JWT claim
// role: "admin"); `npm run dlq` (src/cli/dlq.ts) is a client of these routes.
// ---------------------------------------------------------------------------------------------

/** The caller's identity when its token carries `role: "admin"`; else 401 (no/bad token) or 403 `forbidden`. */
async function requireAdmin(c: Context<AppEnv>): Promise<Identity> {
  const identity = await authenticate(c);
  if (!identity.admin) fail(403, "forbidden", 'Only platform admins (JWT claim role: "admin") may do this');
  return identity;
}

/** The request's body as a JSON object; 400 `invalid_json` when it is not one. */
async function jsonBody(c: Context<AppEnv>): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    fail(400, "invalid_json", "Body must be a JSON object");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) fail(400, "invalid_json", "Body must be a JSON object");
  return body as Record<string, unknown>;
}

/** `sink` and `stream_id` filters shared by listing and replay; undefined when absent, 400 when wrong. */
function deadLetterFilter(sink: unknown, streamId: unknown): Pick<ListQuery, "sink" | "streamId"> {
  const out: Pick<ListQuery, "sink" | "streamId"> = {};
  if (sink !== undefined) {
    if (!isDeadLetterSink(sink)) fail(400, "invalid_sink", 'sink must be "kafka" or "redis-history"');
    out.sink = sink;
  }
  if (streamId !== undefined) {
    if (typeof streamId !== "string" || !isUuid(streamId)) fail(400, "invalid_stream_id", "stream_id must be a UUID");
    out.streamId = streamId.toLowerCase();
  }
  return out;
}

/** Row ids: a non-empty array of at most `max` positive integers. */
function deadLetterIds(v: unknown, max: number): number[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > max || !v.every((id) => boundedInt(id, 1, Number.MAX_SAFE_INTEGER) !== null)) {
    fail(400, "invalid_ids", `ids must be 1 to ${max} row ids (positive integers)`);
  }
  return v as number[];
}

/**
 * Parked dead letters, oldest first: `?state=dying|parked|replayed|malformed&sink=kafka|redis-history&stream_id=&after=<id>&limit=1..100`
 * → `{"items":[…],"next_after":<id>|null,"counts":{sink:{state:n}}}` (src/dead-letter-store.ts DeadLetterPage).
 */
app.get("/v1/admin/dead-letters", async (c) => {
  await requireAdmin(c);
  const q: ListQuery = deadLetterFilter(c.req.query("sink"), c.req.query("stream_id"));
  const state = c.req.query("state");
  if (state !== undefined && state !== "all") {
    if (!isDeadLetterState(state)) fail(400, "invalid_state", "state must be dying, parked, replayed, malformed or all");
    q.state = state;
  }
  const after = c.req.query("after");
  if (after !== undefined) q.after = boundedInt(after, 0, Number.MAX_SAFE_INTEGER) ?? fail(400, "invalid_after", "after must be a row id");
  const limitRaw = c.req.query("limit");
  const limit = limitRaw === undefined ? LIST_DEFAULT : (boundedInt(limitRaw, 1, LIST_MAX) ?? fail(400, "invalid_limit", `limit must be an integer from 1 to ${LIST_MAX}`));
  return c.json(await deadLetters(c.env).list(q, limit));
});

/** One row with its body (the queue message as it died). */
app.get("/v1/admin/dead-letters/:id", async (c) => {
  await requireAdmin(c);
  const id = boundedInt(c.req.param("id"), 1, Number.MAX_SAFE_INTEGER) ?? fail(404, "not_found", "No such dead letter");
  const row = await deadLetters(c.env).get(id);
  if (!row) fail(404, "not_found", "No such dead letter");
  return c.json(row);
});

/**
 * Replays parked rows through their sinks: body `{"ids"?:[…],"sink"?,"stream_id"?,"limit"?: 1..500}` (no ids: the oldest
 * parked rows matching the filters) → `{"claimed","replayed","failed","items":[{id,sink,stream_id,seq,ok,error?}]}`.
 */
app.post("/v1/admin/dead-letters/replay", async (c) => {
  const admin = await requireAdmin(c);
  const body = await jsonBody(c);
  const q: ReplayQuery = deadLetterFilter(body.sink, body.stream_id);
  if (body.ids !== undefined) q.ids = deadLetterIds(body.ids, REPLAY_MAX);
  const limit = body.limit === undefined ? (q.ids?.length ?? REPLAY_DEFAULT) : (boundedInt(body.limit, 1, REPLAY_MAX) ?? fail(400, "invalid_limit", `limit must be an integer from 1 to ${REPLAY_MAX}`));
  console.warn(`dead letters: replay by admin ${admin.userId}: ${JSON.stringify({ ...q, limit })}`);
  return c.json(await replayDeadLetters(deadLetters(c.env), c.get("config"), q, limit));
});

/** Deletes rows that are not tombstones: body `{"ids":[…]}` (at most 500) → `{"discarded": n}`. */
app.post("/v1/admin/dead-letters/discard", async (c) => {
  const admin = await requireAdmin(c);
  const ids = deadLetterIds((await jsonBody(c)).ids, DISCARD_MAX);
  const discarded = await deadLetters(c.env).discard(ids);
  console.warn(`dead letters: admin ${admin.userId} discarded ${discarded} rows (${ids.length} asked)`);
  return c.json({ discarded });
});

/**
 * Fault injection for the fault matrix (DEV_TOKENS=true only; README "Faults"):
 * `{"queue": "chat-events"|"chat-history", "batches"?: 1..10, "when"?: "before"|"after"}` arms a
 * failure of that queue consumer's next batches (src/dev-faults.ts) → 200 {"armed": {...}}.
 */
app.post("/dev/faults/queue", async (c) => {
  if (!c.get("config").DEV_TOKENS) fail(404, "not_found", "No such route");
  const body = (await jsonBody(c)) as { queue?: unknown; batches?: unknown; when?: unknown } | null;
  const queue = body?.queue;
  if (typeof queue !== "string" || !(FAULT_QUEUES as readonly string[]).includes(queue)) {
    fail(400, "invalid_queue", `queue must be one of ${FAULT_QUEUES.join(", ")}`);
  }
  const batches = body?.batches ?? 1;
  if (typeof batches !== "number" || !Number.isInteger(batches) || batches < 1 || batches > MAX_ARMED_BATCHES) {
    fail(400, "invalid_batches", `batches must be an integer 1..${MAX_ARMED_BATCHES}`);
  }
  const when = body?.when ?? "before";
  if (when !== "before" && when !== "after") fail(400, "invalid_when", 'when must be "before" or "after"');
  armQueueFailure(queue as FaultQueue, batches as number, when as InjectedWhen);
  return c.json({ armed: { queue, batches, when } });
});

/**
 * Fault injection for the fault matrix (DEV_TOKENS=true only; README "Faults"):
 * `{"stream_id": "...", "target": "room"|"shards"}` resets the stream's Durable Object or every
 * one of its fan-out shards as an eviction or crash would (memory gone, storage kept; their sockets
 * drop) → 200 {"reset": [names]}.
 */
app.post("/dev/faults/evict", async (c) => {
  if (!c.get("config").DEV_TOKENS) fail(404, "not_found", "No such route");
  const body = (await jsonBody(c)) as { stream_id?: unknown; target?: unknown } | null;
  const streamId = body?.stream_id;
  if (typeof streamId !== "string" || !isUuid(streamId)) fail(400, "invalid_stream_id", "stream_id must be a UUID");
  const target = body?.target;
  if (target !== "room" && target !== "shards") fail(400, "invalid_target", 'target must be "room" or "shards"');
  const room = roomFor(c, streamId as string);
  // Each reset rejects its own call (the object went away under it): that is the success here.
  const reset = async (name: string, run: () => Promise<void>) => {
    await run().catch(() => undefined);
    return name;
  };
  if (target === "room") return c.json({ reset: [await reset("room", () => room.devReset("dev fault: room reset"))] });
  const keys = await room.shardKeys();
  const names = await Promise.all(keys.map((key) => reset(key, () => c.env.CHAT_SHARD.get(c.env.CHAT_SHARD.idFromName(key)).devReset("dev fault: shard reset"))));
  return c.json({ reset: names });
});

/** Development tokens for the demo page (DEV_TOKENS=true only; never enable in production). */
app.post("/dev/token", async (c) => {
  const cfg = c.get("config");
  if (!cfg.DEV_TOKENS) fail(404, "not_found", "No such route");
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    fail(400, "invalid_json", "Body must be JSON: {\"username\": \"...\"}");
  }
  const username = typeof (body as { username?: unknown })?.username === "string" ? (body as { username: string }).username.trim() : "";
  if (!DEV_USERNAME_RE.test(username)) {
    fail(400, "invalid_username", "username: 1-32 letters, digits, spaces, '.', '_' or '-'");
  }
  const ownerOf = (body as { owner_of?: unknown }).owner_of;
  if (ownerOf !== undefined && (typeof ownerOf !== "string" || !isUuid(ownerOf))) {
    fail(400, "invalid_stream_id", "owner_of must be a stream id (UUID)");
  }
  const memberOf = (body as { member_of?: unknown }).member_of;
  if (memberOf !== undefined && (typeof memberOf !== "string" || !isUuid(memberOf))) {
    fail(400, "invalid_stream_id", "member_of must be a stream id (UUID)");
  }
  const created = (body as { account_created_at?: unknown }).account_created_at;
  if (created !== undefined && (typeof created !== "number" || !Number.isFinite(created) || created < 0)) {
    fail(400, "invalid_account_created_at", "account_created_at must be a NumericDate (seconds since 1970)");
  }
  const { token, userId } = await mintDevToken(cfg, username, ownerOf?.toLowerCase(), {
    ...(memberOf !== undefined ? { memberOf } : {}),
    ...(created !== undefined ? { accountCreatedAtS: created } : {}),
  });
  return c.json({ token, user_id: userId, username, expires_in: DEV_TOKEN_TTL_S, ...(ownerOf ? { owner_of: ownerOf.toLowerCase() } : {}) });
});

export default {
  fetch: app.fetch,
  queue: (batch, env, ctx) => handleQueueBatch(batch as MessageBatch<unknown>, env, ctx),
} satisfies ExportedHandler<Env>;
