/**
 * Bearer auth on every route but /healthz, error shapes per route family, disabled features,
 * /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tokenMatches } from "../../src/bridge/http";
import { loadConfig } from "../../src/bridge/config";
import { startBridge } from "../../src/bridge/server";
import { createLogger } from "../../src/bridge/log";
import { PRODUCE_TYPE, randomToken, startTestBridge, type TestBridge } from "./helpers";

let bridge: TestBridge;

beforeAll(async () => {
  bridge = await startTestBridge();
});
afterAll(async () => {
  await bridge?.close();
});

const routes: Array<{ path: string; method: string; body?: string; headers?: Record<string, string>; shape: RegExp }> = [
  { path: "/topics/streams.chat", method: "POST", body: '{"records":[{"value":1}]}', headers: { "content-type": PRODUCE_TYPE }, shape: /"error_code":40101/ },
  { path: "/redis", method: "POST", body: '["PING"]', shape: /^\{"error":"Unauthorized"\}$/ },
  { path: "/redis/pipeline", method: "POST", body: '[["PING"]]', shape: /^\{"error":"Unauthorized"\}$/ },
  { path: "/redis/multi-exec", method: "POST", body: '[["PING"]]', shape: /^\{"error":"Unauthorized"\}$/ },
  { path: "/metrics", method: "GET", shape: /"error":"unauthorized"/ },
  { path: "/nowhere", method: "GET", shape: /"error":"unauthorized"/ },
];

describe("auth", () => {
  it("/healthz needs no token", async () => {
    const res = await fetch(`${bridge.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", kafka: "enabled", redis: "enabled", pg: "enabled" });
  });

  for (const r of routes) {
    it(`${r.method} ${r.path}: no token, wrong token, wrong scheme → 401`, async () => {
      for (const authorization of [undefined, "Bearer wrong-token", `Basic ${bridge.token}`, `Bearer ${bridge.token}x`, "Bearer"]) {
        const res = await fetch(`${bridge.url}${r.path}`, {
          method: r.method,
          body: r.body,
          headers: { ...r.headers, ...(authorization ? { authorization } : {}) },
        });
        expect(res.status, String(authorization)).toBe(401);
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
        expect(await res.text()).toMatch(r.shape);
      }
    });
  }

  it("the right token passes (bearer scheme is case-insensitive)", async () => {
    const res = await fetch(`${bridge.url}/redis`, {
      method: "POST",
      body: '["PING"]',
      headers: { authorization: `bearer ${bridge.token}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ result: "PONG" });
  });

  it("token comparison is exact", () => {
    expect(tokenMatches("abc", "abc")).toBe(true);
    expect(tokenMatches("abc", "abcd")).toBe(false);
    expect(tokenMatches("", "abc")).toBe(false);
    expect(tokenMatches(null, "abc")).toBe(false);
  });
});

describe("features left unconfigured answer 503 naming the variable", () => {
  it("no KAFKA_BROKERS / REDIS_URL / PG_ALLOWED_ADDRS", async () => {
    const token = randomToken();
    const bare = await startBridge(loadConfig({ BRIDGE_TOKEN: token, BRIDGE_PORT: "0" }), { logger: createLogger("silent") });
    try {
      const health = await (await fetch(`${bare.url}/healthz`)).json();
      expect(health).toEqual({ status: "ok", kafka: "disabled", redis: "disabled", pg: "disabled" });

      const p = await fetch(`${bare.url}/topics/streams.chat`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": PRODUCE_TYPE },
        body: '{"records":[{"value":1}]}',
      });
      expect(p.status).toBe(503);
      expect(await p.json()).toEqual({ error_code: 50301, message: expect.stringContaining("KAFKA_BROKERS") });

      const r = await fetch(`${bare.url}/redis`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: '["PING"]' });
      expect(r.status).toBe(503);
      expect(await r.json()).toEqual({ error: expect.stringContaining("REDIS_URL") });

      const { default: WebSocket } = await import("ws");
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${bare.port}/pg/v1?token=${token}&address=127.0.0.1:5432`);
        ws.on("open", () => resolve(101));
        ws.on("unexpected-response", (_q, res) => resolve(res.statusCode ?? 0));
        ws.on("error", reject);
      });
      expect(status).toBe(503);
    } finally {
      await bare.close();
    }
  });
});

describe("/metrics", () => {
  it("counts requests by route and status in Prometheus text format", async () => {
    await fetch(`${bridge.url}/redis`, { method: "POST", body: '["PING"]' }); // 401
    await fetch(`${bridge.url}/redis`, { method: "POST", body: '["PING"]', headers: { authorization: bridge.auth } }); // 200
    const res = await fetch(`${bridge.url}/metrics`, { headers: { authorization: bridge.auth } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain("# TYPE bridge_http_requests_total counter");
    expect(text).toMatch(/^bridge_http_requests_total\{route="\/redis",method="POST",status="401"\} [1-9]\d*$/m);
    expect(text).toMatch(/^bridge_http_requests_total\{route="\/redis",method="POST",status="200"\} [1-9]\d*$/m);
    expect(text).toMatch(/^bridge_redis_commands_total\{endpoint="single",result="ok"\} [1-9]\d*$/m);
    expect(text).toContain("# TYPE bridge_kafka_produce_duration_seconds histogram");
    // Every sample line is `name{labels} value`.
    for (const line of text.trim().split("\n").filter((l) => !l.startsWith("#"))) {
      expect(line).toMatch(/^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? [-+\d.eInf]+$/);
    }
  });
});
