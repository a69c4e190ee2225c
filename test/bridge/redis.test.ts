/**
 * Upstash-compatible REST: the real @upstash/redis client (as the worker uses it) against the
 * bridge, in front of the real Redis of `npm run services:up`. What the client wrote is checked
 * in Redis itself through a separate connection (node-redis, not the bridge).
 *
 * The suites that could hurt a shared Redis if the bridge regressed (a looping script, a Redis
 * that never answers) run against a redis-server or a TCP server of their own.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis, errors } from "@upstash/redis";
import { createClient, RESP_TYPES } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, freePort, randomToken, ROOT, SERVICES, startTestBridge, uniq, type TestBridge } from "./helpers";

type Direct = ReturnType<typeof createClient>;

let bridge: TestBridge;
let direct: Direct;
const prefix = uniq("bridge-test");
const k = (name: string) => `${prefix}:${name}`;

/** The client as the worker configures it (base64 responses, auto-pipelining on). */
let redis: Redis;
/** One HTTP request per command (/redis), no auto-pipelining. */
let single: Redis;

/** POST a body as it is (a string is sent verbatim, so number text can be exact). */
async function raw(url: string, auth: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { authorization: auth, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}
const post = (path: string, body: unknown, headers: Record<string, string> = {}) => raw(bridge.url, bridge.auth, path, body, headers);

/** Bytes of a key, read without the bridge. */
async function directBytes(key: string): Promise<Buffer | null> {
  return (await direct.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get(key)) as Buffer | null;
}

/** A redis-server of this file's own on a free port (foreground child, killed by pid). */
async function privateRedis() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), "bridge-redis-"));
  const proc: ChildProcess = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], {
    stdio: "ignore",
  });
  const client: Direct = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false } });
  client.on("error", () => undefined);
  await eventually(async () => client.connect().then(() => true), 10_000, "private redis-server to start");
  return {
    url: `redis://127.0.0.1:${port}`,
    client,
    async stop() {
      await client.destroy();
      proc.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

beforeAll(async () => {
  bridge = await startTestBridge();
  direct = createClient({ url: SERVICES.redisUrl });
  direct.on("error", () => undefined);
  await direct.connect();
  redis = new Redis({ url: `${bridge.url}/redis`, token: bridge.token, enableTelemetry: false });
  single = new Redis({ url: `${bridge.url}/redis`, token: bridge.token, enableTelemetry: false, enableAutoPipelining: false, retry: false });
});

afterAll(async () => {
  const keys = await direct.keys(`${prefix}:*`);
  if (keys.length) await direct.del(keys);
  await direct.destroy();
  await bridge?.close();
});

describe("@upstash/redis through the bridge", () => {
  it("set/get strings, unicode and JSON values; the bytes are really in Redis", async () => {
    expect(await single.set(k("s"), "héllo wörld ✓")).toBe("OK");
    expect(await single.get(k("s"))).toBe("héllo wörld ✓");
    expect((await directBytes(k("s")))!.toString("utf8")).toBe("héllo wörld ✓");

    const obj = { seq: 7, text: "hi", nested: { ok: true } };
    await redis.set(k("obj"), obj);
    expect(await redis.get(k("obj"))).toEqual(obj);
    expect(JSON.parse(await direct.get(k("obj")) ?? "")).toEqual(obj);

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
    // The history reader's query: by score, newest first, limited.
    const page = await single.zrange<Array<{ seq: number }>>(key, "+inf", "-inf", { byScore: true, rev: true, offset: 0, count: 2 });
    expect(page.map((x) => x.seq)).toEqual([8, 7]);
    expect(await direct.zCard(key)).toBe(5);
    expect(await single.zcard(key)).toBe(5);
    // Edits and deletions: a member removed, a per-comment record in a hash.
    expect(await single.zrem(key, JSON.stringify({ seq: 8, m: "msg 8" }))).toBe(1);
    expect(await single.hset(k("changes"), { c1: "deleted", c2: "edited" })).toBe(2);
    expect(await single.hmget(k("changes"), "c1", "c3")).toEqual({ c1: "deleted", c3: null });
    expect(await direct.zRange(key, 0, -1)).toEqual([4, 5, 6, 7].map((s) => JSON.stringify({ seq: s, m: `msg ${s}` })));
  });

  it("pipeline: results in order, a failing command reported in place", async () => {
    const p = redis.pipeline();
    p.set(k("p1"), "a");
    p.incr(k("p2"));
    p.zadd(k("p1"), { score: 1, member: "x" }); // WRONGTYPE
    p.get(k("p1"));
    const out = await p.exec({ keepErrors: true });
    expect(out.map((r) => r.result)).toEqual(["OK", 1, undefined, "a"]);
    expect(out[2]!.error).toMatch(/^WRONGTYPE/);

    const p2 = redis.pipeline();
    p2.get(k("p1"));
    p2.zadd(k("p1"), { score: 1, member: "x" });
    await expect(p2.exec()).rejects.toThrow(/Command 2 \[ zadd \] failed: WRONGTYPE/);
  });

  it("multi-exec: a transaction's results; a command that can't be queued aborts all of it", async () => {
    const tx = redis.multi();
    tx.incr(k("tx"));
    tx.incr(k("tx"));
    tx.get(k("tx"));
    expect(await tx.exec()).toEqual([1, 2, 2]);

    // Queue-time error (wrong number of arguments) → EXECABORT: nothing ran.
    const res = await post("/redis/multi-exec", [["INCR", k("tx")], ["INCR"]]);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error).toMatch(/wrong number of arguments.*EXECABORT/s);
    expect(await direct.get(k("tx"))).toBe("2");

    // Exec-time error: reported in place, the other commands ran.
    await direct.set(k("txs"), "v");
    const mixed = JSON.parse((await post("/redis/multi-exec", [["INCR", k("tx")], ["INCR", k("txs")]])).text);
    expect(mixed).toEqual([{ result: 3 }, { error: expect.stringMatching(/^ERR value is not an integer/) }]);
  });

  it("auto-pipelined concurrent commands all land", async () => {
    const n = 50;
    const results = await Promise.all(Array.from({ length: n }, () => redis.incr(k("auto"))));
    expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  it("command errors throw UpstashError with Redis's message", async () => {
    await single.set(k("str"), "v");
    const err = await single.zadd(k("str"), { score: 1, member: "x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(errors.UpstashError);
    expect((err as Error).message).toMatch(/^WRONGTYPE/);
  });
});

describe("numbers keep the digits that were sent (issue 8 item 4)", () => {
  it("INCRBY 9007199254740993 stores and answers exactly that", async () => {
    const res = await post("/redis", `["INCRBY","${k("big")}",9007199254740993]`);
    expect(res).toEqual({ status: 200, text: '{"result":9007199254740993}' });
    expect(await direct.get(k("big"))).toBe("9007199254740993");
  });

  it("SET 1.10 then GET answers 1.10, not 1.1", async () => {
    expect((await post("/redis", `["SET","${k("dec")}",1.10]`)).text).toBe('{"result":"OK"}');
    expect(await direct.get(k("dec"))).toBe("1.10");
    expect((await post("/redis", ["GET", k("dec")])).text).toBe('{"result":"1.10"}');
    const b64 = await post("/redis", ["GET", k("dec")], { "upstash-encoding": "base64" });
    expect(JSON.parse(b64.text)).toEqual({ result: Buffer.from("1.10").toString("base64") });
  });

  it("the same through /redis/pipeline and /redis/multi-exec (exponents and -0 too)", async () => {
    const body = `[["SET","${k("p-dec")}",1.10],["INCRBY","${k("p-big")}",9007199254740993],["SET","${k("p-exp")}",1E+2],["SET","${k("p-neg")}",-0]]`;
    expect((await post("/redis/pipeline", body)).text).toBe('[{"result":"OK"},{"result":9007199254740993},{"result":"OK"},{"result":"OK"}]');
    expect(await direct.mGet([k("p-dec"), k("p-big"), k("p-exp"), k("p-neg")])).toEqual(["1.10", "9007199254740993", "1E+2", "-0"]);

    const tx = `[["SET","${k("m-dec")}",0.30000000000000004000],["INCRBY","${k("m-big")}",-9223372036854775808]]`;
    expect((await post("/redis/multi-exec", tx)).text).toBe('[{"result":"OK"},{"result":-9223372036854775808}]');
    expect(await direct.mGet([k("m-dec"), k("m-big")])).toEqual(["0.30000000000000004000", "-9223372036854775808"]);
  });
});

describe("wire format (what Upstash sends)", () => {
  it("Upstash-Encoding: base64 encodes strings recursively; numbers, null and OK untouched", async () => {
    const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
    const h = { "upstash-encoding": "base64" };
    expect(JSON.parse((await post("/redis", ["SET", k("e"), "héllo"], h)).text)).toEqual({ result: "OK" });
    expect(JSON.parse((await post("/redis", ["GET", k("e")], h)).text)).toEqual({ result: b64("héllo") });
    expect(JSON.parse((await post("/redis", ["GET", k("nope")], h)).text)).toEqual({ result: null });
    expect(JSON.parse((await post("/redis", ["PING"], h)).text)).toEqual({ result: b64("PONG") });
    await post("/redis", ["ZADD", k("z"), 1, "a", 2, "ü", 3, "12"], h);
    expect(JSON.parse((await post("/redis", ["ZRANGE", k("z"), 0, -1], h)).text)).toEqual({ result: [b64("a"), b64("ü"), b64("12")] });
    expect(JSON.parse((await post("/redis", ["ZRANGE", k("z"), 0, 0, "WITHSCORES"], h)).text)).toEqual({ result: [b64("a"), b64("1")] });
    expect(JSON.parse((await post("/redis", ["ZCARD", k("z")], h)).text)).toEqual({ result: 3 });
    // In a pipeline too, errors as text.
    expect(JSON.parse((await post("/redis/pipeline", [["GET", k("e")], ["INCR", k("e")]], h)).text)).toEqual([
      { result: b64("héllo") },
      { error: expect.stringMatching(/^ERR value is not an integer/) },
    ]);

    // Without the header: plain UTF-8.
    expect(JSON.parse((await post("/redis", ["GET", k("e")])).text)).toEqual({ result: "héllo" });
    const plain = new Redis({ url: `${bridge.url}/redis`, token: bridge.token, responseEncoding: false, enableTelemetry: false });
    expect(await plain.zrange(k("z"), 0, -1)).toEqual(["a", "ü", 12]);
  });

  it("binary values (CRLF, NUL, bytes that are not UTF-8) of several MB round-trip exactly", async () => {
    const big = Buffer.alloc(3_000_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    await direct.set(k("bin"), big);
    const res = await post("/redis", ["GET", k("bin")], { "upstash-encoding": "base64" });
    expect(res.status).toBe(200);
    expect(Buffer.from(JSON.parse(res.text).result as string, "base64").equals(big)).toBe(true);
  });

  it("integers beyond 2^53 in replies stay exact", async () => {
    const res = await post("/redis", ["INCRBY", k("big2"), "9007199254740993"]);
    expect(res.text).toBe('{"result":9007199254740993}');
  });

  it("malformed requests → 400 {error}, without touching Redis", async () => {
    const cases: Array<[string, unknown]> = [
      ["/redis", "not json"],
      ["/redis", "[1,]"],
      ["/redis", []],
      ["/redis", { cmd: "GET" }],
      ["/redis", ["GET", { nested: 1 }]],
      ["/redis", ["GET", null]],
      ["/redis", [42, "x"]],
      ["/redis/pipeline", ["GET", "x"]],
      ["/redis/pipeline", []],
      ["/redis/pipeline", [["GET", k("x")], "PING"]],
      ["/redis/multi-exec", []],
    ];
    for (const [path, body] of cases) {
      const res = await post(path, body);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(JSON.parse(res.text).error, `${path} ${JSON.stringify(body)}`).toMatch(/^ERR \S/);
    }
    expect((await fetch(`${bridge.url}/redis`, { headers: { authorization: bridge.auth } })).status).toBe(405);
    // The shared connection is still healthy afterwards.
    expect(await single.ping()).toBe("PONG");
  });
});

describe("only the commands the product needs (issue 9 item 8)", () => {
  // On a redis-server of its own: if the allow-list regressed, these commands would really run
  // (FLUSHALL, a 512 MB SETRANGE, a script that never ends), and not on the shared Redis.
  let own: Awaited<ReturnType<typeof privateRedis>>;
  let b: TestBridge;
  const ownPost = (path: string, body: unknown) => raw(b.url, b.auth, path, body);
  beforeAll(async () => {
    own = await privateRedis();
    b = await startTestBridge({ REDIS_URL: own.url });
  });
  afterAll(async () => {
    await b?.close();
    await own?.stop();
  });

  it.each([
    ["NOSUCHCOMMAND"],
    ["BLPOP", "q", 0], // would block the shared connection
    ["SUBSCRIBE", "ch"],
    ["MULTI"],
    ["SELECT", 1],
    ["FLUSHALL"],
    ["CONFIG", "SET", "maxmemory", "1"],
    ["KEYS", "*"],
    ["SETRANGE", "k", 536870000, "x"], // a 512 MB value from a 30-byte request
    ["eval", "return 1", 0],
  ])("%s → 400 ERR command not allowed", async (...cmd) => {
    await own.client.set("canary", "1");
    const res = await ownPost("/redis", cmd);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({ error: expect.stringMatching(new RegExp(`^ERR command not allowed: '${cmd[0]}'`)) });
    expect(await own.client.dbSize()).toBe(1);
  });

  it("a pipeline or transaction with one refused command runs none of its commands", async () => {
    for (const path of ["/redis/pipeline", "/redis/multi-exec"]) {
      const key = `refused${path}`;
      const res = await ownPost(path, [["SET", key, "v"], ["FLUSHDB"]]);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text).error).toMatch(/^ERR command not allowed: 'FLUSHDB' \(command 1\)/);
      expect(await own.client.exists(key)).toBe(0);
    }
  });

  it("EVAL of a script that writes then loops forever is refused; Redis never sees it", async () => {
    const script = "redis.call('SET', KEYS[1], 'x') while true do end";
    const res = await ownPost("/redis", ["EVAL", script, 1, "looped"]);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({ error: expect.stringMatching(/^ERR command not allowed: 'EVAL'/) });
    for (const cmd of ["EVALSHA", "EVAL_RO", "FCALL", "FUNCTION", "SCRIPT"]) {
      expect((await ownPost("/redis", [cmd, "x", 0])).status).toBe(400);
    }
    // Redis is not busy and the key was never written.
    expect(await own.client.ping()).toBe("PONG");
    expect(await own.client.exists("looped")).toBe(0);
    expect((await ownPost("/redis", ["PING"])).text).toBe('{"result":"PONG"}');
  });
});

describe("bounded requests and responses (issue 9 item 8)", () => {
  it("a request body over REDIS_MAX_REQUEST_BYTES → 413; more than REDIS_MAX_COMMANDS → 400", async () => {
    const small = await startTestBridge({ REDIS_MAX_REQUEST_BYTES: "1024", REDIS_MAX_COMMANDS: "3" });
    try {
      const big = await raw(small.url, small.auth, "/redis", ["SET", k("toolarge"), "x".repeat(2000)]);
      expect(big.status).toBe(413);
      expect(JSON.parse(big.text)).toEqual({ error: expect.stringMatching(/^ERR request body larger than 1024 bytes/) });
      const many = await raw(small.url, small.auth, "/redis/pipeline", Array.from({ length: 4 }, () => ["PING"]));
      expect(many.status).toBe(400);
      expect(JSON.parse(many.text).error).toMatch(/^ERR pipeline: at most 3 commands/);
      expect((await raw(small.url, small.auth, "/redis/pipeline", Array.from({ length: 3 }, () => ["PING"]))).status).toBe(200);
      expect(await direct.exists(k("toolarge"))).toBe(0);
    } finally {
      await small.close();
    }
  });

  it("replies over REDIS_MAX_RESPONSE_BYTES → 400 with a clear error; under it they are answered", async () => {
    const capped = await startTestBridge({ REDIS_MAX_RESPONSE_BYTES: "100000" });
    try {
      await direct.set(k("40k"), "v".repeat(40_000));
      const two = await raw(capped.url, capped.auth, "/redis/pipeline", [["GET", k("40k")], ["GET", k("40k")]]);
      expect(two.status).toBe(200);
      const three = await raw(capped.url, capped.auth, "/redis/pipeline", [["GET", k("40k")], ["GET", k("40k")], ["GET", k("40k")]]);
      expect(three.status).toBe(400);
      expect(JSON.parse(three.text)).toEqual({ error: expect.stringMatching(/^ERR response too large: .*more than 100000 bytes/) });
      // base64 counts as what is sent: 2 × 40 kB is 106,668 bytes of base64.
      const b64 = await raw(capped.url, capped.auth, "/redis/pipeline", [["GET", k("40k")], ["GET", k("40k")]], { "upstash-encoding": "base64" });
      expect(b64.status).toBe(400);
      const one = await raw(capped.url, capped.auth, "/redis", ["GET", k("40k")], { "upstash-encoding": "base64" });
      expect(one.status).toBe(200);
      // A transaction is measured too, and may hold only a few commands whose reply can be large.
      const tx = await raw(capped.url, capped.auth, "/redis/multi-exec", [["GET", k("40k")], ["GET", k("40k")], ["GET", k("40k")]]);
      expect(tx.status).toBe(400);
      expect(JSON.parse(tx.text).error).toMatch(/^ERR response too large/);
      const manyReads = Array.from({ length: 9 }, () => ["GET", k("missing")]);
      const txMany = await raw(capped.url, capped.auth, "/redis/multi-exec", manyReads);
      expect(txMany.status).toBe(400);
      expect(JSON.parse(txMany.text).error).toMatch(/^ERR multi-exec: at most 8 commands that read values/);
    } finally {
      await capped.close();
    }
  });

  it("the reported pipeline: 400 GETs of a 1 MiB value is refused, and the bridge's memory stays bounded", async () => {
    // The bridge as its own process (as `npm run bridge`), so its peak memory can be read.
    const port = await freePort();
    const token = randomToken();
    const proc = spawn(process.execPath, ["--import", "tsx", "src/bridge/main.ts"], {
      cwd: ROOT,
      env: { ...process.env, BRIDGE_TOKEN: token, BRIDGE_PORT: String(port), REDIS_URL: SERVICES.redisUrl, BRIDGE_LOG_LEVEL: "warn" },
      stdio: "ignore",
    });
    const url = `http://127.0.0.1:${port}`;
    const peakRssMiB = () => Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"))![1]) / 1024;
    try {
      await eventually(async () => (await fetch(`${url}/healthz`)).ok, 30_000, "the bridge to start");
      await direct.set(k("1mib"), Buffer.alloc(1024 * 1024, 0x61));
      // Warm up (first request loads code paths), then take the baseline.
      expect((await raw(url, `Bearer ${token}`, "/redis", ["GET", k("1mib")])).status).toBe(200);
      const before = peakRssMiB();

      const body = JSON.stringify(Array.from({ length: 400 }, () => ["GET", k("1mib")]));
      expect(body.length).toBeLessThan(20_000); // a small request asking for 400 MiB
      const res = await fetch(`${url}/redis/pipeline`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "upstash-encoding": "base64" },
        body,
      });
      const status = res.status;
      const text = status < 300 ? (await res.body?.cancel(), "") : await res.text();
      const after = peakRssMiB();
      console.log(`redis response cap: 400 × GET 1 MiB → ${status}, bridge peak RSS ${before.toFixed(0)} → ${after.toFixed(0)} MiB`);
      expect(status).toBe(400);
      expect(JSON.parse(text)).toEqual({ error: expect.stringMatching(/^ERR response too large/) });
      expect(after - before).toBeLessThan(100);
      // And the bridge still serves.
      expect((await raw(url, `Bearer ${token}`, "/redis", ["PING"])).text).toBe('{"result":"PONG"}');
    } finally {
      proc.kill("SIGKILL");
    }
  });
});

describe("connection to Redis", () => {
  it("nothing listening → 503 at once; works once a Redis appears on that port", async () => {
    const port = await freePort();
    const b = await startTestBridge({ REDIS_URL: `redis://127.0.0.1:${port}` });
    let proc: ChildProcess | null = null;
    const dir = mkdtempSync(path.join(tmpdir(), "bridge-redis-"));
    try {
      const res = await raw(b.url, b.auth, "/redis", ["PING"]);
      expect(res.status).toBe(503);
      expect(JSON.parse(res.text)).toEqual({ error: expect.stringMatching(/^ERR Redis unavailable/) });
      proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", dir], { stdio: "ignore" });
      await eventually(async () => (await raw(b.url, b.auth, "/redis", ["PING"])).status === 200, 20_000, "the bridge to connect");
    } finally {
      await b.close();
      proc?.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a Redis that accepts but never answers → 503, not a hung request", async () => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on("error", () => undefined);
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    const b = await startTestBridge({ REDIS_URL: `redis://127.0.0.1:${port}` });
    try {
      const res = await raw(b.url, b.auth, "/redis", ["PING"]);
      expect(res.status).toBe(503);
      expect(JSON.parse(res.text).error).toMatch(/^ERR Redis unavailable/);
    } finally {
      await b.close();
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});
