#!/usr/bin/env node
// `npm run bench -- --scenario slow` (or `node bench/slow.mjs`) — issue 19 §3: slow consumers. One
// stream of our worker on workerd (Miniflare), V viewers that read and report what they read
// (`?seen=1`, the SDK's cadence: a `seen` frame after 50 events and ≥ 1 s apart), P paused readers
// (`?seen=1`, one report right after their history, then `socket.pause()`: their TCP window fills,
// as a frozen tab's would), and one sender posting N comments at R/s, each carrying its send time.
// Measured:
//   - workerd RSS (the data-path processes, bench/lib/proc.mjs) and the kernel's TCP buffer memory
//     (/proc/net/sockstat) every 250 ms, before, during and after the burst
//   - the viewers' delivery latency (send → receive, same clock) p50/p99/max over every delivery,
//     and how many of them the room closed (it must be none)
//   - what was queued for each paused reader: after the burst it reads again and counts the frames
//     and bytes it drains, and how it was closed (4408 with the bound; still open without)
// Modes: with the bound (SLOW_CONSUMER_MAX_BEHIND default) and without (--no-bound: 0).
// Writes bench/results/slow/<mode>.json and rewrites the table between the `slow:begin`/`slow:end`
// markers in BENCHMARKS.md from every JSON there.
//
//   node bench/slow.mjs [--viewers 100] [--paused 1] [--messages 1000] [--rate 100] [--size 400]
//                       [--no-bound] [--max-behind N] [--grace-ms MS] [--viewers-plain] [--shard-max 0] [--port 19310] [--timeout-s 300] [--table-only]
// Run it with `nice -n 10` on a shared machine; the load average is recorded before and after.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { parseArgs } from "./lib/args.mjs";
import { signHs256 } from "./lib/jwt.mjs";
import { dataPathRssBytes, machineInfo } from "./lib/proc.mjs";
import { BUILD, bundle, JWT_SECRET, ROOT, sourceInfo, startProcess } from "./lib/targets.mjs";

const { argv, opt, num } = parseArgs();
const outDir = path.resolve(String(opt("out", path.join(ROOT, "bench/results/slow"))));
const BENCH_MD = path.join(ROOT, "BENCHMARKS.md");
if (argv.includes("--table-only")) {
  writeTable();
  process.exit(0);
}

const VIEWERS = num("viewers", 100);
const PAUSED = num("paused", 1);
const N = num("messages", 1000);
const RATE = num("rate", 100);
const SIZE = num("size", 400);
const BOUND = !argv.includes("--no-bound");
/** --max-behind / --grace-ms: SLOW_CONSUMER_MAX_BEHIND / SLOW_CONSUMER_GRACE_MS (default: the product's, src/rules/consumers.ts). */
const MAX_BEHIND = opt("max-behind");
const GRACE_MS = opt("grace-ms");
const SHARD_MAX = num("shard-max", 0);
const PORT = num("port", 19310);
const mode = `${BOUND ? "bound" : "nobound"}-${SHARD_MAX > 0 ? `sharded${SHARD_MAX}` : "single"}-p${PAUSED}-v${VIEWERS}-m${N}-r${RATE}`;
/** The SDK's cadence (src/rules/consumers.ts SEEN_REPORT_EVENTS / SEEN_REPORT_INTERVAL_MS). */
const REPORT_EVENTS = 50;
const REPORT_MS = 1000;
/** --viewers-plain: the viewers do not opt in (`?seen=1`) nor report, so only the paused readers are held to the bound. */
const VIEWER_QUERY = argv.includes("--viewers-plain") ? "" : "?seen=1";

const T0 = performance.now();
const log = (...a) => console.error(`[slow ${((performance.now() - T0) / 1000).toFixed(1)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const clock = () => performance.timeOrigin + performance.now();

// ------------------------------------------------------------------------------------- the worker
const script = bundle("ours", "wrangler.toml");
const vars = {
  JWT_SECRET,
  SHARD_MAX_SOCKETS: String(SHARD_MAX),
  // One sender posts R/s: its own limits (per user, per socket) and the stream's are lifted; the bound under test is not.
  RATE_LIMIT_PER_SEC: "100000",
  SOCKET_MAX_FRAMES_PER_SEC: "100000",
  ROOM_MAX_MESSAGES_PER_SEC: "100000",
  ROOM_MAX_DELIVERIES_PER_SEC: "100000000",
  ROOM_MAX_JOINS_PER_SEC: "100000",
  ...(BOUND ? {} : { SLOW_CONSUMER_MAX_BEHIND: "0" }),
  ...(BOUND && MAX_BEHIND !== undefined ? { SLOW_CONSUMER_MAX_BEHIND: String(MAX_BEHIND) } : {}),
  ...(BOUND && GRACE_MS !== undefined ? { SLOW_CONSUMER_GRACE_MS: String(GRACE_MS) } : {}),
};
const load0 = os.loadavg();
log(`mode ${mode}; load average ${load0.map((x) => x.toFixed(2)).join(" ")}`);
const worker = await startProcess({
  name: `slow-${mode}`,
  args: ["bench/lib/miniflare-launch.mjs", "--config", "wrangler.toml", "--script", script, "--port", String(PORT), ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}=${v}`])],
  logDir: path.join(BUILD, "logs"),
});

// A run that hangs (a join never answered, a machine too loaded) stops the worker and exits 2.
const TIMEOUT_S = num("timeout-s", 300);
setTimeout(async () => {
  log(`watchdog: not done after ${TIMEOUT_S} s; stopping`);
  await worker.stop().catch(() => {});
  process.exit(2);
}, TIMEOUT_S * 1000).unref();

// ------------------------------------------------------------------------------------ the clients
const streamId = crypto.randomUUID();
const exp = Math.floor(Date.now() / 1000) + 3600;
const url = (q) => `ws://127.0.0.1:${PORT}/ws/streams/${streamId}/chat${q}`;
/**
 * Opens a socket with `onMessage` attached at once: `ws` may emit the welcome and history in the
 * same tick as `open`, before an `await open(...)` could attach a listener.
 */
const open = (name, q, onMessage = () => {}) =>
  new Promise((resolve, reject) => {
    const token = signHs256({ sub: crypto.randomUUID(), username: name, iat: Math.floor(Date.now() / 1000), exp }, JWT_SECRET);
    // No permessage-deflate (as the other benches' load generators): one process reads every viewer's
    // frames, and inflating them per socket would make the load generator the slow consumer.
    const ws = new WebSocket(url(q), { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.on("message", (data) => onMessage(ws, data));
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });

const COMMENT_RE = /^\{"type":"comment","seq":(\d+),/;

/** A viewer: reads everything, reports like the SDK, records each comment's latency. */
async function viewer(i) {
  const v = { ws: null, got: 0, lastSeq: 0, reportedSeq: -1, reportedAt: 0, timer: null, closed: null };
  const ws = (v.ws = await open(`v${i}`, VIEWER_QUERY, (ws, data) => onData(ws, data)));
  function report() {
    v.timer = null;
    if (ws.readyState !== WebSocket.OPEN || v.lastSeq <= v.reportedSeq) return;
    ws.send(`{"type":"seen","seq":${v.lastSeq}}`);
    v.reportedSeq = v.lastSeq;
    v.reportedAt = Date.now();
  }
  function onData(ws, data) {
    const at = clock();
    const text = String(data);
    // A comment is read without JSON.parse (100 viewers × R frames/s in one process): its seq and the send time leading its message.
    const m = COMMENT_RE.exec(text);
    if (!m) {
      const f = JSON.parse(text);
      if (f.type === "welcome") {
        v.lastSeq = v.reportedSeq = f.seq;
        v.reportedAt = Date.now();
      }
      return;
    }
    v.got++;
    v.lastSeq = Number(m[1]);
    const i = text.indexOf('"message":"');
    const sent = Number(text.slice(i + 11, text.indexOf(" ", i + 11)));
    if (measuring) latencies.push(at - sent);
    if (v.timer === null && v.lastSeq - v.reportedSeq >= REPORT_EVENTS) {
      const due = Math.max(0, v.reportedAt + REPORT_MS - Date.now());
      if (due === 0) report();
      else v.timer = setTimeout(report, due);
    }
  }
  ws.on("close", (code) => (v.closed = code));
  return v;
}

/** A paused reader: reports once what its history brought it to, then stops reading its socket. */
async function pausedReader(i) {
  const p = { ws: null, before: 0, drained: 0, drainedBytes: 0, closed: null, draining: false };
  let synced;
  const history = new Promise((resolve) => (synced = resolve));
  const ws = (p.ws = await open(`p${i}`, "?seen=1", (ws, data) => {
    const text = String(data);
    const f = COMMENT_RE.test(text) ? { type: "comment" } : JSON.parse(text);
    if (p.draining) {
      p.drained += f.type === "comment" ? 1 : 0;
      p.drainedBytes += data.length;
    } else if (f.type === "comment") p.before++;
    if (f.type === "welcome") ws.send(`{"type":"seen","seq":${f.seq}}`);
    if (f.type === "history") synced();
  }));
  await history;
  ws.on("close", (code, reason) => (p.closed = { code, reason: String(reason) }));
  return p;
}

let measuring = false;
const latencies = [];
const viewers = [];
for (let i = 0; i < VIEWERS; i++) viewers.push(await viewer(i));
const paused = [];
for (let i = 0; i < PAUSED; i++) paused.push(await pausedReader(i));
let acked = 0;
let refused = 0;
const sender = await open("sender", "", (_ws, data) => {
  const f = JSON.parse(String(data));
  if (f.type === "ack") acked++;
  else if (f.type === "error") refused++;
});
log(`${viewers.length} viewers, ${paused.length} paused readers, 1 sender connected`);
await sleep(1000);

// ------------------------------------------------------------------------------------- the burst
const kernelTcpBytes = () => Number(/TCP:.* mem (\d+)/.exec(readFileSync("/proc/net/sockstat", "utf8"))?.[1] ?? 0) * 4096;
const samples = [];
const sample = () => samples.push([+((performance.now() - tBurst) / 1000).toFixed(2), dataPathRssBytes(worker.pid), kernelTcpBytes()]);
let tBurst = performance.now();
sample();
const rss0 = samples[0][1];
for (const p of paused) p.ws._socket.pause();
const sampler = setInterval(sample, 250);
measuring = true;
tBurst = performance.now();
const alphabet = 20_000; // random CJK: 3 bytes a code point in UTF-8, and nothing a compressor could shrink
const filler = () => {
  let s = "";
  for (let k = 0; k < SIZE; k++) s += String.fromCodePoint(0x4e00 + Math.floor(Math.random() * alphabet));
  return s;
};
for (let i = 0; i < N; i++) {
  const due = tBurst + (i * 1000) / RATE;
  const wait = due - performance.now();
  if (wait > 0) await sleep(wait);
  sender.send(JSON.stringify({ type: "message", text: `${clock().toFixed(3)} ${filler()}`, client_msg_id: `m${i}` }));
}
const tSent = performance.now();
const deadline = performance.now() + 60_000;
while (viewers.some((v) => v.got < N && v.closed === null) && performance.now() < deadline) await sleep(50);
const tDelivered = performance.now();
measuring = false;
await sleep(2000);
sample();
const rssPeak = Math.max(...samples.map((s) => s[1]));
const rssEnd = samples.at(-1)[1];
const kernelEnd = samples.at(-1)[2];
log(`sent ${N} in ${((tSent - tBurst) / 1000).toFixed(1)} s; delivered by ${((tDelivered - tBurst) / 1000).toFixed(1)} s; rss ${(rss0 / 2 ** 20).toFixed(1)} → peak ${(rssPeak / 2 ** 20).toFixed(1)} MiB`);

// What was queued for the paused readers: read it now.
log("draining the paused readers");
for (const p of paused) {
  p.draining = true;
  p.ws._socket.resume();
}
const drainDeadline = performance.now() + 30_000;
let lastDrained = -1;
while (performance.now() < drainDeadline) {
  await sleep(500);
  const d = paused.reduce((n, p) => n + p.drained, 0);
  if (d === lastDrained && paused.every((p) => p.closed !== null || p.before + p.drained >= N)) break;
  lastDrained = d;
}
clearInterval(sampler);
sample();

const sorted = latencies.sort((a, b) => a - b);
const pct = (p) => (sorted.length ? +sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(1) : null);
const load1 = os.loadavg();
const mib = (b) => +(b / 2 ** 20).toFixed(1);
const result = {
  scenario: "slow",
  mode,
  bound: BOUND,
  bound_setting: BOUND ? { max_behind: MAX_BEHIND ?? "default (150)", grace_ms: GRACE_MS ?? "default (3000)" } : null,
  viewers_report: VIEWER_QUERY !== "",
  date: new Date().toISOString(),
  machine: machineInfo(),
  source: sourceInfo(),
  load_before: load0.map((x) => +x.toFixed(2)),
  load_after: load1.map((x) => +x.toFixed(2)),
  viewers: VIEWERS,
  paused: PAUSED,
  messages: N,
  rate: RATE,
  size_code_points: SIZE,
  shard_max: SHARD_MAX,
  acked,
  refused,
  send_s: +((tSent - tBurst) / 1000).toFixed(2),
  delivered_s: +((tDelivered - tBurst) / 1000).toFixed(2),
  viewer_deliveries: sorted.length,
  viewers_complete: viewers.filter((v) => v.got >= N).length,
  viewers_closed: viewers.filter((v) => v.closed !== null).length,
  viewer_close_codes: viewers.reduce((m, v) => (v.closed === null ? m : { ...m, [v.closed]: (m[v.closed] ?? 0) + 1 }), {}),
  latency_ms: { p50: pct(50), p99: pct(99), max: sorted.length ? +sorted.at(-1).toFixed(1) : null },
  rss_mib: { before: mib(rss0), peak: mib(rssPeak), after: mib(rssEnd), growth_peak: mib(rssPeak - rss0) },
  kernel_tcp_mib_end: mib(kernelEnd),
  paused_readers: paused.map((p) => ({ before_pause: p.before, drained_comments: p.drained, drained_mib: mib(p.drainedBytes), closed: p.closed })),
  samples: samples.map(([t, r, k]) => [t, mib(r), mib(k)]),
};
for (const v of viewers) v.ws.close();
for (const p of paused) p.ws.terminate();
sender.close();
await worker.stop();
log("worker stopped");

mkdirSync(outDir, { recursive: true });
writeFileSync(path.join(outDir, `${mode}.json`), JSON.stringify(result, null, 1) + "\n");
const { samples: _s, machine: _m, source: _src, ...summary } = result;
console.log(JSON.stringify(summary, null, 1));
writeTable();
process.exit(0);

/** A bound setting as recorded ("default (150)" or a number) → its number. */
function setting(v) {
  const m = /(\d+)/.exec(String(v ?? "?"));
  return m ? m[1] : "?";
}

/** Rewrites BENCHMARKS.md between the slow markers from every JSON in outDir. */
function writeTable() {
  const rows = readdirSync(outDir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(outDir, f), "utf8")));
  const head =
    "| bound | mode | paused / viewers | messages × code points @ msg/s | date (UTC) | load avg before → after | viewers' latency p50 / p99 / max | viewers complete (closed) | workerd RSS before → peak (after) | kernel TCP at end | per paused reader: drained after the burst, close |\n" +
    "|---|---|---|---|---|---|---|---|---|---|---|";
  const lines = rows.map((r) => {
    const p = r.paused_readers[0];
    const close = p?.closed ? `${p.closed.code} ${p.closed.reason}` : "still open";
    const drained = r.paused_readers.length ? `${p.drained_comments} comments, ${p.drained_mib} MiB; ${close}${r.paused_readers.length > 1 ? ` (first of ${r.paused_readers.length})` : ""}` : "—";
    return `| ${r.bound ? `on (${setting(r.bound_setting?.max_behind)} events, ${setting(r.bound_setting?.grace_ms)} ms)` : "off"} | ${r.shard_max > 0 ? `sharded ${r.shard_max}` : "single"} | ${r.paused} / ${r.viewers}${r.viewers_report ? " (report)" : " (plain)"} | ${r.messages} × ${r.size_code_points} @ ${r.rate} | ${r.date.slice(0, 16).replace("T", " ")} | ${r.load_before[0]} → ${r.load_after[0]} | ${r.latency_ms.p50} / ${r.latency_ms.p99} / ${r.latency_ms.max} ms | ${r.viewers_complete}/${r.viewers} (${r.viewers_closed}) | ${r.rss_mib.before} → ${r.rss_mib.peak} (${r.rss_mib.after}) MiB | ${r.kernel_tcp_mib_end} MiB | ${drained} |`;
  });
  const machine = rows[0]?.machine ? String(rows[0].machine.cpu_model ?? "").trim() : "";
  const block = [
    "<!-- slow:begin (written by bench/slow.mjs; do not edit by hand) -->",
    `Machine: 2-core Linux x86-64 (shared with other jobs: see the load average column)${machine ? `, ${machine}` : ""}. Command: \`nice -n 10 npm run bench -- --scenario slow [--paused P] [--messages N] [--rate R] [--no-bound] [--viewers-plain]\`.`,
    "",
    head,
    ...lines,
    "<!-- slow:end -->",
  ].join("\n");
  const md = readFileSync(BENCH_MD, "utf8");
  const re = /<!-- slow:begin[\s\S]*?<!-- slow:end -->/;
  writeFileSync(BENCH_MD, re.test(md) ? md.replace(re, block) : `${md.trimEnd()}\n\n### Slow consumers (issue 19 §3)\n\n${block}\n`);
}
