// The systems under test. Each one starts as a process tree pinned to the server core, exposes a
// WebSocket URL per client, and stops cleanly (its whole tree, nothing else).
import { spawn, execFileSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createHash, randomUUID } from "node:crypto";
import { benchToken, signHs256 } from "./jwt.mjs";
import { processTree } from "./proc.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BUILD = path.join(ROOT, "bench/.build");

/** Node 22 from the `node` devDependency (wrangler/miniflare need it); else whatever runs us. */
export function nodeBin() {
  const p = path.join(ROOT, "node_modules/node/bin/node");
  return existsSync(p) ? p : process.execPath;
}
const WRANGLER = path.join(ROOT, "node_modules/wrangler/bin/wrangler.js");

export const JWT_SECRET = "bench-only-secret-not-for-production-0123456789";
// A bench sender is a synthetic aggregate of many users (25+ msg/s on one socket), and the sweep
// pushes one room far past its production budget on purpose: the per-user, per-socket and per-room
// limits are lifted so the benchmark measures fan-out capacity, not the limits (BENCHMARKS.md).
const OUR_VARS = {
  JWT_SECRET,
  RATE_LIMIT_PER_SEC: "100000",
  SOCKET_MAX_FRAMES_PER_SEC: "100000",
  ROOM_MAX_MESSAGES_PER_SEC: "100000",
  ROOM_MAX_DELIVERIES_PER_SEC: "100000000",
};

/**
 * A free TCP port on 127.0.0.1: any (the kernel's choice), or, when BENCH_PORTS=FROM-TO is set (a
 * shared machine where each user keeps to a range), the next free one in that range, round robin
 * (so a port just released is not handed out again at once). Rejects when the range is exhausted.
 */
export async function freePort() {
  const range = /^(\d+)-(\d+)$/.exec(process.env.BENCH_PORTS ?? "");
  if (!range) return listenOn(0);
  const [from, to] = [Number(range[1]), Number(range[2])];
  for (let k = 0; k <= to - from; k++) {
    const port = from + ((nextInRange++ + k) % (to - from + 1));
    try {
      return await listenOn(port);
    } catch {}
  }
  throw new Error(`BENCH_PORTS=${process.env.BENCH_PORTS}: no free port`);
}
let nextInRange = 0;

function listenOn(want) {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(want, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const env = () => ({
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_LOG: "warn",
  NO_COLOR: "1",
  // The bench runs as root in CI-like shells; keep wrangler non-interactive.
  CI: "1",
});

const built = new Map();
/** `wrangler deploy --dry-run --outdir`: the exact bundle wrangler would upload. Once per process. */
export function bundle(name, config) {
  if (built.has(name)) return built.get(name);
  const outdir = path.join(BUILD, name);
  rmSync(outdir, { recursive: true, force: true });
  execFileSync(nodeBin(), [WRANGLER, "deploy", "--dry-run", "--outdir", outdir, "--config", path.join(ROOT, config)], {
    cwd: ROOT,
    env: env(),
    stdio: ["ignore", "ignore", "pipe"],
    timeout: 120_000,
  });
  // wrangler names the bundle after `main` (index.js, worker.js, …).
  const js = readdirSync(outdir).filter((f) => f.endsWith(".js") || f.endsWith(".mjs"));
  if (js.length !== 1) throw new Error(`bundle of ${config}: expected one .js in ${outdir}, found ${js.join(", ") || "none"}`);
  const script = path.join(outdir, js[0]);
  built.set(name, script);
  bundleInfo[name] = { config, bytes: readFileSync(script).length, sha256: createHash("sha256").update(readFileSync(script)).digest("hex").slice(0, 16) };
  return script;
}
/** What was measured: size and hash of each bundle built in this process. */
export const bundleInfo = {};

/** The source state of the repo (commit + hashes of the files that make our worker). */
export function sourceInfo() {
  const h = createHash("sha256");
  const files = [];
  for (const f of ["src/worker.ts", "src/room.ts", "src/fanout.ts", "src/shard.ts", "src/protocol.ts", "wrangler.toml"]) {
    try {
      h.update(readFileSync(path.join(ROOT, f)));
      files.push(f);
    } catch {}
  }
  let commit = null;
  let dirty = null;
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "wrangler.toml"], { cwd: ROOT, encoding: "utf8" }).trim() !== "";
  } catch {}
  return { commit, dirty, files, sha256: h.digest("hex").slice(0, 16) };
}

/**
 * Spawns `args` under Node 22, pinned with taskset when cpu is set, in its own process group.
 * Ready when stdout prints a JSON line with "ready", or when `probe()` resolves true.
 */
export async function startProcess({ name, args, cpu, logDir, probe, timeoutMs = 90_000 }) {
  mkdirSync(logDir, { recursive: true });
  const log = createWriteStream(path.join(logDir, `${name}.log`), { flags: "a" });
  const cmd = cpu === null || cpu === undefined ? nodeBin() : "taskset";
  const argv = cpu === null || cpu === undefined ? args : ["-c", String(cpu), nodeBin(), ...args];
  const child = spawn(cmd, argv, { cwd: ROOT, env: env(), detached: true, stdio: ["ignore", "pipe", "pipe"] });
  child.stderr.pipe(log, { end: false });
  let exited = null;
  const exitP = new Promise((r) => child.on("exit", (code, sig) => r((exited = { code, sig }))));
  let readyInfo = null;
  let buf = "";
  child.stdout.on("data", (d) => {
    log.write(d);
    if (readyInfo) return;
    buf += d.toString();
    for (const line of buf.split("\n")) {
      if (line.startsWith("{") && line.includes('"ready"')) {
        try {
          readyInfo = JSON.parse(line);
        } catch {}
      }
    }
  });
  const deadline = Date.now() + timeoutMs;
  while (!readyInfo) {
    if (exited) throw new Error(`${name} exited early (${JSON.stringify(exited)}); see ${logDir}/${name}.log`);
    if (Date.now() > deadline) {
      killTree(child.pid);
      throw new Error(`${name} not ready in ${timeoutMs} ms; see ${logDir}/${name}.log`);
    }
    if (probe && (await probe().catch(() => false))) readyInfo = { ready: true, probed: true };
    else await sleep(probe ? 250 : 50);
  }
  return {
    pid: child.pid,
    info: readyInfo,
    async stop() {
      const pids = processTree(child.pid);
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      await Promise.race([exitP, sleep(10_000)]);
      // Anything of ours still alive (e.g. a workerd that missed the signal): by pid, SIGKILL.
      await sleep(200);
      for (const p of pids) {
        try {
          process.kill(p, 0);
          process.kill(p, "SIGKILL");
        } catch {}
      }
      log.end();
    },
  };
}

function killTree(pid) {
  for (const p of processTree(pid).reverse()) {
    try {
      process.kill(p, "SIGKILL");
    } catch {}
  }
}

async function httpOk(url) {
  const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
  return r.status < 500;
}

// ------------------------------------------------------------------------------------------------

/**
 * `ctx.inspectorPort` (a number; 0 = any free port): the Miniflare targets start workerd with its
 * V8 inspector there, and their ready line (`handle.info.inspector_url`) says where (bench/profile.mjs).
 */
const inspectorArgs = (ctx) => (ctx.inspectorPort === undefined || ctx.inspectorPort === null ? [] : ["--inspector-port", String(ctx.inspectorPort)]);

/** SHARD_MAX_SOCKETS of the sharded targets when the run does not set `ctx.shardMax` (--shard-max). */
export const DEFAULT_BENCH_SHARD_MAX = 2500;

/** The sharded targets' SHARD_MAX_SOCKETS: `ctx.shardMax` (run.mjs --shard-max) if a positive integer, else 2,500. */
function shardMaxOf(ctx) {
  const n = Number(ctx.shardMax);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_BENCH_SHARD_MAX;
}

/**
 * Starts our worker (the bundle `wrangler deploy --dry-run` makes) on workerd through Miniflare.
 * Vars: `ctx.vars` if given (bench/flood.mjs runs the product limits) else OUR_VARS (limits lifted),
 * plus SHARD_MAX_SOCKETS = `shardMaxSockets` (0 = single room: the room holds every socket; > 0 =
 * fan-out shards of at most that many sockets each) unless `ctx.vars` names it itself.
 * `name` goes into the log file name. Resolves with the process handle ({ pid, stop() }).
 */
async function startOurs(ctx, port, { name, shardMaxSockets, noAssets = false, extraVars = {} }) {
  const script = bundle("ours", "wrangler.toml");
  const vars = { SHARD_MAX_SOCKETS: String(shardMaxSockets), ...(ctx.vars ?? OUR_VARS), ...extraVars };
  const args = Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}=${v}`]);
  return startProcess({
    name: `${ctx.logPrefix}${name}`,
    args: [
      "bench/lib/miniflare-launch.mjs", "--config", "wrangler.toml", "--script", script, "--port", String(port), ...args,
      ...(noAssets || ctx.noAssets ? ["--no-assets"] : []), ...inspectorArgs(ctx),
    ],
    cpu: ctx.serverCpu,
    logDir: ctx.logDir,
  });
}

/**
 * Our worker under `wrangler dev` (its proxy worker and a second workerd in front of the user
 * worker), single room, limits lifted as for `ours`, state persisted to a scratch directory removed
 * on stop. Memory and CPU are the whole wrangler tree; "data path" = both workerd processes.
 */
async function startOursDev(ctx, port, name) {
  const persist = path.join(BUILD, `dev-state-${process.pid}-${port}`);
  const inspector = await freePort();
  const vars = Object.entries({ ...OUR_VARS, SHARD_MAX_SOCKETS: "0" }).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const h = await startProcess({
    name: `${ctx.logPrefix}${name}`,
    args: [
      WRANGLER, "dev", "--config", "wrangler.toml", "--ip", "127.0.0.1", "--port", String(port),
      "--inspector-port", String(inspector), "--persist-to", persist, "--log-level", "warn",
      "--show-interactive-dev-session=false", ...vars,
    ],
    cpu: ctx.serverCpu,
    logDir: ctx.logDir,
    probe: () => httpOk(`http://127.0.0.1:${port}/healthz`),
  });
  const stop = h.stop;
  h.stop = async () => {
    await stop();
    rmSync(persist, { recursive: true, force: true });
  };
  return h;
}

/** An admin token (claim role "admin": owner of every stream) for the stats route. */
export function adminToken() {
  return signHs256({ sub: "00000000-0000-4000-8000-00000000ad00", role: "admin", iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 6 * 3600 }, JWT_SECRET);
}

/**
 * GET /v1/streams/{id}/chat/stats on our worker with an admin token: the room's view of its
 * viewers (total, per_shard, per_region), messages/s and fan-out p50/p99. Null on any failure
 * (the bench records what it got; a missing figure is not an error).
 */
export async function fetchOurStats(port, ctx) {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/v1/streams/${ctx.streamId}/chat/stats`, {
      headers: { Authorization: `Bearer ${adminToken()}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (!r.ok) return { http_status: r.status, body: (await r.text()).slice(0, 300) };
    return await r.json();
  } catch (e) {
    return { error: String(e?.message ?? e) };
  }
}

function oursSpec(port, ctx, { batch }) {
  const streamId = ctx.streamId;
  const tokens = new Map();
  return (i) => {
    const uid = userId(i, ctx.runTag);
    if (!tokens.has(i)) tokens.set(i, benchToken(uid, JWT_SECRET, 6 * 3600));
    return {
      url: `ws://127.0.0.1:${port}/ws/streams/${streamId}/chat${batch ? "?batch=1" : ""}`,
      headers: { Authorization: `Bearer ${tokens.get(i)}` },
    };
  };
}

/**
 * Issue 18's benchmark setup: every user of the run (`ctx.conns` of them: the load's senders are
 * whichever connections open first) posts once, then an admin turns `unique` (600 s) and `first_time_hold` on, and the
 * state route must show both on — so what the run measures is the cost of the modes' checks on every
 * message (the r9k normal form and window lookup, the first-poster lookup), not held messages.
 */
async function enableModes(port, ctx, posters = ctx.conns ?? 1000) {
  const { WebSocket } = await import("ws");
  const base = `127.0.0.1:${port}`;
  for (let from = 0; from < posters; from += 100) await Promise.all(
    Array.from({ length: Math.min(100, posters - from) }, (_, k) => from + k).map((i) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://${base}/ws/streams/${ctx.streamId}/chat`, { headers: { Authorization: `Bearer ${benchToken(userId(i, ctx.runTag), JWT_SECRET, 600)}` } });
        const timer = setTimeout(() => reject(new Error(`modes setup: poster ${i} got no ack`)), 15_000);
        ws.on("open", () => ws.send(JSON.stringify({ type: "message", text: `first post ${i} ${ctx.runTag}`, client_msg_id: `setup-${i}` })));
        ws.on("message", (d) => {
          if (String(d).includes('"type":"ack"')) {
            clearTimeout(timer);
            ws.close();
            resolve();
          }
        });
        ws.on("error", reject);
      }),
    ),
  );
  const headers = { authorization: `Bearer ${adminToken()}`, "content-type": "application/json" };
  for (const body of [{ type: "chat_mode", mode: "unique", on: true, seconds: 600 }, { type: "chat_mode", mode: "first_time_hold", on: true }]) {
    const r = await fetch(`http://${base}/v1/streams/${ctx.streamId}/chat/actions`, { method: "POST", headers, body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`modes setup: ${body.mode} → ${r.status} ${await r.text()}`);
  }
  const state = await (await fetch(`http://${base}/v1/streams/${ctx.streamId}/chat/state`, { headers })).json();
  if (state.modes?.unique_s !== 600 || state.modes?.first_time_hold !== true) throw new Error(`modes setup: the state route shows ${JSON.stringify(state.modes)}`);
}

/** Deterministic per-connection user UUIDs (distinct users → per-user rate limits never bite). */
function userId(i, tag) {
  const hex = (i + 1).toString(16).padStart(12, "0");
  return `${tag}-0000-4000-8000-${hex}`;
}

const plainSpec = (port, pathFor) => (i) => ({ url: `ws://127.0.0.1:${port}${pathFor(i)}` });

export const TARGETS = {
  ws: {
    label: "Node ws (baseline)",
    protocol: "plain",
    async start(ctx, port) {
      return startProcess({ name: `${ctx.logPrefix}ws`, args: ["bench/peers/ws-server.mjs", "--port", String(port)], cpu: ctx.serverCpu, logDir: ctx.logDir });
    },
    spec: (port) => plainSpec(port, (i) => `/?uid=u${i}`),
  },
  "ws-batch": {
    label: "Node ws, 10 ms batching",
    protocol: "plain",
    async start(ctx, port) {
      return startProcess({
        name: `${ctx.logPrefix}ws-batch`,
        args: ["bench/peers/ws-server.mjs", "--port", String(port), "--batch"],
        cpu: ctx.serverCpu,
        logDir: ctx.logDir,
      });
    },
    spec: (port) => plainSpec(port, (i) => `/?uid=u${i}`),
  },
  socketio: {
    label: "Socket.IO 4 (websocket only)",
    protocol: "sio",
    async start(ctx, port) {
      return startProcess({ name: `${ctx.logPrefix}socketio`, args: ["bench/peers/socketio-server.mjs", "--port", String(port)], cpu: ctx.serverCpu, logDir: ctx.logDir });
    },
    spec: (port) => plainSpec(port, (i) => `/socket.io/?EIO=4&transport=websocket&uid=u${i}`),
  },
  ours: {
    label: "ours: worker + ChatRoom, single room (SHARD_MAX_SOCKETS=0; workerd via Miniflare)",
    protocol: "ours",
    seqPersisted: true,
    sharded: false,
    start: (ctx, port) => startOurs(ctx, port, { name: "ours", shardMaxSockets: 0 }),
    spec: (port, ctx) => oursSpec(port, ctx, { batch: false }),
  },
  "ours-batch": {
    label: "ours, single room, clients with ?batch=1",
    protocol: "ours",
    seqPersisted: true,
    sharded: false,
    start: (ctx, port) => startOurs(ctx, port, { name: "ours-batch", shardMaxSockets: 0 }),
    spec: (port, ctx) => oursSpec(port, ctx, { batch: true }),
  },
  "ours-batch-modes": {
    label: "ours, single room, ?batch=1, chat modes unique (600 s) and first_time_hold on (issue 18)",
    protocol: "ours",
    seqPersisted: true,
    sharded: false,
    async start(ctx, port) {
      const h = await startOurs(ctx, port, { name: "ours-batch-modes", shardMaxSockets: 0 });
      await enableModes(port, ctx);
      return h;
    },
    spec: (port, ctx) => oursSpec(port, ctx, { batch: true }),
  },
  "ours-sharded": {
    label: "ours with fan-out shards (SHARD_MAX_SOCKETS = --shard-max, default 2,500)",
    protocol: "ours",
    seqPersisted: true,
    sharded: true,
    start: (ctx, port) => startOurs(ctx, port, { name: "ours-sharded", shardMaxSockets: shardMaxOf(ctx) }),
    spec: (port, ctx) => oursSpec(port, ctx, { batch: false }),
  },
  "ours-sharded-batch": {
    label: "ours with fan-out shards, clients with ?batch=1",
    protocol: "ours",
    seqPersisted: true,
    sharded: true,
    start: (ctx, port) => startOurs(ctx, port, { name: "ours-sharded-batch", shardMaxSockets: shardMaxOf(ctx) }),
    spec: (port, ctx) => oursSpec(port, ctx, { batch: true }),
  },
  "ours-noassets": {
    label: "ours without the [assets] router in front (diagnostic)",
    protocol: "ours",
    seqPersisted: true,
    sharded: false,
    start: (ctx, port) => startOurs(ctx, port, { name: "noassets-ours", shardMaxSockets: 0, noAssets: true }),
    spec: (port, ctx) => oursSpec(port, ctx, { batch: false }),
  },
  "ours-dev": {
    label: "ours via `wrangler dev` (proxy hop)",
    protocol: "ours",
    seqPersisted: true,
    start: (ctx, port) => startOursDev(ctx, port, "ours-dev"),
    spec: (port, ctx) => oursSpec(port, ctx, { batch: false }),
  },
  "ours-dev-batch": {
    label: "ours via `wrangler dev` (proxy hop), clients with ?batch=1",
    protocol: "ours",
    seqPersisted: true,
    start: (ctx, port) => startOursDev(ctx, port, "ours-dev-batch"),
    spec: (port, ctx) => oursSpec(port, ctx, { batch: true }),
  },
  partyserver: {
    label: "partyserver (hibernating) on workerd",
    protocol: "plain",
    async start(ctx, port) {
      const script = bundle("partyserver", "bench/peers/partyserver/wrangler.jsonc");
      return startProcess({
        name: `${ctx.logPrefix}partyserver`,
        args: ["bench/lib/miniflare-launch.mjs", "--config", "bench/peers/partyserver/wrangler.jsonc", "--script", script, "--port", String(port), ...inspectorArgs(ctx)],
        cpu: ctx.serverCpu,
        logDir: ctx.logDir,
      });
    },
    spec: (port, ctx) => plainSpec(port, (i) => `/parties/chat-server/${ctx.streamId}?uid=u${i}`),
  },
};

// Our room with another cap on the coalescing window of `?batch=1` clients: BATCH_MAX_WINDOW_MS
// (src/env.ts; a worker that does not read it yet ignores the variable and runs its own 25 ms).
for (const w of [50, 100]) {
  TARGETS[`ours-batch-w${w}`] = {
    label: `ours, single room, ?batch=1, BATCH_MAX_WINDOW_MS=${w}`,
    protocol: "ours",
    seqPersisted: true,
    sharded: false,
    start: (ctx, port) => startOurs(ctx, port, { name: `ours-batch-w${w}`, shardMaxSockets: 0, extraVars: { BATCH_MAX_WINDOW_MS: String(w) } }),
    spec: (port, ctx) => oursSpec(port, ctx, { batch: true }),
  };
}

/** The window of the rawdo-*-batch targets, ms: our room's documented cap (DESIGN.md ≤ 25 ms). */
export const RAWDO_BATCH_WINDOW_MS = 25;

// Diagnostics: a bare DO room, hibernatable or standard sockets (bench/peers/rawdo); `-batch`: its
// clients connect with `?batch=1&window=25` and get our room's coalescing (the platform's floor for
// batched delivery).
for (const mode of ["hib", "std"]) {
  for (const batch of [false, true]) {
    const name = `rawdo-${mode}${batch ? "-batch" : ""}`;
    const query = `mode=${mode}${batch ? `&batch=1&window=${RAWDO_BATCH_WINDOW_MS}` : ""}`;
    TARGETS[name] = {
      label: `bare Durable Object room, ${mode === "hib" ? "acceptWebSocket (hibernatable)" : "ws.accept() (no hibernation)"}${batch ? `, ?batch=1 (${RAWDO_BATCH_WINDOW_MS} ms window)` : ""} (diagnostic)`,
      protocol: "plain",
      async start(ctx, port) {
        const script = bundle("rawdo", "bench/peers/rawdo/wrangler.jsonc");
        return startProcess({
          name: `${ctx.logPrefix}${name}`,
          args: ["bench/lib/miniflare-launch.mjs", "--config", "bench/peers/rawdo/wrangler.jsonc", "--script", script, "--port", String(port), ...inspectorArgs(ctx)],
          cpu: ctx.serverCpu,
          logDir: ctx.logDir,
        });
      },
      spec: (port) => plainSpec(port, (i) => `/room?${query}&uid=u${i}`),
    };
  }
}

export function newRunContext(extra) {
  return { streamId: randomUUID(), runTag: randomUUID().slice(0, 8), logPrefix: "", ...extra };
}
