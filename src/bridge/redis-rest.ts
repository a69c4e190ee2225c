/**
 * Upstash-compatible REST in front of a real Redis, for local development and tests: the worker's
 * @upstash/redis client talks to `http://127.0.0.1:8788/redis` as it would to Upstash.
 *
 *   POST /redis             ["SET","k","v"]                 → {"result": ...}
 *   POST /redis/pipeline    [["SET","k","v"],["GET","k"]]   → [{"result": ...} | {"error": "..."}, ...]
 *   POST /redis/multi-exec  same body, run as MULTI … EXEC  → [{"result": ...} | {"error": "..."}, ...]
 *
 * What @upstash/redis (1.x, pkg/http.ts) sends and expects, and so what this does:
 * - command arguments are JSON strings, numbers or booleans; they become bulk strings. Numbers
 *   are passed on with exactly the digits of the request (`1.10` stays `1.10`,
 *   9007199254740993 stays itself): the body is parsed with lossless-json, never into doubles.
 * - `Upstash-Encoding: base64` (the client's default): every string in a result is base64 of its
 *   bytes (recursively inside arrays); numbers and null as they are; the client decodes every
 *   string except the literal "OK", which is therefore sent as it is. Without the header, strings
 *   are UTF-8 text. Integer replies are written with Redis's own digits (64-bit exact).
 * - a failed command answers 400 {"error": "<Redis error text>"} (the client throws
 *   UpstashError(body.error)); in a pipeline or transaction, each failed command is
 *   {"error": "..."} in place and the response is 200.
 * - Redis unreachable or not answering within the command timeout: 503 {"error": "..."}.
 *
 * What the bridge's token may do (issue 9 item 8: a token that could EVAL a looping script or
 * read 400 MiB in one request took Redis and the bridge down):
 * - only the commands in ALLOWED_COMMANDS run; anything else is refused with
 *   400 {"error": "ERR command not allowed: '<name>' …"} before any command of the request
 *   reaches Redis.
 * - request bodies, commands per request and response sizes are capped (config.ts). A response
 *   is measured while the replies come in: a pipeline is sent in windows holding at most
 *   READS_PER_WINDOW commands that read stored values, and the request stops (400, "response
 *   too large") once the replies pass the cap, so the bridge holds at most the cap plus one
 *   window of replies. A transaction's replies arrive together, so a transaction may hold at
 *   most READS_PER_WINDOW such commands.
 *
 * The connection is node-redis (`redis` v6): one client, raw commands through sendCommand,
 * replies mapped to Buffers (binary-safe) and integers to their decimal text; it reconnects by
 * itself when Redis restarts, and commands fail at once (503) while it is down.
 */
import { describeError } from "../errors";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isLosslessNumber, LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from "lossless-json";
import { createClient, ErrorReply, RESP_TYPES } from "redis";
import type { RedisConfig } from "./config";
import { HttpError, readBody } from "./http";
import type { Logger } from "./log";
import type { BridgeMetrics } from "./metrics";

/**
 * The only commands the bridge relays. `reads`: the reply carries stored values, so its size
 * depends on the data, not on the request (those are paced and counted, see above).
 * The product needs the sorted-set and hash commands of src/sinks/redis-history.ts (ZRANGE +
 * HMGET to read what a batch touches; ZREM, ZADD, HSET, ZREMRANGEBYRANK in one MULTI/EXEC to write;
 * ZRANGE BYSCORE REV LIMIT for the history API); the others are
 * what the test suites and local debugging use to check the endpoint (PING, GET/SET, INCR/INCRBY,
 * ZCARD). Transactions are the /redis/multi-exec route, never MULTI/EXEC commands.
 */
export const ALLOWED_COMMANDS: ReadonlyMap<string, { reads: boolean }> = new Map([
  ["ZADD", { reads: false }],
  ["ZREMRANGEBYRANK", { reads: false }],
  ["ZREM", { reads: false }],
  ["HSET", { reads: false }],
  ["HMGET", { reads: true }],
  ["ZRANGE", { reads: true }],
  ["ZCARD", { reads: false }],
  ["GET", { reads: true }],
  ["SET", { reads: true }], // SET … GET answers the old value
  ["INCR", { reads: false }],
  ["INCRBY", { reads: false }],
  ["PING", { reads: false }], // PING <message> echoes at most what the request carried
]);

/** Commands that read stored values per window of a pipeline, and per transaction. */
export const READS_PER_WINDOW = 8;

export type RedisEndpoint = "single" | "pipeline" | "multi-exec";

/** A reply as node-redis decodes it with REPLY_TYPES: strings are Buffers, integers decimal text. */
type Reply = Buffer | string | null | ErrorReply | Reply[];

/** One command's outcome: its reply, or Redis's error reply for it. */
type Outcome = { reply: Reply } | { error: string };

// Simple strings as Buffers too: @upstash/redis treats a status and a bulk string alike (it decodes
// every string but "OK"), and a JS string then always means an integer, kept as its exact digits.
const REPLY_TYPES = {
  [RESP_TYPES.BLOB_STRING]: Buffer,
  [RESP_TYPES.SIMPLE_STRING]: Buffer,
  [RESP_TYPES.NUMBER]: String,
} as const;

/** Redis is down, not answering, or the client is closed: the request answers 503. */
export class RedisUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RedisUnavailableError";
  }
}

const redisError = (status: number, error: string) => new HttpError(status, { error });

// ---------------------------------------------------------------------------------------------
// The connection
// ---------------------------------------------------------------------------------------------

/**
 * The bridge's one Redis connection (node-redis). Connecting starts at once and never blocks the
 * bridge: until Redis answers, and whenever it is down, commands fail at once with
 * RedisUnavailableError (no offline queue, so a request never waits for an outage to end), while
 * the client reconnects in the background (100 ms doubling to 2 s between attempts).
 */
export class RedisConnection {
  private readonly client;
  /** An outage has been logged (node-redis reports every failed reconnect attempt). */
  private loggedDown = false;
  private closed = false;
  /** Settles when the first connection attempt has succeeded or failed. */
  private readonly firstAttempt: Promise<void>;

  constructor(config: RedisConfig, log: Logger) {
    const where = `${config.host}:${config.port}`;
    this.client = createClient({
      socket: {
        host: config.host,
        port: config.port,
        ...(config.tls ? { tls: true as const, servername: config.host } : {}),
        connectTimeout: config.connectTimeoutMs,
        // A server that stops answering: no traffic (not even the PINGs below) for this long
        // drops the connection, and the client reconnects.
        socketTimeout: config.commandTimeoutMs,
        reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2_000),
      },
      // node-redis 6 speaks RESP3 by default; Upstash's replies have RESP2's shapes (ZRANGE …
      // WITHSCORES is a flat [member, score, …], not pairs), so the bridge asks for RESP2.
      RESP: 2,
      username: config.username,
      password: config.password,
      database: config.db || undefined,
      disableOfflineQueue: true,
      pingInterval: 1_000,
      commandsQueueMaxLength: 100_000,
      commandOptions: { typeMapping: REPLY_TYPES },
    });
    this.client.on("ready", () => {
      this.loggedDown = false;
      log.info("redis connected", { at: where });
    });
    this.client.on("error", (err: Error) => {
      if (!this.loggedDown) log.warn("redis unavailable", { at: where, error: err.message });
      this.loggedDown = true;
    });
    this.firstAttempt = new Promise<void>((resolve) => {
      this.client.once("ready", resolve);
      this.client.once("error", () => resolve());
    });
    this.client.connect().catch((err: unknown) => {
      if (!this.closed) log.error("redis client stopped", { error: describeError(err) });
    });
  }

  /**
   * Sends one command; resolves with its reply or Redis's error reply, rejects with
   * RedisUnavailableError when there is no usable connection. Commands sent in the same tick
   * with the same `chainId` are written to Redis back to back (node-redis's chain), which is
   * what keeps MULTI … EXEC whole on the shared connection.
   */
  async send(args: readonly string[], chainId?: symbol): Promise<Outcome> {
    // A request that arrives while the bridge is still making its first connection waits for
    // that attempt (bounded by the connect timeout) instead of failing; later outages fail fast.
    if (!this.client.isReady) await this.firstAttempt;
    try {
      const reply = await this.client.sendCommand<Reply>(args, chainId ? { chainId } : undefined);
      return { reply };
    } catch (err) {
      if (err instanceof ErrorReply) return { error: err.message };
      throw new RedisUnavailableError((err as Error)?.message || String(err), { cause: err });
    }
  }

  /** Closes the connection at once (the server has already drained its requests). */
  close(): void {
    this.closed = true;
    if (this.client.isOpen) this.client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Request → commands
// ---------------------------------------------------------------------------------------------

/** Validates one command: a non-empty array of strings, numbers (digits kept) and booleans. */
function toCommand(v: unknown, where: string, index: number | null): string[] {
  if (!Array.isArray(v) || v.length === 0) {
    throw redisError(400, `ERR ${where}: expected a command as a non-empty JSON array`);
  }
  if (typeof v[0] !== "string") throw redisError(400, `ERR ${where}: the command name must be a string`);
  const args = v.map((a: unknown, i) => {
    if (typeof a === "string") return a;
    if (isLosslessNumber(a)) return (a as LosslessNumber).value;
    if (typeof a === "boolean") return String(a);
    throw redisError(400, `ERR ${where}: argument ${i} must be a string, number or boolean`);
  });
  const name = args[0]!.toUpperCase();
  if (!ALLOWED_COMMANDS.has(name)) {
    const at = index === null ? "" : ` (command ${index})`;
    throw redisError(
      400,
      `ERR command not allowed: '${args[0]!.slice(0, 64)}'${at}; this endpoint relays only ${[...ALLOWED_COMMANDS.keys()].join(", ")}`,
    );
  }
  return args;
}

/** Parses and checks the whole request before anything is sent to Redis. */
function toCommands(body: unknown, endpoint: RedisEndpoint, maxCommands: number): string[][] {
  if (endpoint === "single") return [toCommand(body, "body", null)];
  if (!Array.isArray(body) || body.length === 0) {
    throw redisError(400, `ERR ${endpoint}: expected a non-empty JSON array of commands`);
  }
  if (body.length > maxCommands) {
    throw redisError(400, `ERR ${endpoint}: at most ${maxCommands} commands per request (REDIS_MAX_COMMANDS)`);
  }
  const commands = body.map((c, i) => toCommand(c, `command ${i}`, i));
  if (endpoint === "multi-exec") {
    const reads = commands.filter((c) => ALLOWED_COMMANDS.get(c[0]!.toUpperCase())!.reads).length;
    if (reads > READS_PER_WINDOW) {
      throw redisError(
        400,
        `ERR multi-exec: at most ${READS_PER_WINDOW} commands that read values (${[...ALLOWED_COMMANDS].filter(([, c]) => c.reads).map(([n]) => n).join(", ")}) per transaction; use /redis/pipeline`,
      );
    }
  }
  return commands;
}

// ---------------------------------------------------------------------------------------------
// Replies → JSON
// ---------------------------------------------------------------------------------------------

type Json = string | LosslessNumber | null | Json[] | { [k: string]: Json };

/** A reply as the JSON Upstash returns (see the encoding rules above). */
function replyToJson(r: Reply, base64: boolean): Json {
  if (r === null) return null;
  if (typeof r === "string") return new LosslessNumber(r); // integer reply, Redis's digits
  if (r instanceof ErrorReply) return replyToJson(Buffer.from(r.message, "utf8"), base64);
  if (Array.isArray(r)) return r.map((x) => replyToJson(x, base64));
  if (!base64) return r.toString("utf8");
  return r.length === 2 && r[0] === 0x4f && r[1] === 0x4b ? "OK" : r.toString("base64");
}

/** A lower bound of the bytes `replyToJson` gives for this reply (escapes not counted). */
function jsonSize(r: Reply, base64: boolean): number {
  if (r === null) return 4;
  if (typeof r === "string") return r.length;
  if (r instanceof ErrorReply) return 2 + r.message.length;
  if (Array.isArray(r)) return r.reduce((n: number, x) => n + jsonSize(x, base64) + 1, 2);
  return 2 + (base64 ? 4 * Math.ceil(r.length / 3) : r.length);
}

const outcomeSize = (o: Outcome, base64: boolean) => ("error" in o ? 12 + o.error.length : 12 + jsonSize(o.reply, base64));

const entry = (o: Outcome, base64: boolean): Json => ("error" in o ? { error: o.error } : { result: replyToJson(o.reply, base64) });

function tooLarge(max: number, detail = ""): HttpError {
  return redisError(
    400,
    `ERR response too large: the replies come to more than ${max} bytes (the bridge's REDIS_MAX_RESPONSE_BYTES)${detail}; read less per request`,
  );
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

// ---------------------------------------------------------------------------------------------
// Running a request
// ---------------------------------------------------------------------------------------------

/**
 * A pipeline, in order, in windows of at most READS_PER_WINDOW commands that read values; the
 * running size is checked after each window, so an oversized response stops early.
 */
async function runPipeline(conn: RedisConnection, commands: string[][], base64: boolean, max: number): Promise<Outcome[]> {
  const out: Outcome[] = [];
  let size = 2;
  let i = 0;
  while (i < commands.length) {
    let end = i;
    let reads = 0;
    while (end < commands.length) {
      const isRead = ALLOWED_COMMANDS.get(commands[end]![0]!.toUpperCase())!.reads;
      if (isRead && reads === READS_PER_WINDOW) break;
      if (isRead) reads++;
      end++;
    }
    const window = await Promise.all(commands.slice(i, end).map((c) => conn.send(c)));
    for (const o of window) size += outcomeSize(o, base64) + 1;
    if (size > max) {
      const ran = end === commands.length ? "" : ` (commands 0-${end - 1} ran, the rest did not)`;
      throw tooLarge(max, ran);
    }
    out.push(...window);
    i = end;
  }
  return out;
}

/** MULTI, the commands and EXEC as one chain; the EXEC reply, or the reason it aborted. */
async function runTransaction(conn: RedisConnection, commands: string[][]): Promise<Outcome[]> {
  const chainId = Symbol("multi-exec");
  const sent = [["MULTI"], ...commands, ["EXEC"]].map((c) => conn.send(c, chainId));
  const outcomes = await Promise.all(sent);
  const exec = outcomes[outcomes.length - 1]!;
  if ("error" in exec || !Array.isArray(exec.reply)) {
    const queueError = outcomes.slice(1, -1).find((o): o is { error: string } => "error" in o);
    const why = "error" in exec ? exec.error : "EXECABORT transaction aborted";
    throw redisError(400, queueError ? `${queueError.error} (${why})` : why);
  }
  return exec.reply.map((r) => (r instanceof ErrorReply ? { error: r.message } : { reply: r }));
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisUnavailableError(`no reply from Redis within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export interface RedisRouteDeps {
  /** Null when REDIS_URL is not set. */
  redis: { connection: RedisConnection; config: RedisConfig } | null;
  log: Logger;
  metrics: BridgeMetrics;
}

/**
 * Handles POST /redis, /redis/pipeline and /redis/multi-exec. Expected failures are thrown as
 * HttpError with Upstash's {"error"} body: 400 bad request, command not allowed, Redis error or
 * response too large; 413 body too large; 405 not POST; 503 Redis not configured or unavailable.
 */
export async function handleRedis(
  req: IncomingMessage,
  res: ServerResponse,
  endpoint: RedisEndpoint,
  deps: RedisRouteDeps,
): Promise<void> {
  if (req.method !== "POST") throw new HttpError(405, { error: "ERR only POST is supported" }, { allow: "POST" });
  if (!deps.redis) throw redisError(503, "ERR Redis is not configured on this bridge (set REDIS_URL)");
  const { connection, config } = deps.redis;
  const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
  const raw = await readBody(req, config.maxRequestBytes, () =>
    redisError(413, `ERR request body larger than ${config.maxRequestBytes} bytes (the bridge's REDIS_MAX_REQUEST_BYTES)`),
  );
  let body: unknown;
  try {
    body = parseLossless(raw.toString("utf8"));
  } catch (err) {
    throw redisError(400, `ERR failed to parse the request body as JSON: ${(err as Error).message}`);
  }
  const label = { endpoint };
  let commands: string[][];
  try {
    commands = toCommands(body, endpoint, config.maxCommands);
  } catch (err) {
    deps.metrics.redisCommands.inc({ ...label, result: "refused" });
    throw err;
  }

  let outcomes: Outcome[];
  try {
    outcomes = await withDeadline(
      endpoint === "multi-exec"
        ? runTransaction(connection, commands)
        : runPipeline(connection, commands, base64, config.maxResponseBytes),
      config.commandTimeoutMs,
    );
  } catch (err) {
    if (err instanceof RedisUnavailableError) {
      deps.metrics.redisCommands.inc({ ...label, result: "unavailable" }, commands.length);
      deps.metrics.errors.inc({ component: "redis", kind: "unavailable" });
      deps.log.warn("redis unavailable", { error: err.message });
      throw redisError(503, `ERR Redis unavailable: ${err.message}`);
    }
    deps.metrics.redisCommands.inc({ ...label, result: "error" }, commands.length);
    throw err;
  }
  for (const o of outcomes) deps.metrics.redisCommands.inc({ ...label, result: "error" in o ? "error" : "ok" });

  let json: Json;
  if (endpoint === "single") {
    const o = outcomes[0]!;
    if ("error" in o) throw redisError(400, o.error);
    json = { result: replyToJson(o.reply, base64) };
  } else {
    // A transaction's size is only known now (its replies came in one EXEC reply).
    const size = outcomes.reduce((n, o) => n + outcomeSize(o, base64) + 1, 2);
    if (size > config.maxResponseBytes) throw tooLarge(config.maxResponseBytes);
    json = outcomes.map((o) => entry(o, base64));
  }
  const text = stringifyLossless(json)!;
  // The running count leaves out JSON escapes; this is the exact figure.
  if (Buffer.byteLength(text) > config.maxResponseBytes) throw tooLarge(config.maxResponseBytes);
  sendText(res, 200, text);
}
