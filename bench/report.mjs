// Turns the per-run JSON in bench/results/ into: summary.json (medians over repetitions and
// ratios against the `ws` baseline), summary.md (the ratio tables BENCHMARKS.md quotes) and one
// SVG per scenario (hand-written SVG, no plotting dependency).
//   node bench/report.mjs [resultsDir]
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const BASELINE = "ws";
const SCENARIO_ORDER = ["smoke", "seed", "fanout5k", "sweep", "idle", "proxyhop", "hot", "seedshard", "quiet", "seedbatch", "sweepbatch"];

/** The per-step figures of a load step (kind "load"; kind "ladder" keeps them per rate, see LADDER_KEY). */
function stepMetrics(s) {
  return {
    delivered_ratio: s.delivered_ratio,
    p50_ms: s.latency_ms.p50,
    p90_ms: s.latency_ms.p90,
    p99_ms: s.latency_ms.p99,
    max_ms: s.latency_ms.max,
    deliveries_per_s: s.deliveries_per_s,
    cpu_us_per_delivery: s.server_cpu_us_per_delivery,
    server_cpu_util: s.server_cpu_util,
    loadgen_cpu_util: s.loadgen_cpu_util,
    server_rq_wait_s: s.server_runqueue_wait_s,
    // Our worker only: comment frames a connection saw out of order or twice, during the step.
    seq_errors: typeof s.seq_out_of_order === "number" ? s.seq_out_of_order + s.seq_duplicates : null,
    // … and seqs they never got while a later one arrived (lost frames), during the step.
    seq_missing: typeof s.seq_missing === "number" ? s.seq_missing : null,
  };
}
/** Kind "ladder": a step's figure `k` at `rate` msg/s is kept flat as "r<rate>:<k>" (medians and ratios per key). */
const LADDER_KEY = (rate, k) => `r${rate}:${k}`;

const median = (xs) => {
  const v = xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/** dp_p0_bytes_per_conn, dp_p1_…: each data-path process's growth per connection (by pid), when there are several. */
function perProcessMemory(list) {
  if (!Array.isArray(list) || list.length < 2) return {};
  return Object.fromEntries(list.map((p, i) => [`dp_p${i}_bytes_per_conn`, p.bytes_per_conn]));
}

function metricsOf(doc, r) {
  if (r.error || !r.steps?.length) return { error: r.error ?? "no steps" };
  const m = {
    bytes_per_conn: r.memory?.bytes_per_conn,
    dp_bytes_per_conn: r.memory?.data_path_bytes_per_conn,
    dp_marginal_bytes_per_conn: r.memory?.data_path_marginal_bytes_per_conn,
    // Only where the data path is several processes (wrangler dev: proxy workerd + user workerd).
    ...perProcessMemory(r.memory?.data_path_bytes_per_conn_by_process),
    connect_failed: r.connect?.failed ?? 0,
    // Our worker only (null elsewhere): shards holding sockets per the room's stats route.
    shards_used: r.shards?.used ?? null,
  };
  if (doc.config.kind === "load") {
    Object.assign(m, stepMetrics(r.steps[0]));
  } else if (doc.config.kind === "ladder") {
    for (const s of r.steps) for (const [k, v] of Object.entries(stepMetrics(s))) m[LADDER_KEY(s.rate, k)] = v;
  } else if (doc.config.kind === "sweep") {
    const ok = r.steps.filter((s) => s.pass);
    const best = ok.sort((a, b) => b.rate - a.rate)[0];
    Object.assign(m, {
      max_rate_ok: r.sweep?.max_rate_ok ?? null,
      deliveries_per_s_at_max: best?.deliveries_per_s ?? null,
      p99_ms_at_max: best?.latency_ms.p99 ?? null,
      cpu_us_per_delivery_at_max: best?.server_cpu_us_per_delivery ?? null,
      limited_by_loadgen: r.sweep?.limited_by_loadgen ? 1 : 0,
    });
  } else if (doc.config.kind === "idle") {
    const [first, warm] = r.steps;
    Object.assign(m, {
      bytes_per_conn_idle: r.memory?.bytes_per_conn_after_idle,
      dp_bytes_per_conn_idle: r.memory?.data_path_bytes_per_conn_after_idle,
      state_reset_on_wake: r.seq_persisted ? null : typeof r.prime_seq === "number" && typeof r.first_after_idle_seq === "number" ? (r.first_after_idle_seq <= r.prime_seq ? 1 : 0) : null,
      first_delivered_ratio: first.delivered_ratio,
      first_p50_ms: first.latency_ms.p50,
      first_p99_ms: first.latency_ms.p99,
      first_max_ms: first.latency_ms.max,
      warm_p99_ms: warm?.latency_ms.p99 ?? null,
      idle_cpu_s: r.idle_server_cpu_s,
    });
  }
  return m;
}

/** The denominator of the ratios: `ws`, unless the scenario names another (proxyhop: `ours`). */
const baselineOf = (doc) => doc.config.baseline ?? BASELINE;
/** Target t's denominator: its twin in `config.pairs` (hot, seedshard: sharded → single room), else the baseline. */
const baseOfTarget = (doc, t) => doc.config.pairs?.[t] ?? baselineOf(doc);
/** Whether target t is its own denominator (no ratio shown). */
const isBase = (doc, t) => baseOfTarget(doc, t) === t || (!doc.config.pairs?.[t] && t === baselineOf(doc));

export function summarize(doc) {
  const byTarget = {};
  for (const r of doc.results) (byTarget[r.target] ??= { label: r.label, runs: [] }).runs.push(metricsOf(doc, r));
  const out = {};
  for (const [t, { label, runs }] of Object.entries(byTarget)) {
    const keys = new Set(runs.flatMap((x) => Object.keys(x)).filter((k) => k !== "error"));
    const med = {};
    for (const k of keys) med[k] = median(runs.map((x) => x[k]));
    out[t] = { label, reps: runs.length, errors: runs.filter((x) => x.error).map((x) => x.error.split("\n")[0]), median: med };
  }
  for (const [name, t] of Object.entries(out)) {
    const base = out[baseOfTarget(doc, name)]?.median;
    if (!base) continue;
    // Named for the usual baseline; see summary.json "baseline" (and "pairs") for the actual one.
    t.ratio_vs_ws = {};
    if (doc.config.pairs?.[name]) t.ratio_against = doc.config.pairs[name];
    for (const [k, v] of Object.entries(t.median)) {
      const b = base[k];
      t.ratio_vs_ws[k] = typeof v === "number" && typeof b === "number" && b !== 0 ? v / b : null;
    }
  }
  return out;
}

// ----------------------------------------------------------------------------------- markdown
const COLUMNS = {
  load: [
    ["delivered_ratio", "delivered", (v) => `${(v * 100).toFixed(2)} %`],
    ["p50_ms", "p50 ms", (v) => v.toFixed(2)],
    ["p90_ms", "p90 ms", (v) => v.toFixed(2)],
    ["p99_ms", "p99 ms", (v) => v.toFixed(2)],
    ["max_ms", "max ms", (v) => v.toFixed(1)],
    ["deliveries_per_s", "deliv/s", (v) => Math.round(v).toString()],
    ["cpu_us_per_delivery", "srv CPU µs/deliv", (v) => v.toFixed(2)],
    ["server_cpu_util", "srv core", (v) => `${Math.round(v * 100)} %`],
    ["bytes_per_conn", "KiB/conn tree", (v) => (v / 1024).toFixed(1)],
    ["dp_bytes_per_conn", "KiB/conn data path", (v) => (v / 1024).toFixed(1)],
    ["dp_marginal_bytes_per_conn", "KiB/conn data path, marginal", (v) => (v / 1024).toFixed(1)],
    ["dp_p0_bytes_per_conn", "KiB/conn workerd #1 (by pid; wrangler dev runs 2)", (v) => (v / 1024).toFixed(1)],
    ["dp_p1_bytes_per_conn", "KiB/conn workerd #2", (v) => (v / 1024).toFixed(1)],
    ["loadgen_cpu_util", "loadgen core", (v) => `${Math.round(v * 100)} %`],
    ["server_rq_wait_s", "srv waited s", (v) => v.toFixed(2)],
    ["shards_used", "shards", (v) => String(Math.round(v))],
    ["seq_errors", "seq out of order", (v) => String(Math.round(v))],
    ["seq_missing", "seq gaps", (v) => String(Math.round(v))],
  ],
  sweep: [
    ["max_rate_ok", "max msg/s ok", (v) => String(v)],
    ["deliveries_per_s_at_max", "deliv/s there", (v) => Math.round(v).toString()],
    ["p99_ms_at_max", "p99 ms there", (v) => v.toFixed(1)],
    ["cpu_us_per_delivery_at_max", "srv CPU µs/deliv", (v) => v.toFixed(2)],
    ["limited_by_loadgen", "loadgen-bound", (v) => (v >= 0.5 ? "yes" : "no")],
  ],
  idle: [
    ["bytes_per_conn", "KiB/conn tree, connected", (v) => (v / 1024).toFixed(1)],
    ["bytes_per_conn_idle", "KiB/conn tree, after idle", (v) => (v / 1024).toFixed(1)],
    ["dp_bytes_per_conn_idle", "KiB/conn data path, after idle", (v) => (v / 1024).toFixed(1)],
    ["dp_marginal_bytes_per_conn", "KiB/conn data path, marginal", (v) => (v / 1024).toFixed(1)],
    ["state_reset_on_wake", "woke from eviction", (v) => (v >= 0.5 ? "yes" : "no")],
    ["first_delivered_ratio", "1st delivered", (v) => `${(v * 100).toFixed(1)} %`],
    ["first_p50_ms", "1st p50 ms", (v) => v.toFixed(1)],
    ["first_p99_ms", "1st p99 ms", (v) => v.toFixed(1)],
    ["first_max_ms", "1st max ms", (v) => v.toFixed(1)],
    ["warm_p99_ms", "warm p99 ms", (v) => v.toFixed(1)],
    ["idle_cpu_s", "idle CPU s", (v) => v.toFixed(2)],
  ],
};
const NO_RATIO = new Set(["limited_by_loadgen", "server_cpu_util", "loadgen_cpu_util", "state_reset_on_wake", "server_rq_wait_s", "shards_used", "seq_errors", "seq_missing"]);
/** Columns shown only when some target has a value (our worker's shard and seq figures). */
const OPTIONAL = new Set(["shards_used", "seq_errors", "seq_missing", "dp_p0_bytes_per_conn", "dp_p1_bytes_per_conn"]);

/**
 * Kind "ladder": one row per rate and target, with the load columns; memory per connection is the
 * target's (measured once, after connecting). Ratios against the target's base at the same rate.
 */
function ladderTable(doc, sum) {
  const perRate = COLUMNS.load.filter(([k]) => !k.includes("bytes_per_conn"));
  const mem = COLUMNS.load.filter(([k]) => k.includes("bytes_per_conn") && (!OPTIONAL.has(k) || Object.values(sum).some((s) => typeof s.median[k] === "number")));
  const has = (rate, k) => Object.values(sum).some((s) => typeof s.median[LADDER_KEY(rate, k)] === "number");
  const cols = perRate.filter(([k]) => !OPTIONAL.has(k) || doc.config.rates.some((rate) => has(rate, k)));
  const lines = [`| msg/s | target | ${[...cols, ...mem].map((c) => c[1]).join(" | ")} |`, `|---:|---|${[...cols, ...mem].map(() => "---:").join("|")}|`];
  const cell = (t, s, key, k, f) => {
    const v = s.median[key];
    if (v === null || v === undefined) return "–";
    const r = s.ratio_vs_ws?.[key];
    return !isBase(doc, t) && r !== null && r !== undefined && !NO_RATIO.has(k) ? `${f(v)} (×${r.toFixed(2)})` : f(v);
  };
  for (const rate of doc.config.rates) {
    for (const [t, s] of Object.entries(sum)) {
      const cells = [...cols.map(([k, , f]) => cell(t, s, LADDER_KEY(rate, k), k, f)), ...mem.map(([k, , f]) => cell(t, s, k, k, f))];
      lines.push(`| ${rate} | ${t}${s.errors.length ? ` ⚠ ${s.errors.length} failed` : ""} | ${cells.join(" | ")} |`);
    }
  }
  return lines.join("\n");
}

function mdTable(doc, sum) {
  if (doc.config.kind === "ladder") return ladderTable(doc, sum);
  const cols = COLUMNS[doc.config.kind].filter(([k]) => !OPTIONAL.has(k) || Object.values(sum).some((s) => typeof s.median[k] === "number"));
  const lines = [`| target | ${cols.map((c) => c[1]).join(" | ")} |`, `|---|${cols.map(() => "---:").join("|")}|`];
  for (const [t, s] of Object.entries(sum)) {
    const cells = cols.map(([k, , f]) => {
      const v = s.median[k];
      if (v === null || v === undefined) return "–";
      const r = s.ratio_vs_ws?.[k];
      return !isBase(doc, t) && r !== null && r !== undefined && !NO_RATIO.has(k) ? `${f(v)} (×${r.toFixed(2)})` : f(v);
    });
    lines.push(`| ${t}${s.errors.length ? ` ⚠ ${s.errors.length} failed` : ""} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

function describe(doc) {
  const c = doc.config;
  if (c.kind === "load") return `${c.conns} connections, ${c.rate} msg/s from ${c.senders} senders, ${c.duration} s measured after ${c.warmup} s warm-up`;
  if (c.kind === "sweep")
    return `${c.conns} connections, ${c.senders} senders, ${c.duration} s per rate; pass = ≥ ${c.min_delivered * 100} % delivered and p99 < ${c.max_p99_ms} ms; rates ${c.rates.join(", ")} then ${c.bisect} bisection steps`;
  if (c.kind === "idle") return `${c.conns} idle connections for ${c.idle_s} s, then one broadcast (its latency = wake-up cost), then a warm one`;
  if (c.kind === "ladder") return `${c.conns} connections, ${c.senders} senders, ${c.duration} s measured at each of ${c.rates.join(", ")} msg/s after ${c.warmup} s warm-up (one server start per target)`;
  return "";
}

// ---------------------------------------------------------------------------------------- SVG
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1"];

const fmtNum = (v) => (v >= 10000 ? `${Math.round(v / 1000)}k` : v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v >= 10 ? String(Math.round(v)) : String(+v.toFixed(2)));

/** One bar panel: categories on x, one bar per series in each group; log or linear y. */
function panel({ x, y, w, h, title, unit, cats, series, log }) {
  const out = [];
  const padL = 56;
  const padB = 70;
  const padT = 40;
  const pw = w - padL - 10;
  const ph = h - padB - padT;
  const vals = series.flatMap((s) => s.values).filter((v) => v > 0);
  let lo = 0;
  const vmax = Math.max(...vals, 0) || 1;
  const p10 = 10 ** Math.floor(Math.log10(vmax / 5));
  const stepT = [1, 2, 5, 10].map((m) => m * p10).find((st) => vmax / st <= 5) ?? 10 * p10;
  let hi = Math.ceil(vmax / stepT) * stepT;
  let scale = (v) => (v / hi) * ph;
  const ticks = [];
  if (log && vals.length) {
    lo = 10 ** Math.floor(Math.log10(Math.min(...vals)));
    hi = 10 ** Math.ceil(Math.log10(Math.max(...vals)));
    if (hi === lo) hi = lo * 10;
    scale = (v) => (v > 0 ? ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * ph : 0);
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  } else for (let t = 0; t <= hi + stepT / 2; t += stepT) ticks.push(t);
  out.push(`<g transform="translate(${x},${y})">`);
  out.push(`<text x="${w / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`);
  for (const t of ticks) {
    const ty = padT + ph - scale(t);
    out.push(`<line x1="${padL}" x2="${padL + pw}" y1="${ty}" y2="${ty}" stroke="#ddd"/>`);
    out.push(`<text x="${padL - 4}" y="${ty + 4}" text-anchor="end" font-size="10">${fmtNum(t)}</text>`);
  }
  out.push(`<text transform="translate(12,${padT + ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">${esc(unit)}${log ? " (log)" : ""}</text>`);
  const gw = pw / Math.max(1, cats.length);
  const bw = Math.min(28, (gw * 0.8) / Math.max(1, series.length));
  cats.forEach((c, ci) => {
    const gx = padL + ci * gw + (gw - bw * series.length) / 2;
    series.forEach((s, si) => {
      const v = s.values[ci];
      if (!(v > 0)) return;
      const bh = scale(v);
      out.push(
        `<rect x="${gx + si * bw}" y="${padT + ph - bh}" width="${bw - 1}" height="${bh}" fill="${s.color}"><title>${esc(`${c} ${s.name}: ${v}`)}</title></rect>`,
      );
    });
    const lx = padL + ci * gw + gw / 2;
    out.push(`<text transform="translate(${lx},${padT + ph + 12}) rotate(30)" font-size="10">${esc(c)}</text>`);
  });
  out.push(`<line x1="${padL}" x2="${padL + pw}" y1="${padT + ph}" y2="${padT + ph}" stroke="#333"/>`);
  if (series.length > 1)
    series.forEach((s, si) => {
      out.push(`<rect x="${padL + 6 + si * 78}" y="${padT - 12}" width="10" height="10" fill="${s.color}"/>`);
      out.push(`<text x="${padL + 20 + si * 78}" y="${padT - 3}" font-size="10">${esc(s.name)}</text>`);
    });
  out.push("</g>");
  return out.join("\n");
}

function svgFor(doc, sum) {
  const cats = Object.keys(sum);
  const m = (k) => cats.map((t) => sum[t].median[k] ?? 0);
  let panels = [];
  const kind = doc.config.kind;
  if (kind === "load") {
    panels = [
      {
        title: "send→receive latency",
        unit: "ms",
        log: true,
        series: [
          { name: "p50", values: m("p50_ms"), color: COLORS[0] },
          { name: "p90", values: m("p90_ms"), color: COLORS[1] },
          { name: "p99", values: m("p99_ms"), color: COLORS[2] },
          { name: "max", values: m("max_ms"), color: "#bbb" },
        ],
      },
      { title: "deliveries per second", unit: "deliveries/s", series: [{ name: "deliv/s", values: m("deliveries_per_s"), color: COLORS[4] }] },
      { title: "server CPU per delivery", unit: "µs", series: [{ name: "µs", values: m("cpu_us_per_delivery"), color: COLORS[6] }] },
    ];
  } else if (kind === "sweep") {
    panels = [
      { title: "highest rate sustained (≥99.9 %, p99<250 ms)", unit: "msg/s", series: [{ name: "msg/s", values: m("max_rate_ok"), color: COLORS[0] }] },
      { title: "deliveries/s at that rate", unit: "deliveries/s", series: [{ name: "deliv/s", values: m("deliveries_per_s_at_max"), color: COLORS[4] }] },
    ];
  } else if (kind === "ladder") {
    // Categories = targets, one bar per rate.
    const rates = doc.config.rates;
    const byRate = (k) => rates.map((rate, i) => ({ name: `${rate}/s`, values: cats.map((t) => sum[t].median[LADDER_KEY(rate, k)] ?? 0), color: COLORS[i % COLORS.length] }));
    panels = [
      { title: "p99 latency per rate", unit: "ms", log: true, series: byRate("p99_ms") },
      { title: "server CPU per delivery per rate", unit: "µs", log: true, series: byRate("cpu_us_per_delivery") },
    ];
  } else if (kind === "idle") {
    panels = [
      {
        title: "memory per idle connection",
        unit: "KiB",
        series: [
          { name: "connected", values: m("bytes_per_conn").map((v) => v / 1024), color: COLORS[0] },
          { name: "after idle", values: m("bytes_per_conn_idle").map((v) => v / 1024), color: COLORS[3] },
          { name: "idle, data path", values: m("dp_bytes_per_conn_idle").map((v) => v / 1024), color: COLORS[1] },
        ],
      },
      {
        title: "first broadcast after idle",
        unit: "ms",
        log: true,
        series: [
          { name: "p50", values: m("first_p50_ms"), color: COLORS[0] },
          { name: "p99", values: m("first_p99_ms"), color: COLORS[2] },
          { name: "warm p99", values: m("warm_p99_ms"), color: "#bbb" },
        ],
      },
    ];
  }
  const pw = 380;
  const ph = 300;
  const W = pw * panels.length + 20;
  const H = ph + 60;
  const body = panels.map((p, i) => panel({ ...p, x: 10 + i * pw, y: 40, w: pw, h: ph, cats })).join("\n");
  const title = `${doc.scenario}: ${describe(doc)}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="18" font-size="12">${esc(title)}</text>
<text x="10" y="33" font-size="10" fill="#555">${esc(`medians of ${doc.config.reps} rotated repetitions · ${doc.started_at} · ${doc.machine.cpu_model}`)}</text>
${body}
</svg>
`;
}

export function writeReport(dir) {
  const written = [];
  const md = [`# Benchmark summary (generated by bench/report.mjs)`, "", `Cells: median over repetitions, and (×ratio) = target ÷ \`${BASELINE}\` baseline.`, ""];
  const all = {};
  for (const name of SCENARIO_ORDER) {
    const f = path.join(dir, `${name}.json`);
    if (!existsSync(f)) continue;
    const doc = JSON.parse(readFileSync(f, "utf8"));
    if (!doc.results?.length) continue;
    const sum = summarize(doc);
    all[name] = { baseline: baselineOf(doc), pairs: doc.config.pairs ?? null, config: doc.config, started_at: doc.started_at, machine: doc.machine, source: doc.source, targets: sum };
    const src = doc.source ? ` Source ${doc.source.commit ?? "?"}${doc.source.dirty ? "+dirty" : ""} (worker files ${doc.source.sha256}).` : "";
    const pairs = Object.entries(doc.config.pairs ?? {});
    const baseNote = pairs.length
      ? ` Ratios here: ${pairs.map(([a, b]) => `\`${a}\` against \`${b}\``).join(", ")}; others against \`${baselineOf(doc)}\`.`
      : baselineOf(doc) !== BASELINE ? ` Ratios here are against \`${baselineOf(doc)}\`.` : "";
    md.push(`## ${name}`, "", `${describe(doc)}; ${doc.config.reps} rep(s); ${doc.started_at}.${src}${baseNote}`, "", mdTable(doc, sum), "", `![${name}](${name}.svg)`, "");
    const svg = path.join(dir, `${name}.svg`);
    writeFileSync(svg, svgFor(doc, sum));
    written.push(svg);
  }
  const sj = path.join(dir, "summary.json");
  writeFileSync(sj, JSON.stringify(all, null, 1));
  const sm = path.join(dir, "summary.md");
  writeFileSync(sm, md.join("\n"));
  written.push(sj, sm);
  return written;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "results"));
  for (const f of writeReport(dir)) console.log(f);
}
