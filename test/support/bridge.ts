/** Starts the bridge (`src/bridge/main.ts`, as `npm run bridge` does) as a child process on a free port. */
import { randomBytes } from "node:crypto";
import { startProcess } from "./process";
import { freePort } from "./worker";

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
  const proc = await startProcess({
    name: "bridge",
    args: ["tsx", "src/bridge/main.ts"],
    env: { ...process.env, ...env, BRIDGE_PORT: String(port), BRIDGE_TOKEN: token, BRIDGE_LOG_LEVEL: "warn" },
    healthUrl: `http://127.0.0.1:${port}/healthz`,
    timeoutMs: 30_000,
  });
  return { url: `http://127.0.0.1:${port}`, port, token, logs: proc.logs, stop: proc.stop };
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
