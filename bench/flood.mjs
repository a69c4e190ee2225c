#!/usr/bin/env node
// `node bench/flood.mjs` (or `npm run bench -- --scenario flood`) — hostile-input figures for issue 9:
// while one socket floods a room, how long does another viewer wait for a pong, is the flooder
// closed (and with which code), and for how long does the room keep working after that close?
// Plus kind 5 (many users, each within their own limit, on one room) and the sizing of
// ROOM_MAX_MESSAGES_PER_SEC (at how many unbatched viewers do 100 msg/s keep pings p99 < 250 ms).
//
//   node bench/flood.mjs [--cases a,b,c,d,e,size] [--reps 1] [--out bench/results/flood] [--label NAME]
//                        [--ladder 100,200,300,...] [--batch] [--no-pin] [--server-cpu 0] [--load-cpu 1]
//
// Cases (each on a freshly started worker, product limits: RATE_LIMIT_PER_SEC 10,
// SOCKET_MAX_FRAMES_PER_SEC 20, ROOM_MAX_MESSAGES_PER_SEC 100 — not the lifted ones of run.mjs):
//   a  20,000 spaced pings `{ "type": "ping" }` (not the runtime's exact auto-response string)
//   b  20,000 whitespace-only messages
//   c  20,000 repeats of one already acknowledged client_msg_id
//   d  3,000 distinct messages (kind 2: what happens after the room closes the socket)
//   e  kind 5: 40 users × 10 msg/s for 20 s on one room with 10 viewers
//   size  100 msg/s from 20 users (5 msg/s each) to a growing number of unbatched viewers (--batch: batched)
// The same frames and measurements work against a worker without these limits (the old room):
// there the flooder is never closed, which the report shows as "not closed".
// See BENCHMARKS.md, "Hostile input and room events (issues 9 and 10)".
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { LoadGen } from "./lib/loadgen.mjs";
import { machineInfo, selfAffinity, treeCpuSeconds, treeRunqueueWaitSeconds } from "./lib/proc.mjs";
import { RawWs } from "./lib/rawws.mjs";
import { freePort, JWT_SECRET, newRunContext, nodeBin, ROOT, sourceInfo, TARGETS } from "./lib/targets.mjs";
import { parseArgs } from "./lib/args.mjs";

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

const ALL_CASES = ["a", "b", "c", "d", "e", "size"];
const cases = String(opt("cases", "a,b,c,d,e,size")).split(",");
for (const c of cases) if (!ALL_CASES.includes(c)) throw new Error(`unknown case ${c} (known: ${ALL_CASES.join(", ")})`);
const reps = Number(opt("reps", 1));
const outDir = path.resolve(String(opt("out", path.join(ROOT, "bench/results/flood"))));
const label = String(opt("label", sourceInfo().commit ?? "unknown"));
const ladder = String(opt("ladder", "100,200,300,400,500,600,800,1000")).split(",").map(Number);
/** size: viewers connect with ?batch=1 (one flush per 25 ms window) instead of one frame per message. */
const sizeBatch = argv.includes("--batch");

/** The product's defaults, spelled out (a worker that predates a variable ignores it). */
const PRODUCT_VARS = {
  JWT_SECRET,
  RATE_LIMIT_PER_SEC: "10",
  SOCKET_MAX_FRAMES_PER_SEC: "20",
  ROOM_MAX_MESSAGES_PER_SEC: "100",
};
/** A ping the runtime's auto-response does not match (it compares the exact string): it reaches the room. */
const SPACED_PING = '{ "type": "ping" }';
const PONG = '{"type":"pong"}';
/** A quiet room: < QUIET_CPU of a core in every CPU sample for QUIET_MS. */
const CPU_SAMPLE_MS = 100;
const QUIET_CPU = 0.15;
const QUIET_MS = 1000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const log = (...a) => console.log(`[flood ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ------------------------------------------------------------------------------------ statistics
function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
/** p50/p90/p99/max of a list of ms values (rounded to 0.1 ms). */
function summary(values) {
  const s = [...values].sort((a, b) => a - b);
  const r = (x) => (x === null ? null : Math.round(x * 10) / 10);
  return { n: s.length, p50: r(quantile(s, 0.5)), p90: r(quantile(s, 0.9)), p99: r(quantile(s, 0.99)), max: r(s.at(-1) ?? null) };
}

// ---------------------------------------------------------------------------------------- a peer
/**
 * One client of the room on the bench's raw WebSocket client. Ready at the `welcome` frame; then
 * frames are classified by prefix (comments are parsed only when `watchComments`). Records its
 * spaced pings' round trips, acks, error codes, and the server's close frame.
 */
class Peer {
  constructor(spec, { watchComments = false } = {}) {
    this.spec = spec;
    this.watchComments = watchComments;
    this.ready = false;
    this.pingsOut = []; // send times of pings not answered yet, in order (pongs come back in order)
    this.rtts = []; // [sentAt, rtt ms]
    this.acks = 0;
    this.pongs = 0;
    this.errors = {};
    this.comments = []; // [recvAt, user_id, sentUs | null]
    this.close = null; // { at, code, reason } from the server's close frame
    this.ended = null; // socket gone (ms)
  }

  open(timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("welcome timeout")), timeoutMs);
      this.ws = new RawWs(this.spec.url, {
        headers: this.spec.headers,
        onText: (buf) => this.onText(buf, resolve, timer),
        onFail: (why) => {
          clearTimeout(timer);
          reject(new Error(`connect failed: ${why}`));
        },
        onClose: () => (this.ended ??= now()),
        onCloseFrame: (code, reason) => (this.close ??= { at: now(), code, reason }),
      });
    });
  }

  onText(buf, resolve, timer) {
    const t = now();
    if (!this.ready) {
      const f = JSON.parse(buf.toString("utf8"));
      if (f.type === "welcome") {
        this.ready = true;
        clearTimeout(timer);
        resolve();
      }
      return;
    }
    if (buf.length === PONG.length && buf.toString("latin1") === PONG) {
      this.pongs++;
      const sent = this.pingsOut.shift();
      if (sent !== undefined) this.rtts.push([sent, t - sent]);
      return;
    }
    // {"type":"comment"… / {"type":"error"… / {"type":"ack"…: the 9th byte tells them apart.
    const c = buf[9];
    if (c === 99 /* c */ && this.watchComments) {
      const f = JSON.parse(buf.toString("utf8"));
      if (f.type === "comment") {
        const m = /~T(\d+)\./.exec(f.comment.message);
        this.comments.push([t, f.comment.user_id, m ? Number(m[1]) : null]);
      }
    } else if (c === 101 /* e */) {
      const f = JSON.parse(buf.toString("utf8"));
      if (f.type === "error") this.errors[f.code] = (this.errors[f.code] ?? 0) + 1;
    } else if (c === 97 /* a */) this.acks++;
  }

  send(text) {
    try {
      this.ws.send(text);
      return true;
    } catch {
      return false;
    }
  }

  ping() {
    if (this.send(SPACED_PING)) this.pingsOut.push(now());
  }

  /** Bytes the client still holds for the kernel (0 once the flood has left this process). */
  get unsent() {
    return this.ws.sock.destroyed ? 0 : this.ws.sock.writableLength;
  }

  terminate() {
    try {
      this.ws.terminate();
    } catch {}
  }
}

/** Round trips of pings sent in [from, to) ms, plus those still unanswered (counted at their age). */
function pingStats(peers, from, to, end) {
  const v = [];
  let lost = 0;
  for (const p of peers) {
    for (const [sent, rtt] of p.rtts) if (sent >= from && sent < to) v.push(rtt);
    for (const sent of p.pingsOut)
      if (sent >= from && sent < to) {
        v.push(end - sent);
        lost++;
      }
  }
  return { ...summary(v), unanswered: lost };
}

// ------------------------------------------------------------------------------------ the server
async function startServer(tag) {
  const ctx = newRunContext({ serverCpu, logDir: path.join(outDir, "logs"), logPrefix: `${label}-${tag}-`, vars: PRODUCT_VARS });
  const port = await freePort();
  const server = await TARGETS.ours.start(ctx, port);
  const spec = TARGETS.ours.spec(port, ctx);
  return { ctx, port, server, spec, logFile: path.join(ctx.logDir, `${ctx.logPrefix}ours.log`) };
}

/** Samples the server tree's CPU every CPU_SAMPLE_MS: [[t ms, share of a core], …]. */
function cpuSampler(pid) {
  const samples = [];
  let last = [now(), treeCpuSeconds(pid)];
  const timer = setInterval(() => {
    const t = now();
    const c = treeCpuSeconds(pid);
    samples.push([t, (c - last[1]) / ((t - last[0]) / 1000)]);
    last = [t, c];
  }, CPU_SAMPLE_MS);
  return { samples, stop: () => clearInterval(timer) };
}

/** End of the last busy CPU sample at or after `from` (the room's last work), or null. */
function busyUntil(samples, from) {
  let last = null;
  for (const [t, u] of samples) if (t >= from && u >= QUIET_CPU) last = t;
  return last;
}

/** Waits until the server has been quiet for QUIET_MS (after at least minMs), at most maxMs. */
async function waitQuiet(cpu, since, { minMs = 2000, maxMs = 90_000 } = {}) {
  for (;;) {
    await sleep(200);
    const t = now();
    if (t - since > maxMs) return false;
    if (t - since < minMs) continue;
    const recent = cpu.samples.filter(([ts]) => ts > t - QUIET_MS);
    if (recent.length >= QUIET_MS / CPU_SAMPLE_MS - 1 && recent.every(([, u]) => u < QUIET_CPU)) return true;
  }
}

function countLog(file, re) {
  try {
    return (readFileSync(file, "utf8").match(re) ?? []).length;
  } catch {
    return null;
  }
}

function pingEvery(peers, periodMs) {
  const timers = peers.map((p, i) =>
    setTimeout(() => {
      p.ping();
      timers[i] = setInterval(() => p.ping(), periodMs);
    }, (periodMs * i) / peers.length),
  );
  return () => timers.forEach((t) => (clearTimeout(t), clearInterval(t)));
}

const r1 = (x) => (x === null || x === undefined ? null : Math.round(x));

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
      const r = c === "e" ? await manyUsersCase(rep) : c === "size" ? await sizeCase(rep) : await floodCase(c, rep);
      r.loadavg_before = la0;
      r.loadavg_after = loadavg();
      doc.results.push(r);
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
