// bench/flood.mjs cases `burst` and `many` (issue 19 §4: "another viewer's message must arrive within
// 1 s while one socket floods 9,000 free frames, and while 50 sockets each send 500"):
//
//   burst  one socket writes 9,000 free frames as fast as it can (one synchronous loop)
//   many   50 sockets (50 users) each write 500 free frames, all at once
//
// "Free" frames cost their sender nothing in the rules: pings and blank messages. Variants
// (--variants, default sping,blank,xping):
//   sping  `{ "type": "ping" }` — a ping the runtime's auto-response does not match: it reaches the room
//   blank  `{"type":"message","text":"   "}` — ignored by the rules, but passes the gate up to the command
//   xping  `{"type":"ping"}` — the exact auto-response string: workerd answers it without the room
//          (so no frame budget can see it; its cost is the runtime's alone)
// While it runs, a second user sends a message every 100 ms (text carrying its send time) and a third
// viewer records each one's send→arrival latency: p50/p99/max of the messages sent from the flood's
// start until the server is quiet again (a message that never arrives counts at its age and as lost),
// and the same for the 1.5 s before the flood (baseline). Also: the flooders' close code(s) and times,
// what they were answered, and the server tree's CPU per flood frame, measured on a first flood of the
// same shape with no other traffic: (tree CPU from its start until quiet − the idle rate × that time)
// ÷ frames written (burstRun's phase 1).
//
// Targets (--targets, default ours,rawdo): `ours` (the product limits of flood.mjs; `ours-noassets`:
// the same without Miniflare's static-assets router in front, a diagnostic) and `rawdo`, the
// bare Durable Object peer (bench/peers/rawdo, hibernatable sockets) whose flooders connect with
// `sink=1`: their frames are read and dispatched by workerd and dropped at once by the object — the
// platform's floor for the same frames. (The sender's messages are broadcast there as on ours.)
// Results and reading: BENCHMARKS.md "Floods that cannot slow a room (issue 19 §4)".
import { treeCpuSeconds, treeRunqueueWaitSeconds } from "./proc.mjs";
import { busyUntil, cpuSampler, now, Peer, r1, sleep, SPACED_PING, summary, waitQuiet } from "./flood-kit.mjs";

/** The free frames, by variant. */
export const FREE_FRAMES = {
  sping: { what: "spaced pings (reach the room)", frame: SPACED_PING },
  blank: { what: "blank messages", frame: '{"type":"message","text":"   "}' },
  xping: { what: "exact pings (runtime auto-response)", frame: '{"type":"ping"}' },
};

/** The two shapes of issue 19 §4. */
export const BURST_SHAPES = {
  burst: { sockets: 1, perSocket: 9_000 },
  many: { sockets: 50, perSocket: 500 },
};

const SENDER_PERIOD_MS = 100;
const BASELINE_MS = 1500;

/** Writes `perSocket` copies of `frame` into each socket in one synchronous loop; resolves when they left this process. */
async function flood(flooders, perSocket, frame) {
  const t0 = now();
  let written = 0;
  for (const p of flooders) for (let j = 0; j < perSocket; j++) if (p.send(frame)) written++;
  const tQueued = now();
  let tWritten = null;
  while (tWritten === null && now() - t0 < 60_000) {
    if (flooders.every((p) => p.unsent === 0)) tWritten = now();
    else await sleep(5);
  }
  return { t0, written, tQueued, tWritten };
}

/** Close codes/times (ms after `t0`) and what the flooders were answered. */
function flooderOutcome(flooders, t0) {
  const closes = flooders.filter((p) => p.close).map((p) => p.close);
  const answers = { pongs: 0, acks: 0, errors: {} };
  for (const p of flooders) {
    answers.pongs += p.pongs;
    answers.acks += p.acks;
    for (const [c, n] of Object.entries(p.errors)) answers.errors[c] = (answers.errors[c] ?? 0) + n;
  }
  return {
    flooders_closed: closes.length,
    close_codes: [...new Set(closes.map((c) => c.code))],
    close_reason: closes[0]?.reason ?? null,
    first_close_ms: closes.length ? r1(Math.min(...closes.map((c) => c.at)) - t0) : null,
    last_close_ms: closes.length ? r1(Math.max(...closes.map((c) => c.at)) - t0) : null,
    flooder_answers: answers,
  };
}

/**
 * One run: `shape` (burst | many) of `variant` frames against a started server `s` ({ spec,
 * floodSpec, server, plain, target }), in two phases on the same server:
 *   1. CPU: the flood alone (no other traffic) from its own flooders; tree CPU from its start until
 *      the server is quiet, minus the idle rate of the second before, ÷ frames = µs/frame.
 *      `profiler` ({ start, stop }) brackets this flood (bench/flood.mjs --profile).
 *   2. Latency: the sender posts every 100 ms, 1.5 s of baseline, then the same flood from fresh
 *      flooders; the viewer's send→arrival latency of the sender's messages and the flooders' closes.
 * Connections: 1 = viewer, 2 = sender, 10… = phase 1's flooders, 1,000… = phase 2's. Returns the record.
 */
export async function burstRun(s, shape, variant, { log = () => {}, profiler = null } = {}) {
  const { sockets, perSocket } = BURST_SHAPES[shape];
  const f = FREE_FRAMES[variant];
  const plain = Boolean(s.plain);
  const res = { case: shape, variant, what: `${sockets} socket(s) × ${perSocket} ${f.what}`, target: s.target, sockets, per_socket: perSocket, frames: sockets * perSocket };
  const viewer = new Peer(s.spec(1), { watchComments: true, plain });
  const sender = new Peer(s.spec(2), { plain });
  const cpuFlooders = Array.from({ length: sockets }, (_, i) => new Peer(s.floodSpec(10 + i), { plain }));
  const flooders = Array.from({ length: sockets }, (_, i) => new Peer(s.floodSpec(1000 + i), { plain }));
  const all = [viewer, sender, ...cpuFlooders, ...flooders];
  const cpu = cpuSampler(s.server.pid);
  const sent = []; // [sentAt ms, k]
  let senderTimer = null;
  try {
    for (const p of all) await p.open();
    // Phase 1: CPU per frame, the flood alone.
    await waitQuiet(cpu, now(), { minMs: 1000, maxMs: 20_000 });
    const idleFrom = now();
    const cpuIdle0 = treeCpuSeconds(s.server.pid);
    await sleep(1000);
    await profiler?.start();
    const cpu0 = treeCpuSeconds(s.server.pid);
    const rqC0 = treeRunqueueWaitSeconds(s.server.pid);
    const c = await flood(cpuFlooders, perSocket, f.frame);
    const idleRate = (cpu0 - cpuIdle0) / ((c.t0 - idleFrom) / 1000);
    if (profiler) {
      // The flood's frames are read within ~1 s of being written (the unprofiled runs); stopping
      // here keeps the sampler's own load from holding the server busy (it never looks quiet).
      await sleep(1500);
      await profiler.stop();
    }
    const cpuQuiet = await waitQuiet(cpu, c.t0);
    const tQuietC = now();
    const floodCpu = Math.max(0, treeCpuSeconds(s.server.pid) - cpu0 - idleRate * ((tQuietC - c.t0) / 1000));
    Object.assign(res, {
      cpu_phase: {
        written: c.written,
        written_ms: r1(c.tWritten === null ? null : c.tWritten - c.t0),
        busy_until_ms: r1((busyUntil(cpu.samples, c.t0) ?? c.t0) - c.t0),
        quiet_reached: cpuQuiet,
        idle_cpu_core: Math.round(idleRate * 1000) / 1000,
        server_waited_s: Math.round((treeRunqueueWaitSeconds(s.server.pid) - rqC0) * 100) / 100,
        ...flooderOutcome(cpuFlooders, c.t0),
      },
      server_cpu_s: Math.round(floodCpu * 1000) / 1000,
      server_cpu_us_per_frame: c.written ? Math.round((floodCpu * 1e6 * 10) / c.written) / 10 : null,
    });
    // Phase 2: another viewer's latency during the same flood.
    let k = 0;
    senderTimer = setInterval(() => {
      const t = now();
      const text = `probe ${k} ~T${Math.round(t * 1000)}.`;
      if (sender.send(JSON.stringify({ type: "message", text, client_msg_id: `probe-${k}` }))) sent.push([t, k]);
      k++;
    }, SENDER_PERIOD_MS);
    await sleep(BASELINE_MS);
    const baseFrom = now() - BASELINE_MS;
    const rq0 = treeRunqueueWaitSeconds(s.server.pid);
    const d = await flood(flooders, perSocket, f.frame);
    const quiet = await waitQuiet(cpu, d.t0);
    const rq1 = treeRunqueueWaitSeconds(s.server.pid);
    await sleep(500);
    clearInterval(senderTimer);
    senderTimer = null;
    await sleep(700);
    const tEnd = now();
    const lastBusy = busyUntil(cpu.samples, d.t0) ?? d.t0;
    const until = Math.max(lastBusy, d.tWritten ?? d.t0);
    Object.assign(res, {
      written: d.written,
      queued_ms: r1(d.tQueued - d.t0),
      written_ms: r1(d.tWritten === null ? null : d.tWritten - d.t0),
      baseline_ms: latency(viewer, sent, baseFrom, d.t0, tEnd),
      during_ms: latency(viewer, sent, d.t0, until, tEnd),
      during_window_ms: r1(until - d.t0),
      sender_errors: sender.errors,
      ...flooderOutcome(flooders, d.t0),
      room_busy_until_ms: r1(lastBusy - d.t0),
      quiet_reached: quiet,
      server_waited_s: Math.round((rq1 - rq0) * 100) / 100,
    });
  } catch (e) {
    res.error = String(e?.stack ?? e);
  } finally {
    if (senderTimer) clearInterval(senderTimer);
    cpu.stop();
    for (const p of all) p.terminate();
  }
  log(`${shape}/${variant} on ${s.target}: ${fmtBurst(res)}`);
  return res;
}

/** Send→arrival latency of the sender's messages sent in [from, to) ms; one never seen counts at its age (`lost`). */
function latency(viewer, sent, from, to, end) {
  const arrived = new Map();
  for (const [t, , us] of viewer.comments) if (us !== null && !arrived.has(us)) arrived.set(us, t);
  const v = [];
  let lost = 0;
  for (const [t] of sent) {
    if (t < from || t >= to) continue;
    const at = arrived.get(Math.round(t * 1000));
    if (at === undefined) {
      lost++;
      v.push(end - t);
    } else v.push(at - t);
  }
  return { ...summary(v), lost };
}

/** One line for the log. */
export function fmtBurst(r) {
  if (r.error) return `ERROR ${r.error.split("\n")[0]}`;
  const d = r.during_ms;
  return (
    `other viewer's message p50 ${d.p50} p99 ${d.p99} max ${d.max} ms (n ${d.n}, lost ${d.lost}; baseline p50 ${r.baseline_ms.p50}); ` +
    `${r.flooders_closed}/${r.sockets} flooder(s) closed ${r.close_codes.join(",") || "–"} at ${r.first_close_ms ?? "–"}…${r.last_close_ms ?? "–"} ms; ` +
    `written in ${r.written_ms} ms; busy until ${r.room_busy_until_ms} ms; CPU ${r.server_cpu_s} s = ${r.server_cpu_us_per_frame} µs/frame; ` +
    `srv waited ${r.server_waited_s} s (CPU phase ${r.cpu_phase.server_waited_s} s); sender errors ${JSON.stringify(r.sender_errors)}; answers ${JSON.stringify(r.flooder_answers)}`
  );
}
