#!/usr/bin/env node
// `node bench/flood.mjs` (or `npm run bench -- --scenario flood`) — hostile-input figures for issue 9:
// while one socket floods a room, how long does another viewer wait for a pong, is the flooder
// closed (and with which code), and for how long does the room keep working after that close?
// Plus kind 5 (many users, each within their own limit, on one room) and the sizing of
// ROOM_MAX_MESSAGES_PER_SEC (at how many unbatched viewers do 100 msg/s keep pings p99 < 250 ms).
//
//   node bench/flood.mjs [--cases a,b,c,d,e,size] [--reps 1] [--out bench/results/flood] [--label NAME]
//                        [--ladder 100,200,300,...] [--batch] [--no-pin] [--server-cpu 0] [--load-cpu 1]
//                        [--variants sping,blank,xping] [--targets ours,ours-noassets,rawdo] [--profile]   (burst, many)
//
// Cases (each on a freshly started worker, product limits: RATE_LIMIT_PER_SEC 10,
// SOCKET_MAX_FRAMES_PER_SEC 20, ROOM_MAX_MESSAGES_PER_SEC 100 — not the lifted ones of run.mjs):
//   a  20,000 spaced pings `{ "type": "ping" }` (not the runtime's exact auto-response string)
//   b  20,000 whitespace-only messages
//   c  20,000 repeats of one already acknowledged client_msg_id
//   d  3,000 distinct messages (kind 2: what happens after the room closes the socket)
//   e  kind 5: 40 users × 10 msg/s for 20 s on one room with 10 viewers
//   size  100 msg/s from 20 users (5 msg/s each) to a growing number of unbatched viewers (--batch: batched)
//   burst  one socket writes 9,000 free frames (pings, blank messages) at once; another viewer's
//          message latency, µs of server CPU per frame, also on the bare DO peer (the floor)
//   many   50 sockets × 500 free frames at once, the same measurements (bench/lib/flood-burst.mjs)
// Not in the default run: burst, many (--cases burst,many). BENCH_PORTS=FROM-TO keeps every port in a range.
// The same frames and measurements work against a worker without these limits (the old room):
// there the flooder is never closed, which the report shows as "not closed".
// See BENCHMARKS.md, "Hostile input and room events (issues 9 and 10)".
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { LoadGen } from "./lib/loadgen.mjs";
import { machineInfo, selfAffinity, treeRunqueueWaitSeconds } from "./lib/proc.mjs";
import { busyUntil, countLog, CPU_SAMPLE_MS, cpuSampler, now, Peer, pingEvery, pingStats, r1, sleep, SPACED_PING, summary, waitQuiet } from "./lib/flood-kit.mjs";
import { freePort, JWT_SECRET, newRunContext, nodeBin, ROOT, sourceInfo, TARGETS } from "./lib/targets.mjs";
import { parseArgs } from "./lib/args.mjs";
import { burstRun, FREE_FRAMES } from "./lib/flood-burst.mjs";
import { CdpSession, listTargets } from "./lib/cdp.mjs";
import { analyzeProfile, summaryMarkdown } from "./lib/cpuprofile.mjs";

// ------------------------------------------------------------------------------------------ args
const { argv, opt } = parseArgs();
const pin = !argv.includes("--no-pin");
const serverCpu = pin ? Number(opt("server-cpu", 0)) : null;
const loadCpu = Number(opt("load-cpu", 1));
if (pin && !process.env.BENCH_PINNED) {
  const r = spawnSync("taskset", ["-c", String(loadCpu), nodeBin(), ...process.execArgv, process.argv[1], ...argv], {
    stdio: "inherit",
    env: { ...process.env, BENCH_PINNED: "1" },
  });
  process.exit(r.status ?? 1);
}

const ALL_CASES = ["a", "b", "c", "d", "e", "size", "burst", "many"];
const cases = String(opt("cases", "a,b,c,d,e,size")).split(",");
for (const c of cases) if (!ALL_CASES.includes(c)) throw new Error(`unknown case ${c} (known: ${ALL_CASES.join(", ")})`);
const reps = Number(opt("reps", 1));
const outDir = path.resolve(String(opt("out", path.join(ROOT, "bench/results/flood"))));
const label = String(opt("label", sourceInfo().commit ?? "unknown"));
const ladder = String(opt("ladder", "100,200,300,400,500,600,800,1000")).split(",").map(Number);
/** size: viewers connect with ?batch=1 (one flush per 25 ms window) instead of one frame per message. */
const sizeBatch = argv.includes("--batch");
/** burst, many: the free frames (FREE_FRAMES) and the servers (ours, rawdo) to run. */
const burstVariants = String(opt("variants", "sping,blank,xping")).split(",");
for (const v of burstVariants) if (!FREE_FRAMES[v]) throw new Error(`unknown variant ${v} (known: ${Object.keys(FREE_FRAMES).join(", ")})`);
const burstTargets = String(opt("targets", "ours,rawdo")).split(",");
const profileFlood = argv.includes("--profile");
for (const t of burstTargets) if (!["ours", "ours-noassets", "rawdo"].includes(t)) throw new Error(`unknown target ${t} (known: ours, ours-noassets, rawdo)`);

/** The product's defaults, spelled out (a worker that predates a variable ignores it). */
const PRODUCT_VARS = {
  JWT_SECRET,
  RATE_LIMIT_PER_SEC: "10",
  SOCKET_MAX_FRAMES_PER_SEC: "20",
  ROOM_MAX_MESSAGES_PER_SEC: "100",
};
const log = (...a) => console.log(`[flood ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ------------------------------------------------------------------------------------ the server
/**
 * A fresh server: `ours` (our worker, product limits) or `rawdo` (the bare Durable Object peer, whose
 * flooders connect with sink=1: bench/lib/flood-burst.mjs). `floodSpec` is the flooders' spec.
 */
async function startServer(tag, target = "ours", { inspect = false } = {}) {
  const ctx = newRunContext({ serverCpu, logDir: path.join(outDir, "logs"), logPrefix: `${label}-${tag}-`, vars: PRODUCT_VARS });
  if (inspect) ctx.inspectorPort = await freePort();
  const port = await freePort();
  if (target === "rawdo") {
    const server = await TARGETS["rawdo-hib"].start(ctx, port);
    const spec = TARGETS["rawdo-hib"].spec(port, ctx);
    return { target, plain: true, ctx, port, server, spec, floodSpec: (i) => ({ ...spec(i), url: `${spec(i).url}&sink=1` }) };
  }
  // ours-noassets: without the static-assets router Miniflare puts in front (one WebSocket hop less locally)
  const t = target === "ours-noassets" ? TARGETS["ours-noassets"] : TARGETS.ours;
  const server = await t.start(ctx, port);
  const spec = t.spec(port, ctx);
  const logName = target === "ours-noassets" ? "noassets-ours" : "ours";
  return { target, ctx, port, server, spec, floodSpec: spec, logFile: path.join(ctx.logDir, `${ctx.logPrefix}${logName}.log`) };
}

/**
 * --profile (burst, many): a V8 CPU profile of the worker's isolate (core:user:bench: the worker and
 * its Durable Objects) from just before the flood until the server is quiet, written as
 * <label>-<tag>.cpuprofile and summarised in <label>-<tag>.md (bench/lib/cpuprofile.mjs). The
 * sampler slows the isolate: a profiled run's latency and CPU figures are not the benchmark's.
 */
async function profiler(s, tag) {
  const url = s.server.info?.inspector_url;
  if (!url) throw new Error("no inspector_url from the server");
  const entry = (await listTargets(url)).find((x) => x.id === "core:user:bench");
  if (!entry) throw new Error("no inspector target core:user:bench");
  const cdp = await CdpSession.connect(entry.webSocketDebuggerUrl);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
  let profile = null;
  return {
    start: () => cdp.send("Profiler.start"),
    stop: async () => void (profile = (await cdp.send("Profiler.stop", {}, 120_000)).profile),
    async write() {
      await cdp.close().catch(() => {});
      if (!profile) return null;
      const dir = path.join(ROOT, "bench/.build", s.target === "rawdo" ? "rawdo" : "ours");
      let sourceMap = null;
      for (const f of ["worker.js", "index.js"]) {
        try {
          sourceMap = { dir, script: f, map: JSON.parse(readFileSync(path.join(dir, `${f}.map`), "utf8")) };
          break;
        } catch {}
      }
      const base = path.join(outDir, `${label}-${tag}`);
      writeFileSync(`${base}.cpuprofile`, JSON.stringify(profile));
      const a = analyzeProfile(profile, { sourceMap, top: 25, requestedIntervalUs: 100 });
      writeFileSync(`${base}.md`, summaryMarkdown({ label: `${label}-${tag}`, isolate: "core:user:bench", cfg: null, step: null, analysis: a }));
      return { cpuprofile: `${base}.cpuprofile`, summary: `${base}.md`, sampled_ms: a.sampled_ms, durable_object_samples: a.durable_object_samples };
    },
  };
}

/** Cases burst and many (bench/lib/flood-burst.mjs), one fresh server per variant and target. */
async function burstCases(shape, rep) {
  const out = [];
  for (const target of burstTargets) {
    for (const variant of burstVariants) {
      if (target === "rawdo" && variant === "xping") continue; // no auto-response there: not the same frames' path
      const tag = `${shape}-${variant}-${target}-r${rep}`;
      const s = await startServer(tag, target, { inspect: profileFlood });
      try {
        const prof = profileFlood ? await profiler(s, tag) : undefined;
        const r = await burstRun(s, shape, variant, { log, profiler: prof });
        if (prof) r.profile = await prof.write();
        r.rep = rep;
        if (s.logFile) r.abusive_close_logs = countLog(s.logFile, /closing abusive socket/g);
        out.push(r);
      } finally {
        await s.server.stop();
      }
    }
  }
  return out;
}


// ----------------------------------------------------------------------------- cases a, b, c, d
const FLOODS = {
  a: { what: "20,000 spaced pings", count: 20_000, frame: () => SPACED_PING },
  b: { what: "20,000 whitespace-only messages", count: 20_000, frame: () => '{"type":"message","text":"   \\t  "}' },
  c: {
    what: "20,000 repeats of an acknowledged client_msg_id",
    count: 20_000,
    prime: '{"type":"message","text":"first and only","client_msg_id":"flood-dup-1"}',
    frame: () => '{"type":"message","text":"first and only","client_msg_id":"flood-dup-1"}',
  },
  d: { what: "3,000 distinct messages", count: 3_000, frame: (k) => `{"type":"message","text":"flood ${k} ~T${Math.round(now() * 1000)}."}` },
};

async function floodCase(key, rep) {
  const f = FLOODS[key];
  const s = await startServer(`${key}-r${rep}`);
  const res = { case: key, what: f.what, rep, frames: f.count };
  const flooder = new Peer(s.spec(0));
  const viewer = new Peer(s.spec(1), { watchComments: true });
  const cpu = cpuSampler(s.server.pid);
  try {
    await viewer.open();
    await flooder.open();
    const flooderId = /"sub":"([^"]+)"/.exec(Buffer.from(s.spec(0).headers.Authorization.split(".")[1], "base64url").toString())[1];
    if (f.prime) {
      flooder.send(f.prime);
      const t = now();
      while (flooder.acks < 1 && now() - t < 10_000) await sleep(20);
      if (flooder.acks < 1) throw new Error("prime message not acknowledged");
      flooder.acks = 0;
    }
    await sleep(1000);
    const stopPings = pingEvery([viewer], 100); // 10 spaced pings/s
    await sleep(1500);
    const baseFrom = now() - 1500;
    // The flood: every frame handed to the socket in one synchronous loop.
    const t0 = now();
    let sent = 0;
    for (let k = 0; k < f.count; k++) if (flooder.send(f.frame(k))) sent++;
    const tQueued = now();
    let tWritten = null;
    while (tWritten === null && now() - t0 < 60_000) {
      if (flooder.unsent === 0) tWritten = now();
      else await sleep(5);
    }
    const quiet = await waitQuiet(cpu, t0);
    await sleep(500);
    stopPings();
    await sleep(300);
    const tEnd = now();
    const lastBusy = busyUntil(cpu.samples, t0);
    const mine = viewer.comments.filter(([, u]) => u === flooderId);
    const close = flooder.close;
    const afterClose = close ? mine.filter(([t]) => t > close.at) : [];
    Object.assign(res, {
      sent,
      queued_ms: r1(tQueued - t0),
      written_ms: r1(tWritten === null ? null : tWritten - t0),
      ping_baseline_ms: pingStats([viewer], baseFrom, t0, tEnd),
      // pings sent from the flood's start until the room was quiet again
      ping_during_ms: pingStats([viewer], t0, lastBusy ?? tEnd, tEnd),
      flooder_closed: Boolean(close),
      close_code: close?.code ?? null,
      close_reason: close?.reason ?? null,
      close_after_ms: close ? r1(close.at - t0) : null,
      room_busy_until_ms: lastBusy === null ? null : r1(lastBusy - t0),
      room_busy_after_close_ms: close && lastBusy !== null ? r1(Math.max(0, lastBusy - close.at)) : null,
      room_busy_after_written_ms: tWritten !== null && lastBusy !== null ? r1(Math.max(0, lastBusy - tWritten)) : null,
      quiet_reached: quiet,
      flooder_comments_broadcast: mine.length,
      flooder_comments_after_close: afterClose.length,
      last_flooder_comment_after_close_ms: afterClose.length ? r1(afterClose.at(-1)[0] - close.at) : null,
      last_flooder_comment_ms: mine.length ? r1(mine.at(-1)[0] - t0) : null,
      flooder_pongs: flooder.pongs,
      flooder_acks: flooder.acks,
      flooder_errors: flooder.errors,
      server_cpu_s: Math.round(cpu.samples.filter(([t]) => t >= t0).reduce((a, [, u]) => a + u * (CPU_SAMPLE_MS / 1000), 0) * 100) / 100,
    });
  } catch (e) {
    res.error = String(e?.stack ?? e);
    log(`case ${key}: ERROR ${e?.message ?? e}`);
  } finally {
    cpu.stop();
    flooder.terminate();
    viewer.terminate();
    await s.server.stop();
    res.abusive_close_logs = countLog(s.logFile, /closing abusive socket/g);
  }
  log(`case ${key} (${f.what}): ${fmtFlood(res)}`);
  return res;
}

function fmtFlood(r) {
  if (r.error) return `ERROR ${r.error.split("\n")[0]}`;
  return (
    `viewer ping p50 ${r.ping_during_ms.p50} max ${r.ping_during_ms.max} ms (baseline p50 ${r.ping_baseline_ms.p50}); ` +
    `flooder ${r.flooder_closed ? `closed ${r.close_code} after ${r.close_after_ms} ms` : "not closed"}; ` +
    `room busy until ${r.room_busy_until_ms} ms (${r.room_busy_after_close_ms ?? "–"} ms after close, ${r.room_busy_after_written_ms} ms after the flood was written); ` +
    `flooder comments ${r.flooder_comments_broadcast} (${r.flooder_comments_after_close} after close); errors ${JSON.stringify(r.flooder_errors)}; ` +
    `pongs ${r.flooder_pongs}, acks ${r.flooder_acks}; "closing abusive socket" ×${r.abusive_close_logs}`
  );
}

// ------------------------------------------------------------------------------------ case e (kind 5)
async function manyUsersCase(rep, { users = 40, perUser = 10, seconds = 20, viewers = 10 } = {}) {
  const s = await startServer(`e-r${rep}`);
  const res = { case: "e", what: `${users} users × ${perUser} msg/s for ${seconds} s, ${viewers} viewers`, rep, users, per_user_rate: perUser, seconds, viewers };
  const vs = Array.from({ length: viewers }, (_, i) => new Peer(s.spec(i), { watchComments: true }));
  const ss = Array.from({ length: users }, (_, i) => new Peer(s.spec(viewers + i)));
  const cpu = cpuSampler(s.server.pid);
  const health = [];
  let healthOn = true;
  const healthLoop = (async () => {
    while (healthOn) {
      const t = now();
      let ok = false;
      try {
        const r = await fetch(`http://127.0.0.1:${s.port}/healthz`, { signal: AbortSignal.timeout(30_000) });
        ok = r.ok;
        await r.arrayBuffer();
      } catch {}
      health.push([t, now() - t, ok]);
      await sleep(Math.max(0, 250 - (now() - t)));
    }
  })();
  try {
    for (const p of [...vs, ...ss]) await p.open();
    await sleep(1000);
    const stopPings = pingEvery(vs, 200); // 5 spaced pings/s per viewer
    await sleep(1500);
    const baseFrom = now() - 1500;
    // Open loop: user j's k-th message is due at t0 + (j / users + k) / perUser seconds.
    const t0 = now();
    const total = users * perUser * seconds;
    let k = 0;
    let sent = 0;
    await new Promise((resolve) => {
      const tick = () => {
        const t = now();
        while (k < total && t0 + (k * 1000) / (users * perUser) <= t) {
          const j = k % users;
          const text = `u${j} m${Math.floor(k / users)} ~T${Math.round(now() * 1000)}. chat chat chat`;
          if (ss[j].send(JSON.stringify({ type: "message", text, client_msg_id: `e-${j}-${k}` }))) sent++;
          k++;
        }
        if (k >= total) return resolve();
        setTimeout(tick, Math.max(0, Math.min(5, t0 + (k * 1000) / (users * perUser) - now())));
      };
      tick();
    });
    const tSent = now();
    await waitQuiet(cpu, tSent, { minMs: 3000 });
    await sleep(300);
    stopPings();
    healthOn = false;
    await healthLoop;
    await sleep(300);
    const tEnd = now();
    const lastBusy = busyUntil(cpu.samples, t0);
    const errors = {};
    for (const p of ss) for (const [c, n] of Object.entries(p.errors)) errors[c] = (errors[c] ?? 0) + n;
    const deliveries = vs.flatMap((v) => v.comments.filter(([, , us]) => us !== null).map(([t, , us]) => t - us / 1000));
    const during = health.filter(([t]) => t >= t0);
    Object.assign(res, {
      sent,
      accepted: ss.reduce((a, p) => a + p.acks, 0),
      errors,
      unanswered: sent - ss.reduce((a, p) => a + p.acks, 0) - Object.values(errors).reduce((a, n) => a + n, 0),
      ping_baseline_ms: pingStats(vs, baseFrom, t0, tEnd),
      ping_during_ms: pingStats(vs, t0, tSent, tEnd),
      ping_after_ms: pingStats(vs, tSent, tEnd, tEnd),
      delivery_to_viewers_ms: summary(deliveries),
      healthz_ms: { ...summary(during.map(([, ms]) => ms)), failed: during.filter(([, , ok]) => !ok).length },
      room_busy_after_last_send_ms: lastBusy === null ? null : r1(Math.max(0, lastBusy - tSent)),
      server_cpu_core_during: Math.round((cpu.samples.filter(([t]) => t >= t0 && t <= tSent).reduce((a, [, u]) => a + u, 0) / Math.max(1, cpu.samples.filter(([t]) => t >= t0 && t <= tSent).length)) * 100) / 100,
      closed_sockets: [...vs, ...ss].filter((p) => p.close).map((p) => p.close.code),
    });
  } catch (e) {
    res.error = String(e?.stack ?? e);
    log(`case e: ERROR ${e?.message ?? e}`);
  } finally {
    healthOn = false;
    cpu.stop();
    for (const p of [...vs, ...ss]) p.terminate();
    await s.server.stop();
  }
  if (!res.error) {
    log(
      `case e: sent ${res.sent}, accepted ${res.accepted}, errors ${JSON.stringify(res.errors)}; viewer ping p50 ${res.ping_during_ms.p50} max ${res.ping_during_ms.max} ms; ` +
        `healthz p50 ${res.healthz_ms.p50} max ${res.healthz_ms.max} ms (${res.healthz_ms.failed} failed); delivery p50 ${res.delivery_to_viewers_ms.p50} max ${res.delivery_to_viewers_ms.max}; ` +
        `busy ${res.room_busy_after_last_send_ms} ms after the last send; srv ${Math.round(res.server_cpu_core_during * 100)} % core`,
    );
  }
  return res;
}

// ------------------------------------------------------------------------- size: viewers for 100 msg/s
/**
 * 100 msg/s (20 users × 5 msg/s: within every default limit) to N unbatched viewers, N growing
 * along the ladder on one server; 10 of the N are probes sending 10 spaced pings/s each.
 * Pass = probe pings p99 < 250 ms and ≥ 99.9 % delivered (the sweep's criterion).
 */
async function sizeCase(rep, { rate = 100, senders = 20, probes = 10, warmupS = 2, seconds = 10 } = {}) {
  const s = await startServer(`size-r${rep}`);
  const kind = sizeBatch ? "batched" : "unbatched";
  const res = { case: "size", what: `${rate} msg/s from ${senders} users to N ${kind} viewers (${probes} of them probes)`, batch: sizeBatch, rep, steps: [] };
  const spec = sizeBatch ? TARGETS["ours-batch"].spec(s.port, s.ctx) : s.spec;
  const lg = new LoadGen({ spec: (i) => spec(probes + i), protocol: "ours", textLen: 64 });
  const ps = Array.from({ length: probes }, (_, i) => new Peer(spec(i)));
  const cpu = cpuSampler(s.server.pid);
  try {
    for (const p of ps) await p.open();
    let step = 1;
    for (const n of ladder) {
      const more = n - probes - lg.conns.length;
      if (more > 0) await lg.connect(more, { start: lg.conns.length });
      await sleep(1000);
      await waitQuiet(cpu, now(), { minMs: 500, maxMs: 20_000 });
      await lg.runStep({ id: step++, rate, durationMs: warmupS * 1000, senders });
      await waitQuiet(cpu, now(), { minMs: 500, maxMs: 20_000 });
      const stopPings = pingEvery(ps, 100);
      const t0 = now();
      const rq0 = treeRunqueueWaitSeconds(s.server.pid);
      const errs0 = { ...lg.errors };
      const r = await lg.runStep({ id: step++, rate, durationMs: seconds * 1000, senders, maxDrainMs: 10_000 });
      const t1 = now();
      stopPings();
      await sleep(300);
      const ping = pingStats(ps, t0, t1, now());
      const cpuIn = cpu.samples.filter(([t]) => t >= t0 && t <= t1);
      const st = {
        viewers: lg.conns.length + probes,
        sent: r.sent,
        delivered_ratio: Math.round(r.delivered_ratio * 1e5) / 1e5,
        delivery_ms: r.latency_ms,
        ping_ms: ping,
        server_core: Math.round((cpuIn.reduce((a, [, u]) => a + u, 0) / Math.max(1, cpuIn.length)) * 100) / 100,
        // time the server's threads were runnable but not running (other processes on its core)
        server_waited_s: Math.round((treeRunqueueWaitSeconds(s.server.pid) - rq0) * 100) / 100,
        errors: Object.fromEntries(Object.entries(lg.errors).map(([c, v]) => [c, v - (errs0[c] ?? 0)]).filter(([, v]) => v > 0)),
      };
      st.pass = st.delivered_ratio >= 0.999 && ping.p99 !== null && ping.p99 < 250;
      res.steps.push(st);
      log(
        `size: ${st.viewers} viewers: delivered ${(st.delivered_ratio * 100).toFixed(2)} %, delivery p50 ${r.latency_ms.p50} p99 ${r.latency_ms.p99} ms; ` +
          `ping p50 ${ping.p50} p99 ${ping.p99} max ${ping.max} ms; srv ${Math.round(st.server_core * 100)} % core, waited ${st.server_waited_s} s ${st.pass ? "PASS" : "FAIL"} ${JSON.stringify(st.errors)}`,
      );
      if (!st.pass) break;
    }
    res.max_viewers_ok = res.steps.filter((x) => x.pass).at(-1)?.viewers ?? null;
    res.first_fail_viewers = res.steps.find((x) => !x.pass)?.viewers ?? null;
  } catch (e) {
    res.error = String(e?.stack ?? e);
    log(`case size: ERROR ${e?.message ?? e}`);
  } finally {
    cpu.stop();
    lg.close();
    for (const p of ps) p.terminate();
    await s.server.stop();
  }
  return res;
}

// ------------------------------------------------------------------------------------------ main
async function main() {
  mkdirSync(outDir, { recursive: true });
  const loadavg = () => readFileSync("/proc/loadavg", "utf8").trim();
  const doc = {
    schema: "edge-chat-flood/1",
    label,
    started_at: new Date().toISOString(),
    machine: { ...machineInfo(), loadgen_cpus: selfAffinity(), server_cpus: serverCpu === null ? "unpinned" : String(serverCpu) },
    source: sourceInfo(),
    vars: { ...PRODUCT_VARS, JWT_SECRET: "(bench secret)" },
    results: [],
  };
  const file = path.join(outDir, `${label}-${doc.started_at.replace(/[:.]/g, "-")}.json`);
  for (let rep = 0; rep < reps; rep++) {
    for (const c of cases) {
      const la0 = loadavg();
      const rs = c === "burst" || c === "many" ? await burstCases(c, rep) : [c === "e" ? await manyUsersCase(rep) : c === "size" ? await sizeCase(rep) : await floodCase(c, rep)];
      for (const r of rs) {
        r.loadavg_before ??= la0;
        r.loadavg_after ??= loadavg();
        doc.results.push(r);
      }
      writeFileSync(file, JSON.stringify(doc, null, 1));
    }
  }
  doc.finished_at = new Date().toISOString();
  writeFileSync(file, JSON.stringify(doc, null, 1));
  log(`wrote ${path.relative(process.cwd(), file)}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
