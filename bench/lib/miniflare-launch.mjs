// Runs a bundled worker on workerd through Miniflare's API, with the bindings wrangler would
// derive from the worker's config (durable objects, queues, assets, vars) — no `wrangler dev`
// proxy in between: the client talks to workerd's own socket.
//   node bench/lib/miniflare-launch.mjs --config wrangler.toml --script bench/.build/ours/index.js \
//        --port 9010 [--var NAME=value ...] [--no-assets] [--inspector-port N] [--persist-to DIR]
// --persist-to DIR: Durable Object (SQLite), queue and R2 state under DIR (Miniflare's
// resourcePersistencePath) instead of Miniflare's scratch directory, so a caller can measure it
// (scripts/soak.mjs reports its size every minute).
// Prints one JSON line {"ready":true,"url":...} when listening; SIGTERM disposes.
// --persist DIR: Durable Object storage (SQLite) is kept in DIR instead of memory, so a second
// launch on the same DIR is the same worker restarted (bench/redeploy.mjs: a redeploy with state).
// --inspector-port N (0 = any free port): workerd's V8 inspector (Chrome DevTools Protocol) listens
// on 127.0.0.1:N; the ready line then also carries "inspector_url" (ws://127.0.0.1:<port>, from
// mf.getInspectorURL()). workerd lists one target per worker isolate at http://127.0.0.1:<port>/json
// (the worker and its Durable Objects share one isolate); bench/profile.mjs attaches to it.
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import path from "node:path";

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const vars = {};
argv.forEach((a, i) => {
  if (a === "--var") {
    const [k, ...v] = argv[i + 1].split("=");
    vars[k] = v.join("=");
  }
});

const configPath = opt("config");
const scriptPath = path.resolve(opt("script"));
const port = Number(opt("port") ?? 0);
const persistTo = opt("persist-to");
const inspectorPort = opt("inspector-port") === undefined ? undefined : Number(opt("inspector-port"));
const persistDir = opt("persist") === undefined ? undefined : path.resolve(opt("persist"));

const { workerOptions } = unstable_getMiniflareWorkerOptions(configPath);
delete workerOptions.rootPath;
// Our input is one pre-bundled file, so module rules are moot (and the v5 converter rejects them);
// drop the empty binding maps too, keeping only what the config actually declares.
delete workerOptions.modulesRules;
// --no-assets: leave out the static-assets router that `[assets]` puts in front of the worker
// (diagnostic: it is one more hop that every WebSocket upgrade passes through locally).
if (argv.includes("--no-assets")) delete workerOptions.assets;
for (const [k, v] of Object.entries(workerOptions)) {
  if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0) delete workerOptions[k];
  if (Array.isArray(v) && v.length === 0) delete workerOptions[k];
}
// This Miniflare takes a new option shape; wrangler's helper still emits the v4 one.
const v4 = {
  workers: [
    {
      ...workerOptions,
      name: "bench",
      modules: [{ type: "ESModule", path: scriptPath }],
      bindings: { ...(workerOptions.bindings ?? {}), ...vars },
    },
  ],
  host: "127.0.0.1",
  port,
  // In-memory storage (the Miniflare default: every start is a fresh room) unless --persist.
  ...(persistDir !== undefined ? { resourcePersistencePath: persistDir } : {}),
  log: new Log(LogLevel.WARN),
  cf: false, // no fetch of the Request.cf template from the network (loopback only)
  ...(persistTo !== undefined ? { resourcePersistencePath: path.resolve(persistTo) } : {}),
  ...(inspectorPort !== undefined ? { inspectorPort, inspectorHost: "127.0.0.1" } : {}),
};
const mf = new Miniflare(typeof convertV4MiniflareOptions === "function" ? convertV4MiniflareOptions(v4) : v4);
const url = await mf.ready;
const inspector = inspectorPort !== undefined ? { inspector_url: (await mf.getInspectorURL()).href } : {};
process.stdout.write(JSON.stringify({ ready: true, url: url.href, ...inspector }) + "\n");

let closing = false;
async function close() {
  if (closing) return;
  closing = true;
  try {
    await mf.dispose();
  } finally {
    process.exit(0);
  }
}
process.on("SIGTERM", close);
process.on("SIGINT", close);
