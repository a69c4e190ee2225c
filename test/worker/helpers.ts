/** Helpers for tests inside workerd: tokens, sockets that record frames, waits with diagnostics. */
import { env, exports } from "cloudflare:workers";
import { SignJWT, importJWK, type JWTPayload } from "jose";
import { runInDurableObject } from "cloudflare:test";
import { loadConfig, type Config } from "../../src/env";
import { ServerFrame } from "../../src/protocol";
import type { ChatRoom } from "../../src/room";
import type { ChatShard } from "../../src/shard";
import { roomLimits, type RoomLimits } from "../../src/rules/limits";

export const ISSUER = "https://idp.test/";
export const AUDIENCE = "chat";
export const BASE = "http://chat.test";

export const newStreamId = () => crypto.randomUUID();
export const newUserId = () => crypto.randomUUID();

export interface TokenOptions {
  sub?: string;
  username?: string;
  alg?: "HS256" | "RS256" | "ES256";
  secret?: string;
  issuer?: string | null;
  audience?: string | null;
  /** seconds from now */
  exp?: number | null;
  /** seconds from now */
  nbf?: number;
  claims?: JWTPayload;
}

export async function token(o: TokenOptions = {}): Promise<string> {
  const alg = o.alg ?? "HS256";
  let jwt = new SignJWT({ ...(o.username ? { username: o.username } : {}), ...o.claims })
    .setProtectedHeader({ alg, ...(alg === "HS256" ? {} : { kid: alg === "RS256" ? "rs-1" : "es-1" }) })
    .setSubject(o.sub ?? newUserId())
    .setIssuedAt();
  if (o.issuer !== null) jwt = jwt.setIssuer(o.issuer ?? ISSUER);
  if (o.audience !== null) jwt = jwt.setAudience(o.audience ?? AUDIENCE);
  if (o.exp !== null) jwt = jwt.setExpirationTime(Math.floor(Date.now() / 1000) + (o.exp ?? 600));
  if (o.nbf !== undefined) jwt = jwt.setNotBefore(Math.floor(Date.now() / 1000) + o.nbf);
  if (alg === "HS256") return jwt.sign(new TextEncoder().encode(o.secret ?? env.JWT_SECRET!));
  const keys = JSON.parse(env.TEST_PRIVATE_JWKS) as Record<string, Record<string, unknown>>;
  return jwt.sign(await importJWK(keys[alg]!, alg));
}

export function fetchWorker(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(BASE + path, init));
}

export function upgrade(streamId: string, opts: { token?: string; query?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { upgrade: "websocket", ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  return fetchWorker(`/ws/streams/${streamId}/chat${opts.query ?? ""}`, { headers });
}

export class Client {
  readonly frames: ServerFrame[] = [];
  readonly raw: string[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.accept();
    ws.addEventListener("message", (e) => {
      const data = typeof e.data === "string" ? e.data : "<binary>";
      this.raw.push(data);
      const parsed = ServerFrame.safeParse(JSON.parse(data));
      if (!parsed.success) throw new Error(`server sent a frame outside the protocol: ${data}`);
      // Unwrap batches so tests see the same stream either way.
      if (parsed.data.type === "batch") this.frames.push(...(parsed.data.frames as ServerFrame[]));
      else this.frames.push(parsed.data);
      this.wake();
    });
    ws.addEventListener("close", (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.wake();
    });
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(frame: unknown) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  of<T extends ServerFrame["type"]>(type: T): Extract<ServerFrame, { type: T }>[] {
    return this.frames.filter((f) => f.type === type) as Extract<ServerFrame, { type: T }>[];
  }

  /** Waits until `pred` holds; fails with what was received instead of hanging. */
  async until(pred: (c: Client) => boolean, what: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; received: ${this.raw.join("\n").slice(-2000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  comments() {
    return this.of("comment");
  }

  async close(code = 1000) {
    this.ws.close(code, "bye");
    await this.until((c) => c.closed !== null, "close");
  }
}

export async function connect(streamId: string, opts: { token?: string; query?: string; headers?: Record<string, string> } = {}) {
  const res = await upgrade(streamId, { token: opts.token ?? (await token()), query: opts.query, headers: opts.headers });
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade failed: ${res.status} ${await res.text()}`);
  const c = new Client(res.webSocket);
  await c.until((x) => x.of("history").length > 0, "welcome + history");
  return c;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function roomStub(streamId: string) {
  return env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(streamId));
}

/** True when this run of the suite holds sockets in fan-out shards (vitest.config.ts SHARD_MAX_SOCKETS > 0). */
export const SHARDED = Number((env as { SHARD_MAX_SOCKETS?: string }).SHARD_MAX_SOCKETS ?? "0") > 0;

/** The stream's fan-out shards (none when unsharded). */
export async function shardStubs(streamId: string): Promise<Array<DurableObjectStub<ChatShard>>> {
  const keys = await roomStub(streamId).shardKeys();
  return keys.map((k) => env.CHAT_SHARD.get(env.CHAT_SHARD.idFromName(k)));
}

/** Open sockets of a stream, wherever they are held: the room (unsharded) or its shards. */
export async function openSockets(streamId: string): Promise<number> {
  const count = (state: DurableObjectState) => state.getWebSockets().filter((ws) => ws.readyState === WebSocket.OPEN).length;
  let n = await runInDurableObject(roomStub(streamId), (_room: ChatRoom, state) => count(state));
  for (const shard of await shardStubs(streamId)) n += await runInDurableObject(shard, (_s: ChatShard, state) => count(state));
  return n;
}

/**
 * Gives one room other limits than the test config's (merged over the defaults of src/env.ts), so a
 * test's outcome does not depend on how fast a loaded machine sends frames. Sharded, the stream's
 * shards get the socket limits too (shards made later get them from the room at admission).
 */
export async function setLimits(
  stub: DurableObjectStub<ChatRoom>,
  overrides: Partial<Pick<Config, "RATE_LIMIT_PER_SEC" | "ROOM_MAX_MESSAGES_PER_SEC" | "ROOM_MAX_DELIVERIES_PER_SEC" | "SOCKET_MAX_FRAMES_PER_SEC" | "MAX_SOCKETS_PER_USER" | "MAX_VIEWERS_PER_STREAM" | "BATCH_MAX_WINDOW_MS" | "EDIT_WINDOW_S" | "ROOM_MAX_JOINS_PER_SEC" | "SLOW_CONSUMER_MAX_BEHIND" | "SLOW_CONSUMER_GRACE_MS">>,
  extra: Partial<Pick<RoomLimits, "sendCostUs">> = {},
): Promise<void> {
  const limits = () => ({ ...roomLimits({ ...loadConfig(env), ...overrides }), ...extra });
  await runInDurableObject(stub, (room: ChatRoom) => {
    (room as unknown as { limits: RoomLimits }).limits = limits();
  });
  for (const key of await stub.shardKeys()) {
    await runInDurableObject(env.CHAT_SHARD.get(env.CHAT_SHARD.idFromName(key)), (shard: ChatShard) => {
      (shard as unknown as { limits: RoomLimits }).limits = limits();
    });
  }
}

/** A token making its holder `role` of stream `sid` by claim (`stream_roles`), for user `sub`. */
export function staffToken(sid: string, role: "owner" | "moderator", sub = newUserId()): Promise<string> {
  return token({ sub, username: role === "owner" ? "streamer" : "moddy", claims: { stream_roles: { [sid]: role } } });
}

type AnswerFrame = Extract<ServerFrame, { type: "ack" }> | Extract<ServerFrame, { type: "error" }>;

/** Sends `frame` with a fresh client_msg_id and waits for its ack or error (failing with what arrived). */
export async function answer(c: Client, frame: Record<string, unknown>): Promise<AnswerFrame> {
  const id = crypto.randomUUID();
  c.send({ ...frame, client_msg_id: id });
  const pick = (x: Client) => x.frames.find((f): f is AnswerFrame => (f.type === "ack" || f.type === "error") && f.client_msg_id === id);
  await c.until((x) => pick(x) !== undefined, `answer to ${JSON.stringify(frame)}`);
  return pick(c)!;
}

/** POST /v1/streams/{sid}/chat/actions with bearer `t` and `body` (a moderation frame). */
export function postAction(sid: string, t: string, body: unknown): Promise<Response> {
  return fetchWorker(`/v1/streams/${sid}/chat/actions`, {
    method: "POST",
    headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** answer(), failing unless the frame was acknowledged. */
export async function acked(c: Client, frame: Record<string, unknown>): Promise<Extract<ServerFrame, { type: "ack" }>> {
  const r = await answer(c, frame);
  if (r.type !== "ack") throw new Error(`${JSON.stringify(frame)} refused: ${JSON.stringify(r)}`);
  return r;
}
