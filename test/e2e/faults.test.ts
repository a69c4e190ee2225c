/**
 * Faults on real services. This file runs its own Redis (with an append-only file, so a restart
 * keeps data like a real deployment) and its own Kafka broker (services.sh KAFKA_INSTANCE=e2e-faults),
 * so stopping them does not disturb anything else. The worker's retry backoff is capped at 2 s.
 *
 * Each sink has its own queue (chat-events → Kafka, chat-history → Redis), so one sink's outage
 * must neither duplicate events in the other nor rewrite it: checked with Kafka's own records
 * (duplicate comment_ids) and with Redis's MONITOR (ZADD commands per event), both independent of
 * the worker's code.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "@upstash/redis";
import { devToken, freePort, startWorker, type RunningWorker } from "../support/worker";
import { startBridge, workerVarsFor, type RunningBridge } from "../support/bridge";
import { ChatSocket, eventually } from "../support/chat";
import { toQueueEvent, type ChatEvent, type QueueEvent, type SeqComment } from "../../src/protocol";
import { RedisHistorySink, historyKey } from "../../src/sinks/redis-history";

const ROOT = resolve(import.meta.dirname, "../..");
let kafkaPort: number;
let controllerPort: number;
let redisPort: number;
let redisDir: string;
let redisProc: ChildProcess | null = null;
let bridge: RunningBridge;
let worker: RunningWorker;

/** `redis-cli MONITOR` on this file's Redis: every command Redis executes, as Redis prints it. */
async function monitorRedis(): Promise<{ zadds(key: string): number; stop(): void }> {
  const child = spawn("redis-cli", ["-p", String(redisPort), "MONITOR"], { stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
  await eventually(async () => out, (o) => o.startsWith("OK"), "redis-cli MONITOR to start", 10_000);
  return {
    // One ZADD per event is a write; more means the history sink was fed the same event again.
    zadds: (key) => out.split("\n").filter((l) => new RegExp(`"zadd" "${key}"`, "i").test(l)).length,
    stop: () => void child.kill("SIGKILL"),
  };
}

/** Queue-consumer retry warnings the worker logged after log offset `from` (one per retried batch). */
function retryWarnings(from: number): number {
  return (worker.logs().slice(from).match(/queue consumer[^\n]*will be retried/g) ?? []).length;
}

function kafkaCtl(cmd: "kafka-up" | "kafka-down") {
  execFileSync("bash", ["scripts/services.sh", cmd], {
    cwd: ROOT,
    env: { ...process.env, KAFKA_INSTANCE: "e2e-faults", KAFKA_PORT: String(kafkaPort), KAFKA_CONTROLLER_PORT: String(controllerPort) },
    stdio: "inherit",
  });
}

async function redisUp() {
  redisProc = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--dir", redisDir], {
    stdio: "ignore",
  });
  await eventually(async () => execFileSync("redis-cli", ["-p", String(redisPort), "PING"], { encoding: "utf8" }).trim(), (v) => v === "PONG", "redis up", 10_000);
}

async function redisDown() {
  const p = redisProc;
  redisProc = null;
  if (!p || p.exitCode !== null) return;
  const exited = new Promise((r) => p.once("exit", r));
  p.kill("SIGKILL");
  await exited;
}

async function kafkaEvents(streamId: string): Promise<ChatEvent[]> {
  const kafka = new Kafka({ clientId: "faults-reader", brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets("streams.chat");
  await admin.disconnect();
  const total = offsets.reduce((n, o) => n + Number(o.high), 0);
  const consumer = kafka.consumer({ groupId: `faults-${crypto.randomUUID()}` });
  const out: Array<{ key: string; value: ChatEvent }> = [];
  await consumer.connect();
  await consumer.subscribe({ topic: "streams.chat", fromBeginning: true });
  let read = 0;
  await consumer.run({
    eachMessage: async ({ message }) => {
      read++;
      out.push({ key: message.key!.toString("utf8"), value: JSON.parse(message.value!.toString()) });
    },
  });
  const deadline = Date.now() + 20_000;
  while (read < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await consumer.disconnect();
  return out.filter((m) => m.key === streamId).map((m) => m.value);
}

beforeAll(async () => {
  kafkaPort = await freePort();
  controllerPort = await freePort();
  redisPort = await freePort();
  redisDir = mkdtempSync(join(tmpdir(), "chat-redis-"));
  kafkaCtl("kafka-up");
  await redisUp();
  bridge = await startBridge({
    KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`,
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    PG_ALLOWED_ADDRS: "127.0.0.1:5432",
  });
  // Limits raised so that a burst of 100 messages from one socket is accepted whole.
  worker = await startWorker({
    vars: {
      ...workerVarsFor(bridge),
      RATE_LIMIT_PER_SEC: "1000",
      SOCKET_MAX_FRAMES_PER_SEC: "1000",
      ROOM_MAX_MESSAGES_PER_SEC: "1000",
      SINK_RETRY_MAX_DELAY_S: "2",
    },
  });
}, 240_000);

afterAll(async () => {
  await worker?.stop();
  await bridge?.stop();
  await redisDown();
  try {
    kafkaCtl("kafka-down");
  } catch {
    // best effort
  }
  rmSync(redisDir, { recursive: true, force: true });
}, 120_000);

async function history(sid: string, token: string): Promise<SeqComment[]> {
  const res = await fetch(`${worker.url}/v1/streams/${sid}/chat/history?limit=200`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`history ${res.status}`);
  return ((await res.json()) as { comments: SeqComment[] }).comments;
}

describe("faults", () => {
  it("Kafka stopped while messages flow, then restarted: every message arrives, chat never stops", async () => {
    const sid = crypto.randomUUID();
    const monitor = await monitorRedis();
    const t = await devToken(worker.url, "fault-kafka");
    const s = await ChatSocket.open(worker.url, sid, t.token);
    for (let i = 1; i <= 10; i++) s.send(`before ${i}`);
    await eventually(() => history(sid, t.token), (h) => h.length === 10, "first 10 stored");

    kafkaCtl("kafka-down");
    const outageLog = worker.logs().length;
    for (let i = 11; i <= 30; i++) {
      s.send(`during ${i}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await s.until(() => s.comments().length === 30, "chat keeps working while Kafka is down");
    // Redis has all 30 while Kafka is still down: the history queue does not wait for Kafka.
    await eventually(() => history(sid, t.token), (h) => h.length === 30, "all 30 in Redis during the Kafka outage");
    // Let the Kafka queue retry a few times: with one queue for both sinks, each retry rewrote Redis.
    await eventually(async () => retryWarnings(outageLog), (n) => n >= 3, "the Kafka queue to retry during the outage");
    const restartedAt = Date.now();
    kafkaCtl("kafka-up");
    const events = await eventually(() => kafkaEvents(sid), (e) => new Set(e.map((x) => x.comment_id)).size === 30, "all 30 in Kafka", 120_000);
    const drainMs = Date.now() - restartedAt;
    const ids = s.comments().map((c) => c.comment.id);
    expect(new Set(events.map((e) => e.comment_id))).toEqual(new Set(ids));
    const duplicates = events.length - new Set(events.map((e) => e.comment_id)).size;
    expect((await history(sid, t.token)).map((c) => c.comment.id)).toEqual(ids);
    const zadds = monitor.zadds(historyKey(sid));
    monitor.stop();
    expect(zadds, "ZADDs of this stream's history: one per event, none from Kafka's retries").toBe(30);
    console.log(
      `faults/kafka: sent 30, in Kafka ${events.length} (duplicates ${duplicates}), in Redis 30 written by ${zadds} ZADDs, ` +
        `Kafka queue retries during the outage ${retryWarnings(0)}, drained ${drainMs} ms after the broker restart (includes broker start-up)`,
    );
    s.close();
  }, 240_000);

  it("Redis stopped and restarted: history API fails cleanly meanwhile, then holds every message", async () => {
    const sid = crypto.randomUUID();
    const t = await devToken(worker.url, "fault-redis");
    const s = await ChatSocket.open(worker.url, sid, t.token);
    for (let i = 1; i <= 10; i++) s.send(`before ${i}`);
    await eventually(() => history(sid, t.token), (h) => h.length === 10, "first 10 stored");
    await redisDown();
    for (let i = 11; i <= 25; i++) s.send(`during ${i}`);
    await s.until(() => s.comments().length === 25, "chat keeps working while Redis is down");
    const down = await fetch(`${worker.url}/v1/streams/${sid}/chat/history`, { headers: { authorization: `Bearer ${t.token}` } });
    expect(down.status).toBe(503);
    expect(((await down.json()) as { error: string }).error).toBe("history_unavailable");
    const restartedAt = Date.now();
    await redisUp();
    const h = await eventually(() => history(sid, t.token), (x) => x.length === 25, "all 25 in Redis", 60_000);
    console.log(`faults/redis: sent 25, in Redis ${h.length}, drained ${Date.now() - restartedAt} ms after the restart`);
    expect(h.map((c) => c.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(h.map((c) => c.comment.id)).toEqual(s.comments().map((c) => c.comment.id));
    const kafka = await eventually(() => kafkaEvents(sid), (e) => new Set(e.map((x) => x.comment_id)).size === 25, "all 25 in Kafka", 60_000);
    expect(kafka.length).toBeGreaterThanOrEqual(25);
    s.close();
  }, 180_000);

  it("Redis down during 100 messages: Kafka gets each comment_id exactly once, Redis all 100 after it returns", async () => {
    const sid = crypto.randomUUID();
    const t = await devToken(worker.url, "fault-redis-100");
    const s = await ChatSocket.open(worker.url, sid, t.token);
    for (let i = 1; i <= 5; i++) s.send(`before ${i}`);
    await eventually(() => history(sid, t.token), (h) => h.length === 5, "first 5 stored");

    await redisDown();
    let ids: string[];
    let retries: number;
    let restartedAt = 0;
    try {
      const outageLog = worker.logs().length;
      for (let i = 1; i <= 100; i++) s.send(`while Redis is down ${i}`);
      await s.until(() => s.comments().length === 105, "chat keeps working while Redis is down", 60_000);
      ids = s.comments().map((c) => c.comment.id);
      // Kafka gets them while Redis is still down: the Kafka queue does not wait for Redis.
      await eventually(() => kafkaEvents(sid), (e) => new Set(e.map((x) => x.comment_id)).size === 105, "all 105 in Kafka during the Redis outage", 120_000);
      // Let the history queue retry a few times: with one queue for both sinks, each retry re-sent to Kafka.
      await eventually(async () => retryWarnings(outageLog), (n) => n >= 3, "the history queue to retry during the outage");
      retries = retryWarnings(outageLog);
    } finally {
      restartedAt = Date.now();
      await redisUp(); // the next tests need Redis whatever happened here
    }
    const h = await eventually(() => history(sid, t.token), (x) => x.length === 105, "all 105 in Redis", 120_000);
    const drainMs = Date.now() - restartedAt;
    expect(h.map((c) => c.seq)).toEqual(Array.from({ length: 105 }, (_, i) => i + 1));
    expect(h.map((c) => c.comment.id)).toEqual(ids);

    const events = await kafkaEvents(sid);
    const duplicates = events.length - new Set(events.map((e) => e.comment_id)).size;
    expect(duplicates).toBe(0);
    expect(events.map((e) => e.comment_id)).toEqual(ids);
    console.log(
      `faults/redis-100: sent 100 during the outage (+5 before), in Kafka ${events.length} (duplicates ${duplicates}), ` +
        `history queue retries during the outage ${retries}, Redis 105 drained ${drainMs} ms after the restart`,
    );
    s.close();
  }, 300_000);

  it("a redelivered (and reordered) batch adds no duplicate to the history", async () => {
    const sid = crypto.randomUUID();
    const redis = new Redis({ url: `${bridge.url}/redis`, token: bridge.token, automaticDeserialization: false, enableTelemetry: false });
    const sink = new RedisHistorySink(redis);
    const events: QueueEvent[] = Array.from({ length: 5 }, (_, i) => {
      const comment = {
        id: crypto.randomUUID(),
        stream_id: sid,
        user_id: crypto.randomUUID(),
        username: null,
        message: `redelivered ${i + 1}`,
        created_at: new Date().toISOString(),
      };
      return toQueueEvent({ type: "comment", seq: i + 1, comment }, sid, comment.created_at, comment.user_id);
    });
    expect(await sink.deliver(events.slice(2))).toEqual([true, true, true]);
    expect(await sink.deliver(events)).toEqual([true, true, true, true, true]);
    expect(await sink.deliver([...events].reverse())).toEqual([true, true, true, true, true]);
    expect(await redis.zcard(historyKey(sid))).toBe(5);
    const members = (await redis.zrange(historyKey(sid), 0, -1)) as string[];
    expect(members.map((m) => (JSON.parse(m) as SeqComment).seq)).toEqual([1, 2, 3, 4, 5]);
  });
});
