/**
 * Upstash-compatible REST in front of a real Redis, for local development and tests: the worker's
 * @upstash/redis client talks to `http://127.0.0.1:8788/redis` as it would to Upstash.
 *
 *   POST /redis             ["SET","k","v"]                 → {"result": ...}
 *   POST /redis/pipeline    [["SET","k","v"],["GET","k"]]   → [{"result": ...} | {"error": "..."}, ...]
 *   POST /redis/multi-exec  same body, run as MULTI … EXEC  → [{"result": ...} | {"error": "..."}, ...]
 *
 * What @upstash/redis (1.x, pkg/http.ts) sends and expects, and so what this does:
 * - command arguments are JSON strings, numbers or booleans; they become bulk strings.
 * - `Upstash-Encoding: base64` (the client's default): every string in a result is base64 of its
 *   bytes (recursively inside arrays); numbers and null as they are. The client decodes every
 *   string except the literal "OK", so the status reply OK is sent as "OK" and other status
 *   replies (PONG, QUEUED, …) base64-encoded like bulk strings. Without the header, strings are
 *   UTF-8 text.
 * - a failed command answers 400 {"error": "<Redis error text>"} (the client throws
 *   UpstashError(body.error)); in a pipeline or transaction, each failed command is
 *   {"error": "..."} in place and the response is 200.
 * - Redis unreachable: 503 {"error": "..."}.
 *
 * All requests share one pipelined connection (resp.ts). Commands that would change that
 * connection's state or block it for everyone (MULTI outside /multi-exec, SELECT, SUBSCRIBE,
 * BLPOP, CLIENT, …) and server administration commands are refused with 400.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError, readBody, sendJson } from "./http";
import type { Logger } from "./log";
import type { BridgeMetrics } from "./metrics";
import { RespConnectionError, RespError, type RespArg, type RespClient, type RespReply } from "./resp";

const MAX_BODY_BYTES = 10 * 1024 * 1024;
const MAX_PIPELINE = 10_000;

const REFUSED = new Set([
  // transactions and connection state (one connection is shared by every request)
  "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "SELECT", "SWAPDB", "AUTH", "HELLO", "QUIT", "RESET",
  "CLIENT", "READONLY", "READWRITE",
  // push protocols and blocking commands (they would hold the shared connection)
  "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR",
  "SYNC", "PSYNC", "REPLCONF", "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN",
  "BZPOPMAX", "BZMPOP", "WAIT", "WAITAOF",
  // server administration
  "SHUTDOWN", "DEBUG", "MODULE", "CONFIG", "ACL", "REPLICAOF", "SLAVEOF", "FAILOVER", "SAVE",
  "BGSAVE", "BGREWRITEAOF", "MIGRATE", "CLUSTER",
]);

const rawJSON = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;

const redisError = (status: number, error: string) => new HttpError(status, { error });

export type RedisEndpoint = "single" | "pipeline" | "multi-exec";

export interface RedisRouteDeps {
  client: RespClient | null;
  log: Logger;
  metrics: BridgeMetrics;
}

/** Validates one command: a non-empty array of strings, numbers and booleans. */
function toCommand(v: unknown, where: string): RespArg[] {
  if (!Array.isArray(v) || v.length === 0) {
    throw redisError(400, `ERR ${where}: expected a command as a non-empty JSON array`);
  }
  const args = v.map((a, i) => {
    if (typeof a === "string") return a;
    if (typeof a === "number" || typeof a === "boolean") return String(a);
    throw redisError(400, `ERR ${where}: argument ${i} must be a string, number or boolean`);
  });
  const name = args[0]!.toUpperCase();
  if (REFUSED.has(name) || ((name === "XREAD" || name === "XREADGROUP") && args.some((a) => a.toUpperCase() === "BLOCK"))) {
    throw redisError(400, `ERR command '${args[0]}' is not supported by the bridge's Redis REST endpoint`);
  }
  return args;
}

/** A RESP reply as the JSON Upstash returns (see the encoding rules above). */
export function replyToJson(r: RespReply, base64: boolean): unknown {
  if (r === null) return null;
  if (typeof r === "number") return r;
  if (typeof r === "bigint") return rawJSON ? rawJSON(r.toString()) : r.toString();
  if (Buffer.isBuffer(r)) return base64 ? r.toString("base64") : r.toString("utf8");
  if (typeof r === "string") return base64 && r !== "OK" ? Buffer.from(r, "utf8").toString("base64") : r;
  if (r instanceof RespError) return replyToJson(r.message, base64);
  if (Array.isArray(r)) return r.map((x: RespReply) => replyToJson(x, base64));
  return null;
}

const entry = (r: RespReply, base64: boolean) =>
  r instanceof RespError ? { error: r.message } : { result: replyToJson(r, base64) };

export async function handleRedis(
  req: IncomingMessage,
  res: ServerResponse,
  endpoint: RedisEndpoint,
  deps: RedisRouteDeps,
): Promise<void> {
  if (req.method !== "POST") throw new HttpError(405, { error: "ERR only POST is supported" }, { allow: "POST" });
  if (!deps.client) throw redisError(503, "ERR Redis is not configured on this bridge (set REDIS_URL)");
  const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
  const raw = await readBody(req, MAX_BODY_BYTES, () => redisError(413, "ERR request body too large"));
  let body: unknown;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch (err) {
    throw redisError(400, `ERR failed to parse the request body as JSON: ${(err as Error).message}`);
  }

  const commands: RespArg[][] =
    endpoint === "single"
      ? [toCommand(body, "body")]
      : (() => {
          if (!Array.isArray(body) || body.length === 0) {
            throw redisError(400, `ERR ${endpoint}: expected a non-empty JSON array of commands`);
          }
          if (body.length > MAX_PIPELINE) throw redisError(400, `ERR ${endpoint}: at most ${MAX_PIPELINE} commands`);
          return body.map((c, i) => toCommand(c, `command ${i}`));
        })();
  const label = { endpoint };

  let replies: RespReply[];
  try {
    replies = await deps.client.batch(endpoint === "multi-exec" ? [["MULTI"], ...commands, ["EXEC"]] : commands);
  } catch (err) {
    deps.metrics.redisCommands.inc({ ...label, result: "unavailable" }, commands.length);
    if (err instanceof RespConnectionError) {
      deps.metrics.errors.inc({ component: "redis", kind: "unavailable" });
      deps.log.warn("redis unavailable", { error: err.message });
      throw redisError(503, `ERR Redis unavailable: ${err.message}`);
    }
    throw err;
  }

  if (endpoint === "single") {
    const r = replies[0]!;
    deps.metrics.redisCommands.inc({ ...label, result: r instanceof RespError ? "error" : "ok" });
    if (r instanceof RespError) throw redisError(400, r.message);
    sendJson(res, 200, { result: replyToJson(r, base64) });
    return;
  }

  if (endpoint === "pipeline") {
    for (const r of replies) deps.metrics.redisCommands.inc({ ...label, result: r instanceof RespError ? "error" : "ok" });
    sendJson(res, 200, replies.map((r) => entry(r, base64)));
    return;
  }

  // multi-exec: [OK, QUEUED | error per command, EXEC reply]
  const exec = replies[replies.length - 1]!;
  if (!Array.isArray(exec)) {
    deps.metrics.redisCommands.inc({ ...label, result: "error" }, commands.length);
    const queueError = replies.slice(1, -1).find((r): r is RespError => r instanceof RespError);
    const why = exec instanceof RespError ? exec.message : "EXECABORT transaction aborted";
    throw redisError(400, queueError ? `${queueError.message} (${why})` : why);
  }
  for (const r of exec) deps.metrics.redisCommands.inc({ ...label, result: r instanceof RespError ? "error" : "ok" });
  sendJson(res, 200, exec.map((r) => entry(r, base64)));
}
