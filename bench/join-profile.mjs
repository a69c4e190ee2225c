#!/usr/bin/env node
// `node bench/join-profile.mjs [--clients 500] [--shard-max 0] [--port 19611]` — issue 19 §2: where a join's CPU
// goes. Starts the worker on workerd (Miniflare, as bench/redeploy.mjs) with the inspector on,
// profiles the worker's isolate (V8 sampling profiler over CDP) while N SDK clients join one stream
// at once (ticket POST, then the WebSocket), and prints the worker's CPU per join and the top
// functions by self time (source-mapped to src/). Nothing is sent; it measures joins only.
import { readFileSync } from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { parseArgs } from "./lib/args.mjs";
import { signHs256 } from "./lib/jwt.mjs";
import { CdpSession, listTargets } from "./lib/cdp.mjs";
import { analyzeProfile } from "./lib/cpuprofile.mjs";
import { treeCpuSeconds } from "./lib/proc.mjs";
import { BUILD, bundle, JWT_SECRET, nodeBin, startProcess } from "./lib/targets.mjs";

if (!process.env.JOINPROF_TSX) {
  const r = spawnSync(nodeBin(), ["--import", "tsx", process.argv[1], ...process.argv.slice(2)], { stdio: "inherit", env: { ...process.env, JOINPROF_TSX: "1" } });
  process.exit(r.status ?? 1);
}
const { num } = parseArgs();
const N = num("clients", 500);
const PORT = num("port", 19611);
const INSPECT = num("inspector-port", 19612);
/** --shard-max N: SHARD_MAX_SOCKETS (0 = the room holds every socket; the product's default is 5,000: one shard). */
const SHARD_MAX = num("shard-max", 0);
const { ChatClient } = await import("../src/client/index.ts");
const { WebSocket } = await import("ws");

const script = bundle("ours", "wrangler.toml");
const worker = await startProcess({
  name: "join-profile",
  args: ["bench/lib/miniflare-launch.mjs", "--config", "wrangler.toml", "--script", script, "--port", String(PORT), "--inspector-port", String(INSPECT), "--var", `JWT_SECRET=${JWT_SECRET}`, "--var", `SHARD_MAX_SOCKETS=${SHARD_MAX}`],
  logDir: path.join(BUILD, "logs"),
});
const targets = await listTargets(`ws://127.0.0.1:${INSPECT}/`);
const cdp = await CdpSession.connect(targets.find((t) => t.id === "core:user:bench").webSocketDebuggerUrl);
await cdp.send("Profiler.enable");
await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
const streamId = crypto.randomUUID();
const exp = Math.floor(Date.now() / 1000) + 3600;
const clients = Array.from({ length: N }, (_, i) => {
  const token = signHs256({ sub: crypto.randomUUID(), username: `j${i}`, iat: Math.floor(Date.now() / 1000), exp }, JWT_SECRET);
  return new ChatClient({ baseUrl: `http://127.0.0.1:${PORT}`, streamId, credentials: () => ({ token }), WebSocket, network: false, maxComments: 20 });
});
// One warm join so the isolate and the room exist before the measured ones.
clients[0].connect();
await clients[0].ready();
const cpu0 = treeCpuSeconds(worker.pid);
const t0 = Date.now();
await cdp.send("Profiler.start");
for (const c of clients.slice(1)) c.connect();
await Promise.all(clients.slice(1).map((c) => c.ready()));
const wall = Date.now() - t0;
const { profile } = await cdp.send("Profiler.stop", {}, 120_000);
const cpu = treeCpuSeconds(worker.pid) - cpu0;
let sourceMap = null;
try {
  sourceMap = { dir: path.join(BUILD, "ours"), script: "worker.js", map: JSON.parse(readFileSync(path.join(BUILD, "ours", "worker.js.map"), "utf8")) };
} catch {}
const a = analyzeProfile(profile, { sourceMap, top: 30, requestedIntervalUs: 200 });
console.log(JSON.stringify({ shard_max_sockets: SHARD_MAX, joins: N - 1, wall_ms: wall, worker_cpu_s: +cpu.toFixed(2), cpu_ms_per_join: +((cpu * 1000) / (N - 1)).toFixed(2), sampled_ms: a.sampled_ms, not_sampled_ms: a.not_sampled_ms }, null, 1));
for (const b of a.buckets.slice(0, 12)) console.log(`bucket ${b.bucket}: ${JSON.stringify(b)}`);
for (const f of a.top_functions) console.log(`${f.function} ${f.location}${f.caller ? ` ← ${f.caller}` : ""}: ${JSON.stringify(Object.fromEntries(Object.entries(f).filter(([k]) => !["function", "location", "caller"].includes(k))))}`);
for (const c of clients) c.close();
await cdp.close();
await worker.stop();
process.exit(0);
