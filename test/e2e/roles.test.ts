/**
 * Roles from Postgres on the production code path: src/roles.ts running in workerd (`wrangler dev`
 * of the test-only worker in ./roles-probe, which calls verifyJwt + resolveRole like the chat
 * worker), the Neon driver's WebSocket → the bridge's /pg/v1 proxy → the real Postgres of
 * `npm run services:up`. Rows are written with psql, independent of the code under test.
 *
 * Not exercised here: the 5-minute expiry itself (no clock to move in wrangler dev); the expiry
 * logic is tested in workerd against the Cache API (test/worker/roles.test.ts).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBridge, type RunningBridge } from "../support/bridge";
import { startProcess, type ServiceProcess } from "../support/process";
import { freePort } from "../support/worker";

const PG = "postgres://postgres@127.0.0.1:5432/test";
const SECRET = "roles-probe-secret-0123456789abcdef";

let bridge: RunningBridge;
let probe: ServiceProcess;
let probeUrl: string;
let persistTo: string;
/** Accepts TCP connections and never answers: a database that hangs. */
let silent: Server;
const silentSockets = new Set<Socket>();

/** psql, independent of our code (the ids interpolated below are UUIDs we generated). */
function psql(sql: string) {
  return execFileSync("psql", [PG, "-X", "-v", "ON_ERROR_STOP=1", "-qtA", "-c", sql], { encoding: "utf8" }).trim();
}

const uuid = () => crypto.randomUUID();
const streamsUsed = new Set<string>();

function addStream(streamId: string, ownerId: string) {
  streamsUsed.add(streamId);
  psql(`insert into streams (id, owner_id) values ('${streamId}', '${ownerId}')`);
}

function addModerator(streamId: string, userId: string) {
  streamsUsed.add(streamId);
  psql(`insert into stream_moderators (stream_id, user_id) values ('${streamId}', '${userId}')`);
}

async function tokenFor(sub: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(SECRET));
}

async function roleOf(
  userId: string,
  streamId: string,
  opts: { claims?: Record<string, unknown>; db?: "down" | "silent" } = {},
): Promise<{ role: string; ownerId: string | null }> {
  const q = new URLSearchParams({ stream: streamId, ...(opts.db ? { db: opts.db } : {}) });
  const res = await fetch(`${probeUrl}/role?${q}`, { headers: { authorization: `Bearer ${await tokenFor(userId, opts.claims)}` } });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`probe answered ${res.status}: ${body}`);
  return JSON.parse(body) as { role: string; ownerId: string | null };
}

beforeAll(async () => {
  psql("select 1 from streams, stream_moderators limit 1"); // the schema is applied (services:up)
  const silentPort = await freePort();
  silent = createServer((s) => {
    silentSockets.add(s);
    s.on("close", () => silentSockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(silentPort, "127.0.0.1", r));

  bridge = await startBridge({ PG_ALLOWED_ADDRS: `127.0.0.1:5432,127.0.0.1:1,127.0.0.1:${silentPort}` });
  const port = await freePort();
  const inspector = await freePort();
  persistTo = mkdtempSync(join(tmpdir(), "roles-probe-"));
  const vars: Record<string, string> = {
    JWT_SECRET: SECRET,
    DATABASE_URL: PG,
    NEON_WS_PROXY: `127.0.0.1:${bridge.port}/pg/v1?token=${bridge.token}`,
    // Nothing listens on port 1: the bridge cannot connect and refuses the upgrade.
    DOWN_DATABASE_URL: "postgres://postgres@127.0.0.1:1/test",
    SILENT_DATABASE_URL: `postgres://postgres@127.0.0.1:${silentPort}/test`,
  };
  const args = ["wrangler", "dev", "-c", "test/e2e/roles-probe/wrangler.toml", "--port", String(port), "--ip", "127.0.0.1"];
  args.push("--inspector-port", String(inspector), "--persist-to", persistTo, "--show-interactive-dev-session=false");
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  probe = await startProcess({
    name: "roles probe (wrangler dev)",
    args,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1", FORCE_COLOR: "0" },
    healthUrl: `http://127.0.0.1:${port}/healthz`,
    timeoutMs: 90_000,
  });
  probeUrl = `http://127.0.0.1:${port}`;
}, 120_000);

afterEach(({ task }) => {
  if (task.result?.state === "fail") {
    console.log(`probe logs:\n${probe?.logs().slice(-4000)}\nbridge logs:\n${bridge?.logs().slice(-2000)}`);
  }
});

afterAll(async () => {
  if (streamsUsed.size > 0) {
    const ids = [...streamsUsed].map((id) => `'${id}'`).join(",");
    psql(`delete from stream_moderators where stream_id in (${ids}); delete from streams where id in (${ids})`);
  }
  await probe?.stop();
  await bridge?.stop();
  for (const s of silentSockets) s.destroy();
  silent?.close();
  if (persistTo) rmSync(persistTo, { recursive: true, force: true });
});

describe("roles from Postgres (streams, stream_moderators)", () => {
  it("the owner from streams, a moderator from stream_moderators, anyone else a viewer", async () => {
    const [sid, owner, mod, viewer] = [uuid(), uuid(), uuid(), uuid()];
    addStream(sid, owner);
    addModerator(sid, mod);

    expect(await roleOf(owner, sid)).toEqual({ role: "owner", ownerId: owner });
    expect(await roleOf(mod, sid)).toEqual({ role: "moderator", ownerId: owner });
    expect(await roleOf(viewer, sid)).toEqual({ role: "viewer", ownerId: owner });
    // The same users in a stream with no rows.
    const other = uuid();
    for (const u of [owner, mod]) expect(await roleOf(u, other)).toEqual({ role: "viewer", ownerId: null });
  });

  it("a moderator of a stream that has no streams row is still a moderator", async () => {
    const [sid, mod] = [uuid(), uuid()];
    addModerator(sid, mod);
    expect(await roleOf(mod, sid)).toEqual({ role: "moderator", ownerId: null });
  });

  it("ids in any case match the rows", async () => {
    const [sid, owner] = [uuid(), uuid()];
    addStream(sid, owner);
    expect(await roleOf(owner.toUpperCase(), sid.toUpperCase())).toEqual({ role: "owner", ownerId: owner });
  });
});

describe("claims and Postgres together: the strongest grant wins, ownerId always from Postgres", () => {
  it("an admin acts as owner and still learns who the owner is", async () => {
    const [sid, owner, admin] = [uuid(), uuid(), uuid()];
    addStream(sid, owner);
    expect(await roleOf(admin, sid, { claims: { role: "admin" } })).toEqual({ role: "owner", ownerId: owner });
  });

  it("a weaker claim does not take away a Postgres grant, nor Postgres a claim's", async () => {
    const [sid, owner, mod] = [uuid(), uuid(), uuid()];
    addStream(sid, owner);
    addModerator(sid, mod);
    expect(await roleOf(owner, sid, { claims: { stream_roles: { [sid]: "moderator" } } })).toEqual({ role: "owner", ownerId: owner });
    expect(await roleOf(mod, sid, { claims: { stream_roles: { [sid]: "owner" } } })).toEqual({ role: "owner", ownerId: owner });
    const promoted = uuid();
    const claimed = await roleOf(promoted, sid, { claims: { stream_roles: { [sid]: "moderator" } } });
    expect(claimed).toEqual({ role: "moderator", ownerId: owner });
  });
});

describe("cache", () => {
  it("a change in Postgres is not seen by a cached pair (documented staleness ≤ 5 min), but is by a new pair", async () => {
    const [sid, owner, mod] = [uuid(), uuid(), uuid()];
    addStream(sid, owner);
    addModerator(sid, mod);
    expect(await roleOf(mod, sid)).toEqual({ role: "moderator", ownerId: owner });

    const newOwner = uuid();
    psql(`delete from stream_moderators where stream_id = '${sid}' and user_id = '${mod}'`);
    psql(`update streams set owner_id = '${newOwner}' where id = '${sid}'`);
    // Cached: the answer Postgres gave before the change.
    expect(await roleOf(mod, sid)).toEqual({ role: "moderator", ownerId: owner });
    // Not cached yet: Postgres is asked and the change shows.
    expect(await roleOf(newOwner, sid)).toEqual({ role: "owner", ownerId: newOwner });
    // The claims are read afresh from every token, cache or not.
    expect(await roleOf(mod, sid, { claims: { role: "admin" } })).toEqual({ role: "owner", ownerId: owner });
  });
});

describe("Postgres unreachable", () => {
  it("the claims decide, ownerId is null, the cause is logged, and the failure is not cached", async () => {
    const [sid, owner, mod] = [uuid(), uuid(), uuid()];
    addStream(sid, owner);
    addModerator(sid, mod);

    expect(await roleOf(mod, sid, { db: "down", claims: { stream_roles: { [sid]: "moderator" } } })).toEqual({
      role: "moderator",
      ownerId: null,
    });
    expect(await roleOf(owner, sid, { db: "down" })).toEqual({ role: "viewer", ownerId: null });
    const line = await logLine(`roles: Postgres lookup failed for stream ${sid} user ${owner}`);
    expect(line).toContain("using the token's claims (viewer)");
    // The cause: the proxy's refusal (it could not reach 127.0.0.1:1), with the URL, token redacted.
    expect(line).toMatch(/502/);
    expect(line).toContain("address=127.0.0.1:1");
    expect(line).not.toContain(bridge.token);
    expect(line).not.toContain("[object");

    // Nothing was cached: with the database back, the same pairs get Postgres' answer.
    expect(await roleOf(owner, sid)).toEqual({ role: "owner", ownerId: owner });
    expect(await roleOf(mod, sid)).toEqual({ role: "moderator", ownerId: owner });
  });

  it("a database that accepts and never answers times out into the claims", async () => {
    const [sid, user] = [uuid(), uuid()];
    expect(await roleOf(user, sid, { db: "silent", claims: { stream_roles: { [sid]: "moderator" } } })).toEqual({
      role: "moderator",
      ownerId: null,
    });
    const line = await logLine(`roles: Postgres lookup failed for stream ${sid} user ${user}`);
    expect(line).toContain("DatabaseTimeoutError: no answer from Postgres within 5000 ms");
  });
});

/** The probe's log line starting with `prefix` (wrangler prints it shortly after the response). */
async function logLine(prefix: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const line = probe
      .logs()
      .split("\n")
      .find((l) => l.includes(prefix));
    if (line) return line;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no log line "${prefix}" in:\n${probe.logs().slice(-3000)}`);
}
