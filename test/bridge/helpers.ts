/**
 * Helpers for the bridge suites. They run against the real services of `npm run services:up`
 * (Redis 127.0.0.1:6379, Postgres 127.0.0.1:5432, Kafka 127.0.0.1:9092); addresses can be
 * overridden with REDIS_URL / DATABASE_URL / KAFKA_BROKERS.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { loadConfig, type BridgeConfig } from "../../src/bridge/config";
import { createLogger } from "../../src/bridge/log";
import { startBridge, type RunningBridge } from "../../src/bridge/server";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const execFileP = promisify(execFile);

export const SERVICES = {
  redisUrl: process.env.REDIS_URL || "redis://127.0.0.1:6379",
  databaseUrl: process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test",
  kafkaBrokers: process.env.KAFKA_BROKERS || "127.0.0.1:9092",
  pgAddr: (() => {
    const u = new URL(process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test");
    return `${u.hostname}:${u.port || 5432}`;
  })(),
};

export const randomToken = () => randomBytes(18).toString("base64url");
export const uniq = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;

export interface TestBridge extends RunningBridge {
  token: string;
  config: BridgeConfig;
  /** Authorization header value. */
  auth: string;
}

/** Starts the bridge in this process on a free port; env overrides go through loadConfig. */
export async function startTestBridge(env: Record<string, string | undefined> = {}): Promise<TestBridge> {
  const token = env.BRIDGE_TOKEN ?? randomToken();
  const config = loadConfig({
    BRIDGE_TOKEN: token,
    BRIDGE_PORT: "0",
    KAFKA_BROKERS: SERVICES.kafkaBrokers,
    REDIS_URL: SERVICES.redisUrl,
    PG_ALLOWED_ADDRS: SERVICES.pgAddr,
    ...env,
  });
  const level = (process.env.BRIDGE_TEST_LOG as "debug" | "info" | "warn" | undefined) ?? "silent";
  const running = await startBridge(config, { logger: createLogger(level) });
  return { ...running, token, config, auth: `Bearer ${token}` };
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `fn` until it returns a truthy value; fails with the last error after `ms`. */
export async function eventually<T>(fn: () => Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

export interface KcatRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  payload: string | null;
}

/**
 * Reads records with kcat (librdkafka: an independent client, not the kafkajs the bridge uses).
 * `-J` prints one JSON envelope per record; `-e` exits at the end of the partition(s).
 */
export async function kcatRead(opts: {
  brokers: string;
  topic: string;
  partition?: number;
  offset?: number | "beginning";
  count?: number;
}): Promise<KcatRecord[]> {
  const args = ["-C", "-b", opts.brokers, "-t", opts.topic, "-J", "-e", "-q", "-o", String(opts.offset ?? "beginning")];
  if (opts.partition !== undefined) args.push("-p", String(opts.partition));
  if (opts.count !== undefined) args.push("-c", String(opts.count));
  const { stdout } = await execFileP("kcat", args, { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
  return stdout
    .split("\n")
    .filter((l) => l.trim().startsWith("{"))
    .map((l) => JSON.parse(l) as KcatRecord);
}

/** Runs scripts/services.sh with extra environment; resolves with its output. */
export function services(args: string[], env: Record<string, string> = {}, timeoutMs = 180_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [path.join(ROOT, "scripts/services.sh"), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`services.sh ${args.join(" ")} exited ${code}:\n${out}`));
    });
  });
}

export const PRODUCE_TYPE = "application/vnd.kafka.json.v2+json";

export interface ProduceResult {
  status: number;
  body: {
    offsets?: Array<{ partition: number | null; offset: number | null; error_code: number | null; error: string | null }>;
    error_code?: number;
    message?: string;
  };
}

/** POST /topics/{topic} as the worker does. */
export async function produce(
  bridge: { url: string; auth: string },
  topic: string,
  records: unknown[],
  init: { contentType?: string; auth?: string | null; rawBody?: string } = {},
): Promise<ProduceResult> {
  const headers: Record<string, string> = { "content-type": init.contentType ?? PRODUCE_TYPE };
  const auth = init.auth === undefined ? bridge.auth : init.auth;
  if (auth) headers.authorization = auth;
  const res = await fetch(`${bridge.url}/topics/${encodeURIComponent(topic)}`, {
    method: "POST",
    headers,
    body: init.rawBody ?? JSON.stringify({ records }),
  });
  return { status: res.status, body: (await res.json()) as ProduceResult["body"] };
}

/** A chat event exactly as the worker's queue consumer sends it (DESIGN "Events and history"). */
export function chatEvent(streamId: string, message: string) {
  return {
    event_type: "stream_chat_message",
    stream_id: streamId,
    user_id: "5f0c7a4e-8d1b-4c52-9a57-6c1f0e0b7d21",
    username: "alice",
    message,
    created_at: new Date().toISOString(),
    comment_id: crypto.randomUUID(),
  };
}
