/**
 * Seeds the `users` table (upsert by id), and stream roles (`streams`, `stream_moderators`).
 *
 *   npx tsx db/seed.ts                                  the demo users below
 *   npx tsx db/seed.ts <uuid>:<username> [...]          these users
 *   npx tsx db/seed.ts <username> [...]                 these names, with new random ids
 *   npx tsx db/seed.ts stream <stream-uuid> <owner-uuid>     the stream's owner (upsert)
 *   npx tsx db/seed.ts moderator <stream-uuid> <user-uuid>   a moderator of the stream
 *   npx tsx db/seed.ts unmoderator <stream-uuid> <user-uuid> no longer a moderator
 *
 * (`stream`, `moderator` and `unmoderator` as the first argument are these commands; a user with
 * such a name is seeded as `<uuid>:stream`.) The worker caches roles for 5 minutes, so a change
 * reaches a running worker within that time (README "Roles").
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
import { describeError } from "../src/errors";

export const DEMO_USERS: ReadonlyArray<{ id: string; username: string }> = [
  { id: "00000000-0000-4000-8000-00000000a11c", username: "alice" },
  { id: "00000000-0000-4000-8000-000000000b0b", username: "bob" },
  { id: "00000000-0000-4000-8000-0000000ca201", username: "carol" },
];

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Plan =
  | { kind: "users"; users: Array<{ id: string; username: string }> }
  | { kind: "stream"; streamId: string; ownerId: string }
  | { kind: "moderator" | "unmoderator"; streamId: string; userId: string };

const ROLE_COMMANDS = ["stream", "moderator", "unmoderator"] as const;

class UsageError extends Error {}

function uuidArg(value: string | undefined, what: string): string {
  if (value === undefined || !UUID_RE.test(value)) throw new UsageError(`${what}: expected a UUID, got ${JSON.stringify(value ?? null)}`);
  return value.toLowerCase();
}

function parseArgs(args: string[]): Plan {
  const command = args[0] as (typeof ROLE_COMMANDS)[number];
  if (ROLE_COMMANDS.includes(command)) {
    if (args.length !== 3) throw new UsageError(`${command}: expected <stream-uuid> <${command === "stream" ? "owner" : "user"}-uuid>`);
    const streamId = uuidArg(args[1], `${command} <stream-uuid>`);
    if (command === "stream") return { kind: "stream", streamId, ownerId: uuidArg(args[2], "stream <owner-uuid>") };
    return { kind: command, streamId, userId: uuidArg(args[2], `${command} <user-uuid>`) };
  }
  return { kind: "users", users: parseUsers(args) };
}

function parseUsers(args: string[]): Array<{ id: string; username: string }> {
  if (args.length === 0) return [...DEMO_USERS];
  return args.map((arg) => {
    const m = /^([^:]+):(.+)$/.exec(arg);
    if (m && UUID_RE.test(m[1]!)) return { id: m[1]!.toLowerCase(), username: m[2]! };
    if (arg.trim() === "") throw new UsageError("empty username");
    return { id: randomUUID(), username: arg };
  });
}

async function apply(pool: Pool, plan: Plan): Promise<void> {
  switch (plan.kind) {
    case "users":
      for (const u of plan.users) {
        await pool.query(
          "insert into users (id, username) values ($1, $2) on conflict (id) do update set username = excluded.username",
          [u.id, u.username],
        );
        console.log(`seed: ${u.id} ${u.username}`);
      }
      return;
    case "stream":
      await pool.query("insert into streams (id, owner_id) values ($1, $2) on conflict (id) do update set owner_id = excluded.owner_id", [
        plan.streamId,
        plan.ownerId,
      ]);
      console.log(`seed: stream ${plan.streamId} owner ${plan.ownerId}`);
      return;
    case "moderator":
      await pool.query("insert into stream_moderators (stream_id, user_id) values ($1, $2) on conflict do nothing", [
        plan.streamId,
        plan.userId,
      ]);
      console.log(`seed: stream ${plan.streamId} moderator ${plan.userId}`);
      return;
    case "unmoderator": {
      const res = await pool.query("delete from stream_moderators where stream_id = $1 and user_id = $2", [plan.streamId, plan.userId]);
      console.log(`seed: stream ${plan.streamId} ${res.rowCount ? "no longer has" : "did not have"} moderator ${plan.userId}`);
      return;
    }
  }
}

async function main(): Promise<void> {
  const plan = parseArgs(process.argv.slice(2));
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
    await apply(pool, plan);
  } finally {
    await pool.end();
    await stop?.();
  }
}

main().catch((err: unknown) => {
  console.error(`seed: ${err instanceof UsageError ? err.message : describeError(err)}`);
  if (err instanceof UsageError) {
    console.error("usage: npx tsx db/seed.ts [<uuid>:<username> | <username>]... | stream|moderator|unmoderator <stream-uuid> <user-uuid>");
  }
  process.exit(err instanceof UsageError ? 2 : 1);
});
