/**
 * The bridge's configuration, parsed once at start from the environment with zod. A bad value
 * fails fast and names the variable (`KAFKA_BROKERS: expected host:port, got "kafka"`).
 *
 *   BRIDGE_TOKEN       required. Bearer token for every route except /healthz (the /pg/v1
 *                      WebSocket route also takes it as `?token=`, see pg-proxy.ts).
 *   BRIDGE_PORT        default 8788 (0 = any free port).
 *   BRIDGE_HOST        default 127.0.0.1 (0.0.0.0 to serve other machines, e.g. in a container).
 *   KAFKA_BROKERS      comma list of host:port → Kafka REST proxy at POST /topics/{topic}.
 *   KAFKA_DEDUPE_WINDOW  default 250000: records remembered for requests that ask to be deduped
 *                      (header x-kafka-dedupe: record-bytes; src/bridge/produced.ts).
 *   REDIS_URL          redis://[user:password@]host:port[/db] (rediss:// for TLS)
 *                      → Upstash-compatible REST under /redis.
 *   REDIS_MAX_REQUEST_BYTES   default 4 MiB: larger /redis request bodies get 413.
 *   REDIS_MAX_COMMANDS        default 1000: commands per pipeline or transaction.
 *   REDIS_MAX_RESPONSE_BYTES  default 8 MiB: a request whose replies would be larger gets 400
 *                             instead of the data (see redis-rest.ts for how it is measured).
 *   PG_ALLOWED_ADDRS   comma list of host:port → WebSocket→TCP proxy at /pg/v1, to these only.
 *   BRIDGE_LOG_LEVEL   debug | info | warn | error | silent (default info).
 *
 * Each backend is optional: without its variable its routes answer 503 with a JSON error that
 * names the variable.
 */
import { z } from "zod";
import { DEFAULT_DEDUPE_WINDOW } from "./produced";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  /** Broker round-trip limit for one request (kafkajs requestTimeout). */
  requestTimeoutMs: number;
  /** kafkajs retries per send before the request fails (bounded, so an outage answers 5xx). */
  retries: number;
  /** Longest an HTTP produce request waits for Kafka before answering 503. */
  produceDeadlineMs: number;
  /** Records the dedupe window remembers (KAFKA_DEDUPE_WINDOW; src/bridge/produced.ts). */
  dedupeWindow: number;
}

export interface RedisConfig {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls: boolean;
  connectTimeoutMs: number;
  /** A request without its replies after this long answers 503 (a hung or stalled server). */
  commandTimeoutMs: number;
  /** Largest request body, in bytes (REDIS_MAX_REQUEST_BYTES). */
  maxRequestBytes: number;
  /** Most commands in one pipeline or transaction (REDIS_MAX_COMMANDS). */
  maxCommands: number;
  /** Largest response, in bytes of JSON as sent (REDIS_MAX_RESPONSE_BYTES). */
  maxResponseBytes: number;
}

/** Defaults of the Redis REST limits; the README's bridge table lists the same numbers. */
export const REDIS_LIMIT_DEFAULTS = {
  maxRequestBytes: 4 * 1024 * 1024,
  maxCommands: 1000,
  maxResponseBytes: 8 * 1024 * 1024,
} as const;

export interface PgProxyConfig {
  /** Normalised `host:port` (host lower-case) addresses the proxy may connect to. */
  allowed: string[];
  connectTimeoutMs: number;
}

export interface BridgeConfig {
  port: number;
  host: string;
  token: string;
  logLevel: LogLevel;
  kafka?: KafkaConfig;
  redis?: RedisConfig;
  pg?: PgProxyConfig;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid bridge configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

const blankToUndefined = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);

// host:port where host is a name, an IPv4 address or a bracketed IPv6 address.
const HOST_PORT_RE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

/** "Host:5432" → "host:5432"; null when it is not a valid host:port. */
export function normaliseHostPort(s: string): string | null {
  const m = HOST_PORT_RE.exec(s.trim());
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return `${m[1]!.toLowerCase()}:${port}`;
}

const hostPortList = z.preprocess(
  blankToUndefined,
  z
    .string()
    .transform((raw, ctx) => {
      const items = raw
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      const out: string[] = [];
      for (const item of items) {
        const norm = normaliseHostPort(item);
        if (!norm) {
          ctx.addIssue({ code: "custom", message: `expected host:port, got ${JSON.stringify(item)}` });
          return z.NEVER;
        }
        out.push(norm);
      }
      if (out.length === 0) {
        ctx.addIssue({ code: "custom", message: "expected a comma list of host:port" });
        return z.NEVER;
      }
      return out;
    })
    .optional(),
);

const redisUrl = z.preprocess(
  blankToUndefined,
  z
    .string()
    .transform((raw, ctx): Pick<RedisConfig, "host" | "port" | "username" | "password" | "db" | "tls"> => {
      let u: URL;
      try {
        u = new URL(raw);
      } catch {
        ctx.addIssue({ code: "custom", message: "expected redis://[user:password@]host:port[/db]" });
        return z.NEVER;
      }
      if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
        ctx.addIssue({ code: "custom", message: `expected a redis:// or rediss:// URL, got ${u.protocol}//` });
        return z.NEVER;
      }
      const db = u.pathname && u.pathname !== "/" ? Number(u.pathname.slice(1)) : 0;
      if (!Number.isInteger(db) || db < 0) {
        ctx.addIssue({ code: "custom", message: `expected a database number after the host, got ${u.pathname}` });
        return z.NEVER;
      }
      return {
        host: u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
        port: u.port ? Number(u.port) : 6379,
        username: u.username ? decodeURIComponent(u.username) : undefined,
        password: u.password ? decodeURIComponent(u.password) : undefined,
        db,
        tls: u.protocol === "rediss:",
      };
    })
    .optional(),
);

/** A positive whole number (bytes or a count) with a default; blank = the default. */
const positiveInt = (fallback: number) =>
  z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: "expected a positive whole number" })
      .int("expected a positive whole number")
      .min(1, "expected a positive whole number")
      .max(Number.MAX_SAFE_INTEGER, "expected a positive whole number")
      .default(fallback),
  );

const EnvSchema = z.object({
  BRIDGE_TOKEN: z.preprocess(
    blankToUndefined,
    z.string({ error: "required (the bearer token clients of the bridge must send)" }),
  ),
  BRIDGE_PORT: z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: "expected a port number" })
      .int("expected a port number")
      .min(0, "expected a port number (0-65535)")
      .max(65535, "expected a port number (0-65535)")
      .default(8788),
  ),
  BRIDGE_HOST: z.preprocess(blankToUndefined, z.string().default("127.0.0.1")),
  BRIDGE_LOG_LEVEL: z.preprocess(
    blankToUndefined,
    z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  ),
  KAFKA_BROKERS: hostPortList,
  KAFKA_DEDUPE_WINDOW: positiveInt(DEFAULT_DEDUPE_WINDOW),
  REDIS_URL: redisUrl,
  REDIS_MAX_REQUEST_BYTES: positiveInt(REDIS_LIMIT_DEFAULTS.maxRequestBytes),
  REDIS_MAX_COMMANDS: positiveInt(REDIS_LIMIT_DEFAULTS.maxCommands),
  REDIS_MAX_RESPONSE_BYTES: positiveInt(REDIS_LIMIT_DEFAULTS.maxResponseBytes),
  PG_ALLOWED_ADDRS: hostPortList,
});

/** Parses the bridge's variables; throws ConfigError listing every bad variable by name. */
export function loadConfig(env: Record<string, string | undefined> = process.env): BridgeConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join(".") || "env"}: ${i.message}`));
  }
  const e = parsed.data;
  return {
    port: e.BRIDGE_PORT,
    host: e.BRIDGE_HOST,
    token: e.BRIDGE_TOKEN,
    logLevel: e.BRIDGE_LOG_LEVEL,
    kafka: e.KAFKA_BROKERS
      ? {
          brokers: e.KAFKA_BROKERS,
          clientId: "edge-stream-chat-bridge",
          requestTimeoutMs: 5_000,
          retries: 4,
          produceDeadlineMs: 30_000,
          dedupeWindow: e.KAFKA_DEDUPE_WINDOW,
        }
      : undefined,
    redis: e.REDIS_URL
      ? {
          ...e.REDIS_URL,
          connectTimeoutMs: 2_000,
          commandTimeoutMs: 5_000,
          maxRequestBytes: e.REDIS_MAX_REQUEST_BYTES,
          maxCommands: e.REDIS_MAX_COMMANDS,
          maxResponseBytes: e.REDIS_MAX_RESPONSE_BYTES,
        }
      : undefined,
    pg: e.PG_ALLOWED_ADDRS ? { allowed: e.PG_ALLOWED_ADDRS, connectTimeoutMs: 5_000 } : undefined,
  };
}
