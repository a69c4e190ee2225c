#!/usr/bin/env node
// The markdown tables of BENCHMARKS.md "Floods that cannot slow a room (issue 19 §4)" from the JSON
// files bench/flood.mjs --cases burst,many writes: one row per (version, case, variant, target), the
// repetitions in run order within each cell, the median last.
//
//   node bench/lib/flood-burst-table.mjs NAME=DIR [NAME=DIR ...]
//
// NAME labels the version (e.g. before=bench/results/issue-19-4/b0); every *.json in DIR is read.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const median = (xs) => {
  const s = xs.filter((x) => typeof x === "number").sort((a, b) => a - b);
  if (s.length === 0) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f0 = (x) => (x === null || x === undefined ? "–" : Math.round(x).toLocaleString("en-US"));
const f1 = (x) => (x === null || x === undefined ? "–" : (Math.round(x * 10) / 10).toFixed(1));
const load1 = (s) => Number(String(s ?? "").split(" ")[0]);

const rows = new Map();
for (const arg of process.argv.slice(2)) {
  const [name, dir] = arg.split("=");
  const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  for (const f of files) {
    const doc = JSON.parse(readFileSync(path.join(dir, f), "utf8"));
    for (const r of doc.results ?? []) {
      if (r.case !== "burst" && r.case !== "many") continue;
      if (r.error) continue;
      const key = `${name}|${r.case}|${r.variant}|${r.target}`;
      if (!rows.has(key)) rows.set(key, { name, case: r.case, variant: r.variant, target: r.target, commit: doc.source?.commit, runs: [] });
      rows.get(key).runs.push({ ...r, started: doc.started_at });
    }
  }
}

const order = (r) => `${r.case === "burst" ? 0 : 1}|${r.variant}|${r.target === "rawdo" ? 1 : 0}`;
const sorted = [...rows.values()].sort((a, b) => order(a).localeCompare(order(b)) || 0);
console.log(
  "| case | frames | version | reps | other viewer's message p50 / p99 / max ms (each rep) | max, median of reps | lost (sender refused, whole run) | flooders closed (code) at ms | srv CPU µs/frame (each rep) | median µs/frame | srv waited s | load avg |",
);
console.log("|---|---|---|---:|---|---:|---:|---|---|---:|---|---|");
for (const row of sorted) {
  const rs = row.runs.sort((a, b) => a.started.localeCompare(b.started));
  const lat = rs.map((r) => `${f0(r.during_ms.p50)} / ${f0(r.during_ms.p99)} / ${f0(r.during_ms.max)}`).join("; ");
  const closes = rs
    .map((r) => (r.flooders_closed ? `${r.flooders_closed}/${r.sockets} (${r.close_codes.join(",")}) ${f0(r.first_close_ms)}${r.sockets > 1 ? `…${f0(r.last_close_ms)}` : ""}` : `0/${r.sockets}`))
    .join("; ");
  const us = rs.map((r) => f1(r.server_cpu_us_per_frame)).join(", ");
  const waited = rs.map((r) => `${r.server_waited_s}`).join(", ");
  const loads = rs.map((r) => load1(r.loadavg_before)).filter((x) => !Number.isNaN(x));
  const what = row.variant === "sping" ? "spaced pings" : row.variant === "blank" ? "blank messages" : "exact pings (auto-response)";
  console.log(
    `| ${row.case} | ${rs[0].sockets} × ${rs[0].per_socket.toLocaleString("en-US")} ${what} | ${row.name}${row.target === "rawdo" ? " (bare DO, sink)" : ""} | ${rs.length} | ${lat} | ${f0(median(rs.map((r) => r.during_ms.max)))} | ${rs.reduce((a, r) => a + r.during_ms.lost, 0)} (${rs.reduce((a, r) => a + Object.values(r.sender_errors ?? {}).reduce((x, y) => x + y, 0), 0)}) | ${closes} | ${us} | **${f1(median(rs.map((r) => r.server_cpu_us_per_frame)))}** | ${waited} | ${loads.length ? `${Math.min(...loads)}–${Math.max(...loads)}` : "–"} |`,
  );
}
