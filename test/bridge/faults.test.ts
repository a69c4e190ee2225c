/**
 * Faults: the broker or Redis goes away while requests are made, then comes back.
 *
 * These suites stop and restart services, so they use instances of their own — a second Kafka
 * broker (scripts/services.sh with KAFKA_INSTANCE) and a second redis-server on a free port —
 * rather than the shared ones of `npm run services:up` that other suites and developers use.
 */
import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { Redis } from "@upstash/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatEvent, eventually, freePort, kcatRead, produce, ROOT, services, startTestBridge, type TestBridge } from "./helpers";

const exec = promisify(execFile);

describe("Kafka broker stops and restarts", () => {
  const instance = "bridge-fault";
  let env: Record<string, string>;
  let brokers: string;
  let bridge: TestBridge;
  const topic = "streams.chat";

  beforeAll(async () => {
    const [port, controllerPort] = [await freePort(), await freePort()];
    env = { KAFKA_INSTANCE: instance, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controllerPort), KAFKA_TOPIC_PARTITIONS: "2" };
    brokers = `127.0.0.1:${port}`;
    await rm(path.join(ROOT, `.services/kafka-${instance}`), { recursive: true, force: true });
    await services(["kafka-up"], env);
    bridge = await startTestBridge({ KAFKA_BROKERS: brokers });
  }, 180_000);

  afterAll(async () => {
    await bridge?.close();
    await services(["kafka-down"], env).catch(() => undefined);
    await rm(path.join(ROOT, `.services/kafka-${instance}`), { recursive: true, force: true });
  }, 60_000);

  it("answers 5xx (never a false success) while the broker is down; every retried record lands", async () => {
    const streamId = crypto.randomUUID();
    const sent = new Map<string, ReturnType<typeof chatEvent>>();
    const acked = new Map<string, { partition: number; offset: number }>();
    const failed: Array<ReturnType<typeof chatEvent>> = [];
    const send = async (text: string) => {
      const ev = chatEvent(streamId, text);
      sent.set(ev.comment_id, ev);
      const t0 = Date.now();
      const res = await produce(bridge, topic, [{ key: streamId, value: ev }]);
      if (res.status === 200) {
        const o = res.body.offsets![0]!;
        acked.set(ev.comment_id, { partition: o.partition!, offset: o.offset! });
      } else {
        // Failure is always a retriable 5xx with the record's error, and comes in bounded time.
        expect(res.status, JSON.stringify(res.body)).toBe(503);
        expect(res.body.error_code).toBe(50003);
        expect(res.body.offsets).toEqual([expect.objectContaining({ partition: null, offset: null, error_code: 50003 })]);
        expect(Date.now() - t0).toBeLessThan(20_000);
        failed.push(ev);
      }
      return res.status;
    };

    // Up: works.
    for (const t of ["before-1", "before-2"]) expect(await send(t)).toBe(200);

    // Requests keep coming (3 senders) while the broker shuts down and stays down.
    let stop = false;
    let n = 0;
    const senders = Array.from({ length: 3 }, async () => {
      while (!stop) {
        await send(`during-${n++}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    await services(["kafka-down"], env);
    const failuresAtStop = failed.length;
    // Make sure some requests were made against the dead broker, not just during its shutdown.
    await eventually(async () => failed.length >= failuresAtStop + 3, 60_000, "requests to fail while the broker is down");
    stop = true;
    await Promise.all(senders);
    expect(failed.length).toBeGreaterThanOrEqual(3);
    // While it was down nothing was acknowledged: a new request now fails too.
    expect(await send("down-check")).toBe(503);

    // Back up: the caller's retries go through, and new records too.
    await services(["kafka-up"], env);
    for (const ev of failed) {
      await eventually(
        async () => {
          const res = await produce(bridge, topic, [{ key: streamId, value: ev }]);
          if (res.status !== 200) return false;
          const o = res.body.offsets![0]!;
          acked.set(ev.comment_id, { partition: o.partition!, offset: o.offset! });
          return true;
        },
        60_000,
        `retry of ${ev.message} to succeed`,
      );
    }
    expect(await send("after-1")).toBe(200);

    // Read the topic with kcat. Every acknowledged offset holds exactly its record (no false
    // success), and every record sent is there (failed ones via their retries).
    const recs = await kcatRead({ brokers, topic });
    const at = new Map(recs.map((r) => [`${r.partition}/${r.offset}`, r]));
    for (const [id, o] of acked) {
      const rec = at.get(`${o.partition}/${o.offset}`);
      expect(rec?.payload, `${sent.get(id)!.message} at ${o.partition}/${o.offset}`).toBe(JSON.stringify(sent.get(id)));
      expect(rec?.key).toBe(JSON.stringify(streamId));
    }
    expect(acked.size).toBe(sent.size);

    const metrics = await (await fetch(`${bridge.url}/metrics`, { headers: { authorization: bridge.auth } })).text();
    expect(Number(/^bridge_kafka_records_total\{result="failure"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
    expect(metrics).toMatch(/^bridge_http_requests_total\{route="\/topics\/\{topic\}",method="POST",status="503"\} [1-9]\d*$/m);
  }, 240_000);
});

describe("Redis stops and restarts", () => {
  let port: number;
  let bridge: TestBridge;
  let redis: Redis;
  const dir = path.join(ROOT, ".services/redis-bridge-fault");

  // The same flags as scripts/services.sh (and CI) use for the shared instance, on a port of our own.
  const startRedis = () =>
    exec("redis-server", [
      "--daemonize", "yes", "--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no",
      "--dir", dir, "--logfile", path.join(dir, "redis.log"), "--pidfile", path.join(dir, "redis.pid"),
    ]);
  const stopRedis = () => exec("redis-cli", ["-p", String(port), "shutdown", "nosave"]).catch(() => undefined);
  const ping = async () => (await exec("redis-cli", ["-p", String(port), "ping"]).catch(() => ({ stdout: "" }))).stdout.includes("PONG");

  beforeAll(async () => {
    port = await freePort();
    await exec("mkdir", ["-p", dir]);
    await startRedis();
    await eventually(ping, 10_000, "redis to start");
    bridge = await startTestBridge({ REDIS_URL: `redis://127.0.0.1:${port}` });
    redis = new Redis({ url: `${bridge.url}/redis`, token: bridge.token, enableTelemetry: false, retry: false });
  }, 30_000);

  afterAll(async () => {
    await bridge?.close();
    await stopRedis();
    await rm(dir, { recursive: true, force: true });
  });

  it("errors while Redis is down, works again once it is back", async () => {
    expect(await redis.set("k", "before")).toBe("OK");

    await stopRedis();
    await eventually(async () => !(await ping()), 10_000, "redis to stop");
    await expect(redis.get("k")).rejects.toThrow(/Redis unavailable/);
    const p = redis.pipeline();
    p.set("k", "x");
    p.get("k");
    await expect(p.exec()).rejects.toThrow(/Redis unavailable/);
    const res = await fetch(`${bridge.url}/redis`, { method: "POST", headers: { authorization: bridge.auth }, body: '["GET","k"]' });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: expect.stringMatching(/^ERR Redis unavailable/) });

    await startRedis();
    await eventually(ping, 10_000, "redis to restart");
    // A fresh, empty Redis (--save ""): the old value is gone, new writes work.
    await eventually(async () => (await redis.set("k", "after")) === "OK", 10_000, "the bridge to reconnect");
    expect(await redis.get("k")).toBe("after");
    expect(await redis.incr("n")).toBe(1);
  }, 60_000);
});
