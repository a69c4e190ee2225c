#!/usr/bin/env node
// `npm run soak -- --minutes N` (issue 19 §6, README "Soak"): the seed load, scaled to one shared
// 2-core machine, with moderation mixed in, through the whole pipeline for N minutes:
//   SDK clients (src/client, ChatClient) → worker + ChatRoom on workerd (Miniflare, persisted
//   SQLite storage) → sink queues → queue consumer → bridge (src/bridge) → Redis history + Kafka.
// Every minute: delivered %, p99, workerd RSS, the isolate's JS heap after a forced GC (V8
// inspector), the DO storage on disk, the bridge's RSS, queue backlog, Redis and Kafka counts.
// Pass (bench/lib/soak-rules.mjs): memory flat after warm-up (least-squares slope ≤ limit), every
// acked comment in Redis (or deleted) and in Kafka exactly once, every moderation event in Kafka
// once, 100 % delivered. Writes bench/results/soak.json + soak.svg and BENCHMARKS.md's soak section.
//
//   npx tsx scripts/soak.mjs [--minutes 30] [--viewers 200] [--senders 20] [--rate 20] [--mod-per-s 1]
//     [--kafka own|host:port] [--redis-url redis://127.0.0.1:6379] [--out bench/results]
//     [--warmup-min 3] [--max-slope 1] [--in-memory] [--no-benchmarks] [--name soak]
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { createClient } from "redis";
import { ChatClient } from "../src/client/index.ts";
import { parseArgs } from "../bench/lib/args.mjs";
import { bundle, fetchOurStats, freePort, JWT_SECRET, nodeBin, ROOT } from "../bench/lib/targets.mjs";
import { dataPathRssBytes, machineInfo, processTree, treeRssBytes } from "../bench/lib/proc.mjs";
import { CdpSession, listTargets } from "../bench/lib/cdp.mjs";
import { checkKafka, checkKafkaActions, checkRedis, DEFAULT_MAX_SLOPE_MB_PER_MIN, DEFAULT_WARMUP_MIN, memoryTrend, minuteTable, percentile, replaceSection, verdict } from "../bench/lib/soak-rules.mjs";
import { stackedCharts } from "../bench/lib/soak-svg.mjs";

const { argv, opt, num } = parseArgs();
const cfg = {
  minutes: num("minutes", 30),
  viewers: num("viewers", 200),
  senders: num("senders", 20),
  rate: num("rate", 20),
  modPerS: num("mod-per-s", 1),
  kafka: String(opt("kafka", "own")),
  redisUrl: String(opt("redis-url", process.env.REDIS_URL ?? "redis://127.0.0.1:6379")),
  out: path.resolve(ROOT, String(opt("out", "bench/results"))),
  name: String(opt("name", "soak")),
  warmupMin: num("warmup-min", DEFAULT_WARMUP_MIN),
  maxSlope: num("max-slope", DEFAULT_MAX_SLOPE_MB_PER_MIN),
  persist: !argv.includes("--in-memory"),
  benchmarks: !argv.includes("--no-benchmarks"),
  reportEveryS: num("report-every-s", 60),
  // --judge-rss: the trend test also fails on workerd's RSS (README "Soak": why it does not by default)
  passOnRss: argv.includes("--judge-rss"),
};
for (const k of ["minutes", "viewers", "senders", "rate", "modPerS", "warmupMin", "maxSlope", "reportEveryS"]) {
  if (!Number.isFinite(cfg[k]) || cfg[k] < 0) die(`--${k}: not a non-negative number (${cfg[k]})`);
}
if (cfg.senders < 2 || cfg.senders > cfg.viewers) die(`--senders must be in 2..viewers (${cfg.senders})`);
// Our own broker for the soak (not the shared one on :9092): port range 19300–19399.
const OWN_KAFKA = { instance: "soak", port: 19392, controller: 19393 };

function die(msg) {
  console.error(`[soak] ${msg}`);
  process.exit(2);
}
const log = (...a) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------- processes
const started = [];
const logDir = mkdtempSync(path.join(tmpdir(), "soak-logs-"));
/** Spawns a child with its output in logDir/<name>.log; resolves once `ready(line)` is true. */
function launch(name, cmd, args, env, ready, timeoutMs = 120_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const file = createWriteStream(path.join(logDir, `${name}.log`));
    started.push(child);
    let buf = "";
    let done = false;
    const timer = setTimeout(() => !done && reject(new Error(`${name}: not ready in ${timeoutMs} ms (log ${logDir}/${name}.log)`)), timeoutMs);
    const onData = (d) => {
      file.write(d);
      if (done) return;
      buf += d.toString();
      for (const line of buf.split("\n")) {
        const r = ready(line);
        if (r) {
          done = true;
          clearTimeout(timer);
          resolve({ child, ready: r });
          return;
        }
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => !done && (clearTimeout(timer), reject(new Error(`${name} exited ${code} (log ${logDir}/${name}.log)`))));
  });
}
async function stopAll() {
  for (const c of started.reverse()) {
    if (c.exitCode !== null) continue;
    c.kill("SIGTERM");
    await Promise.race([new Promise((r) => c.once("exit", r)), sleep(10_000)]);
    if (c.exitCode === null) c.kill("SIGKILL");
  }
}

function services(cmd) {
  return spawnSync("bash", ["scripts/services.sh", cmd], {
    cwd: ROOT,
    env: { ...process.env, KAFKA_INSTANCE: OWN_KAFKA.instance, KAFKA_PORT: String(OWN_KAFKA.port), KAFKA_CONTROLLER_PORT: String(OWN_KAFKA.controller) },
    encoding: "utf8",
  });
}

function duBytes(dir) {
  const r = spawnSync("du", ["-sb", dir], { encoding: "utf8" });
  return r.status === 0 ? Number(r.stdout.split(/\s/)[0]) : null;
}

// --------------------------------------------------------------------------------------- setup
const t0run = Date.now();
let ownKafka = false;
let brokers = cfg.kafka;
if (cfg.kafka === "own") {
  const r = services("kafka-up");
  if (r.status !== 0) die(`own Kafka (instance ${OWN_KAFKA.instance}, :${OWN_KAFKA.port}) did not start:\n${r.stderr}`);
  ownKafka = /started/.test(r.stderr + r.stdout);
  brokers = `127.0.0.1:${OWN_KAFKA.port}`;
}
log(`kafka ${brokers}${ownKafka ? " (started by us)" : ""}; redis ${cfg.redisUrl}; logs ${logDir}`);

const streamId = randomUUID();
const bridgePort = await freePort();
const bridgeToken = randomBytes(16).toString("hex");
const bridge = await launch(
  "bridge",
  path.join(ROOT, "node_modules/.bin/tsx"),
  ["src/bridge/main.ts"],
  { BRIDGE_PORT: String(bridgePort), BRIDGE_TOKEN: bridgeToken, BRIDGE_LOG_LEVEL: "info", KAFKA_BROKERS: brokers, REDIS_URL: cfg.redisUrl, PG_ALLOWED_ADDRS: "127.0.0.1:5432" },
  (line) => /listening|ready|started/i.test(line),
  60_000,
).catch(async (e) => {
  // The bridge's log line wording is not a contract: fall back to its health route.
  for (let i = 0; i < 60; i++) {
    if (await fetch(`http://127.0.0.1:${bridgePort}/healthz`).then((r) => r.ok, () => false)) return { child: started.at(-1) };
    await sleep(500);
  }
  throw e;
});
const bridgeUrl = `http://127.0.0.1:${bridgePort}`;

const script = bundle("ours", "wrangler.toml");
const workerPort = await freePort();
const persistDir = cfg.persist ? mkdtempSync(path.join(tmpdir(), "soak-state-")) : null;
const vars = {
  JWT_SECRET,
  DEV_TOKENS: "true",
  SHARD_MAX_SOCKETS: "0",
  UPSTASH_REDIS_REST_URL: `${bridgeUrl}/redis`,
  UPSTASH_REDIS_REST_TOKEN: bridgeToken,
  KAFKA_REST_URL: bridgeUrl,
  KAFKA_REST_TOKEN: bridgeToken,
  DATABASE_URL: "postgres://postgres@127.0.0.1:5432/test",
  NEON_WS_PROXY: `127.0.0.1:${bridgePort}/pg/v1?token=${bridgeToken}`,
};
const worker = await launch(
  "workerd",
  nodeBin(),
  [
    "bench/lib/miniflare-launch.mjs", "--config", "wrangler.toml", "--script", script, "--port", String(workerPort), "--inspector-port", "0",
    ...(persistDir ? ["--persist-to", persistDir] : []),
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}=${v}`]),
  ],
  {},
  (line) => {
    try {
      const j = JSON.parse(line);
      return j.ready ? j : null;
    } catch {
      return null;
    }
  },
);
const baseUrl = `http://127.0.0.1:${workerPort}`;
log(`worker ${baseUrl} (workerd via Miniflare, ${persistDir ? `persisted to ${persistDir}` : "Miniflare's default storage"}), bridge ${bridgeUrl}, stream ${streamId}`);

// The isolate's JS heap after a forced GC, through workerd's V8 inspector.
let cdp = null;
let lastHeapDetail = null;
/** workerd's RSS split as the kernel counts it (/proc/<pid>/status): anonymous, file-backed, shared memory — kB summed over workerd processes. */
function workerdRssParts(root) {
  const out = { anon: 0, file: 0, shmem: 0 };
  for (const pid of processTree(root)) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "workerd") continue;
      const st = readFileSync(`/proc/${pid}/status`, "utf8");
      for (const [k, key] of [["RssAnon", "anon"], ["RssFile", "file"], ["RssShmem", "shmem"]]) out[key] += Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(st)?.[1] ?? 0) * 1024;
    } catch {}
  }
  return out;
}
async function heapAfterGc() {
  try {
    if (!cdp) {
      const targets = await listTargets(worker.ready.inspector_url);
      const t = targets.find((x) => x.id === "core:user:bench") ?? targets[0];
      cdp = await CdpSession.connect(t.webSocketDebuggerUrl);
      cdp.ws.on("close", () => (cdp = null));
    }
    await cdp.send("HeapProfiler.collectGarbage", {}, 15_000);
    const u = await cdp.send("Runtime.getHeapUsage", {}, 15_000);
    lastHeapDetail = u;
    return u.usedSize ?? null;
  } catch (e) {
    log(`heap: ${e.message}`);
    return null;
  }
}

async function devToken(username, ownerOf) {
  for (let i = 0; ; i++) {
    const r = await fetch(`${baseUrl}/dev/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(ownerOf ? { username, owner_of: ownerOf } : { username }) });
    if (r.ok) return r.json();
    if (i > 20) throw new Error(`dev token ${username}: ${r.status} ${await r.text()}`);
    await sleep(500);
  }
}

// ------------------------------------------------------------------------------------ observers
const redis = createClient({ url: cfg.redisUrl });
redis.on("error", () => {});
await redis.connect();
const HKEY = `chat:${streamId}:history`;
const CKEY = `chat:${streamId}:changes`;
const redisSamples = [];
async function sampleRedis() {
  try {
    const members = await redis.zRange(HKEY, 0, -1);
    redisSamples.push(members.map((m) => {
      const j = JSON.parse(m);
      return { seq: j.seq, id: j.comment.id };
    }));
  } catch (e) {
    log(`redis sample: ${e.message}`);
  }
}

const kafkaValues = [];
const kafka = new Kafka({ clientId: "soak", brokers: [brokers], logLevel: logLevel.NOTHING });
const consumer = kafka.consumer({ groupId: `soak-${streamId}` });
await consumer.connect();
await consumer.subscribe({ topic: process.env.KAFKA_CHAT_TOPIC ?? "streams.chat", fromBeginning: true });
await consumer.run({
  eachMessage: async ({ message }) => {
    if (message.key?.toString("utf8") !== streamId) return;
    try {
      kafkaValues.push(JSON.parse(message.value.toString("utf8")));
    } catch {
      kafkaValues.push({ unparsable: true });
    }
  },
});

// -------------------------------------------------------------------------------------- clients
const received = new Map(); // comment id → viewers that got it
let dupDeliveries = 0;
let latencies = [];
const viewers = [];
function newClient(token, onComment) {
  const c = new ChatClient({ baseUrl, streamId, credentials: async () => ({ token }), maxComments: 50 });
  if (onComment) {
    let last = 0;
    const take = (sc) => {
      if (sc.seq <= last) dupDeliveries++;
      last = Math.max(last, sc.seq);
      received.set(sc.comment.id, (received.get(sc.comment.id) ?? 0) + 1);
      const m = /^soak\|\d+\|(\d+)/.exec(sc.comment.message);
      if (m) latencies.push(Date.now() - Number(m[1]));
    };
    c.on("comment", take);
    c.on("history", (h) => h.comments.forEach((sc) => sc.seq > last && take(sc)));
    c.on("reset", (r) => r.comments.forEach((sc) => sc.seq > last && take(sc)));
  }
  c.connect();
  return c;
}
const openOf = (c) => new Promise((res) => (c.state === "open" ? res() : c.on("state", (s) => s.state === "open" && res())));

const modTok = await devToken("soak-mod", streamId);
const mod = newClient(modTok.token, null);
const senderUsers = [];
for (let i = 0; i < cfg.viewers; i++) {
  const t = await devToken(`soak-v${i}`);
  if (i < cfg.senders) senderUsers.push(t);
  viewers.push(newClient(t.token, true));
  if (i % 25 === 24) await sleep(200); // a gentle ramp (the admission budget is per second)
}
await Promise.all([openOf(mod), ...viewers.map(openOf)]);
const victim = senderUsers[0]; // the one the moderator times out now and then
log(`${viewers.length} viewers open (${cfg.senders} of them send), moderator open`);

// ------------------------------------------------------------------------------------------ load
const acked = []; // {id, seq, at, by}
const rejected = {};
const actions = []; // acked moderation events {kind, key}
const actionErrors = {};
const deletedIds = new Set();
let n = 0;
let running = true;
let maxSeq = 0;
const bump = (code) => (rejected[code] = (rejected[code] ?? 0) + 1);

async function sendOne(i) {
  const k = ++n;
  try {
    const r = await viewers[i].send(`soak|${k}|${Date.now()}|from v${i}`);
    acked.push({ id: r.id, seq: r.seq, at: Date.now(), by: i });
    maxSeq = Math.max(maxSeq, r.seq ?? 0);
  } catch (e) {
    bump(e?.code ?? String(e));
  }
}
const senderTimers = [];
const period = (cfg.senders / Math.max(cfg.rate, 1e-9)) * 1000;
for (let i = 0; i < cfg.senders; i++) {
  const tick = () => {
    if (!running) return;
    sendOne(i);
    senderTimers[i] = setTimeout(tick, period * (0.5 + Math.random()));
  };
  senderTimers[i] = setTimeout(tick, Math.random() * period);
}

// Moderation: edits by the author, deletes, pins, timeouts and unbans (lifting the timeout) by the owner; targets only comments
// within the newest 100 events, so every command is valid when sent.
let k = 0;
async function moderateOnce() {
  const kind = ["edit", "delete", "pin", "timeout", "edit", "delete", "pin", "unban"][k++ % 8];
  const recent = acked.filter((a) => a.seq > maxSeq - 90 && !deletedIds.has(a.id) && a.by !== 0);
  const target = recent[Math.floor(Math.random() * recent.length)];
  try {
    if (kind === "timeout") {
      const reason = `soak timeout ${k}`;
      const r = await mod.timeout(victim.user_id, 10, reason); // 10 s: the shortest timeout
      if (r.seq) actions.push({ kind, key: `${victim.user_id}|10|${reason}` });
      return;
    }
    if (kind === "unban") {
      const r = await mod.unban(victim.user_id); // lifts the timeout 4 actions later
      if (r.seq) actions.push({ kind, key: `${victim.user_id}|unban` });
      return;
    }
    if (!target) return;
    if (kind === "edit") {
      const text = `soak|edited ${k}`;
      const r = await viewers[target.by].edit(target.id, text);
      if (r.seq) actions.push({ kind, key: `${target.id}|${text}` });
    } else if (kind === "delete") {
      deletedIds.add(target.id);
      const r = await mod.delete(target.id);
      if (r.seq) actions.push({ kind, key: target.id });
    } else {
      const r = await mod.pin(target.id);
      if (r.seq) actions.push({ kind, key: target.id });
    }
  } catch (e) {
    actionErrors[`${kind}:${e?.code ?? e}`] = (actionErrors[`${kind}:${e?.code ?? e}`] ?? 0) + 1;
  }
}
const modTimer = cfg.modPerS > 0 ? setInterval(() => running && moderateOnce(), 1000 / cfg.modPerS) : null;
// Every 500 ms: 200 history members last 10 s at the default 20 msg/s, so a member is in several snapshots.
const redisTimer = setInterval(sampleRedis, 500);

// ----------------------------------------------------------------------------------- per minute
const rows = [];
const tStart = Date.now();
const workerPid = worker.child.pid;
const bridgePid = bridge.child.pid;
function deliveredIn(lo, hi) {
  const win = acked.filter((a) => a.at >= lo && a.at < hi);
  const expected = win.length * viewers.length;
  const got = win.reduce((s, a) => s + Math.min(received.get(a.id) ?? 0, viewers.length), 0);
  return { expected, got, ratio: expected ? got / expected : null };
}
async function report(final = false) {
  const now = Date.now();
  const minute = Math.round(((now - tStart) / 60_000) * 100) / 100;
  const stats = await fetchOurStats(workerPort, { streamId });
  const backlog = stats?.queue_backlog ? Math.max(0, ...Object.values(stats.queue_backlog)) : null;
  const d = deliveredIn(now - cfg.reportEveryS * 1000 - 5000, now - 5000);
  const row = {
    minute,
    acked: acked.filter((a) => a.at >= now - cfg.reportEveryS * 1000).length,
    acked_total: acked.length,
    delivered_ratio: d.ratio,
    delivered: d.got,
    expected: d.expected,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    room_rss: dataPathRssBytes(workerPid),
    room_heap: await heapAfterGc(),
    room_heap_detail: lastHeapDetail,
    room_rss_parts: workerdRssParts(workerPid),
    storage: persistDir ? duBytes(persistDir) : null,
    bridge_rss: treeRssBytes(bridgePid),
    loadgen_rss: process.memoryUsage().rss,
    backlog,
    queue_backlog: stats?.queue_backlog ?? null,
    redis_zcard: await redis.zCard(HKEY).catch(() => null),
    redis_changes: await redis.hLen(CKEY).catch(() => null),
    kafka_records: kafkaValues.length,
    viewers_open: viewers.filter((v) => v.state === "open").length,
    load1: Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]),
    final,
  };
  latencies = [];
  rows.push(row);
  log(
    `min ${minute}: acked ${row.acked} (total ${row.acked_total}), delivered ${d.ratio === null ? "–" : (d.ratio * 100).toFixed(2)} %, p99 ${row.p99_ms} ms, ` +
      `workerd RSS ${(row.room_rss / 1048576).toFixed(1)} MB (anon ${(row.room_rss_parts.anon / 1048576).toFixed(1)}, file ${(row.room_rss_parts.file / 1048576).toFixed(1)}, shmem ${(row.room_rss_parts.shmem / 1048576).toFixed(1)}), heap ${row.room_heap === null ? "–" : (row.room_heap / 1048576).toFixed(1)} MB, ` +
      `storage ${row.storage === null ? "–" : (row.storage / 1048576).toFixed(1)} MB, bridge ${(row.bridge_rss / 1048576).toFixed(1)} MB, backlog ${backlog}, ` +
      `redis ${row.redis_zcard}/${row.redis_changes}, kafka ${row.kafka_records}, open ${row.viewers_open}, load ${row.load1}`,
  );
}
const endAt = tStart + cfg.minutes * 60_000;
while (Date.now() < endAt) {
  await sleep(Math.min(cfg.reportEveryS * 1000, Math.max(0, endAt - Date.now())));
  await report();
}

// ------------------------------------------------------------------------------------ drain
running = false;
senderTimers.forEach(clearTimeout);
if (modTimer) clearInterval(modTimer);
await sleep(3000); // in-flight acks
const wantKafka = () => acked.length + actions.length;
const drainStart = Date.now();
for (;;) {
  const stats = await fetchOurStats(workerPort, { streamId });
  const backlog = stats?.queue_backlog ? Math.max(0, ...Object.values(stats.queue_backlog)) : null;
  const kafkaComments = kafkaValues.filter((v) => v.event_type === "stream_chat_message").length;
  if ((backlog === 0 && kafkaComments >= acked.length) || Date.now() - drainStart > 120_000) break;
  await sleep(1000);
}
const drainS = (Date.now() - drainStart) / 1000;
await sleep(3000); // would a duplicate still arrive?
clearInterval(redisTimer);
await sampleRedis();
await report(true);
const changes = await redis.hGetAll(CKEY).catch(() => ({}));
const deletedInRedis = Object.entries(changes).filter(([, v]) => {
  try {
    return JSON.parse(v).deleted === true;
  } catch {
    return false;
  }
}).map(([id]) => id);

const kafkaCheck = checkKafka(acked, kafkaValues);
const actionCheck = checkKafkaActions(actions, kafkaValues);
const redisCheck = checkRedis(acked, redisSamples, deletedInRedis);
const total = deliveredIn(0, Infinity);
const byMin = (key) => rows.filter((r) => !r.final).map((r) => [r.minute, r[key]]);
const trends = {
  "workerd RSS": memoryTrend(byMin("room_rss"), { warmupMin: cfg.warmupMin, maxSlopeMbPerMin: cfg.maxSlope }),
  "JS heap after GC": memoryTrend(byMin("room_heap"), { warmupMin: cfg.warmupMin, maxSlopeMbPerMin: cfg.maxSlope }),
  "bridge RSS": memoryTrend(byMin("bridge_rss"), { warmupMin: cfg.warmupMin, maxSlopeMbPerMin: cfg.maxSlope }),
};
const storageTrend = memoryTrend(byMin("storage"), { warmupMin: cfg.warmupMin, maxSlopeMbPerMin: cfg.maxSlope });
const judged = cfg.passOnRss ? { ...trends, "DO storage": storageTrend } : { "JS heap after GC": trends["JS heap after GC"], "bridge RSS": trends["bridge RSS"], "DO storage": storageTrend };
const v = verdict({ trends: judged, kafka: kafkaCheck, redis: redisCheck, delivered_ratio: total.ratio, actions: actionCheck });

for (const c of viewers) c.close();
mod.close();
await cdp?.close();
await consumer.disconnect().catch(() => {});
await redis.del([HKEY, CKEY]).catch(() => {});
await redis.quit().catch(() => {});
await stopAll();
if (persistDir) rmSync(persistDir, { recursive: true, force: true });
if (ownKafka) services("kafka-down");

// --------------------------------------------------------------------------------------- output
const doc = {
  schema: "edge-chat-soak/1",
  date: new Date(t0run).toISOString(),
  machine: machineInfo(),
  command: `npm run soak -- ${process.argv.slice(2).join(" ")}`.trim(),
  config: { ...cfg, kafka: brokers, storage: persistDir ? "persisted (Miniflare resourcePersistencePath, SQLite files)" : "Miniflare default" },
  pass: v.pass,
  reasons: v.reasons,
  trends: { ...trends, "DO storage": storageTrend },
  judged_trends: Object.keys(judged),
  totals: {
    acked: acked.length,
    rejected,
    delivered: total.got,
    expected: total.expected,
    delivered_ratio: total.ratio,
    duplicate_deliveries: dupDeliveries,
    moderation_acked: actions.reduce((s, a) => ((s[a.kind] = (s[a.kind] ?? 0) + 1), s), {}),
    moderation_errors: actionErrors,
    drain_s: drainS,
    kafka_records: kafkaValues.length,
    redis_samples: redisSamples.length,
  },
  kafka: { ...kafkaCheck, lost: kafkaCheck.lost.length, duplicated: kafkaCheck.duplicated.length, unexpected: kafkaCheck.unexpected.length, lost_ids: kafkaCheck.lost.slice(0, 20) },
  kafka_moderation: actionCheck,
  redis: { ...redisCheck, lost: redisCheck.lost.length, duplicated: redisCheck.duplicated.length, trimmedBeforeSeen: redisCheck.trimmedBeforeSeen.length, lost_ids: redisCheck.lost.slice(0, 20) },
  minutes: rows,
};
mkdirSync(cfg.out, { recursive: true });
writeFileSync(path.join(cfg.out, `${cfg.name}.json`), JSON.stringify(doc, null, 2) + "\n");
const pts = (key, scale = 1 / 1048576) => rows.map((r) => [r.minute, r[key] === null ? null : r[key] * scale]);
writeFileSync(
  path.join(cfg.out, `${cfg.name}.svg`),
  stackedCharts([
    {
      title: `soak ${doc.date.slice(0, 10)}: memory per minute`,
      axes: { x: "minute", y: "MB" },
      series: [
        { name: "workerd RSS", points: pts("room_rss") },
        { name: "JS heap after GC", points: pts("room_heap") },
        { name: "DO storage", points: pts("storage") },
        { name: "bridge RSS", points: pts("bridge_rss") },
      ],
    },
    { title: "delivery latency p99 per minute", axes: { x: "minute", y: "ms" }, series: [{ name: "p99 ms", points: pts("p99_ms", 1) }, { name: "p50 ms", points: pts("p50_ms", 1) }] },
  ]),
);
const pct = (x) => (x === null ? "–" : `${(x * 100).toFixed(3)} %`);
const trendLine = (name, t) => `${name} ${t.slope_mb_per_min === null ? `not judged (${t.reason})` : `${t.slope_mb_per_min} MB/min`}`;
const section = [
  `## Soak (\`npm run soak\`, issue 19 §6)`,
  ``,
  `Produced by \`scripts/soak.mjs\` (do not edit by hand). Command: \`${doc.command}\`; ${doc.date}; ${doc.machine.cpu_model ?? "?"}, ${doc.machine.cpus ?? os.cpus().length} CPUs, Linux x86-64, shared with other test runs (1-min load average per row in \`bench/results/${cfg.name}.json\`).`,
  `Load: ${cfg.viewers} SDK viewers on one stream, ${cfg.senders} of them sending ${cfg.rate} msg/s in total, ${cfg.modPerS} moderation action/s (edit, delete, pin, timeout in turn) → worker + ChatRoom on workerd (Miniflare, ${doc.config.storage}) → queues → bridge → Redis + Kafka (${brokers}).`,
  ``,
  `**${v.pass ? "PASS" : "FAIL"}**${v.reasons.length ? `: ${v.reasons.join("; ")}` : ""}. Acked ${acked.length} comments; delivered ${pct(total.ratio)} (${total.got}/${total.expected}); Kafka lost ${kafkaCheck.lost.length}, duplicated ${kafkaCheck.duplicated.length}; Redis lost ${redisCheck.lost.length}, duplicated ${redisCheck.duplicated.length}, unseen ${redisCheck.trimmedBeforeSeen.length}; moderation events in Kafka ${Object.entries(actionCheck).map(([kd, a]) => `${kd} ${a.found}/${a.acked}`).join(", ")}; drained in ${drainS.toFixed(1)} s.`,
  `Trends after a ${cfg.warmupMin}-min warm-up (least-squares slope, pass ≤ ${cfg.maxSlope} MB/min on ${doc.judged_trends.join(", ")}): ${Object.entries(doc.trends).map(([nme, t]) => trendLine(nme, t)).join("; ")}.`,
  ``,
  `![soak memory and p99 per minute](bench/results/${cfg.name}.svg)`,
  ``,
  minuteTable(rows),
].join("\n");
if (cfg.benchmarks) {
  const bp = path.join(ROOT, "BENCHMARKS.md");
  writeFileSync(bp, replaceSection(readFileSync(bp, "utf8"), section));
}
log(`${v.pass ? "PASS" : "FAIL"} ${v.reasons.join("; ")} → ${path.join(cfg.out, `${cfg.name}.json`)}`);
process.exit(v.pass ? 0 : 1);
