/**
 * Start-up and shutdown: `npm run bridge` (src/bridge/main.ts) as a real process — bad config
 * exits naming the variable, SIGTERM drains — and close() letting in-flight produces finish.
 */
import { spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/bridge/config";
import { createLogger } from "../../src/bridge/log";
import { createBridge } from "../../src/bridge/server";
import { chatEvent, freePort, kcatRead, PRODUCE_TYPE, produce, randomToken, ROOT, SERVICES, eventually } from "./helpers";

const TSX = path.join(ROOT, "node_modules/tsx/dist/cli.mjs");

function runMain(env: Record<string, string>) {
  const child = spawn(process.execPath, [TSX, "src/bridge/main.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, output: () => output };
}

describe("npm run bridge (src/bridge/main.ts)", () => {
  it("exits 2 naming each bad variable", async () => {
    const p = runMain({ KAFKA_BROKERS: "nope" });
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/BRIDGE_TOKEN: required/);
    expect(p.output()).toMatch(/KAFKA_BROKERS: expected host:port, got "nope"/);
  });

  it("serves, then on SIGTERM drains and exits 0", async () => {
    const port = await freePort();
    const token = randomToken();
    const p = runMain({
      BRIDGE_TOKEN: token,
      BRIDGE_PORT: String(port),
      KAFKA_BROKERS: SERVICES.kafkaBrokers,
      REDIS_URL: SERVICES.redisUrl,
    });
    try {
      await eventually(async () => p.output().includes("bridge listening"), 20_000, "the bridge to listen");
      const url = `http://127.0.0.1:${port}`;
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const streamId = crypto.randomUUID();
      const res = await produce({ url, auth: `Bearer ${token}` }, "streams.chat", [{ key: streamId, value: chatEvent(streamId, "via main") }]);
      expect(res.status).toBe(200);

      p.child.kill("SIGTERM");
      expect(await p.exited).toBe(0);
      expect(p.output()).toMatch(/SIGTERM: draining/);
      expect(p.output()).toMatch(/bridge stopped/);
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    } finally {
      p.child.kill("SIGKILL");
    }
  });
});

describe("close()", () => {
  it("lets produces already received finish (200, in Kafka), then refuses connections", async () => {
    const token = randomToken();
    const config = loadConfig({ BRIDGE_TOKEN: token, BRIDGE_PORT: "0", KAFKA_BROKERS: SERVICES.kafkaBrokers });
    const bridge = createBridge(config, { logger: createLogger("silent") });
    const running = await bridge.listen(0, "127.0.0.1");
    const inFlight = () => Number(/^bridge_http_in_flight_requests (\d+)$/m.exec(bridge.metrics.render())?.[1]);

    // Each request sends its headers and half its body, so the bridge holds all of them in
    // flight when close() is called; the rest of each body follows after.
    const streamId = crypto.randomUUID();
    const events = Array.from({ length: 10 }, (_, i) => chatEvent(streamId, `drain-${i}`));
    const requests = events.map((ev) => {
      const body = Buffer.from(JSON.stringify({ records: [{ key: streamId, value: ev }] }));
      const req = http.request(`${running.url}/topics/streams.chat`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": PRODUCE_TYPE, "content-length": body.length },
      });
      const response = new Promise<{ status: number; body: { offsets: Array<{ partition: number; offset: number }> } }>(
        (resolve, reject) => {
          req.on("response", (res) => {
            let text = "";
            res.on("data", (d: Buffer) => (text += d.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
          });
          req.on("error", reject);
        },
      );
      req.write(body.subarray(0, body.length >> 1));
      return { req, rest: body.subarray(body.length >> 1), response };
    });
    const pending = requests.map((r) => r.response);
    await eventually(async () => inFlight() === events.length, 5_000, "all requests to reach the bridge");
    const closed = bridge.close();
    await new Promise((r) => setTimeout(r, 100));
    for (const r of requests) r.req.end(r.rest);

    const results = await Promise.all(pending);
    await closed;
    expect(results.map((r) => r.status)).toEqual(events.map(() => 200));
    await expect(fetch(`${running.url}/healthz`)).rejects.toThrow();

    for (const [i, r] of results.entries()) {
      const o = r.body.offsets[0]!;
      const [rec] = await kcatRead({ brokers: SERVICES.kafkaBrokers, topic: "streams.chat", partition: o.partition, offset: o.offset, count: 1 });
      expect(rec!.payload).toBe(JSON.stringify(events[i]));
    }
  });
});
