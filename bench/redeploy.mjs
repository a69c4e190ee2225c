#!/usr/bin/env node
// `npm run bench -- --scenario redeploy` (or `node bench/redeploy.mjs`) — issue 19 §2: a redeploy
// without a reconnect storm. N SDK clients (src/client ChatClient over `ws`, each with its own JWT,
// the browser's path: ticket POST then WebSocket) join one stream of our worker on workerd (Miniflare,
// Durable Object storage persisted to a scratch directory); a few of them send comments at a fixed
// total rate; then the worker process is stopped and a new one (a new DEPLOY_VERSION var) started on
// the same port and the same persisted state. Measured, from the clients' own state events:
//   - reconnect attempts (state "connecting") per second, and refusals (1013 `joins_busy`) per second
//   - connected clients (state "open") over time; the time from the stop until all are back
//   - comments missed: every comment a sender got an ack for, with a seq after the client's first
//     welcome, must have reached the client (history, live or reset); `reset` events are counted too
//   - attempt latency (connecting → open) p50/p99/max, and the longest time with no client becoming
//     open while some were waiting (a stall)
// Writes bench/results/redeploy/<mode>.json and .svg (the curve), and rewrites the table between
// the `redeploy:begin`/`redeploy:end` markers in BENCHMARKS.md from every JSON there.
//
//   node bench/redeploy.mjs [--clients 1000] [--rate 20] [--senders 5] [--warm-s 10] [--after-s 10]
//                           [--shard-max 0] [--port 19401] [--timeout-s 180] [--out bench/results/redeploy]
//                           [--table-only]
// Run it with `nice -n 10` on a shared machine; the load average is recorded before and after.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "./lib/args.mjs";
import { curveSvg } from "./lib/curve-svg.mjs";
import { signHs256 } from "./lib/jwt.mjs";
import { machineInfo, treeCpuSeconds } from "./lib/proc.mjs";
import { BUILD, bundle, JWT_SECRET, nodeBin, ROOT, sourceInfo, startProcess } from "./lib/targets.mjs";

// The SDK is TypeScript: run under tsx's loader (re-exec once).
if (!process.env.REDEPLOY_TSX) {
  const r = spawnSync(nodeBin(), ["--import", "tsx", ...process.execArgv, process.argv[1], ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, REDEPLOY_TSX: "1" },
  });
  process.exit(r.status ?? 1);
}

const { argv, opt, num } = parseArgs();
const outDir = path.resolve(String(opt("out", path.join(ROOT, "bench/results/redeploy"))));
const BENCH_MD = path.join(ROOT, "BENCHMARKS.md");

if (argv.includes("--table-only")) {
  writeTable();
  process.exit(0);
}

const N = num("clients", 1000);
const RATE = num("rate", 20);
const SENDERS = num("senders", 5);
const WARM_S = num("warm-s", 10);
const AFTER_S = num("after-s", 10);
const SHARD_MAX = num("shard-max", 0);
const PORT = num("port", 19401);
const TIMEOUT_S = num("timeout-s", 180);
const mode = SHARD_MAX > 0 ? `sharded-${SHARD_MAX}` : "single";

const { ChatClient } = await import("../src/client/index.ts");
const { WebSocket } = await import("ws");

const log = (...a) => console.error(`[redeploy ${((performance.now() - T0) / 1000).toFixed(1)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const T0 = performance.now();
const now = () => performance.now() - T0;

// ------------------------------------------------------------------------------------- the worker
const persist = path.join(BUILD, `redeploy-state-${process.pid}`);
const logDir = path.join(BUILD, "logs");
const script = bundle("ours", "wrangler.toml");
/** The product's limits (not the lifted ones of run.mjs): the join gate at its default. */
const vars = { JWT_SECRET, SHARD_MAX_SOCKETS: String(SHARD_MAX) };
async function startWorker(version) {
  const args = Object.entries({ ...vars, DEPLOY_VERSION: String(version) }).flatMap(([k, v]) => ["--var", `${k}=${v}`]);
  return startProcess({
    name: `redeploy-${mode}-v${version}`,
    args: ["bench/lib/miniflare-launch.mjs", "--config", "wrangler.toml", "--script", script, "--port", String(PORT), "--persist", persist, ...args],
    logDir,
  });
}

// ------------------------------------------------------------------------------------ the clients
const streamId = crypto.randomUUID();
const base = `http://127.0.0.1:${PORT}`;
const exp = Math.floor(Date.now() / 1000) + 6 * 3600;
/** Per client: its state, first welcome seq, delivered seqs, counters. */
const clients = [];
/** Timeline events: [t ms, kind] kind ∈ attempt | open | busy | lost. */
const events = [];
/** Attempt latencies (connecting → open), ms, with the time they ended. */
const latencies = [];
let resets = 0;
let duplicates = 0;
/** Why clients went to "reconnecting" (reason + close code), and the SDK's error codes: what held them back. */
const reasons = {};
const errors = {};

/**
 * Where an attempt's time goes after the restart: the ticket POST (request → response) and the
 * WebSocket's handshake (constructed → open), each [end time, ms]. Timed around the SDK's own
 * fetch and WebSocket, so the clients behave exactly as without it.
 */
const phases = { ticket: [], upgrade: [] };
const timedFetch = async (input, init) => {
  const t0 = now();
  try {
    return await fetch(input, init);
  } finally {
    phases.ticket.push([now(), now() - t0]);
  }
};
class TimedWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    const t0 = now();
    this.addEventListener("open", () => phases.upgrade.push([now(), now() - t0]));
  }
}

for (let i = 0; i < N; i++) {
  const sub = crypto.randomUUID();
  const token = signHs256({ sub, username: `v${i}`, iat: Math.floor(Date.now() / 1000), exp }, JWT_SECRET);
  const c = { i, state: "idle", firstSeq: null, seen: new Set(), attemptAt: null, client: null };
  // maxComments 20: the harness is 1,000 clients in one Node process; each keeps an immutable view,
  // and with the default (200) copying it per comment made the load generator the bottleneck.
  c.client = new ChatClient({ baseUrl: base, streamId, credentials: () => ({ token }), WebSocket: TimedWebSocket, fetch: timedFetch, network: false, maxComments: 20 });
  c.client.on("state", (s) => {
    c.state = s.state;
    const t = now();
    if (s.state === "connecting") {
      events.push([t, "attempt"]);
      c.attemptAt = t;
    } else if (s.state === "open") {
      events.push([t, "open"]);
      if (c.attemptAt !== null) latencies.push([t, t - c.attemptAt]);
    } else if (s.state === "reconnecting") {
      events.push([t, s.reason === "server_busy" ? "busy" : "lost"]);
      const why = `${s.reason ?? "?"}${s.closeCode ? ` ${s.closeCode}` : ""}${s.reason === "network_error" && s.detail ? `: ${s.detail.slice(0, 60)}` : ""}`;
      reasons[why] = (reasons[why] ?? 0) + 1;
    }
  });
  c.client.on("welcome", (w) => {
    if (c.firstSeq === null) c.firstSeq = w.seq;
  });
  const see = (list) => {
    for (const x of list) {
      if (c.seen.has(x.seq)) duplicates++;
      c.seen.add(x.seq);
    }
  };
  c.client.on("history", (h) => see(h.comments));
  c.client.on("comment", (x) => see([x]));
  c.client.on("reset", (r) => {
    resets++;
    see(r.comments);
  });
  c.client.on("error", (e) => {
    const code = e?.code ?? String(e);
    errors[code] = (errors[code] ?? 0) + 1;
  });
  clients.push(c);
}
const openCount = () => clients.reduce((n, c) => n + (c.state === "open" ? 1 : 0), 0);
async function waitAllOpen(what) {
  const deadline = now() + TIMEOUT_S * 1000;
  while (openCount() < N) {
    if (now() > deadline) {
      log(`${what}: only ${openCount()}/${N} open after ${TIMEOUT_S} s`);
      return false;
    }
    await sleep(50);
  }
  return true;
}

// Samples of the connected count every 100 ms.
const samples = [];
const sampler = setInterval(() => samples.push([now(), openCount()]), 100);

const load0 = os.loadavg();
log(`load average ${load0.map((x) => x.toFixed(2)).join(" ")}; mode ${mode}; ${N} clients`);
let worker = await startWorker(1);
const tJoin = now();
for (const c of clients) c.client.connect();
const joinedOk = await waitAllOpen("first join");
const joinS = (now() - tJoin) / 1000;
log(`all ${openCount()} open in ${joinS.toFixed(1)} s`);

// ------------------------------------------------------------------------------------ the senders
const acked = [];
let sendFailures = 0;
let sending = true;
const senders = clients.slice(0, SENDERS);
const perSenderMs = (1000 * SENDERS) / RATE;
const sendLoops = senders.map(async (c, k) => {
  await sleep((k * perSenderMs) / SENDERS);
  let n = 0;
  const pending = [];
  while (sending) {
    pending.push(
      c.client.send(`redeploy ${c.i}.${n++}`).then(
        (r) => acked.push(r.seq),
        () => sendFailures++,
      ),
    );
    await sleep(perSenderMs);
  }
  await Promise.allSettled(pending);
});

await sleep(WARM_S * 1000);
const tStop = now();
log(`stopping the worker (v1)`);
await worker.stop();
const tDown = now();
worker = await startWorker(2);
const tUp = now();
log(`v2 ready: down ${((tUp - tStop) / 1000).toFixed(1)} s`);
const cpu0 = { worker: treeCpuSeconds(worker.pid), loadgen: process.cpuUsage() };
const backOk = await waitAllOpen("after restart");
const tBack = now();
// CPU while the crowd came back (v2 up → all open): the worker's process tree and this load generator.
const lg = process.cpuUsage(cpu0.loadgen);
const recoveryCpu = {
  wall_s: +((tBack - tUp) / 1000).toFixed(2),
  worker_cpu_s: +(treeCpuSeconds(worker.pid) - cpu0.worker).toFixed(2),
  loadgen_cpu_s: +((lg.user + lg.system) / 1e6).toFixed(2),
};
log(`all back ${((tBack - tStop) / 1000).toFixed(1)} s after the stop`);
await sleep(AFTER_S * 1000);
sending = false;
await Promise.race([Promise.all(sendLoops), sleep(30_000)]);
await sleep(3000); // the last comments reach everyone
clearInterval(sampler);

// ------------------------------------------------------------------------------------------ count
let missed = 0;
let clientsMissing = 0;
for (const c of clients) {
  let m = 0;
  for (const seq of acked) if (c.firstSeq !== null && seq > c.firstSeq && !c.seen.has(seq)) m++;
  missed += m;
  if (m) clientsMissing++;
}
const rel = (t) => (t - tStop) / 1000;
const inWindow = (kind, from, to) => events.filter(([t, k]) => k === kind && t >= from && t < to).length;
const lat = latencies.filter(([t]) => t >= tStop).map(([, d]) => d).sort((a, b) => a - b);
const pct = (p) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]) : null);
// A stall: the longest stretch after v2 was up with clients waiting and none becoming open.
let stallMs = 0;
{
  const opens = events.filter(([t, k]) => k === "open" && t >= tUp).map(([t]) => t);
  let prev = tUp;
  for (const t of [...opens, tBack]) {
    stallMs = Math.max(stallMs, t - prev);
    prev = t;
  }
}
const bins = [];
for (let s = Math.floor(-WARM_S); s < Math.ceil(rel(tBack)) + 2; s++) {
  const from = tStop + s * 1000;
  bins.push({ s, attempts: inWindow("attempt", from, from + 1000), refused: inWindow("busy", from, from + 1000), opened: inWindow("open", from, from + 1000) });
}
const load1 = os.loadavg();
const result = {
  scenario: "redeploy",
  mode,
  date: new Date().toISOString(),
  machine: machineInfo(),
  source: sourceInfo(),
  load_before: load0.map((x) => +x.toFixed(2)),
  load_after: load1.map((x) => +x.toFixed(2)),
  clients: N,
  rate: RATE,
  senders: SENDERS,
  first_join_s: +joinS.toFixed(2),
  first_join_all: joinedOk,
  down_s: +((tUp - tStop) / 1000).toFixed(2),
  stop_s: +((tDown - tStop) / 1000).toFixed(2),
  all_back: backOk,
  back_after_stop_s: +rel(tBack).toFixed(2),
  back_after_up_s: +((tBack - tUp) / 1000).toFixed(2),
  attempts_first_5s: inWindow("attempt", tStop, tStop + 5000),
  refused_first_5s: inWindow("busy", tStop, tStop + 5000),
  attempts_total: inWindow("attempt", tStop, tBack + 1),
  refused_total: inWindow("busy", tStop, tBack + 1),
  peak_attempts_per_s: Math.max(...bins.filter((b) => b.s >= 0).map((b) => b.attempts)),
  attempt_ms: { p50: pct(50), p99: pct(99), max: lat.length ? Math.round(lat.at(-1)) : null },
  longest_stall_ms: Math.round(stallMs),
  acked: acked.length,
  send_failures: sendFailures,
  missed,
  clients_missing: clientsMissing,
  resets,
  duplicates,
  reconnect_reasons: reasons,
  recovery_cpu: recoveryCpu,
  // After the stop: ticket POST and WebSocket handshake durations (ms), p50 / p99 / max / count.
  phases_after_stop: Object.fromEntries(
    Object.entries(phases).map(([k, list]) => {
      const d = list.filter(([t]) => t >= tStop).map(([, ms]) => ms).sort((a, b) => a - b);
      const q = (p) => (d.length ? Math.round(d[Math.min(d.length - 1, Math.floor(p * d.length))]) : null);
      return [k, { p50: q(0.5), p99: q(0.99), max: d.length ? Math.round(d.at(-1)) : null, n: d.length }];
    }),
  ),
  errors,
  bins,
  connected: samples.filter(([t]) => t >= tStop - WARM_S * 1000).map(([t, n]) => [+rel(t).toFixed(1), n]),
};
for (const c of clients) c.client.close();
await worker.stop();
rmSync(persist, { recursive: true, force: true });

mkdirSync(outDir, { recursive: true });
writeFileSync(path.join(outDir, `${mode}.json`), JSON.stringify(result, null, 1) + "\n");
writeFileSync(
  path.join(outDir, `${mode}.svg`),
  curveSvg({
    title: `Redeploy under ${N} SDK clients (${mode}, ${RATE} msg/s): back in ${result.back_after_stop_s} s, ${missed} missed`,
    xLabel: "seconds since the worker was stopped",
    leftLabel: "per second",
    rightLabel: "connected clients",
    markers: [{ x: 0, label: "stop v1" }, { x: rel(tUp), label: "v2 up" }],
    series: [
      { name: "reconnect attempts/s", color: "#d62728", points: bins.map((b) => [b.s + 0.5, b.attempts]) },
      { name: "1013 refusals/s", color: "#ff7f0e", points: bins.map((b) => [b.s + 0.5, b.refused]) },
      { name: "connected", color: "#1f77b4", axis: "right", points: result.connected },
    ],
  }),
);
const { bins: _b, connected: _c, machine: _m, source: _s, ...summary } = result;
console.log(JSON.stringify(summary, null, 1));
writeTable();

/** Rewrites BENCHMARKS.md between the redeploy markers from every JSON in outDir. */
function writeTable() {
  const rows = readdirSync(outDir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(outDir, f), "utf8")));
  const head =
    "| mode | clients | msg/s | date (UTC) | load avg before → after | worker down | attempts in first 5 s (1013 refused) | peak attempts/s | all back after stop | attempt p50 / p99 / max | longest stall | acked | missed | resets | chart |\n" +
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";
  const lines = rows.map(
    (r) =>
      `| ${r.mode} | ${r.clients} | ${r.rate} | ${r.date.slice(0, 16).replace("T", " ")} | ${r.load_before[0]} → ${r.load_after[0]} | ${r.down_s} s | ${r.attempts_first_5s} (${r.refused_first_5s}) | ${r.peak_attempts_per_s} | ${r.all_back ? `${r.back_after_stop_s} s` : `not all in ${r.back_after_stop_s} s`} | ${r.attempt_ms.p50} / ${r.attempt_ms.p99} / ${r.attempt_ms.max} ms | ${r.longest_stall_ms} ms | ${r.acked} | ${r.missed}${r.clients_missing ? ` (${r.clients_missing} clients)` : ""} | ${r.resets} | [svg](bench/results/redeploy/${r.mode}.svg) |`,
  );
  const machine = rows[0]?.machine ? String(rows[0].machine.cpu_model ?? "").trim() : "";
  const block = [
    "<!-- redeploy:begin (written by bench/redeploy.mjs; do not edit by hand) -->",
    `Machine: 2-core Linux x86-64 (shared with other jobs: see the load average column)${machine ? `, ${machine}` : ""}. Command: \`nice -n 10 npm run bench -- --scenario redeploy [--shard-max N]\`.`,
    "",
    head,
    ...lines,
    "<!-- redeploy:end -->",
  ].join("\n");
  const md = readFileSync(BENCH_MD, "utf8");
  const re = /<!-- redeploy:begin[\s\S]*?<!-- redeploy:end -->/;
  writeFileSync(BENCH_MD, re.test(md) ? md.replace(re, block) : `${md.trimEnd()}\n\n## Redeploy without a reconnect storm (issue 19 §2)\n\n${block}\n`);
}
