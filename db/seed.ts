/**
 * Seeds the `users` table (upsert by id).
 *
 *   npx tsx db/seed.ts                                  the demo users below
 *   npx tsx db/seed.ts <uuid>:<username> [...]          these users
 *   npx tsx db/seed.ts <username> [...]                 these names, with new random ids
 *
 * DATABASE_URL defaults to the local database of `npm run services:up`
 * (postgres://postgres@127.0.0.1:5432/test). It goes through the same path as the worker: the
 * @neondatabase/serverless driver over a WebSocket→TCP proxy. That proxy is NEON_WS_PROXY when set
 * (e.g. a running bridge, `127.0.0.1:8788/pg/v1?token=…`), otherwise the bridge's proxy started
 * in this process on a free port for the duration of the seed.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Pool, neonConfig } from "@neondatabase/serverless";
import ws from "ws";
import { normaliseHostPort } from "../src/bridge/config";
import { createLogger } from "../src/bridge/log";
import { startBridge } from "../src/bridge/server";

export const DEMO_USERS: ReadonlyArray<{ id: string; username: string }> = [
  { id: "00000000-0000-4000-8000-00000000a11c", username: "alice" },
  { id: "00000000-0000-4000-8000-000000000b0b", username: "bob" },
  { id: "00000000-0000-4000-8000-0000000ca201", username: "carol" },
];

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function parseArgs(args: string[]): Array<{ id: string; username: string }> {
  if (args.length === 0) return [...DEMO_USERS];
  return args.map((arg) => {
    const m = /^([^:]+):(.+)$/.exec(arg);
    if (m && UUID_RE.test(m[1]!)) return { id: m[1]!.toLowerCase(), username: m[2]! };
    if (arg.trim() === "") throw new Error("empty username");
    return { id: randomUUID(), username: arg };
  });
}

async function main(): Promise<void> {
  const users = parseArgs(process.argv.slice(2));
  const databaseUrl = process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test";
  const db = new URL(databaseUrl);
  const target = normaliseHostPort(`${db.hostname}:${db.port || "5432"}`);
  if (!target) throw new Error(`DATABASE_URL: cannot read host:port from ${db.host}`);

  let proxy = process.env.NEON_WS_PROXY;
  let stop: (() => Promise<void>) | undefined;
  if (!proxy) {
    const token = randomBytes(16).toString("hex");
    const bridge = await startBridge(
      { port: 0, host: "127.0.0.1", token, logLevel: "warn", pg: { allowed: [target], connectTimeoutMs: 5_000 } },
      { logger: createLogger("warn") },
    );
    proxy = `127.0.0.1:${bridge.port}/pg/v1?token=${token}`;
    stop = bridge.close;
  }
  const sep = proxy.includes("?") ? "&" : "?";
  neonConfig.webSocketConstructor = ws;
  neonConfig.wsProxy = (host, port) => `${proxy}${sep}address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;

  const pool = new Pool({ connectionString: databaseUrl, max: 1 });
  try {
    for (const u of users) {
      await pool.query(
        "insert into users (id, username) values ($1, $2) on conflict (id) do update set username = excluded.username",
        [u.id, u.username],
      );
      console.log(`seed: ${u.id} ${u.username}`);
    }
  } finally {
    await pool.end();
    await stop?.();
  }
}

main().catch((err: unknown) => {
  console.error(`seed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
