/**
 * Kafka REST proxy against the real broker of `npm run services:up`; what was produced is read
 * back with kcat (librdkafka), an independent client. Both embedded formats of the v2 produce
 * API: binary (what the worker sends: exact key and value bytes) and JSON (other clients).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatEvent, kcatRead, produce, SERVICES, startTestBridge, uniq, type TestBridge } from "./helpers";

const execFileP = promisify(execFile);
const BINARY_TYPE = "application/vnd.kafka.binary.v2+json";
const b64 = (s: string | Buffer) => (typeof s === "string" ? Buffer.from(s, "utf8") : s).toString("base64");

/**
 * One record's exact key and value bytes as kcat (librdkafka) reads them: kcat prints the
 * lengths (`%K`, `%S`: -1 for a null) on a line, then the raw key and value (`%k%s`).
 */
async function kcatRaw(topic: string, partition: number, offset: number): Promise<{ key: Buffer | null; value: Buffer | null }> {
  const { stdout } = await execFileP(
    "kcat",
    ["-C", "-b", SERVICES.kafkaBrokers, "-t", topic, "-p", String(partition), "-o", String(offset), "-c", "1", "-e", "-q", "-f", "%K %S\n%k%s"],
    { encoding: "buffer", timeout: 30_000 },
  );
  const nl = stdout.indexOf(0x0a);
  const [kLen, vLen] = stdout.subarray(0, nl).toString("ascii").split(" ").map(Number) as [number, number];
  const key = kLen < 0 ? null : stdout.subarray(nl + 1, nl + 1 + kLen);
  const vStart = nl + 1 + Math.max(kLen, 0);
  const value = vLen < 0 ? null : stdout.subarray(vStart, vStart + vLen);
  expect(stdout.length, "kcat printed exactly one record").toBe(vStart + Math.max(vLen, 0));
  return { key, value };
}

const kafka = new Kafka({ clientId: "bridge-tests", brokers: SERVICES.kafkaBrokers.split(","), logLevel: logLevel.NOTHING });
const admin = kafka.admin();
let bridge: TestBridge;
/** A topic of this run only, so "nothing was produced" can be checked without other writers. */
const scratch = uniq("bridge-test");

async function endOffsets(topic: string): Promise<number[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.sort((a, b) => a.partition - b.partition).map((o) => Number(o.high));
}

beforeAll(async () => {
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: scratch, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  bridge = await startTestBridge();
});

afterAll(async () => {
  await bridge?.close();
  await admin.deleteTopics({ topics: [scratch] }).catch(() => undefined);
  await admin.disconnect();
});

describe("POST /topics/streams.chat, binary embedded format (what the worker sends)", () => {
  it("writes the key as exactly the 36 bytes of the stream id and the value as exactly the event's JSON (kcat)", async () => {
    const streamId = crypto.randomUUID();
    const json = JSON.stringify(chatEvent(streamId, "héllo 👋 \"quoted\" \\ back\nslash"));
    const res = await produce(bridge, "streams.chat", [{ key: b64(streamId), value: b64(json) }], { contentType: BINARY_TYPE });
    expect(res.status).toBe(200);
    const [o] = res.body.offsets!;
    expect(o).toMatchObject({ error_code: null, error: null });
    const rec = await kcatRaw("streams.chat", o!.partition!, o!.offset!);
    expect(rec.key!.length).toBe(36);
    expect(rec.key!.toString("latin1")).toBe(streamId);
    expect(rec.value!.equals(Buffer.from(json, "utf8"))).toBe(true);
  });

  it("keeps arbitrary bytes, unpadded base64 and null, and puts a key on the partition its raw bytes hash to", async () => {
    const bytes = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x22]); // not UTF-8, not JSON
    const body = JSON.stringify({
      records: [
        { key: "c3RyZWFtLTc", value: bytes.toString("base64") }, // "stream-7", unpadded
        { key: null, value: null },
      ],
    });
    const res = await produce(bridge, scratch, [], { contentType: BINARY_TYPE, rawBody: body });
    expect(res.status).toBe(200);
    const [a, b] = res.body.offsets!;
    // The partition is murmur2 of the raw key bytes (as a Java producer keyed "stream-7" would
    // choose), not of the JSON text `"stream-7"`.
    const [meta] = (await admin.fetchTopicMetadata({ topics: [scratch] })).topics;
    const expected = Partitioners.DefaultPartitioner()({ topic: scratch, partitionMetadata: meta!.partitions, message: { key: Buffer.from("stream-7"), value: null } });
    expect(a!.partition).toBe(expected);
    const ra = await kcatRaw(scratch, a!.partition!, a!.offset!);
    expect(ra.key!.toString("latin1")).toBe("stream-7");
    expect(ra.value!.equals(bytes)).toBe(true);
    expect(await kcatRaw(scratch, b!.partition!, b!.offset!)).toEqual({ key: null, value: null });
  });
});

describe("POST /topics/streams.chat, JSON embedded format", () => {
  it("writes the chat event byte for byte, keyed by the stream id (read back with kcat)", async () => {
    const streamId = crypto.randomUUID();
    const event = chatEvent(streamId, "héllo 👋 \"quoted\" \\ back\nslash");
    const res = await produce(bridge, "streams.chat", [{ key: streamId, value: event }]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ key_schema_id: null, value_schema_id: null });
    const [o] = res.body.offsets!;
    expect(o).toMatchObject({ error_code: null, error: null });
    expect(o!.partition).toBeTypeOf("number");
    expect(o!.offset).toBeTypeOf("number");

    const [rec] = await kcatRead({
      brokers: SERVICES.kafkaBrokers,
      topic: "streams.chat",
      partition: o!.partition!,
      offset: o!.offset!,
      count: 1,
    });
    // JSON embedded format (as Confluent's proxy): key and value are JSON text.
    expect(rec!.key).toBe(JSON.stringify(streamId));
    expect(rec!.payload).toBe(JSON.stringify(event));
    expect(JSON.parse(rec!.payload!)).toEqual(event);
  });

  it("keeps one stream on one partition, offsets consecutive, records in request order", async () => {
    const streamId = crypto.randomUUID();
    const events = Array.from({ length: 5 }, (_, i) => chatEvent(streamId, `m${i}`));
    const res = await produce(bridge, "streams.chat", events.map((value) => ({ key: streamId, value })));
    expect(res.status).toBe(200);
    const offsets = res.body.offsets!;
    expect(new Set(offsets.map((o) => o.partition)).size).toBe(1);
    offsets.forEach((o, i) => expect(o.offset).toBe(offsets[0]!.offset! + i));

    const recs = await kcatRead({
      brokers: SERVICES.kafkaBrokers,
      topic: "streams.chat",
      partition: offsets[0]!.partition!,
      offset: offsets[0]!.offset!,
      count: 5,
    });
    expect(recs.map((r) => JSON.parse(r.payload!).message)).toEqual(["m0", "m1", "m2", "m3", "m4"]);
  });
});

describe("produce semantics", () => {
  it("spreads keys over partitions like Java's murmur2 partitioner and honours an explicit partition", async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `stream-${i}`);
    const res = await produce(bridge, scratch, [
      ...keys.map((k) => ({ key: k, value: { k } })),
      { key: "pinned", value: { pinned: true }, partition: 2 },
    ]);
    expect(res.status).toBe(200);
    const offsets = res.body.offsets!;
    expect(new Set(offsets.slice(0, 30).map((o) => o.partition)).size).toBeGreaterThan(1);
    expect(offsets[30]!.partition).toBe(2);
    // Same key again → same partition as before.
    const again = await produce(bridge, scratch, [{ key: keys[7], value: 1 }]);
    expect(again.body.offsets![0]!.partition).toBe(offsets[7]!.partition);

    const all = await kcatRead({ brokers: SERVICES.kafkaBrokers, topic: scratch });
    for (const [i, k] of keys.entries()) {
      const rec = all.find((r) => r.partition === offsets[i]!.partition && r.offset === offsets[i]!.offset);
      expect(rec?.key).toBe(JSON.stringify(k));
      expect(rec?.payload).toBe(JSON.stringify({ k }));
    }
  });

  it("keeps a value's numbers as sent; null key and null value are Kafka nulls", async () => {
    const body = '{"records":[{"value":{"big":12345678901234567890,"f":1.10,"e":1E+2,"n":-0}},{"key":null,"value":null}]}';
    const res = await produce(bridge, scratch, [], { rawBody: body });
    expect(res.status).toBe(200);
    const [a, b] = res.body.offsets!;
    const [ra] = await kcatRead({ brokers: SERVICES.kafkaBrokers, topic: scratch, partition: a!.partition!, offset: a!.offset!, count: 1 });
    expect(ra!.payload).toBe('{"big":12345678901234567890,"f":1.10,"e":1E+2,"n":-0}');
    expect(ra!.key).toBeNull();
    const [rb] = await kcatRead({ brokers: SERVICES.kafkaBrokers, topic: scratch, partition: b!.partition!, offset: b!.offset!, count: 1 });
    expect(rb!.payload).toBeNull();
  });

  it("answers 50 concurrent requests with distinct offsets, each pointing at its own record", async () => {
    const streamId = crypto.randomUUID();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => produce(bridge, scratch, [{ key: streamId, value: { i } }])),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    const offs = results.map((r) => r.body.offsets![0]!);
    expect(new Set(offs.map((o) => o.offset)).size).toBe(50);
    const partition = offs[0]!.partition!;
    const recs = await kcatRead({ brokers: SERVICES.kafkaBrokers, topic: scratch, partition });
    offs.forEach((o, i) => {
      const rec = recs.find((r) => r.offset === o.offset);
      expect(JSON.parse(rec!.payload!)).toEqual({ i });
    });
  });

  it("counts produce latency and Kafka successes in /metrics", async () => {
    const res = await fetch(`${bridge.url}/metrics`, { headers: { authorization: bridge.auth } });
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const successes = Number(/^bridge_kafka_records_total\{result="success"\} (\d+)$/m.exec(text)?.[1]);
    expect(successes).toBeGreaterThanOrEqual(90);
    expect(text).toMatch(/^bridge_kafka_produce_duration_seconds_count\{outcome="success"\} [1-9]\d*$/m);
    expect(text).toMatch(/^bridge_http_requests_total\{route="\/topics\/\{topic\}",method="POST",status="200"\} [1-9]\d*$/m);
  });
});

describe("rejected requests produce nothing", () => {
  const cases: Array<[string, Parameters<typeof produce>[3] & { records?: unknown[] }, number, number | RegExp]> = [
    ["wrong content type", { contentType: "application/json" }, 415, 415],
    ["avro embedded format", { contentType: "application/vnd.kafka.avro.v2+json" }, 415, 415],
    ["binary value that is not base64", { contentType: BINARY_TYPE, rawBody: '{"records": [{"value": "aGk="}, {"value": "not base64!"}]}' }, 422, 422],
    ["binary value in the URL-safe alphabet", { contentType: BINARY_TYPE, rawBody: '{"records": [{"value": "a-b_"}]}' }, 422, 422],
    ["binary key that is not a string", { contentType: BINARY_TYPE, rawBody: '{"records": [{"key": 17, "value": "aGk="}]}' }, 422, 422],
    ["binary record without a value", { contentType: BINARY_TYPE, rawBody: '{"records": [{"key": "aGk="}]}' }, 422, 422],
    ["body that is not JSON", { rawBody: '{"records": [' }, 400, 400],
    ["no records array", { rawBody: '{"record": []}' }, 422, 422],
    ["empty records", { rawBody: '{"records": []}' }, 422, 422],
    ["record without a value", { rawBody: '{"records": [{"value": 1}, {"key": "k"}]}' }, 422, 422],
    ["negative partition", { rawBody: '{"records": [{"value": 1, "partition": -1}]}' }, 422, 42202],
    ["partition that does not exist", { rawBody: '{"records": [{"value": 1}, {"value": 2, "partition": 9}]}' }, 404, 40402],
  ];
  for (const [name, init, status, code] of cases) {
    it(`${name} → ${status}`, async () => {
      const before = await endOffsets(scratch);
      const res = await produce(bridge, scratch, [{ value: "valid" }], init);
      expect(res.status).toBe(status);
      expect(res.body.error_code).toBe(code);
      expect(res.body.message).toEqual(expect.any(String));
      expect(await endOffsets(scratch)).toEqual(before);
    });
  }

  it("unknown topic → 404 40401, and the topic is not auto-created", async () => {
    const topic = uniq("no-such-topic");
    const res = await produce(bridge, topic, [{ value: 1 }]);
    expect(res).toMatchObject({ status: 404, body: { error_code: 40401 } });
    expect(await admin.listTopics()).not.toContain(topic);
  });

  it("invalid and internal topic names are refused", async () => {
    expect((await produce(bridge, "bad topic!", [{ value: 1 }])).status).toBe(404);
    expect((await produce(bridge, "__consumer_offsets", [{ value: 1 }])).body.error_code).toBe(40301);
  });
});
