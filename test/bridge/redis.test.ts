/**
 * Upstash-compatible REST: the real @upstash/redis client (as the worker uses it) against the
 * bridge, in front of the real Redis of `npm run services:up`. What the client wrote is checked
 * in Redis itself through a separate connection.
 */
import { Redis, errors } from "@upstash/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RespClient } from "../../src/bridge/resp";
import { SERVICES, startTestBridge, uniq, type TestBridge } from "./helpers";

let bridge: TestBridge;
let direct: RespClient;
const prefix = uniq("bridge-test");
const k = (name: string) => `${prefix}:${name}`;

/** The client as the worker configures it (base64 responses, auto-pipelining on). */
let redis: Redis;
/** One HTTP request per command (/redis), no auto-pipelining. */
let single: Redis;

async function raw(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${bridge.url}${path}`, {
    method: "POST",
    headers: { authorization: bridge.auth, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

beforeAll(async () => {
  bridge = await startTestBridge();
  const u = new URL(SERVICES.redisUrl);
  direct = new RespClient({ host: u.hostname, port: Number(u.port || 6379) });
  redis = new Redis({ url: `${bridge.url}/redis`, token: bridge.token, enableTelemetry: false });
  single = new Redis({ url: `${bridge.url}/redis`, token: bridge.token, enableTelemetry: false, enableAutoPipelining: false, retry: false });
});

afterAll(async () => {
  const keys = (await direct.call("KEYS", `${prefix}:*`)) as Buffer[];
  if (keys.length) await direct.call("DEL", ...keys);
  await direct.close();
  await bridge?.close();
});

describe("@upstash/redis through the bridge", () => {
  it("set/get strings, unicode and JSON values; the bytes are really in Redis", async () => {
    expect(await single.set(k("s"), "héllo wörld ✓")).toBe("OK");
    expect(await single.get(k("s"))).toBe("héllo wörld ✓");
    expect(((await direct.call("GET", k("s"))) as Buffer).toString("utf8")).toBe("héllo wörld ✓");

    const obj = { seq: 7, text: "hi", nested: { ok: true } };
    await redis.set(k("obj"), obj);
    expect(await redis.get(k("obj"))).toEqual(obj);
    expect(JSON.parse(((await direct.call("GET", k("obj"))) as Buffer).toString())).toEqual(obj);

    expect(await single.get(k("missing"))).toBeNull();
    expect(await single.incr(k("n"))).toBe(1);
    expect(await single.incrby(k("n"), 41)).toBe(42);
  });

  it("zadd / zrange / zremrangebyrank: the history pattern (last N by score)", async () => {
    const key = k("history");
    const members = Array.from({ length: 8 }, (_, i) => ({ score: 8 - i, member: JSON.stringify({ seq: 8 - i, m: `msg ${8 - i}` }) }));
    expect(await single.zadd(key, members[0]!, ...members.slice(1))).toBe(8);
    // Keep the newest 5.
    expect(await single.zremrangebyrank(key, 0, -6)).toBe(3);
    const newestFirst = await single.zrange<Array<{ seq: number; m: string }>>(key, 0, -1, { rev: true });
    expect(newestFirst.map((x) => x.seq)).toEqual([8, 7, 6, 5, 4]);
    const withScores = await single.zrange(key, 0, 1, { withScores: true });
    expect(withScores).toEqual([{ seq: 4, m: "msg 4" }, 4, { seq: 5, m: "msg 5" }, 5]);
    expect(await direct.call("ZCARD", key)).toBe(5);
  });

  it("pipeline: results in order, a failing command reported in place", async () => {
    const p = redis.pipeline();
    p.set(k("p1"), "a");
    p.incr(k("p2"));
    p.lpush(k("p1"), "x"); // WRONGTYPE
    p.get(k("p1"));
    const out = await p.exec({ keepErrors: true });
    expect(out.map((r) => r.result)).toEqual(["OK", 1, undefined, "a"]);
    expect(out[2]!.error).toMatch(/^WRONGTYPE/);

    const p2 = redis.pipeline();
    p2.get(k("p1"));
    p2.lpush(k("p1"), "x");
    await expect(p2.exec()).rejects.toThrow(/Command 2 \[ lpush \] failed: WRONGTYPE/);
  });

  it("multi-exec: a transaction's results; a command that can't be queued aborts all of it", async () => {
    const tx = redis.multi();
    tx.incr(k("tx"));
    tx.incr(k("tx"));
    tx.get(k("tx"));
    expect(await tx.exec()).toEqual([1, 2, 2]);

    // Queue-time error (unknown command) → EXECABORT: nothing ran.
    const res = await raw("/redis/multi-exec", [["INCR", k("tx")], ["NOSUCHCOMMAND"]]);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error).toMatch(/unknown command.*EXECABORT/s);
    expect(Number(await direct.call("GET", k("tx")))).toBe(2);
  });

  it("auto-pipelined concurrent commands all land", async () => {
    const n = 50;
    const results = await Promise.all(Array.from({ length: n }, () => redis.incr(k("auto"))));
    expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  it("command errors throw UpstashError with Redis's message", async () => {
    await single.set(k("str"), "v");
    const err = await single.lpush(k("str"), "x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(errors.UpstashError);
    expect((err as Error).message).toMatch(/^WRONGTYPE/);
  });
});

describe("wire format (what Upstash sends)", () => {
  it("Upstash-Encoding: base64 encodes strings recursively; numbers, null and OK untouched", async () => {
    const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
    const h = { "upstash-encoding": "base64" };
    expect(JSON.parse((await raw("/redis", ["SET", k("e"), "héllo"], h)).text)).toEqual({ result: "OK" });
    expect(JSON.parse((await raw("/redis", ["GET", k("e")], h)).text)).toEqual({ result: b64("héllo") });
    expect(JSON.parse((await raw("/redis", ["GET", k("nope")], h)).text)).toEqual({ result: null });
    expect(JSON.parse((await raw("/redis", ["PING"], h)).text)).toEqual({ result: b64("PONG") });
    await raw("/redis", ["RPUSH", k("l"), "a", "ü", "12"], h);
    expect(JSON.parse((await raw("/redis", ["LRANGE", k("l"), 0, -1], h)).text)).toEqual({ result: [b64("a"), b64("ü"), b64("12")] });
    expect(JSON.parse((await raw("/redis", ["LLEN", k("l")], h)).text)).toEqual({ result: 3 });

    // Nested arrays (XRANGE: [[id, [field, value]]]).
    const id = JSON.parse((await raw("/redis", ["XADD", k("x"), "*", "f", "v"])).text).result as string;
    const nested = JSON.parse((await raw("/redis", ["XRANGE", k("x"), "-", "+"], h)).text).result;
    expect(nested).toEqual([[b64(id), [b64("f"), b64("v")]]]);
    expect(await redis.xrange(k("x"), "-", "+")).toEqual({ [id]: { f: "v" } });

    // Without the header: plain UTF-8.
    expect(JSON.parse((await raw("/redis", ["GET", k("e")])).text)).toEqual({ result: "héllo" });
    const plain = new Redis({ url: `${bridge.url}/redis`, token: bridge.token, responseEncoding: false, enableTelemetry: false });
    expect(await plain.lrange(k("l"), 0, -1)).toEqual(["a", "ü", 12]);
  });

  it("integers beyond 2^53 stay exact", async () => {
    const res = await raw("/redis", ["INCRBY", k("big"), "9007199254740993"]);
    expect(res.text).toBe('{"result":9007199254740993}');
  });

  it("malformed requests → 400 {error}", async () => {
    const cases: Array<[string, unknown]> = [
      ["/redis", "not json"],
      ["/redis", []],
      ["/redis", { cmd: "GET" }],
      ["/redis", ["GET", { nested: 1 }]],
      ["/redis/pipeline", ["GET", "x"]],
      ["/redis/pipeline", []],
      ["/redis", ["NOSUCHCOMMAND"]],
      ["/redis", ["BLPOP", k("q"), 0]], // would block the shared connection
      ["/redis", ["SUBSCRIBE", "ch"]],
      ["/redis/pipeline", [["PING"], ["MULTI"]]],
    ];
    for (const [path, body] of cases) {
      const res = await raw(path, body);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(JSON.parse(res.text).error).toEqual(expect.stringMatching(/\S/));
    }
    // The shared connection is still healthy afterwards.
    expect(await single.ping()).toBe("PONG");
  });
});
