/** Starts the bridge (`src/bridge/main.ts`, as `npm run bridge` does) as a child process on a free port. */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { freePort } from "./worker";

const ROOT = resolve(import.meta.dirname, "../..");

export interface RunningBridge {
  url: string;
  port: number;
  token: string;
  logs(): string;
  stop(): Promise<void>;
}

export async function startBridge(env: { KAFKA_BROKERS?: string; REDIS_URL?: string; PG_ALLOWED_ADDRS?: string }): Promise<RunningBridge> {
  const port = await freePort();
  const token = randomBytes(16).toString("hex");
  let output = "";
  const child: ChildProcess = spawn("npx", ["tsx", "src/bridge/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, ...env, BRIDGE_PORT: String(port), BRIDGE_TOKEN: token, BRIDGE_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bridge exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`bridge did not start:\n${output}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    token,
    logs: () => output,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        // gone
      }
      await exited;
    },
  };
}

/** Worker variables that point every sink at a running bridge. */
export function workerVarsFor(bridge: RunningBridge, databaseUrl = "postgres://postgres@127.0.0.1:5432/test"): Record<string, string> {
  return {
    UPSTASH_REDIS_REST_URL: `${bridge.url}/redis`,
    UPSTASH_REDIS_REST_TOKEN: bridge.token,
    KAFKA_REST_URL: bridge.url,
    KAFKA_REST_TOKEN: bridge.token,
    DATABASE_URL: databaseUrl,
    NEON_WS_PROXY: `127.0.0.1:${bridge.port}/pg/v1?token=${bridge.token}`,
  };
}
