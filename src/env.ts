/**
 * The worker's configuration: bindings from wrangler.toml plus string variables/secrets,
 * validated once per isolate with zod. A bad value fails fast with the variable's name
 * (`JWT_JWKS_URL: Invalid URL`), and the worker answers 500 `misconfigured` instead of
 * half-working.
 */
import { z } from "zod";
import { DEFAULT_MAX_UPLOAD_BYTES } from "./rules/images";
import type { ChatRoom } from "./room";
import type { ChatShard } from "./shard";
import type { DeadLetters } from "./dead-letters";
import {
  DEFAULT_EDIT_WINDOW_S,
  DEFAULT_MAX_SOCKETS_PER_USER,
  DEFAULT_RATE_LIMIT_PER_SEC,
  DEFAULT_ROOM_MAX_DELIVERIES_PER_SEC,
  DEFAULT_ROOM_MAX_MESSAGES_PER_SEC,
  DEFAULT_SOCKET_MAX_FRAMES_PER_SEC,
} from "./protocol";
import { DEFAULT_ROOM_MAX_JOINS_PER_SEC } from "./rules/joins";
import { DEFAULT_SLOW_CONSUMER_GRACE_MS, DEFAULT_SLOW_CONSUMER_MAX_BEHIND } from "./rules/consumers";

/** Bindings declared in wrangler.toml, plus every variable the worker reads (all strings). */
export interface Env {
  CHAT_ROOM: DurableObjectNamespace<ChatRoom>;
  /** Fan-out shards of a stream (src/shard.ts), named `{stream_id}/{region}-{n}`; used when SHARD_MAX_SOCKETS > 0. */
  CHAT_SHARD: DurableObjectNamespace<ChatShard>;
  /** Queue of the Kafka relay (chat-events); the room's outbox feeds it, src/consumer.ts drains it. */
  CHAT_EVENTS: Queue<unknown>;
  /** Queue of the Redis history sink (chat-history); fed and drained like CHAT_EVENTS, independently. */
  CHAT_HISTORY: Queue<unknown>;
  /**
   * The one DeadLetters object (src/dead-letters.ts, name "dead-letters"): messages of the dead
   * letter queues chat-events-dlq and chat-history-dlq, parked for an operator to list and replay.
   */
  CHAT_DEAD_LETTERS: DurableObjectNamespace<DeadLetters>;
  /** R2 bucket of chat images, keys `uploads/{stream_id}/{upload_id}` (src/uploads.ts). */
  CHAT_UPLOADS: R2Bucket;
  /**
   * Workers Analytics Engine dataset chat_metrics (src/metrics.ts, README "Stats and metrics").
   * Optional: without it nothing is written and chat works the same.
   */
  CHAT_METRICS?: AnalyticsEngineDataset;
  ASSETS?: Fetcher;

  JWT_SECRET?: string;
  JWT_JWKS_URL?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
  ALLOWED_ORIGINS?: string;
  DEV_TOKENS?: string;
  RATE_LIMIT_PER_SEC?: string;
  /** Signs WebSocket tickets (src/tickets.ts); defaults to a key derived from JWT_SECRET. */
  TICKET_SECRET?: string;
  /** Messages per second one stream accepts in total; more → `room_busy` (default 100). */
  ROOM_MAX_MESSAGES_PER_SEC?: string;
  /** Sends per second to unbatched sockets one stream allows; caps its message rate by audience (default 30,000). */
  ROOM_MAX_DELIVERIES_PER_SEC?: string;
  /** Viewer joins per second one stream admits, burst the same; more → closed 1013 `joins_busy` (default 250; src/rules/joins.ts). */
  ROOM_MAX_JOINS_PER_SEC?: string;
  /** Sequenced events a `?seen=1` socket may be behind its last report (0 = off); src/rules/consumers.ts. */
  SLOW_CONSUMER_MAX_BEHIND?: string;
  /** How long (ms) such a socket may stay over that bound without reporting progress before it is closed 4408. */
  SLOW_CONSUMER_GRACE_MS?: string;
  /** Frames per second one socket may send, of any kind (default 20, burst 2×). */
  SOCKET_MAX_FRAMES_PER_SEC?: string;
  /** Sockets one user may hold open to one stream; the oldest is closed with 4429 (default 5). */
  MAX_SOCKETS_PER_USER?: string;
  /** How long an author may edit a comment, seconds (default 300). */
  EDIT_WINDOW_S?: string;
  /** Largest image upload, bytes (default 5 MiB = 5,242,880; at most 25 MiB: uploads are buffered). */
  MAX_UPLOAD_BYTES?: string;
  /** Image uploads per user per stream per minute, burst the same (default 10). */
  UPLOADS_PER_MIN?: string;
  /** Open sockets one stream accepts; viewers past it get 503 stream_full (default 30,000). */
  MAX_VIEWERS_PER_STREAM?: string;
  /**
   * Sockets one fan-out shard holds (default 5,000; at most 32,768, the platform's hibernatable
   * sockets per object). "0" turns shards off: the stream's ChatRoom holds every socket itself.
   */
  SHARD_MAX_SOCKETS?: string;
  /**
   * Longest coalescing window for `?batch=1` sockets, ms (default 25, DESIGN.md's bound; the window
   * itself adapts to the load: src/rules/limits.ts coalescingWindowMs). 0 = never coalesce. Above
   * 25 goes beyond DESIGN.md's contract: an operator's choice (BENCHMARKS.md "Latency").
   */
  BATCH_MAX_WINDOW_MS?: string;

  KAFKA_REST_URL?: string;
  KAFKA_REST_TOKEN?: string;
  KAFKA_REST_USER?: string;
  KAFKA_REST_PASSWORD?: string;
  KAFKA_CHAT_TOPIC?: string;

  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;

  DATABASE_URL?: string;
  NEON_WS_PROXY?: string;
  /** Cap of the queue consumer's retry backoff, seconds (default 60). */
  SINK_RETRY_MAX_DELAY_S?: string;
  /**
   * `max_retries` of the chat-events and chat-history consumers in wrangler.toml (default 100; keep
   * them equal): a delivery with attempts > this is the last, and its error is recorded for the
   * dead letter store (src/consumer.ts). The code cannot read wrangler.toml's value.
   */
  SINK_MAX_RETRIES?: string;
}

export { DEFAULT_MAX_UPLOAD_BYTES } from "./rules/images";
/** MAX_UPLOAD_BYTES ceiling: an upload is held in memory (128 MB per isolate) while it is checked. */
export const MAX_UPLOAD_BYTES_CEILING = 25 * 1024 * 1024;
/**
 * MAX_VIEWERS_PER_STREAM default: what one ChatRoom holds, below the platform's 32,768 hibernatable
 * sockets per object (DESIGN.md "Hot streams"; a stream beyond it needs fan-out shards, issue 12).
 */
export const DEFAULT_MAX_VIEWERS_PER_STREAM = 30_000;
/** SHARD_MAX_SOCKETS default (DESIGN.md "Hot streams and global viewers"). */
export const DEFAULT_SHARD_MAX_SOCKETS = 5_000;
/** SHARD_MAX_SOCKETS ceiling: hibernatable WebSockets per Durable Object (Cloudflare's published limit). */
export const SHARD_MAX_SOCKETS_CEILING = 32_768;
/** BATCH_MAX_WINDOW_MS default, ms: DESIGN.md "Batched delivery" (coalescing ≤ 25 ms). */
export const DEFAULT_BATCH_MAX_WINDOW_MS = 25;
/** SINK_MAX_RETRIES default: wrangler.toml's max_retries of chat-events and chat-history (a unit test holds them equal). */
export const DEFAULT_SINK_MAX_RETRIES = 100;
/** UPLOADS_PER_MIN default. */
export const DEFAULT_UPLOADS_PER_MIN = 10;

const blankToUndefined = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);
const optionalString = z.preprocess(blankToUndefined, z.string().optional());
const optionalUrl = z.preprocess(blankToUndefined, z.url().optional());
const bool = z.preprocess(
  blankToUndefined,
  z
    .enum(["true", "false", "1", "0"], { message: 'expected "true" or "false"' })
    .optional()
    .transform((v) => v === "true" || v === "1"),
);
const commaList = z.preprocess(
  blankToUndefined,
  z
    .string()
    .optional()
    .transform((v) =>
      v
        ? v
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean)
        : [],
    ),
);

const positiveInt = (fallback: number, max = 1_000_000) =>
  z.preprocess(blankToUndefined, z.coerce.number().int().positive().max(max).default(fallback));

const ConfigSchema = z
  .object({
    JWT_SECRET: z.preprocess(
      blankToUndefined,
      z.string().min(16, "must be at least 16 characters (HS256 key)").optional(),
    ),
    JWT_JWKS_URL: optionalUrl,
    JWT_ISSUER: optionalString,
    JWT_AUDIENCE: optionalString,
    ALLOWED_ORIGINS: commaList,
    DEV_TOKENS: bool,
    RATE_LIMIT_PER_SEC: z.preprocess(
      blankToUndefined,
      z.coerce.number().int().positive().max(1_000_000).default(DEFAULT_RATE_LIMIT_PER_SEC),
    ),
    TICKET_SECRET: z.preprocess(blankToUndefined, z.string().min(16, "must be at least 16 characters").optional()),
    ROOM_MAX_MESSAGES_PER_SEC: positiveInt(DEFAULT_ROOM_MAX_MESSAGES_PER_SEC),
    ROOM_MAX_DELIVERIES_PER_SEC: positiveInt(DEFAULT_ROOM_MAX_DELIVERIES_PER_SEC, 100_000_000),
    ROOM_MAX_JOINS_PER_SEC: positiveInt(DEFAULT_ROOM_MAX_JOINS_PER_SEC, 1_000_000),
    // The ring holds 200 events (src/mirror.ts HISTORY_SIZE): a bound past it could never resume exactly.
    SLOW_CONSUMER_MAX_BEHIND: z.preprocess(blankToUndefined, z.coerce.number().int().min(0).max(200).default(DEFAULT_SLOW_CONSUMER_MAX_BEHIND)),
    SLOW_CONSUMER_GRACE_MS: z.preprocess(blankToUndefined, z.coerce.number().int().min(0).max(600_000).default(DEFAULT_SLOW_CONSUMER_GRACE_MS)),
    SOCKET_MAX_FRAMES_PER_SEC: positiveInt(DEFAULT_SOCKET_MAX_FRAMES_PER_SEC),
    MAX_SOCKETS_PER_USER: positiveInt(DEFAULT_MAX_SOCKETS_PER_USER, 1_000),
    EDIT_WINDOW_S: positiveInt(DEFAULT_EDIT_WINDOW_S, 86_400),
    MAX_UPLOAD_BYTES: positiveInt(DEFAULT_MAX_UPLOAD_BYTES, MAX_UPLOAD_BYTES_CEILING),
    UPLOADS_PER_MIN: positiveInt(DEFAULT_UPLOADS_PER_MIN, 10_000),
    MAX_VIEWERS_PER_STREAM: positiveInt(DEFAULT_MAX_VIEWERS_PER_STREAM, 10_000_000),
    SHARD_MAX_SOCKETS: z.preprocess(blankToUndefined, z.coerce.number().int().min(0).max(SHARD_MAX_SOCKETS_CEILING).default(DEFAULT_SHARD_MAX_SOCKETS)),
    BATCH_MAX_WINDOW_MS: z.preprocess(blankToUndefined, z.coerce.number().int().min(0).max(1_000).default(DEFAULT_BATCH_MAX_WINDOW_MS)),
    KAFKA_REST_URL: optionalUrl,
    KAFKA_REST_TOKEN: optionalString,
    KAFKA_REST_USER: optionalString,
    KAFKA_REST_PASSWORD: optionalString,
    KAFKA_CHAT_TOPIC: z.preprocess(
      blankToUndefined,
      z
        .string()
        .regex(/^[a-zA-Z0-9._-]{1,249}$/, "expected a Kafka topic name")
        .default("streams.chat"),
    ),
    UPSTASH_REDIS_REST_URL: optionalUrl,
    UPSTASH_REDIS_REST_TOKEN: optionalString,
    DATABASE_URL: optionalString,
    NEON_WS_PROXY: optionalString,
    SINK_RETRY_MAX_DELAY_S: z.preprocess(blankToUndefined, z.coerce.number().int().min(1).max(43_200).default(60)),
    // Cloudflare Queues allow max_retries 0 … 100.
    SINK_MAX_RETRIES: z.preprocess(blankToUndefined, z.coerce.number().int().min(0).max(100).default(DEFAULT_SINK_MAX_RETRIES)),
  })
  .superRefine((c, ctx) => {
    if (!c.JWT_SECRET && !c.JWT_JWKS_URL) {
      ctx.addIssue({ code: "custom", path: ["JWT_SECRET"], message: "set JWT_SECRET and/or JWT_JWKS_URL" });
    }
    if (!c.JWT_SECRET && !c.TICKET_SECRET) {
      ctx.addIssue({ code: "custom", path: ["TICKET_SECRET"], message: "required when JWT_SECRET is not set (it signs WebSocket tickets)" });
    }
    if (c.DEV_TOKENS && !c.JWT_SECRET) {
      ctx.addIssue({ code: "custom", path: ["DEV_TOKENS"], message: "DEV_TOKENS=true needs JWT_SECRET to sign tokens" });
    }
    if (c.KAFKA_REST_USER && !c.KAFKA_REST_PASSWORD) {
      ctx.addIssue({ code: "custom", path: ["KAFKA_REST_PASSWORD"], message: "required with KAFKA_REST_USER" });
    }
    if (c.UPSTASH_REDIS_REST_URL && !c.UPSTASH_REDIS_REST_TOKEN) {
      ctx.addIssue({ code: "custom", path: ["UPSTASH_REDIS_REST_TOKEN"], message: "required with UPSTASH_REDIS_REST_URL" });
    }
  });

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

// Parsed once per env object (one per isolate in production; tests may pass their own).
const cache = new WeakMap<object, Config>();

export function loadConfig(env: Env): Config {
  const hit = cache.get(env);
  if (hit) return hit;
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "env"}: ${i.message}`).join("; ");
    throw new ConfigError(`invalid worker configuration: ${detail}`);
  }
  cache.set(env, parsed.data);
  return parsed.data;
}
