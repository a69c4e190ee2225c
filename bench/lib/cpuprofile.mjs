// Reads a V8 CPU profile (Profiler.stop's `profile`: nodes, samples, timeDeltas) and says where the
// time went: self time per function (mapped back to src/ through the bundle's source map) and per
// bucket of BUCKETS below. Used by bench/profile.mjs; also runnable on a saved profile:
//   node bench/lib/cpuprofile.mjs bench/results/profile/ours-batch-1000x100.cpuprofile [bench/.build/ours/worker.js.map]
//
// Time is counted in samples. V8 samples the isolate's thread every interval *while the isolate is
// entered* (locked by workerd's thread); while workerd runs other isolates (the assets router, …),
// works outside the lock or waits in its event loop without marking the isolate idle, no sample is
// taken, so the gaps between samples are not the previous sample's time. Hence:
//   samples       samples with this function on top of the stack (its self time)
//   % of samples  share of all samples, "(idle)" included; % of busy = share of non-"(idle)" samples
//   est. ms       samples × the sampling interval actually seen (the median gap between consecutive
//                 samples, gaps of 5× the asked interval or more left out: those are time away)
//   not sampled   profile wall time − samples × interval: the isolate was not entered (see above)
// Native frames (no script: V8 or workerd builtins such as WebSocket.send, sql.exec, sendBatch) are
// listed with their JS caller ("native ← sendTo (src/fanout.ts:441)"), and bucketed by it.
import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const FANOUT_SEND = /broadcast|sendTo|sendAll|send$|[Ff]lush|[Ww]indow|[Bb]atch/;
const callerIn = (f, re) => re.test(f.callerFile ?? "");

/**
 * Buckets, first match wins. Each frame `f` has: fn (function name), file (original source:
 * src/…, node_modules/…, bench/…, node-internal:…, or the script URL when unmapped; "" for a native),
 * native (no script behind it), and for natives callerFn / callerFile (the nearest JS caller).
 * The send loop of src/fanout.ts is matched by function name (broadcast, sendTo, flush…, …Window…,
 * …Batch…, and anonymous functions there: the window timer's callback); the rest of fanout.ts is its gate.
 */
export const BUCKETS = [
  ["(idle)", (f) => f.fn === "(idle)"],
  ["(garbage collector)", (f) => f.fn === "(garbage collector)"],
  ["(program): workerd native, no JS on the stack", (f) => f.fn === "(program)"],
  ["native WebSocket send (called by the send loop)", (f) => f.native && f.fn === "send" && callerIn(f, /src\/(fanout|shard)\.ts$|bench\/peers\//)],
  ["src/fanout.ts send loop (broadcast, sendTo, batch window, flush)", (f) => /src\/fanout\.ts$/.test(f.file) && (f.fn === "" || FANOUT_SEND.test(f.fn))],
  ["JSON encode/decode (builtins)", (f) => f.native && /^(stringify|parse)$/.test(f.fn)],
  ["zod parsing", (f) => /node_modules\/zod\//.test(f.file) || (f.native && callerIn(f, /node_modules\/zod\//))],
  ["attachments (serialize/deserializeAttachment)", (f) => /serializeAttachment|deserializeAttachment/.test(f.fn)],
  ["timers (setTimeout/clearTimeout, node-internal timers)", (f) => /^(setTimeout|clearTimeout|setInterval|clearInterval)$/.test(f.fn) || /^node-internal:(internal_timers|timers|validators)/.test(f.file)],
  ["storage: SQLite (sql.exec, cursor) under the room's store", (f) => f.native && /^(exec|next|toArray|one|raw|columnNames|rowsRead|rowsWritten)$/.test(f.fn) && callerIn(f, /src\/room-store\.ts$|src\/(room|shard|mirror)\.ts$/)],
  ["outbox → queues (src/outbox.ts, its SQLite and Queue.sendBatch)", (f) => /src\/outbox\.ts$/.test(f.file) || (f.native && callerIn(f, /src\/outbox\.ts$/))],
  ["queue consumer (src/consumer.ts, sinks)", (f) => /src\/consumer\.ts$|src\/sinks\//.test(f.file) || (f.native && callerIn(f, /src\/consumer\.ts$|src\/sinks\//))],
  ["metrics (src/metrics.ts)", (f) => /src\/metrics\.ts$/.test(f.file)],
  ["src/fanout.ts gate and bookkeeping (gate, adopt, presence, limits)", (f) => /src\/fanout\.ts$/.test(f.file)],
  ["room command path (room, room-store, rules, protocol, answers, mirror, audience)", (f) => /src\/(room|room-store|room-api|protocol|answers|mirror|audience|roles|history)\.ts$|src\/rules\//.test(f.file) || (f.native && callerIn(f, /src\/(room|room-store|protocol|answers|mirror|audience)\.ts$|src\/rules\//))],
  ["fan-out shards (shard, shard-links, shard-api)", (f) => /src\/shard(-links|-api)?\.ts$/.test(f.file)],
  ["worker and HTTP (worker, auth, tickets, hono, jose)", (f) => /src\/(worker|auth|tickets|usernames|errors|env)\.ts$|node_modules\/(hono|jose)\//.test(f.file)],
  ["other src/", (f) => /(^|\/)src\//.test(f.file)],
  ["bench peer (bench/peers/…)", (f) => /bench\/peers\//.test(f.file) || (f.native && callerIn(f, /bench\/peers\//))],
  ["other node_modules", (f) => /node_modules\//.test(f.file)],
  ["other native / runtime builtins", (f) => f.native || /^node-internal:/.test(f.file)],
  ["other JS (unmapped)", () => true],
];

/** Source lookup for bundle positions; null map → identity (the script URL and line). */
function mapper(sourceMap) {
  let sm = null;
  try {
    if (sourceMap?.map) sm = new SourceMap(sourceMap.map);
  } catch {}
  const cache = new Map();
  const norm = (src) => {
    // wrangler writes sources relative to the bundle's directory; keep the part from src/ or node_modules/.
    const abs = sourceMap?.dir ? path.resolve(sourceMap.dir, src) : src;
    const i = abs.lastIndexOf("/node_modules/");
    if (i >= 0) return abs.slice(i + 1);
    const j = abs.lastIndexOf("/src/");
    if (j >= 0) return abs.slice(j + 1);
    const k = abs.lastIndexOf("/bench/");
    return k >= 0 ? abs.slice(k + 1) : abs;
  };
  return (url, line0, col0) => {
    const key = `${url}:${line0}:${col0}`;
    if (cache.has(key)) return cache.get(key);
    let r = { file: url, line: line0 + 1 };
    const isBundle = sourceMap?.script && url && (url === sourceMap.script || url.endsWith(`/${sourceMap.script}`));
    if (sm && isBundle) {
      const e = sm.findEntry(line0, col0);
      if (e && e.originalSource) r = { file: norm(e.originalSource), line: e.originalLine + 1 };
    }
    cache.set(key, r);
    return r;
  };
}

const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? v[v.length >> 1] : 0;
}

/**
 * @param {object} profile  V8 CPU profile
 * @param {{ sourceMap?: {dir:string, script:string, map:object}|null, top?: number, requestedIntervalUs?: number|null }} o
 */
export function analyzeProfile(profile, { sourceMap = null, top = 25, requestedIntervalUs = null } = {}) {
  const map = mapper(sourceMap);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node);
  const n = profile.samples.length;
  const hits = new Map();
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  // The sampling interval actually achieved: the median gap between consecutive samples of one
  // stretch in the isolate (gaps under 5× the interval asked for; the first delta is from the start).
  const asked = requestedIntervalUs ?? 100;
  const inStretch = profile.timeDeltas.slice(1).filter((d) => d > 0 && d < 5 * asked);
  const intervalUs = inStretch.length ? median(inStretch) : asked;
  const totalUs = profile.endTime - profile.startTime;
  const locOf = (cf) => (cf.url ? map(cf.url, cf.lineNumber, cf.columnNumber) : { file: "", line: 0 });
  /** Nearest ancestor frame with a script (a native's JS caller). */
  const jsCaller = (node) => {
    for (let p = parent.get(node.id); p; p = parent.get(p.id)) if (p.callFrame.url) return { fn: p.callFrame.functionName || "(anonymous)", ...locOf(p.callFrame) };
    return null;
  };
  // Per function: nodes with the same name and location (one per call path) are summed; natives
  // are split by their JS caller.
  const fns = new Map();
  const lineHits = new Map();
  for (const [id, h] of hits) {
    const node = byId.get(id);
    const cf = node.callFrame;
    const native = !cf.url;
    const loc = locOf(cf);
    const caller = native ? jsCaller(node) : null;
    const fn = cf.functionName;
    const key = `${fn}\u0000${loc.file}:${loc.line}\u0000${caller ? `${caller.fn}@${caller.file}:${caller.line}` : ""}`;
    let f = fns.get(key);
    if (!f) fns.set(key, (f = { fn, file: loc.file, line: loc.line, native, callerFn: caller?.fn, callerFile: caller?.file, callerLine: caller?.line, hits: 0 }));
    f.hits += h;
    // Line-level self hits (positionTicks: 1-based bundle lines) → source lines.
    if (!native && node.positionTicks?.length) {
      for (const pt of node.positionTicks) {
        const l = map(cf.url, pt.line - 1, 0);
        const lk = `${l.file}:${l.line}`;
        lineHits.set(lk, (lineHits.get(lk) ?? 0) + pt.ticks);
      }
    }
  }
  const all = [...fns.values()].sort((a, b) => b.hits - a.hits);
  for (const f of all) f.bucket = bucketOf(f);
  const idle = all.filter((f) => f.fn === "(idle)").reduce((a, f) => a + f.hits, 0);
  const busy = n - idle;
  const ms = (h) => round((h * intervalUs) / 1000, 1);
  const shares = (h, isIdle = false) => ({ samples: h, pct: round((100 * h) / (n || 1)), busy_pct: isIdle ? null : round((100 * h) / (busy || 1)), est_ms: ms(h) });
  const buckets = new Map(BUCKETS.map(([b]) => [b, 0]));
  for (const f of all) buckets.set(f.bucket, buckets.get(f.bucket) + f.hits);
  // Samples in the Durable Objects' own files prove they run in this isolate.
  const doHits = all.filter((f) => /src\/(room|fanout|shard|room-store|outbox)\.ts$/.test(f.file) || /src\/(room|fanout|shard|room-store|outbox)\.ts$/.test(f.callerFile ?? "")).reduce((a, f) => a + f.hits, 0);
  return {
    samples: n,
    total_ms: round(totalUs / 1000),
    interval_us: intervalUs,
    sampled_ms: ms(n),
    not_sampled_ms: round(Math.max(0, totalUs - n * intervalUs) / 1000, 1),
    idle_samples: idle,
    busy_samples: busy,
    source_mapped: Boolean(sourceMap?.map),
    durable_object_samples: doHits,
    top_functions: all.slice(0, top).map((f) => ({
      function: f.fn || "(anonymous)",
      location: f.native ? "native" : f.file ? `${f.file}:${f.line}` : "(no location)",
      caller: f.native && f.callerFn ? `${f.callerFn} (${f.callerFile}:${f.callerLine})` : null,
      bucket: f.bucket,
      ...shares(f.hits, f.fn === "(idle)"),
    })),
    buckets: [...buckets].filter(([, h]) => h > 0).sort((a, b) => b[1] - a[1]).map(([bucket, h]) => ({ bucket, ...shares(h, bucket === "(idle)") })),
    top_lines: [...lineHits].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([location, h]) => ({ location, ...shares(h) })),
  };
}

function bucketOf(f) {
  for (const [name, test] of BUCKETS) if (test(f)) return name;
  return "other";
}

const pct = (v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} %`);

/** The markdown summary of one isolate's profile (bench/profile.mjs writes and prints it). */
export function summaryMarkdown({ label, isolate, cfg, step, analysis: a }) {
  const l = step?.latency_ms;
  const out = [
    `## CPU profile: ${label} (isolate ${isolate})`,
    "",
    (cfg ? `${cfg.conns} connections, ${cfg.rate} msg/s from ${cfg.senders} senders, ${cfg.duration} s profiled after ${cfg.warmup} s warm-up; sampling asked every ${cfg.interval_us} µs. ` : "") +
      `${a.samples} samples over ${(a.total_ms / 1000).toFixed(2)} s, median interval ${a.interval_us} µs → ${a.sampled_ms} ms sampled, ` +
      `${a.not_sampled_ms} ms not sampled (isolate not entered: other isolates, workerd outside the lock, or waiting); ${a.idle_samples} samples "(idle)".`,
  ];
  if (step)
    out.push(
      "",
      `Step while profiling: ${step.sent} sent, delivered ${(step.delivered_ratio * 100).toFixed(2)} %, p50 ${l.p50} / p90 ${l.p90} / p99 ${l.p99} ms, ` +
        `${Math.round(step.deliveries_per_s)} deliveries/s, server CPU ${step.server_cpu_us_per_delivery?.toFixed(2) ?? "–"} µs per delivery ` +
        `(${Math.round(step.server_cpu_util * 100)} % of a core; workerd ${step.workerd_cpu_s.toFixed(2)} CPU s). Profiling slows the isolate: compare profiles with profiles.`,
    );
  out.push(
    "",
    `Source map: ${a.source_mapped ? "yes (locations are src/ and node_modules/ files)" : "no (bundle locations)"}. ` +
      `Durable Object code (room, fanout, shard, room-store, outbox, and natives they call) sampled in this isolate: ${a.durable_object_samples} samples.`,
    "",
    "### Buckets (self time)",
    "",
    "| bucket | samples | % of samples | % of busy | est. ms |",
    "|---|---:|---:|---:|---:|",
    ...a.buckets.map((b) => `| ${b.bucket} | ${b.samples} | ${pct(b.pct)} | ${pct(b.busy_pct)} | ${b.est_ms.toFixed(1)} |`),
    "",
    `### Top ${a.top_functions.length} functions by self time`,
    "",
    "| # | function | location | bucket | samples | % of samples | % of busy | est. ms |",
    "|---:|---|---|---|---:|---:|---:|---:|",
    ...a.top_functions.map(
      (f, i) => `| ${i + 1} | \`${f.function}\` | ${f.caller ? `native ← ${f.caller}` : f.location} | ${f.bucket} | ${f.samples} | ${pct(f.pct)} | ${pct(f.busy_pct)} | ${f.est_ms.toFixed(1)} |`,
    ),
    "",
    "### Hottest source lines (self samples, from V8's position ticks)",
    "",
    "| location | samples | % of samples |",
    "|---|---:|---:|",
    ...a.top_lines.map((x) => `| ${x.location} | ${x.samples} | ${pct(x.pct)} |`),
    "",
    "Native time: what the runtime does in C++ below a JS call (`WebSocket.send` framing and queuing the write, `sql.exec`, " +
      "`Queue.sendBatch`) is the native entry V8 names, listed with its caller; what workerd does with the isolate entered but no JS " +
      'on the stack (dispatching events, writing to sockets after the call returned) is "(program)"; what it does with the isolate ' +
      "not entered is not sampled at all (compare the workerd CPU s above with the sampled ms).",
  );
  return out.join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [file, mapFile] = process.argv.slice(2);
  if (!file) {
    console.error("usage: node bench/lib/cpuprofile.mjs <file.cpuprofile> [bundle.js.map]");
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const sm = mapFile ? { dir: path.dirname(path.resolve(mapFile)), script: path.basename(mapFile).replace(/\.map$/, ""), map: JSON.parse(readFileSync(mapFile, "utf8")) } : null;
  console.log(summaryMarkdown({ label: path.basename(file), isolate: "?", analysis: analyzeProfile(profile, { sourceMap: sm }) }));
}
