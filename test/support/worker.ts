/**
 * Runs the real worker under `wrangler dev` (workerd + miniflare: Durable Object, queue, assets)
 * on free local ports, for the Node suites (end-to-end, client SDK, browser, bench smoke).
 *
 *   const w = await startWorker({ vars: { UPSTASH_REDIS_REST_URL: ... } });
 *   ... w.url ...            // http://127.0.0.1:PORT
 *   await w.restart();       // same port, same persisted state (sockets drop, data stays)
 *   await w.stop();
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, startProcess, type ServiceProcess } from "./process";

export const DEV_JWT_SECRET = "test-dev-secret-0123456789abcdef";

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

export interface RunningWorker {
  url: string;
  port: number;
  /** Everything wrangler printed so far (worker console.* included). */
  logs(): string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  vars?: Record<string, string>;
  /** Defaults to a fresh temporary directory (removed on stop). */
  persistTo?: string;
  timeoutMs?: number;
  /** A wrangler config other than the checkout's wrangler.toml (`--config`), e.g. from devConfig(). */
  config?: string;
}

/**
 * A copy of the checkout's wrangler.toml in a temporary directory, with absolute paths (main, the
 * assets directory; no [build]: the suites need no page) and `edit` applied to its text — e.g. a
 * lower max_retries, so a message reaches its dead letter queue in seconds. Returns the file's path.
 */
export function devConfig(edit: (toml: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), "chat-config-"));
  let toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8")
    .replace(/^main = ".*"$/m, `main = ${JSON.stringify(join(ROOT, "src/worker.ts"))}`)
    .replace(/^directory = ".*"$/m, `directory = ${JSON.stringify(join(ROOT, "public"))}`)
    .replace(/^\[build\]\ncommand = .*\n/m, "");
  toml = edit(toml);
  const path = join(dir, "wrangler.toml");
  writeFileSync(path, toml);
  return path;
}

export async function startWorker(opts: StartOptions = {}): Promise<RunningWorker> {
  const port = await freePort();
  const inspector = await freePort();
  const ownPersist = !opts.persistTo;
  const persistTo = opts.persistTo ?? mkdtempSync(join(tmpdir(), "chat-wrangler-"));
  const vars: Record<string, string> = { DEV_TOKENS: "true", JWT_SECRET: DEV_JWT_SECRET, ...opts.vars };
  const output = { text: "" };
  const args = ["wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(inspector)];
  args.push("--persist-to", persistTo, "--show-interactive-dev-session=false", "--log-level", "info");
  if (opts.config) args.push("--config", opts.config);
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const launch = () =>
    startProcess({
      name: "wrangler dev",
      args,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1", FORCE_COLOR: "0" },
      healthUrl: `http://127.0.0.1:${port}/healthz`,
      timeoutMs: opts.timeoutMs ?? 60_000,
      output,
    });

  let proc: ServiceProcess | null = await launch();
  const kill = async () => {
    await proc?.stop();
    proc = null;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    logs: () => output.text,
    restart: async () => {
      await kill();
      proc = await launch();
    },
    stop: async () => {
      await kill();
      if (ownPersist) rmSync(persistTo, { recursive: true, force: true });
    },
  };
}

/** A dev token from the running worker (DEV_TOKENS=true); with `ownerOf`, its holder owns that stream. */
export async function devToken(
  baseUrl: string,
  username: string,
  ownerOf?: string,
): Promise<{ token: string; user_id: string; username: string }> {
  const res = await fetch(`${baseUrl}/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(ownerOf ? { username, owner_of: ownerOf } : { username }),
  });
  if (!res.ok) throw new Error(`dev token: ${res.status} ${await res.text()}`);
  return (await res.json()) as { token: string; user_id: string; username: string };
}
