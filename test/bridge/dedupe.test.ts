/**
 * The produce dedupe window (src/bridge/produced.ts) on the real Kafka, read back with kcat: a
 * retried record the bridge already wrote (or is writing) is answered with the first write's
 * offset and not written again — the soak's finding: under load the worker's Kafka sink timed out
 * while the bridge was still producing, the queue retried, and 294 comments landed twice.
 * Only requests with `x-kafka-dedupe: record-bytes` are deduped; the worker's sink sends it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEDUPE_BY_BYTES, DEDUPE_HEADER } from "../../src/bridge/produced";
import { toQueueEvent, type RoomEvent } from "../../src/protocol";
import { KAFKA_DEDUPE_BY_BYTES, KAFKA_DEDUPE_HEADER, KafkaRestSink, base64Utf8 } from "../../src/sinks/kafka-rest";
import { SERVICES, chatEvent, kcatRead, startTestBridge, type TestBridge } from "./helpers";

const topic = "streams.chat";
const BINARY = "application/vnd.kafka.binary.v2+json";
let bridge: TestBridge;

beforeAll(async () => {
  bridge = await startTestBridge();
}, 60_000);

afterAll(async () => {
  await bridge?.close();
});

/** One record as the worker sends it: key = the stream id's bytes, value = the event's JSON bytes. */
function record(streamId: string, message: string) {
  return { key: base64Utf8(streamId), value: base64Utf8(JSON.stringify(chatEvent(streamId, message))) };
}

async function post(records: unknown[], dedupe: string | null = DEDUPE_BY_BYTES) {
  const headers: Record<string, string> = { "content-type": BINARY, authorization: bridge.auth };
  if (dedupe !== null) headers[DEDUPE_HEADER] = dedupe;
  const res = await fetch(`${bridge.url}/topics/${topic}`, { method: "POST", headers, body: JSON.stringify({ records }) });
  return { status: res.status, body: (await res.json()) as { offsets?: Array<{ partition: number; offset: number }>; message?: string } };
}

/** The messages of one stream's records on the topic, in offset order (kcat). */
async function messagesOf(streamId: string): Promise<string[]> {
  const all = await kcatRead({ brokers: SERVICES.kafkaBrokers, topic });
  return all.filter((r) => r.key === streamId && r.payload).map((r) => (JSON.parse(r.payload!) as { message: string }).message);
}

describe("x-kafka-dedupe: record-bytes", () => {
  it("a record sent again is answered with its first offset and written once", async () => {
    const sid = crypto.randomUUID();
    const records = [record(sid, "one"), record(sid, "two")];
    const first = await post(records);
    const again = await post(records);
    expect(first.status).toBe(200);
    expect(again).toEqual(first);
    // A batch that overlaps: only the new record is written.
    const third = await post([records[1], record(sid, "three")]);
    expect(third.status).toBe(200);
    expect(third.body.offsets![0]).toEqual(first.body.offsets![1]);
    expect(await messagesOf(sid)).toEqual(["one", "two", "three"]);
  });

  it("a retry that arrives while the first request is still producing waits for it instead of writing", async () => {
    const sid = crypto.randomUUID();
    const records = Array.from({ length: 50 }, (_, i) => record(sid, `m${i}`));
    const answers = await Promise.all([post(records), post(records), post(records)]);
    for (const a of answers) expect(a.status).toBe(200);
    expect(answers[1]!.body.offsets).toEqual(answers[0]!.body.offsets);
    expect(answers[2]!.body.offsets).toEqual(answers[0]!.body.offsets);
    expect(await messagesOf(sid)).toEqual(records.map((_, i) => `m${i}`));
  });

  it("the same record twice in one request is written once; both answers carry its offset", async () => {
    const sid = crypto.randomUUID();
    const r = record(sid, "twice");
    const res = await post([r, r]);
    expect(res.status).toBe(200);
    expect(res.body.offsets![1]).toEqual(res.body.offsets![0]);
    expect(await messagesOf(sid)).toEqual(["twice"]);
  });

  it("without the header identical records are two records (a general proxy client's two events)", async () => {
    const sid = crypto.randomUUID();
    const r = record(sid, "plain");
    expect((await post([r], null)).status).toBe(200);
    expect((await post([r], null)).status).toBe(200);
    expect(await messagesOf(sid)).toEqual(["plain", "plain"]);
  });

  it("an unknown header value is a 400 and writes nothing", async () => {
    const sid = crypto.randomUUID();
    const res = await post([record(sid, "never")], "by-magic");
    expect(res.status).toBe(400);
    expect(res.body.message).toContain(DEDUPE_HEADER);
    expect(await messagesOf(sid)).toEqual([]);
  });
});

describe("the worker's Kafka sink through the bridge", () => {
  it("sends the dedupe header: delivering the same events twice (a queue retry) writes each once", async () => {
    expect([KAFKA_DEDUPE_HEADER, KAFKA_DEDUPE_BY_BYTES]).toEqual([DEDUPE_HEADER, DEDUPE_BY_BYTES]);
    const sid = crypto.randomUUID();
    const sink = new KafkaRestSink({ url: bridge.url, topic, token: bridge.token });
    const user = crypto.randomUUID();
    const events = ["a", "b", "c"].map((message, i) => {
      const at = new Date(1_700_000_000_000 + i).toISOString();
      const frame = { type: "comment", seq: i + 1, comment: { id: crypto.randomUUID(), stream_id: sid, user_id: user, username: "alice", message, created_at: at } } as RoomEvent;
      return toQueueEvent(frame, sid, at, user);
    });
    expect(await sink.deliver(events)).toEqual([true, true, true]);
    expect(await sink.deliver(events)).toEqual([true, true, true]);
    expect(await messagesOf(sid)).toEqual(["a", "b", "c"]);
  });
});
