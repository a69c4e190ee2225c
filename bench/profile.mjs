#!/usr/bin/env node
// Delivery-path profiler (issue 20, part 1): a V8 CPU profile of our worker's isolate on workerd
// while the load generator drives the seed load shape at it, and a summary of where the time went.
//
//   node bench/profile.mjs [--batch] [--sharded [--shard-max N]] [--target NAME]
//        [--conns 1000] [--rate 100] [--senders 20] [--duration 10] [--warmup 2]
//        [--interval-us 100] [--isolates core:user:bench|all|id,id] [--top 25] [--label NAME]
//        [--out bench/results/profile] [--no-pin] [--server-cpu 0] [--load-cpu 1]
//   npm run bench -- --scenario profile [same options]       (bench/run.mjs hands them over)
//
// How: the target (default `ours`; `--batch` → `ours-batch`, `--sharded` → `ours-sharded[-batch]`;
// `--target` any Miniflare-launched target of bench/lib/targets.mjs: ours-batch-w50, rawdo-hib-batch,
// partyserver, …) is started exactly as `npm run bench` starts it (single room: SHARD_MAX_SOCKETS=0)
// plus `--inspector-port`: workerd's V8 inspector. Its target list (GET /json on the inspector port)
// has one entry per worker isolate; the worker's is `core:user:bench`, and the worker's Durable
// Objects (ChatRoom, ChatShard) run in that same isolate locally — the summary checks it (samples in
// src/room.ts / src/fanout.ts). Over the Chrome DevTools Protocol: Profiler.enable,
// Profiler.setSamplingInterval (--interval-us), then N connections are opened and warmed
// (--warmup s of load), and Profiler.start … Profiler.stop brackets one measured step of --duration s
// (plus its drain: until every delivery arrived or 2 s without progress). workerd is pinned to
// --server-cpu and this process (the load generator) to --load-cpu, as in bench/run.mjs.
//
// Output, in --out (default bench/results/profile/), named <label> (default <target>-<conns>x<rate>):
//   <label>.cpuprofile        the raw profile (open it in Chrome DevTools → Performance, or speedscope)
//   <label>.json              the summary below plus the step's load figures, as JSON
//   <label>.md                the same as markdown (also printed)
// What each number means (bench/lib/cpuprofile.mjs has the exact rules):
//   samples / % of samples   V8 samples with this function on top of the stack (its self time),
//                      as a share of all samples ("(idle)" included); % of busy = of non-idle samples
//   est. ms            samples × the sampling interval actually achieved (median gap inside a stretch;
//                      ~180 µs when 100 µs is asked on this VM)
//   not sampled        profile wall time the isolate was not entered (no samples are taken then:
//                      other isolates such as Miniflare's queue broker, workerd's own I/O, waiting)
//   location           src/<file>.ts:<line> of the function's start through the bundle's source map
//                      (bench/.build/<name>/*.js.map, written by `wrangler deploy --dry-run`), or
//                      node_modules/<pkg>/…, or "native ← caller (file:line)" for a V8/workerd builtin
//   buckets            samples summed by BUCKETS in bench/lib/cpuprofile.mjs: "fanout send loop",
//                      "native WebSocket send", "JSON", "zod", "SQLite", "outbox → queues", "room command
//                      path", "metrics", "timers", "(program)", "(garbage collector)", "(idle)", …
//   step               sent, delivered %, p50/p90/p99 ms, deliveries/s; server CPU µs per delivery
//                      (whole server tree, /proc) and workerd's CPU s over the profiled step.
//   --isolates all     profiles every isolate workerd lists (one .cpuprofile each) and adds a table
//                      of samples per isolate: where workerd's CPU went between isolates.
// Limits: the sampler sees JavaScript frames and the builtins V8 names; time inside the runtime's
// C++ (WebSocket.send framing and queuing the write, attachment serialisation) shows either as a
// native entry named after the API function ("send ← sendTo") or, when the call is inlined / a fast
// API call, as the calling JS function's self time (sendTo, or flushBatch when sendTo is inlined);
// work with the isolate entered but no JS on the stack is "(program)"; workerd's socket writes and
// event loop outside the isolate lock are not sampled at all (compare sampled ms with workerd CPU s).
// Profiling slows the isolate (the sampler interrupts it every --interval-us): compare profiles with
// each other, not with `npm run bench` figures.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { CdpSession, listTargets } from "./lib/cdp.mjs";
import { analyzeProfile, summaryMarkdown } from "./lib/cpuprofile.mjs";
import { LoadGen } from "./lib/loadgen.mjs";
import { reexecPinned } from "./lib/pin.mjs";
import { machineInfo, selfAffinity, settle, treeCpuByComm, treeCpuSeconds, treeDetail } from "./lib/proc.mjs";
import { BUILD, DEFAULT_BENCH_SHARD_MAX, freePort, newRunContext, ROOT, sourceInfo, TARGETS } from "./lib/targets.mjs";
import { parseArgs } from "./lib/args.mjs";

const { argv, opt, num } = parseArgs();

const pin = !argv.includes("--no-pin");
const serverCpu = pin ? num("server-cpu", 0) : null;
const loadCpu = num("load-cpu", 1);
if (pin) reexecPinned(loadCpu);

const batch = argv.includes("--batch");
const sharded = argv.includes("--sharded");
const targetName = String(opt("target", `ours${sharded ? "-sharded" : ""}${batch ? "-batch" : ""}`));
const cfg = {
  target: targetName,
  conns: num("conns", 1000),
  rate: num("rate", 100),
  senders: num("senders", 20),
  duration: num("duration", 10),
  warmup: num("warmup", 2),
  interval_us: num("interval-us", 100),
  isolates: String(opt("isolates", "core:user:bench")).split(","),
  top: num("top", 25),
  shard_max: num("shard-max", DEFAULT_BENCH_SHARD_MAX),
};
const label = String(opt("label", `${targetName}-${cfg.conns}x${cfg.rate}`));
const outDir = path.resolve(String(opt("out", path.join(ROOT, "bench/results/profile"))));
const log = (...a) => console.log(`[profile ${new Date().toISOString().slice(11, 19)}]`, ...a);


/** The bundle the target runs and its source map (bench/.build/<name>/), if it has one. */
function sourceMapFor(name) {
  const dir = name.startsWith("ours") ? "ours" : name.startsWith("rawdo") ? "rawdo" : name.startsWith("partyserver") ? "partyserver" : null;
  if (!dir) return null;
  const d = path.join(BUILD, dir);
  try {
    for (const f of ["worker.js", "index.js"]) {
      try {
        return { dir: d, script: f, map: JSON.parse(readFileSync(path.join(d, `${f}.map`), "utf8")) };
      } catch {}
    }
  } catch {}
  return null;
}

/** One line per profiled isolate: how much of workerd's time each one's JavaScript took. */
function isolatesTable(isolates, step) {
  const rows = [...isolates].sort((a, b) => b.busy_samples - a.busy_samples);
  return [
    `## Isolates profiled (workerd used ${step.workerd_cpu_s.toFixed(2)} CPU s during the step)`,
    "",
    "| isolate | samples | busy samples (not idle) | median interval µs | est. busy ms |",
    "|---|---:|---:|---:|---:|",
    ...rows.map((a) => `| ${a.id} | ${a.samples} | ${a.busy_samples} | ${a.interval_us} | ${((a.busy_samples * a.interval_us) / 1000).toFixed(1)} |`),
  ].join("\n");
}

async function main() {
  const t = TARGETS[targetName];
  if (!t) throw new Error(`unknown target ${targetName} (known: ${Object.keys(TARGETS).join(", ")})`);
  mkdirSync(outDir, { recursive: true });
  const ctx = newRunContext({ serverCpu, logDir: path.join(outDir, "logs"), logPrefix: "profile-", shardMax: cfg.shard_max, inspectorPort: await freePort() });
  const port = await freePort();
  log(`starting ${targetName} (${t.label}) on :${port}, inspector :${ctx.inspectorPort}`);
  const server = await t.start(ctx, port);
  const inspectorUrl = server.info?.inspector_url;
  const lg = new LoadGen({ spec: t.spec(port, ctx), protocol: t.protocol });
  const sessions = [];
  try {
    if (!inspectorUrl) throw new Error(`${targetName} printed no inspector_url: only the Miniflare-launched targets can be profiled`);
    const list = await listTargets(inspectorUrl);
    if (cfg.isolates.length === 1 && cfg.isolates[0] === "all") cfg.isolates = list.map((x) => x.id);
    for (const id of cfg.isolates) {
      const entry = list.find((x) => x.id === id);
      if (!entry) throw new Error(`no inspector target ${id}; workerd lists: ${list.map((x) => x.id).join(", ")}`);
      const cdp = await CdpSession.connect(entry.webSocketDebuggerUrl);
      await cdp.send("Profiler.enable");
      // Must precede Profiler.start (V8 fixes the sampler's interval when profiling begins).
      await cdp.send("Profiler.setSamplingInterval", { interval: cfg.interval_us });
      sessions.push({ id, url: entry.webSocketDebuggerUrl, cdp });
      log(`attached to ${id} at ${entry.webSocketDebuggerUrl}`);
    }
    const conn = await lg.connect(cfg.conns, { timeoutMs: Math.max(120_000, cfg.conns * 20) });
    log(`${conn.open}/${cfg.conns} open in ${conn.connect_s.toFixed(1)} s`, conn.failed ? conn.failures : "");
    if (lg.conns.length === 0) throw new Error("no connection opened");
    await settle(server.pid);
    if (cfg.warmup > 0) {
      await lg.runStep({ id: 1, rate: cfg.rate, durationMs: cfg.warmup * 1000, senders: cfg.senders });
      await settle(server.pid);
    }
    for (const s of sessions) await s.cdp.send("Profiler.start");
    const cpu0 = treeCpuSeconds(server.pid);
    const comm0 = treeCpuByComm(server.pid);
    const t0 = performance.now();
    const step = await lg.runStep({ id: 2, rate: cfg.rate, durationMs: cfg.duration * 1000, senders: cfg.senders });
    const wall = (performance.now() - t0) / 1000;
    const cpu = treeCpuSeconds(server.pid) - cpu0;
    const workerdCpu = (treeCpuByComm(server.pid).workerd ?? 0) - (comm0.workerd ?? 0);
    const profiles = [];
    for (const s of sessions) profiles.push({ ...s, profile: (await s.cdp.send("Profiler.stop", {}, 120_000)).profile });
    Object.assign(step, {
      wall_s: wall,
      server_cpu_s: cpu,
      server_cpu_util: cpu / wall,
      server_cpu_us_per_delivery: step.delivered ? (cpu * 1e6) / step.delivered : null,
      workerd_cpu_s: workerdCpu,
    });
    delete step.sample_frame;
    const l = step.latency_ms;
    log(
      `step: ${step.sent} sent × ${step.conns}, delivered ${(step.delivered_ratio * 100).toFixed(2)} %, p50 ${l.p50} p90 ${l.p90} p99 ${l.p99} ms, ` +
        `${Math.round(step.deliveries_per_s)} deliv/s, srv ${step.server_cpu_us_per_delivery?.toFixed(2) ?? "–"} µs/deliv (${Math.round(step.server_cpu_util * 100)} % core; workerd ${workerdCpu.toFixed(2)} s)`,
    );
    const sm = sourceMapFor(targetName);
    const doc = {
      schema: "edge-chat-profile/1",
      label,
      started_at: new Date(Date.now() - wall * 1000).toISOString(),
      config: { ...cfg, inspector_url: inspectorUrl, source_map: sm ? path.relative(ROOT, path.join(sm.dir, `${sm.script}.map`)) : null },
      source: sourceInfo(),
      // Where things ran: this process (the load generator) and the server tree, with their allowed CPUs.
      machine: { ...machineInfo(), loadgen_cpus: selfAffinity(), server_cpus: serverCpu === null ? "unpinned" : String(serverCpu) },
      server_processes: treeDetail(server.pid),
      step,
      isolates: [],
    };
    const md = [];
    for (const p of profiles) {
      const suffix = profiles.length > 1 ? `-${p.id.replace(/[^A-Za-z0-9_-]+/g, "_")}` : "";
      const file = path.join(outDir, `${label}${suffix}.cpuprofile`);
      writeFileSync(file, JSON.stringify(p.profile));
      const a = analyzeProfile(p.profile, { sourceMap: p.id === "core:user:bench" ? sm : null, top: cfg.top, requestedIntervalUs: cfg.interval_us });
      doc.isolates.push({ id: p.id, debugger_url: p.url, cpuprofile: path.relative(ROOT, file), ...a });
      md.push(summaryMarkdown({ label: `${label}${suffix}`, isolate: p.id, cfg, step, analysis: a }));
      log(`wrote ${path.relative(process.cwd(), file)} (${a.samples} samples over ${(a.total_ms / 1000).toFixed(2)} s)`);
    }
    if (doc.isolates.length > 1) md.unshift(isolatesTable(doc.isolates, step));
    writeFileSync(path.join(outDir, `${label}.json`), JSON.stringify(doc, null, 1));
    writeFileSync(path.join(outDir, `${label}.md`), md.join("\n\n"));
    console.log(`\n${md.join("\n\n")}\n`);
    log(`wrote ${path.relative(process.cwd(), path.join(outDir, `${label}.json`))} and .md`);
  } finally {
    for (const s of sessions) await s.cdp.close().catch(() => {});
    lg.close();
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
