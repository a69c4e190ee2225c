/**
 * A produce whose caller gave up is withdrawn, not written later (the fault matrix's finding).
 *
 * With the broker down, the bridge holds a request while it retries the connection; the worker's
 * Kafka sink times out meanwhile and its queue retries the batch. The bridge used to produce the
 * held request once the broker was back anyway, and the retry wrote the same event again: two
 * records for one comment. Here callers give up (client-side timeout) while the broker is down
 * and coming back; every request whose caller left before the broker accepted connections must
 * be absent from the topic (read with kcat, independent of the bridge). Own broker instance.
 */
import { rm } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatEvent, eventually, freePort, kcatRead, PRODUCE_TYPE, produce, ROOT, services, startTestBridge, type TestBridge } from "./helpers";

const instance = "bridge-withdraw";
const topic = "streams.chat";
let env: Record<string, string>;
let port: number;
let bridge: TestBridge;

const portOpen = (p: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(p, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

beforeAll(async () => {
  [port] = [await freePort()];
  env = { KAFKA_INSTANCE: instance, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(await freePort()) };
  await rm(path.join(ROOT, `.services/kafka-${instance}`), { recursive: true, force: true });
  await services(["kafka-up"], env);
  bridge = await startTestBridge({ KAFKA_BROKERS: `127.0.0.1:${port}` });
}, 180_000);

afterAll(async () => {
  await bridge?.close();
  await services(["kafka-down"], env).catch(() => undefined);
  await rm(path.join(ROOT, `.services/kafka-${instance}`), { recursive: true, force: true });
}, 60_000);

describe("a caller that gives up", () => {
  it("has its records withdrawn: nothing it was not told about is written when the broker returns", async () => {
    const streamId = crypto.randomUUID();
    expect((await produce(bridge, topic, [{ key: streamId, value: chatEvent(streamId, "warm") }])).status).toBe(200);
    await services(["kafka-down"], env);

    // Callers with a 150 ms timeout, one every 100 ms, from the outage until the broker listens again.
    const gaveUp: Array<{ message: string; at: number }> = [];
    const answered = new Map<string, number>();
    let firing = true;
    let n = 0;
    const fire = async () => {
      const message = `gave-up-${n++}`;
      try {
        const res = await fetch(`${bridge.url}/topics/${topic}`, {
          method: "POST",
          headers: { "content-type": PRODUCE_TYPE, authorization: bridge.auth },
          body: JSON.stringify({ records: [{ key: streamId, value: chatEvent(streamId, message) }] }),
          signal: AbortSignal.timeout(150),
        });
        answered.set(message, res.status);
        await res.body?.cancel();
      } catch {
        gaveUp.push({ message, at: Date.now() });
      }
    };
    const callers: Promise<void>[] = [];
    const loop = (async () => {
      while (firing) {
        callers.push(fire());
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await new Promise((r) => setTimeout(r, 2_000));
    const up = services(["kafka-up"], env);
    await eventually(() => portOpen(port), 120_000, "the broker to listen again");
    const openedAt = Date.now();
    firing = false;
    await loop;
    await Promise.all(callers);
    await up;
    // The broker works again; give anything still held in the bridge time to be written.
    await eventually(async () => (await produce(bridge, topic, [{ key: streamId, value: chatEvent(streamId, "after") }])).status === 200, 60_000, "a produce after the restart");
    await new Promise((r) => setTimeout(r, 3_000));

    // Requests whose caller left well before the broker listened (200 ms margin for the bridge to see the close).
    const leftEarly = new Set(gaveUp.filter((g) => g.at < openedAt - 200).map((g) => g.message));
    expect(leftEarly.size, "callers that gave up during the outage").toBeGreaterThanOrEqual(5);
    const written = (await kcatRead({ brokers: `127.0.0.1:${port}`, topic }))
      .filter((r) => r.key === JSON.stringify(streamId))
      .map((r) => (JSON.parse(r.payload!) as { message: string }).message);
    expect(written).toContain("after");
    expect(written.filter((m) => leftEarly.has(m)), "written although the caller had given up").toEqual([]);
    // A 200 went out only for records that are there.
    for (const [m, status] of answered) if (status === 200) expect(written).toContain(m);
    const metrics = await (await fetch(`${bridge.url}/metrics`, { headers: { authorization: bridge.auth } })).text();
    expect(metrics).toMatch(/bridge_errors_total\{component="kafka",kind="withdrawn"\} [1-9]|produce withdrawn/);
  }, 240_000);
});
