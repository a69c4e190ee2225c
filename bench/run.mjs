#!/usr/bin/env node
// `npm run bench` — chat fan-out benchmark: our worker + ChatRoom on workerd against a plain Node
// `ws` broadcast server (the baseline), Socket.IO 4 and partyserver, under identical open-loop load.
// See BENCHMARKS.md for what is measured and how to read it.
//
//   node bench/run.mjs [--scenario seed|fanout5k|sweep|idle|proxyhop|hot|seedshard|quiet|seedbatch|sweepbatch|modes|smoke|all|flood|profile] [--targets a,b,...]
//                      [--reps 3] [--conns N] [--rate R] [--senders S] [--duration s] [--warmup s]
//                      [--idle-s 12] [--out bench/results] [--no-pin] [--server-cpu 0] [--load-cpu 1]
//                      [--client raw|ws]   (load-generator WebSocket client; raw = bench/lib/rawws.mjs)
//                      [--shard-max N]     (SHARD_MAX_SOCKETS of the ours-sharded* targets; default 2,500)
//
// The load generator (this process) is pinned to --load-cpu and every server tree to --server-cpu
// with taskset; the run re-executes itself under taskset to get there. `--scenario flood` hands
// every other argument to bench/flood.mjs (hostile input, issue 9), `--scenario profile` to
// bench/profile.mjs (a CPU profile of the delivery path, issue 20), `--scenario redeploy` to
// bench/redeploy.mjs (a worker restart under 1,000 SDK clients, issue 19 §2), `--scenario slow` to
// bench/slow.mjs (paused readers while viewers read a burst, issue 19 §3).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { LoadGen } from "./lib/loadgen.mjs";
import { dataPathGrowthByProcess, dataPathRssBytes, machineInfo, selfAffinity, settle, treeCpuByComm, treeCpuSeconds, treeDetail, treeRssBytes, treeRunqueueWaitSeconds } from "./lib/proc.mjs";
import { bundleInfo, DEFAULT_BENCH_SHARD_MAX, fetchOurStats, freePort, newRunContext, nodeBin, ROOT, sourceInfo, TARGETS } from "./lib/targets.mjs";
import { reexecPinned } from "./lib/pin.mjs";
import { BATCH_SCENARIOS } from "./lib/scenarios-batch.mjs";
import { writeReport } from "./report.mjs";
import { parseArgs } from "./lib/args.mjs";

// ------------------------------------------------------------------------------------------ args
const { argv, opt, num } = parseArgs();

const pin = !argv.includes("--no-pin");
const serverCpu = pin ? num("server-cpu", 0) : null;
const loadCpu = num("load-cpu", 1);

// `--scenario flood` (issue 9's hostile-input figures) and `--scenario profile` (issue 20's CPU
// profile of the delivery path) have their own drivers, bench/flood.mjs and bench/profile.mjs.
const OWN_DRIVERS = { flood: "bench/flood.mjs", profile: "bench/profile.mjs", redeploy: "bench/redeploy.mjs", slow: "bench/slow.mjs" };
if (OWN_DRIVERS[opt("scenario")]) {
  const rest = argv.filter((a, i) => a !== "--scenario" && argv[i - 1] !== "--scenario");
  const r = spawnSync(nodeBin(), [path.join(ROOT, OWN_DRIVERS[opt("scenario")]), ...rest], { stdio: "inherit" });
  process.exit(r.status ?? 1);
}

/** Soft and hard RLIMIT_NOFILE of this process, from /proc/self/limits (null if unreadable). */
function openFilesLimit() {
  try {
    const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync("/proc/self/limits", "utf8"));
    const n = (x) => (x === "unlimited" ? Infinity : Number(x));
    return m ? { soft: n(m[1]), hard: n(m[2]) } : null;
  } catch {
    return null;
  }
}

// Every connection is one descriptor in the load generator and one in workerd (which inherits our
// limit through Miniflare): with 10,000 connections the usual 1,024 is not enough. raiseOpenFiles()
// lifts this process's limit with `prlimit --pid` before any server starts (children inherit it):
// the soft limit up to the hard one, the hard one too where the kernel lets us (root with
// CAP_SYS_RESOURCE). It warns, and the run goes on, when it cannot reach the need.
const NOFILE_MARGIN = 2048;
function nofileNeed() {
  const arg = String(opt("scenario", "seed"));
  const names = arg === "all" ? ["seed", "fanout5k", "sweep", "idle", "proxyhop"] : arg.split(",");
  const conns = opt("conns") !== undefined ? Number(opt("conns")) : Math.max(0, ...names.map((n) => SCENARIOS[n]?.conns ?? 0));
  return conns + NOFILE_MARGIN;
}
function raiseOpenFiles() {
  const need = nofileNeed();
  const lim = openFilesLimit();
  if (lim === null || lim.soft >= need) return;
  for (const [soft, hard] of [[need, Math.max(need, lim.hard)], [Math.min(need, lim.hard), lim.hard]]) {
    const hardS = Number.isFinite(hard) ? hard : "unlimited";
    const r = spawnSync("prlimit", ["--pid", String(process.pid), `--nofile=${soft}:${hardS}`], { stdio: "ignore" });
    if (r.status === 0) break;
  }
  const now = openFilesLimit();
  if (!now || now.soft < need) {
    console.error(`[bench] open-files limit ${now?.soft} < ${need} needed for this run (prlimit could not raise it): raise \`ulimit -n\` first, or connections will fail with EMFILE`);
  }
  // workerd (every Durable Object of a target lives in one workerd process) holds 2 descriptors per
  // WebSocket, so the server runs out first.
  const conns = need - NOFILE_MARGIN;
  if (now && 2 * conns + 200 > now.soft) {
    console.error(`[bench] workerd targets: ${conns} connections need ~${2 * conns + 200} descriptors in workerd (2 per WebSocket), over the open-files limit ${now.soft}: expect "Too many open files" in the server log and failed upgrades`);
  }
}

// Re-exec pinned (and on Node 22) unless already done.
function reexecIfNeeded() {
  raiseOpenFiles();
  if (pin) reexecPinned(loadCpu);
}

export const SCENARIOS = {
  smoke: { kind: "load", conns: 20, rate: 20, senders: 2, warmup: 0.5, duration: 2, reps: 1 },
  seed: { kind: "load", conns: 1000, rate: 100, senders: 4, warmup: 2, duration: 10 },
  fanout5k: { kind: "load", conns: 5000, rate: 20, senders: 4, warmup: 2, duration: 10 },
  sweep: {
    kind: "sweep",
    conns: 1000,
    senders: 4,
    warmup: 1,
    duration: 5,
    rates: [50, 100, 200, 400, 700, 1000, 1500, 2000, 3000, 4000, 6000, 8000],
    bisect: 2,
    min_delivered: 0.999,
    max_p99_ms: 250,
  },
  idle: { kind: "idle", conns: 1000, idle_s: 15 },
  // Sizes the `wrangler dev` proxy hop: a load that neither variant saturates.
  proxyhop: { kind: "load", conns: 1000, rate: 20, senders: 4, warmup: 2, duration: 10, targets: ["ours", "ours-dev"], baseline: "ours" },
  // Issue 12, fan-out shards. `pairs`: each sharded target's ratios are against its single-room twin.
  // hot: one stream with ~10,000 viewers at 20 msg/s (~200 k deliveries/s asked of one server core).
  // 9,900, not 10,000: workerd holds 2 descriptors per WebSocket and this machine's hard open-files
  // limit is 20,000 (not raisable without CAP_SYS_RESOURCE), so one workerd tops out near 9,980
  // sockets (past that: "dup(): Too many open files" and closed upgrades). --conns overrides.
  hot: {
    kind: "load",
    conns: 9900,
    rate: 20,
    senders: 4,
    warmup: 2,
    duration: 10,
    reps: 1,
    targets: ["ours", "ours-sharded", "ours-batch", "ours-sharded-batch"],
    baseline: "ours",
    pairs: { "ours-sharded": "ours", "ours-sharded-batch": "ours-batch" },
  },
  // The seed load through the shard path: what the extra hop (room → shard → sockets) costs per delivery.
  seedshard: {
    kind: "load",
    conns: 1000,
    rate: 100,
    senders: 4,
    warmup: 2,
    duration: 10,
    targets: ["ours", "ours-batch", "ours-sharded", "ours-sharded-batch"],
    baseline: "ours",
    pairs: { "ours-sharded": "ours", "ours-sharded-batch": "ours-batch" },
  },
  // Issue 20: batched viewers — quiet, seedbatch, sweepbatch (bench/lib/scenarios-batch.mjs).
  ...BATCH_SCENARIOS,
};
reexecIfNeeded();
const DEFAULT_TARGETS = ["ws", "ws-batch", "socketio", "ours", "ours-batch", "partyserver"];

const scenarioArg = String(opt("scenario", "seed"));
const scenarioNames = scenarioArg === "all" ? ["seed", "fanout5k", "sweep", "idle", "proxyhop"] : scenarioArg.split(",");
const outDir = path.resolve(String(opt("out", path.join(ROOT, "bench/results"))));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ------------------------------------------------------------------------------------ one target
async function measured(fn, serverPid) {
  const c0 = treeCpuSeconds(serverPid);
  const byComm0 = treeCpuByComm(serverPid);
  const rq0 = treeRunqueueWaitSeconds(serverPid);
  const lrq0 = treeRunqueueWaitSeconds("self");
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await fn();
  const wall = (performance.now() - t0) / 1000;
  const cpu = treeCpuSeconds(serverPid) - c0;
  r.server_cpu_s_by_process = diffByComm(byComm0, treeCpuByComm(serverPid));
  // Time runnable but not running: other processes on the pinned core (a shared machine).
  r.server_runqueue_wait_s = treeRunqueueWaitSeconds(serverPid) - rq0;
  r.loadgen_runqueue_wait_s = treeRunqueueWaitSeconds("self") - lrq0;
  const u = process.cpuUsage(u0);
  const lgCpu = (u.user + u.system) / 1e6;
  r.server_cpu_s = cpu;
  r.server_cpu_util = cpu / wall;
  r.server_cpu_us_per_delivery = r.delivered ? (cpu * 1e6) / r.delivered : null;
  r.loadgen_cpu_util = lgCpu / wall;
  r.loadgen_cpu_sys_share = lgCpu ? u.system / 1e6 / lgCpu : null;
  // A load generator near 100 % of its core measures itself, not the server.
  r.loadgen_saturated = r.loadgen_cpu_util > 0.9;
  return r;
}

function diffByComm(a, b) {
  const out = {};
  for (const [k, v] of Object.entries(b)) out[k] = Math.round((v - (a[k] ?? 0)) * 100) / 100;
  return out;
}

async function runTarget(name, sc, rep, order) {
  const t = TARGETS[name];
  if (!t) throw new Error(`unknown target ${name} (known: ${Object.keys(TARGETS).join(", ")})`);
  const ctx = newRunContext({ serverCpu, logDir: path.join(outDir, "logs"), logPrefix: `${sc.name}-r${rep}-`, shardMax: sc.shard_max, conns: sc.conns });
  const port = await freePort();
  const started = performance.now();
  const result = { target: name, label: t.label, rep, order, port, ...(t.sharded !== undefined ? { shard_max_sockets: t.sharded ? sc.shard_max : 0 } : {}) };
  let server;
  try {
    server = await t.start(ctx, port);
  } catch (e) {
    result.error = `start failed: ${e?.message ?? e}`;
    log(`${name} rep ${rep}: ERROR ${result.error}`);
    return result;
  }
  result.startup_s = (performance.now() - started) / 1000;
  const lg = new LoadGen({ spec: t.spec(port, ctx), protocol: t.protocol, textLen: sc.text_len ?? 64, client: sc.client });
  try {
    await sleep(1000);
    const rss0 = treeRssBytes(server.pid);
    const dp0 = dataPathRssBytes(server.pid);
    result.processes_at_start = treeDetail(server.pid);
    // First one connection (it also wakes the room: a DO instance, its isolate, storage), then the
    // rest: (RSS at N − RSS at 1) / (N − 1) is the marginal cost of a connection.
    const first = await lg.connect(1);
    await sleep(500);
    const rss1 = treeRssBytes(server.pid);
    const dp1 = dataPathRssBytes(server.pid);
    // 64 handshakes in flight; ≥ 120 s in all (10,000 connections take ~10–60 s here).
    const connectTimeoutMs = Math.max(120_000, sc.conns * 20);
    const rest = sc.conns > 1 ? await lg.connect(sc.conns - 1, { start: 1, timeoutMs: connectTimeoutMs }) : { open: 0, failed: 0, failures: {}, connect_s: 0 };
    result.connect = {
      requested: sc.conns,
      open: lg.conns.length,
      failed: first.failed + rest.failed,
      failures: { ...first.failures, ...rest.failures },
      connect_s: first.connect_s + rest.connect_s,
    };
    log(`${name} rep ${rep}: ${result.connect.open}/${sc.conns} open in ${result.connect.connect_s.toFixed(1)} s`, result.connect.failed ? result.connect.failures : "");
    if (result.connect.open === 0) throw new Error(`${name}: no connection opened (${JSON.stringify(result.connect.failures)})`);
    await sleep(1000);
    result.settle_after_connect_s = await settle(server.pid);
    // Our worker: the room's own count of sockets per shard (how many shards the viewers landed on).
    if (t.protocol === "ours") {
      result.room_stats_after_connect = await fetchOurStats(port, ctx);
      result.shards = shardsOf(result.room_stats_after_connect);
      if (result.shards) log(`${name} rep ${rep}: room sees ${result.shards.sockets} sockets on ${result.shards.used} shard(s) ${JSON.stringify(result.shards.per_shard)}`);
    }
    const rssN = treeRssBytes(server.pid);
    const dpN = dataPathRssBytes(server.pid);
    result.memory = {
      rss_at_0_bytes: rss0,
      rss_at_n_bytes: rssN,
      // (RSS at N − RSS at 0) / N over the whole server process tree, as specified …
      bytes_per_conn: (rssN - rss0) / result.connect.open,
      // … and over the data-path processes only (workerd for workerd targets): less noisy.
      data_path_rss_at_0_bytes: dp0,
      data_path_rss_at_n_bytes: dpN,
      data_path_bytes_per_conn: (dpN - dp0) / result.connect.open,
      rss_at_1_bytes: rss1,
      marginal_bytes_per_conn: result.connect.open > 1 ? (rssN - rss1) / (result.connect.open - 1) : null,
      data_path_marginal_bytes_per_conn: result.connect.open > 1 ? (dpN - dp1) / (result.connect.open - 1) : null,
      processes_at_n: treeDetail(server.pid),
    };
    // Per data-path process (wrangler dev: its proxy's workerd and the user worker's, by pid).
    result.memory.data_path_bytes_per_conn_by_process = dataPathGrowthByProcess(result.processes_at_start, result.memory.processes_at_n, result.connect.open);
    let stepId = 1;
    if (sc.kind === "load") {
      await lg.runStep({ id: stepId++, rate: sc.rate, durationMs: sc.warmup * 1000, senders: sc.senders });
      await settle(server.pid);
      const r = await measured(() => lg.runStep({ id: stepId++, rate: sc.rate, durationMs: sc.duration * 1000, senders: sc.senders }), server.pid);
      result.steps = [r];
      log(`${name} rep ${rep}: ${fmtStep(r)}`);
      if (t.protocol === "ours") result.room_stats_after_step = await fetchOurStats(port, ctx);
    } else if (sc.kind === "sweep") {
      await lg.runStep({ id: stepId++, rate: sc.rates[0], durationMs: sc.warmup * 1000, senders: sc.senders });
      result.steps = [];
      const pass = (r) => r.delivered_ratio >= sc.min_delivered && r.latency_ms.p99 !== null && r.latency_ms.p99 < sc.max_p99_ms;
      let lo = null;
      let hi = null;
      const step = async (rate) => {
        await settle(server.pid);
        const r = await measured(() => lg.runStep({ id: stepId++, rate, durationMs: sc.duration * 1000, senders: sc.senders, maxDrainMs: 8000 }), server.pid);
        r.pass = pass(r);
        result.steps.push(r);
        log(`${name} rep ${rep} sweep: ${fmtStep(r)} ${r.pass ? "PASS" : "FAIL"}`);
        return r.pass;
      };
      for (const rate of sc.rates) {
        if (await step(rate)) lo = rate;
        else {
          hi = rate;
          break;
        }
      }
      // Failed at the bottom of the ladder: halve (≤ 3 times) to find a rate that does pass.
      for (let d = 0; d < 3 && lo === null && hi !== null && hi / 2 >= 5; d++) {
        const rate = Math.round(hi / 2);
        if (await step(rate)) lo = rate;
        else hi = rate;
      }
      for (let b = 0; b < sc.bisect && lo !== null && hi !== null; b++) {
        const mid = Math.round(Math.sqrt(lo * hi));
        if (mid <= lo || mid >= hi) break;
        if (await step(mid)) lo = mid;
        else hi = mid;
      }
      result.sweep = { max_rate_ok: lo, first_fail_rate: hi, limited_by_loadgen: result.steps.at(-1)?.loadgen_saturated ?? false };
    } else if (sc.kind === "ladder") {
      // Every rate in turn on this server start; one measured step per rate, no pass/fail.
      await lg.runStep({ id: stepId++, rate: sc.rates[0], durationMs: sc.warmup * 1000, senders: sc.senders });
      result.steps = [];
      for (const rate of sc.rates) {
        await settle(server.pid);
        const r = await measured(() => lg.runStep({ id: stepId++, rate, durationMs: sc.duration * 1000, senders: sc.senders, maxDrainMs: 8000 }), server.pid);
        result.steps.push(r);
        log(`${name} rep ${rep} ladder: ${fmtStep(r)}`);
      }
    } else if (sc.kind === "idle") {
      // One broadcast before the idle period (so a room that restarts its in-memory state on wake-up
      // shows it: partyserver's seq restarts at 1), then silence, then the measured broadcast.
      const prime = await lg.runStep({ id: stepId++, rate: 1, durationMs: 1000, senders: 1, drainMs: 5000 });
      result.prime_seq = seqOf(prime.sample_frame);
      const cpu0 = treeCpuSeconds(server.pid);
      const byComm0 = treeCpuByComm(server.pid);
      await sleep(sc.idle_s * 1000);
      const rssIdle = treeRssBytes(server.pid);
      const dpIdle = dataPathRssBytes(server.pid);
      result.memory.rss_after_idle_bytes = rssIdle;
      result.memory.bytes_per_conn_after_idle = (rssIdle - rss0) / result.connect.open;
      result.memory.data_path_rss_after_idle_bytes = dpIdle;
      result.memory.data_path_bytes_per_conn_after_idle = (dpIdle - dp0) / result.connect.open;
      result.memory.processes_after_idle = treeDetail(server.pid);
      result.idle_server_cpu_s = treeCpuSeconds(server.pid) - cpu0;
      result.idle_server_cpu_s_by_process = diffByComm(byComm0, treeCpuByComm(server.pid));
      const first = await measured(() => lg.runStep({ id: stepId++, rate: 1, durationMs: 1000, senders: 1, drainMs: 5000 }), server.pid);
      await sleep(1000);
      const second = await measured(() => lg.runStep({ id: stepId++, rate: 1, durationMs: 1000, senders: 1, drainMs: 5000 }), server.pid);
      first.label = `first broadcast after ${sc.idle_s} s idle`;
      result.first_after_idle_seq = seqOf(first.sample_frame);
      // Only a room that keeps seq in memory reveals an eviction this way (ours persists it).
      result.seq_persisted = Boolean(t.seqPersisted);
      second.label = "second broadcast (warm)";
      result.steps = [first, second];
      log(`${name} rep ${rep} idle: ${(result.memory.bytes_per_conn_after_idle / 1024).toFixed(1)} KiB/conn; first ${fmtStep(first)}; warm p99 ${second.latency_ms.p99} ms`);
    }
    result.memory.rss_end_bytes = treeRssBytes(server.pid);
    result.processes_at_end = treeDetail(server.pid);
    result.server_error_frames = lg.errors;
    result.unexpected_closes = lg.unexpectedCloses;
    if (t.protocol === "ours") result.seq_order = { ...lg.seqTotals, samples: lg.seqReport(), gaps_per_100_conns: lg.seqGapsByConn };
  } catch (e) {
    result.error = String(e?.stack ?? e);
    log(`${name} rep ${rep}: ERROR ${e?.message ?? e}`);
  } finally {
    lg.close();
    await server.stop();
  }
  return result;
}

/** Shards the room reports (stats viewers.per_shard): how many hold ≥ 1 socket, and the counts. Null without stats. */
function shardsOf(stats) {
  const per = stats?.viewers?.per_shard;
  if (!per || typeof per !== "object") return null;
  return { used: Object.values(per).filter((n) => n > 0).length, sockets: stats.viewers.total, per_shard: per };
}

const seqOf = (frame) => (frame ? Number(/"seq":(\d+)/.exec(frame)?.[1] ?? NaN) : null);

function fmtStep(r) {
  const l = r.latency_ms;
  return (
    `rate ${r.rate}/s × ${r.conns}: delivered ${(r.delivered_ratio * 100).toFixed(3)}% ` +
    `p50 ${l.p50} p90 ${l.p90} p99 ${l.p99} max ${l.max} ms, ${Math.round(r.deliveries_per_s)} deliv/s, ` +
    `srv ${r.server_cpu_us_per_delivery?.toFixed(2) ?? "–"} µs/deliv (${(r.server_cpu_util * 100).toFixed(0)}% core), ` +
    `lg ${(r.loadgen_cpu_util * 100).toFixed(0)}% (sys ${Math.round((r.loadgen_cpu_sys_share ?? 0) * 100)}%), ` +
    `rq wait srv ${r.server_runqueue_wait_s.toFixed(2)} s lg ${r.loadgen_runqueue_wait_s.toFixed(2)} s` +
    (r.seq_out_of_order || r.seq_duplicates || r.seq_missing ? `; SEQ out-of-order ${r.seq_out_of_order} dup ${r.seq_duplicates} missing ${r.seq_missing}` : "")
  );
}

// ------------------------------------------------------------------------------------------ main
function scenarioConfig(name) {
  const base = SCENARIOS[name];
  if (!base) throw new Error(`unknown scenario ${name} (known: ${Object.keys(SCENARIOS).join(", ")}, all)`);
  const sc = { name, ...base };
  for (const k of ["conns", "rate", "senders", "duration", "warmup"]) if (opt(k) !== undefined) sc[k] = Number(opt(k));
  if (opt("idle-s") !== undefined) sc.idle_s = Number(opt("idle-s"));
  sc.client = String(opt("client", "raw"));
  if (opt("rates") !== undefined) sc.rates = String(opt("rates")).split(",").map(Number);
  sc.reps = opt("reps") !== undefined ? Number(opt("reps")) : (base.reps ?? 3);
  sc.targets = opt("targets") !== undefined ? String(opt("targets")).split(",") : (base.targets ?? DEFAULT_TARGETS);
  sc.shard_max = opt("shard-max") !== undefined ? Number(opt("shard-max")) : DEFAULT_BENCH_SHARD_MAX;
  if (!Number.isInteger(sc.shard_max) || sc.shard_max <= 0) throw new Error(`--shard-max must be a positive integer (got ${opt("shard-max")})`);
  return sc;
}

async function main() {
  mkdirSync(path.join(outDir, "runs"), { recursive: true });
  const machine = { ...machineInfo(), loadgen_cpus: selfAffinity(), server_cpus: serverCpu === null ? "unpinned" : String(serverCpu), open_files_limit: openFilesLimit() };
  const files = [];
  for (const name of scenarioNames) {
    const sc = scenarioConfig(name);
    const started = new Date().toISOString();
    const doc = {
      schema: "edge-chat-bench/1",
      scenario: name,
      started_at: started,
      finished_at: null,
      machine,
      source: sourceInfo(),
      bundles: bundleInfo,
      config: sc,
      results: [],
    };
    const file = path.join(outDir, "runs", `${started.replace(/[:.]/g, "-")}-${name}.json`);
    log(`scenario ${name}: ${JSON.stringify({ ...sc, targets: sc.targets.join(",") })}`);
    for (let rep = 0; rep < sc.reps; rep++) {
      // Rotate the order each repetition so no target always runs first (or last) on a warm machine.
      const order = sc.targets.map((_, i) => sc.targets[(i + rep) % sc.targets.length]);
      for (let oi = 0; oi < order.length; oi++) {
        doc.results.push(await runTarget(order[oi], sc, rep, oi));
        writeFileSync(file, JSON.stringify(doc, null, 1));
      }
    }
    doc.finished_at = new Date().toISOString();
    writeFileSync(file, JSON.stringify(doc, null, 1));
    writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(doc, null, 1));
    files.push(file);
    log(`wrote ${path.relative(process.cwd(), file)}`);
  }
  const rep = writeReport(outDir);
  log(`report: ${rep.map((f) => path.relative(process.cwd(), f)).join(", ")}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
