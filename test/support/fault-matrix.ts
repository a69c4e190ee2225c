/**
 * The fault matrix's driver (README "Faults"; `npm run faults`, test/e2e/fault-matrix.test.ts).
 *
 *   const rig = await startRig({ basePort: 19120, instance: "faults" });
 *   const row = await runFault(rig, FAULTS["kafka-down"], { outageMs: 30_000 });
 *   await rig.stop();
 *
 * A rig is `wrangler dev` (persisted state, so a restart keeps the Durable Objects' storage) wired
 * to its own bridge, Kafka broker, Redis and a proxied Postgres (test/support/fault-services.ts).
 * A run drives the seed's load shape at small scale with SDK clients (src/client): several streams,
 * each with senders and viewers; injects the fault mid-stream, holds it `outageMs`, restores it,
 * stops sending, waits for the sinks to drain, then checks, independently of the worker's code:
 *
 *   accepted     comments a sender got an ack for (SendResult)
 *   lost         accepted comments missing from Kafka, or from Redis history within its last-200
 *                window (historyWindow: a full history's trimmed members are not lost)
 *   dupKafka     extra Kafka records of an accepted comment_id (read with kcat)
 *   dupRedis     extra history members of one comment id or one sent text (redis-cli ZRANGE)
 *   outOfOrder   per stream, history members not in seq order
 *   kafkaReordered  per stream, Kafka records after one with a higher seq (reported, not a failure:
 *                a retried produce can land after later ones, README "Delivery guarantees")
 *   viewerMissed / viewerDup   per viewer, accepted comments never delivered / delivered twice
 *   drainMs      from the fault's restore to every accepted comment in Redis and Kafka
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ChatClient } from "../../src/client/index";
import { HISTORY_SIZE } from "../../src/protocol";
import { historyKey } from "../../src/sinks/redis-history";
import { startFaultServices, type FaultServices } from "./fault-services";
import { devToken, startWorker, type RunningWorker } from "./worker";

const exec = promisify(execFile);

export interface Rig {
  services: FaultServices;
  worker: RunningWorker;
  stop(): Promise<void>;
}

/** Starts the services and wrangler dev wired to them (limits raised: the load, not the budget, is under test). */
export async function startRig(opts: { basePort: number; instance: string; shardMaxSockets?: number }): Promise<Rig> {
  const services = await startFaultServices(opts);
  const persistTo = mkdtempSync(join(tmpdir(), "chat-faults-wrangler-"));
  let worker: RunningWorker;
  try {
    worker = await startWorker({
      persistTo,
      timeoutMs: 120_000,
      vars: {
        UPSTASH_REDIS_REST_URL: `${services.bridgeUrl}/redis`,
        UPSTASH_REDIS_REST_TOKEN: services.bridgeToken,
        KAFKA_REST_URL: services.bridgeUrl,
        KAFKA_REST_TOKEN: services.bridgeToken,
        DATABASE_URL: `postgres://postgres@${services.pgAddr}/test`,
        NEON_WS_PROXY: `127.0.0.1:${services.bridgePort}/pg/v1?token=${services.bridgeToken}`,
        RATE_LIMIT_PER_SEC: "1000",
        SOCKET_MAX_FRAMES_PER_SEC: "1000",
        ROOM_MAX_MESSAGES_PER_SEC: "1000",
        SINK_RETRY_MAX_DELAY_S: "2",
        // Viewers sit on fan-out shards (the hot-stream path; RIG_SHARD_MAX_SOCKETS sockets each), so a
        // shard's reset is a fault of its own and every other fault crosses the room → shard feed.
        SHARD_MAX_SOCKETS: String(opts.shardMaxSockets ?? RIG_SHARD_MAX_SOCKETS),
      },
    });
  } catch (err) {
    await services.stop();
    throw err;
  }
  return {
    services,
    worker,
    async stop() {
      await worker.stop();
      await services.stop();
      rmSync(persistTo, { recursive: true, force: true });
    },
  };
}

/** SHARD_MAX_SOCKETS of the rig's worker: each stream's four sockets spread over two shards. */
export const RIG_SHARD_MAX_SOCKETS = 2;

/** What a fault does to the rig; `during` runs while it holds (e.g. joins while Postgres is down). */
export interface Fault {
  name: string;
  what: string;
  inject(rig: Rig): Promise<void>;
  restore(rig: Rig): Promise<void>;
  during?(rig: Rig, run: RunContext): Promise<string>;
}

export interface RunContext {
  streams: string[];
  join(streamId: string, name: string): Promise<{ ok: boolean; username: string | null; error?: string; ms: number }>;
}

/** A fault that is one service stopped and started again. */
function outage(name: string, what: string, down: (r: Rig) => Promise<void>, up: (r: Rig) => Promise<void>): Fault {
  return { name, what, inject: down, restore: up };
}

/** POSTs `body` to one of the worker's dev-only fault routes (src/worker.ts, DEV_TOKENS); its JSON answer, or throws naming `what`. */
async function devPost(r: Rig, path: string, body: unknown, what: string): Promise<unknown> {
  const res = await fetch(`${r.worker.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${what}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** A fault that resets every stream's room or shards at the outage's start (POST /dev/faults/evict): memory gone, storage kept, sockets dropped. */
function eviction(name: string, what: string, target: "room" | "shards"): Fault {
  return {
    name,
    what,
    inject: async () => undefined,
    restore: async () => undefined,
    async during(r, run) {
      const reset: string[] = [];
      for (const streamId of run.streams) {
        const answer = (await devPost(r, "/dev/faults/evict", { stream_id: streamId, target }, `evicting ${target} of ${streamId}`)) as { reset: string[] };
        reset.push(...answer.reset);
      }
      return `reset ${reset.length} ${target === "room" ? "rooms" : "shards"}`;
    },
  };
}

export const FAULTS: Record<string, Fault> = {
  "kafka-down": outage("kafka-down", "Kafka broker stopped (services.sh kafka-down), then started again", (r) => r.services.kafkaDown(), (r) => r.services.kafkaUp()),
  "bridge-kill": outage("bridge-kill", "bridge process killed (SIGKILL, no drain), restarted on the same port", (r) => r.services.bridgeKill(), (r) => r.services.bridgeStart()),
  "redis-down": outage("redis-down", "Redis stopped (SHUTDOWN; append-only file), then started again", (r) => r.services.redisDown(), (r) => r.services.redisUp()),
  "postgres-down": {
    name: "postgres-down",
    what: "Postgres unreachable (proxy refuses and resets connections); new viewers join meanwhile",
    inject: async (r) => r.services.pgDown(),
    restore: async (r) => r.services.pgUp(),
    async during(_r, run) {
      const joins = await Promise.all(run.streams.map((s, i) => run.join(s, `pgdown-${i}`)));
      const ok = joins.filter((j) => j.ok);
      const failed = joins.filter((j) => !j.ok).map((j) => j.error);
      return `joins during the outage: ${ok.length}/${joins.length} admitted (name from the token: ${ok.filter((j) => j.username).length}), slowest ${Math.max(...joins.map((j) => j.ms))} ms${failed.length ? `; errors: ${failed.join(", ")}` : ""}`;
    },
  },
  "kafka-redis-down": outage(
    "kafka-redis-down",
    "Kafka and Redis both stopped, then both started again",
    async (r) => void (await Promise.all([r.services.kafkaDown(), r.services.redisDown()])),
    async (r) => void (await Promise.all([r.services.kafkaUp(), r.services.redisUp()])),
  ),
  "consumer-throw": {
    name: "consumer-throw",
    what: "queue consumer throws for one batch of each queue, before writing (POST /dev/faults/queue)",
    inject: (r) => armQueues(r, "before"),
    restore: async () => undefined,
  },
  "consumer-throw-after-write": {
    name: "consumer-throw-after-write",
    what: "queue consumer throws for one batch of each queue after the sinks wrote it (a crash before the ack)",
    inject: (r) => armQueues(r, "after"),
    restore: async () => undefined,
  },
  "room-evict": eviction("room-evict", "every stream's Durable Object reset mid-stream (DurableObjectState.abort via POST /dev/faults/evict): memory gone, storage kept", "room"),
  "shard-evict": eviction("shard-evict", "every fan-out shard of every stream reset mid-stream (POST /dev/faults/evict): its sockets drop, the room keeps going", "shards"),
  "worker-restart": {
    name: "worker-restart",
    what: "wrangler dev (workerd) stopped and started with the same --persist-to: every Durable Object evicted, sockets cut",
    inject: async () => undefined,
    restore: (r) => r.worker.restart(),
  },
};

async function armQueues(r: Rig, when: "before" | "after"): Promise<void> {
  for (const queue of ["chat-events", "chat-history"]) await devPost(r, "/dev/faults/queue", { queue, batches: 1, when }, `arming ${queue}`);
}

export interface LoadShape {
  streams: number;
  sendersPerStream: number;
  viewersPerStream: number;
  /** Each sender's interval between sends (ms). */
  sendEveryMs: number;
  /** Sending before the fault and after the restore (ms). */
  warmMs: number;
  outageMs: number;
  /** Longest wait for the sinks and viewers to have everything (ms). */
  drainTimeoutMs: number;
}

export const DEFAULT_LOAD: LoadShape = {
  streams: 3,
  sendersPerStream: 2,
  viewersPerStream: 2,
  sendEveryMs: 500,
  warmMs: 3_000,
  outageMs: 30_000,
  drainTimeoutMs: 120_000,
};

export interface FaultRow {
  fault: string;
  outageMs: number;
  accepted: number;
  refused: number;
  lost: number;
  dupKafka: number;
  dupRedis: number;
  /** History members of a stream not in seq order (the contract: never). */
  outOfOrder: number;
  /** Kafka records of a stream after a record with a higher seq (a retried record landing late: README "Delivery guarantees"). */
  kafkaReordered: number;
  viewerMissed: number;
  viewerDup: number;
  drainMs: number | null;
  note: string;
}

interface Viewer {
  client: ChatClient;
  streamId: string;
  delivered: Map<string, number>;
}

export interface Acked {
  id: string;
  seq: number;
  text: string;
}

/** Every Kafka record's (key, comment_id, message) on the topic, in partition-offset order (kcat). */
async function kafkaRecords(brokers: string): Promise<Array<{ key: string; id: string; message: string }>> {
  const { stdout } = await exec("kcat", ["-C", "-b", brokers, "-t", "streams.chat", "-J", "-e", "-q", "-o", "beginning"], {
    timeout: 60_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  const out: Array<{ key: string; id: string; message: string; partition: number; offset: number }> = [];
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const r = JSON.parse(line) as { key: string | null; payload: string | null; partition: number; offset: number };
    if (!r.payload) continue;
    const v = JSON.parse(r.payload) as { event_type?: string; comment_id?: string; message?: string };
    if (v.event_type !== "stream_chat_message" || !v.comment_id) continue;
    out.push({ key: r.key ?? "", id: v.comment_id, message: v.message ?? "", partition: r.partition, offset: r.offset });
  }
  return out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** A stream's history members (seq, comment id, text) in score order, read with redis-cli. */
async function redisHistory(port: number, streamId: string): Promise<Array<{ seq: number; id: string; text: string }>> {
  const { stdout } = await exec("redis-cli", ["-p", String(port), "--no-raw", "ZRANGE", historyKey(streamId), "0", "-1"], { timeout: 10_000, maxBuffer: 64 * 1024 * 1024 });
  const out: Array<{ seq: number; id: string; text: string }> = [];
  for (const line of stdout.split("\n")) {
    const m = /^\d+\) (".*")$/.exec(line.trim());
    if (!m) continue;
    const member = JSON.parse(JSON.parse(m[1]!) as string) as { seq: number; comment?: { id: string; message: string } };
    if (member.comment) out.push({ seq: member.seq, id: member.comment.id, text: member.comment.message });
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The accepted comments a stream's Redis history must hold: all of them while the history is not
 * full, else those at or above its oldest member's seq (history keeps the last HISTORY_SIZE per
 * stream, README "Pipeline guarantees": older ones are trimmed, not lost). The default load sends
 * fewer than HISTORY_SIZE per stream, so a full run checks every comment.
 */
export function historyWindow(accepted: readonly Acked[], history: ReadonlyArray<{ seq: number }>): Acked[] {
  if (history.length < HISTORY_SIZE) return [...accepted];
  const floor = Math.min(...history.map((h) => h.seq));
  return accepted.filter((a) => a.seq >= floor);
}

/** Runs one fault under load on fresh streams of a running rig; returns its row. */
export async function runFault(rig: Rig, fault: Fault, load: Partial<LoadShape> = {}): Promise<FaultRow> {
  const shape = { ...DEFAULT_LOAD, ...load };
  const base = rig.worker.url;
  const streams = Array.from({ length: shape.streams }, () => crypto.randomUUID());
  const clients: ChatClient[] = [];
  const open = async (streamId: string, name: string) => {
    const { token } = await devToken(base, name);
    const client = new ChatClient({ baseUrl: base, streamId, credentials: () => ({ token }), backoff: { baseMs: 100, maxMs: 2_000 } });
    clients.push(client);
    return client;
  };
  const viewers: Viewer[] = [];
  const acked = new Map<string, Acked[]>(streams.map((s) => [s, []]));
  let refused = 0;
  const refusals = new Map<string, number>();
  let notes = "";
  try {
    for (const [si, streamId] of streams.entries()) {
      for (let v = 0; v < shape.viewersPerStream; v++) {
        const client = await open(streamId, `viewer-${si}-${v}`);
        const viewer: Viewer = { client, streamId, delivered: new Map() };
        const seen = (id: string) => viewer.delivered.set(id, (viewer.delivered.get(id) ?? 0) + 1);
        client.on("comment", (c) => seen(c.comment.id));
        client.on("history", (h) => h.comments.forEach((c) => seen(c.comment.id)));
        // A reset (new epoch) replaces the viewer's list: what it restates is not delivered twice.
        client.on("reset", (h) => h.comments.forEach((c) => viewer.delivered.set(c.comment.id, viewer.delivered.get(c.comment.id) ?? 1)));
        client.on("error", () => undefined);
        client.connect();
        await client.ready();
        viewers.push(viewer);
      }
    }
    const senders: Array<{ client: ChatClient; streamId: string; name: string }> = [];
    for (const [si, streamId] of streams.entries()) {
      for (let s = 0; s < shape.sendersPerStream; s++) {
        const name = `sender-${si}-${s}`;
        const client = await open(streamId, name);
        client.on("error", () => undefined);
        client.connect();
        await client.ready();
        senders.push({ client, streamId, name });
      }
    }

    // Senders: one message every sendEveryMs each, at most 20 unanswered, until told to stop.
    let sending = true;
    const inflight: Promise<void>[] = [];
    const loops = senders.map(async ({ client, streamId, name }) => {
      let n = 0;
      let pending = 0;
      while (sending) {
        if (pending < 20) {
          const text = `${fault.name} ${name} #${++n} ${crypto.randomUUID().slice(0, 8)}`;
          pending++;
          inflight.push(
            client
              .send(text)
              .then((r) => void acked.get(streamId)!.push({ id: r.id, seq: r.seq, text }))
              .catch((err: { code?: string }) => {
                refused++;
                refusals.set(err.code ?? "error", (refusals.get(err.code ?? "error") ?? 0) + 1);
              })
              .finally(() => pending--),
          );
        }
        await sleep(shape.sendEveryMs);
      }
    });

    await sleep(shape.warmMs);
    await fault.inject(rig);
    const during = fault.during
      ? fault.during(rig, {
          streams,
          join: async (streamId, name) => {
            const t0 = Date.now();
            try {
              const client = await open(streamId, name);
              let username: string | null = null;
              client.on("welcome", (w) => (username = w.user.username ?? null));
              client.on("error", () => undefined);
              client.connect();
              await Promise.race([client.ready(), sleep(20_000).then(() => Promise.reject(new Error("no welcome within 20 s")))]);
              return { ok: true, username, ms: Date.now() - t0 };
            } catch (err) {
              return { ok: false, username: null, error: (err as Error).message, ms: Date.now() - t0 };
            }
          },
        })
      : Promise.resolve("");
    await sleep(shape.outageMs);
    notes = await during;
    await fault.restore(rig);
    const restoredAt = Date.now();
    await sleep(shape.warmMs);
    sending = false;
    await Promise.all(loops);
    // Unanswered sends resolve (ack after a reconnect) or fail; bounded by the SDK's own timeouts.
    await Promise.race([Promise.allSettled(inflight), sleep(60_000)]);

    // Drain: every accepted comment in Redis and Kafka, and at every viewer.
    const all = [...acked.values()].flat();
    let drainMs: number | null = null;
    const deadline = Date.now() + shape.drainTimeoutMs;
    let kafka: Awaited<ReturnType<typeof kafkaRecords>> = [];
    let history = new Map<string, Awaited<ReturnType<typeof redisHistory>>>();
    for (;;) {
      kafka = await kafkaRecords(rig.services.kafkaBrokers).catch(() => []);
      history = new Map(await Promise.all(streams.map(async (s) => [s, await redisHistory(rig.services.redisPort, s).catch(() => [])] as const)));
      const inKafka = new Set(kafka.map((r) => r.id));
      const inRedis = new Set([...history.values()].flat().map((h) => h.id));
      const sinksHaveAll =
        all.every((a) => inKafka.has(a.id)) && streams.every((s) => historyWindow(acked.get(s)!, history.get(s) ?? []).every((a) => inRedis.has(a.id)));
      if (sinksHaveAll && drainMs === null) drainMs = Date.now() - restoredAt;
      const viewersHaveAll = viewers.every((v) => acked.get(v.streamId)!.every((a) => v.delivered.has(a.id)));
      if ((sinksHaveAll && viewersHaveAll) || Date.now() > deadline) break;
      await sleep(500);
    }
    await sleep(2_000); // a late duplicate (a retry still in flight) shows up in the counts below
    kafka = await kafkaRecords(rig.services.kafkaBrokers).catch(() => kafka);
    history = new Map(await Promise.all(streams.map(async (s) => [s, await redisHistory(rig.services.redisPort, s).catch(() => history.get(s) ?? [])] as const)));

    let lost = 0;
    const lostIn = { redis: [] as number[], kafka: [] as number[] };
    let dupKafka = 0;
    let dupRedis = 0;
    let outOfOrder = 0;
    let kafkaReordered = 0;
    for (const s of streams) {
      const mine = acked.get(s)!;
      const ids = new Set(mine.map((a) => a.id));
      const seqOf = new Map(mine.map((a) => [a.id, a.seq]));
      const k = kafka.filter((r) => r.key === s);
      const h = history.get(s) ?? [];
      const kIds = new Set(k.map((r) => r.id));
      const hIds = new Set(h.map((r) => r.id));
      const inWindow = new Set(historyWindow(mine, h).map((a) => a.id));
      const missing = (a: Acked) => !kIds.has(a.id) || (inWindow.has(a.id) && !hIds.has(a.id));
      lost += mine.filter(missing).length;
      lostIn.redis.push(...mine.filter((a) => inWindow.has(a.id) && !hIds.has(a.id)).map((a) => a.seq));
      lostIn.kafka.push(...mine.filter((a) => !kIds.has(a.id)).map((a) => a.seq));
      dupKafka += k.filter((r) => ids.has(r.id)).length - new Set(k.filter((r) => ids.has(r.id)).map((r) => r.id)).size;
      // Twice in history: the same comment twice, or the same sent text stored under two comments (a resend accepted twice).
      dupRedis += h.length - new Set(h.map((r) => r.id)).size + (new Set(h.map((r) => r.id)).size - new Set(h.map((r) => r.text)).size);
      // Kafka: one stream's records share a partition; their seqs must rise with the offset.
      const kSeqs = k.filter((r) => seqOf.has(r.id)).map((r) => seqOf.get(r.id)!);
      kafkaReordered += kSeqs.filter((q, i) => i > 0 && q <= kSeqs[i - 1]!).length;
      outOfOrder += h.filter((r, i) => i > 0 && r.seq <= h[i - 1]!.seq).length;
    }
    let viewerMissed = 0;
    let viewerDup = 0;
    for (const v of viewers) {
      for (const a of acked.get(v.streamId)!) if (!v.delivered.has(a.id)) viewerMissed++;
      for (const n of v.delivered.values()) if (n > 1) viewerDup += n - 1;
    }
    if (lost > 0) notes = [notes, `missing from Redis: seqs ${lostIn.redis.join(",") || "none"}; from Kafka: seqs ${lostIn.kafka.join(",") || "none"}`].filter(Boolean).join("; ");
    if (refused > 0) notes = [notes, `refused sends: ${[...refusals].map(([c, n]) => `${c} ×${n}`).join(", ")}`].filter(Boolean).join("; ");
    return {
      fault: fault.name,
      outageMs: shape.outageMs,
      accepted: all.length,
      refused,
      lost: Math.max(lost, 0),
      dupKafka,
      dupRedis,
      outOfOrder,
      kafkaReordered,
      viewerMissed,
      viewerDup,
      drainMs,
      note: notes,
    };
  } finally {
    for (const c of clients) c.close();
  }
}

/** The results as a Markdown table (FAULTS.md). */
export function faultTable(rows: FaultRow[]): string {
  const head = "| fault | outage | accepted | lost | duplicated in Kafka | duplicated in Redis | history out of order | Kafka reordered | viewer missed | viewer duplicates | time to drain | notes |";
  const sep = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|";
  const lines = rows.map((r) =>
    [
      r.fault,
      `${Math.round(r.outageMs / 1000)} s`,
      r.accepted,
      r.lost,
      r.dupKafka,
      r.dupRedis,
      r.outOfOrder,
      r.kafkaReordered,
      r.viewerMissed,
      r.viewerDup,
      r.drainMs === null ? "not drained" : `${(r.drainMs / 1000).toFixed(1)} s`,
      r.note.replace(/\|/g, "/"),
    ].join(" | "),
  );
  return [head, sep, ...lines.map((l) => `| ${l} |`)].join("\n");
}
