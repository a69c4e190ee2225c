/**
 * WebSocket→TCP proxy with the unmodified @neondatabase/serverless driver (WebSocket Pool and
 * Client) against the real Postgres of `npm run services:up`.
 */
import net from "node:net";
import { Client, Pool, neonConfig } from "@neondatabase/serverless";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, SERVICES, startTestBridge, type TestBridge } from "./helpers";

let bridge: TestBridge;
const userId = crypto.randomUUID();
const username = `tester-${userId.slice(0, 8)}`;

/** Points the driver at the bridge, the way the worker does with NEON_WS_PROXY. */
function useProxy(proxy: string) {
  neonConfig.webSocketConstructor = WebSocket;
  neonConfig.wsProxy = (host, port) => `${proxy}${proxy.includes("?") ? "&" : "?"}address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
}

/** Opens a raw WebSocket to the proxy and reports the HTTP status it was refused with (or 101). */
function upgradeStatus(path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${bridge.port}${path}`, { headers });
    ws.on("open", () => {
      ws.close();
      resolve(101);
    });
    ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    ws.on("error", reject);
  });
}

beforeAll(async () => {
  bridge = await startTestBridge();
  useProxy(`127.0.0.1:${bridge.port}/pg/v1?token=${bridge.token}`);
  const pool = new Pool({ connectionString: SERVICES.databaseUrl });
  await pool.query("insert into users (id, username) values ($1, $2)", [userId, username]);
  await pool.end();
});

afterAll(async () => {
  useProxy(`127.0.0.1:${bridge.port}/pg/v1?token=${bridge.token}`);
  const pool = new Pool({ connectionString: SERVICES.databaseUrl });
  await pool.query("delete from users where id = $1", [userId]).catch(() => undefined);
  await pool.end();
  await bridge?.close();
});

describe("Neon driver through /pg/v1", () => {
  it("Pool: looks a user up as the worker does", async () => {
    useProxy(`127.0.0.1:${bridge.port}/pg/v1?token=${bridge.token}`);
    const pool = new Pool({ connectionString: SERVICES.databaseUrl, max: 2 });
    try {
      const res = await pool.query<{ username: string }>("SELECT username FROM users WHERE id = $1", [userId]);
      expect(res.rows).toEqual([{ username }]);
      const parallel = await Promise.all(
        Array.from({ length: 6 }, (_, i) => pool.query<{ n: number }>("select $1::int * 2 as n", [i])),
      );
      expect(parallel.map((r) => r.rows[0]!.n)).toEqual([0, 2, 4, 6, 8, 10]);
    } finally {
      await pool.end();
    }
  });

  it("Client: a large result crosses the proxy intact", async () => {
    useProxy(`127.0.0.1:${bridge.port}/pg/v1?token=${bridge.token}`);
    const client = new Client({ connectionString: SERVICES.databaseUrl });
    await client.connect();
    try {
      const res = await client.query<{ s: string }>("select repeat(md5(g::text), 2000) as s from generate_series(1, 50) g");
      expect(res.rows).toHaveLength(50);
      expect(res.rows.every((r) => r.s.length === 64_000)).toBe(true);
    } finally {
      await client.end();
    }
  });

  it("the token may be given as NEON_WS_PROXY's query, before the driver's ?address=", async () => {
    // String wsProxy: the driver appends "?address=host:port" itself → /pg/v1?token=T?address=…
    neonConfig.webSocketConstructor = WebSocket;
    neonConfig.wsProxy = `127.0.0.1:${bridge.port}/pg/v1?token=${bridge.token}`;
    const client = new Client({ connectionString: SERVICES.databaseUrl });
    await client.connect();
    try {
      expect((await client.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
    } finally {
      await client.end();
    }
  });
});

describe("refusals", () => {
  it("an address not in PG_ALLOWED_ADDRS is refused with 403 before any connection is made", async () => {
    let connections = 0;
    const decoy = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    const port = await freePort();
    await new Promise<void>((r) => decoy.listen(port, "127.0.0.1", r));
    try {
      expect(await upgradeStatus(`/pg/v1?token=${bridge.token}&address=127.0.0.1:${port}`)).toBe(403);
      expect(await upgradeStatus(`/pg/v1?token=${bridge.token}&address=localhost:${SERVICES.pgAddr.split(":")[1]}`)).toBe(403);
      expect(await upgradeStatus(`/pg/v1?token=${bridge.token}&address=garbage`)).toBe(400);
      expect(await upgradeStatus(`/pg/v1?token=${bridge.token}`)).toBe(400);
      expect(connections).toBe(0);

      // And through the driver: the query fails, nothing reached the decoy.
      useProxy(`127.0.0.1:${bridge.port}/pg/v1?token=${bridge.token}`);
      const client = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/test` });
      await expect(client.connect()).rejects.toThrow();
      expect(connections).toBe(0);
    } finally {
      decoy.close();
    }
  });

  it("no token / a bad token → 401; the header works too", async () => {
    const addr = `address=${SERVICES.pgAddr}`;
    expect(await upgradeStatus(`/pg/v1?${addr}`)).toBe(401);
    expect(await upgradeStatus(`/pg/v1?${addr}&token=nope`)).toBe(401);
    expect(await upgradeStatus(`/pg/v1?${addr}`, { authorization: "Bearer nope" })).toBe(401);
    expect(await upgradeStatus(`/pg/v1?${addr}`, { authorization: bridge.auth })).toBe(101);
    expect(await upgradeStatus(`/not-a-ws-route?token=${bridge.token}`)).toBe(404);
  });

  it("an allowed address that is down → 502, not an open WebSocket", async () => {
    const port = await freePort();
    const other = await startTestBridge({ PG_ALLOWED_ADDRS: `127.0.0.1:${port}` });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${other.port}/pg/v1?token=${other.token}&address=127.0.0.1:${port}`);
        ws.on("open", () => resolve(101));
        ws.on("unexpected-response", (_q, res) => resolve(res.statusCode ?? 0));
        ws.on("error", reject);
      });
      expect(status).toBe(502);
    } finally {
      await other.close();
    }
  });

  it("a plain GET on /pg/v1 → 426", async () => {
    const res = await fetch(`${bridge.url}/pg/v1`, { headers: { authorization: bridge.auth } });
    expect(res.status).toBe(426);
  });
});
