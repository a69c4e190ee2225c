/**
 * Queue consumers (src/consumer.ts): one queue per sink — chat-events → Kafka, chat-history →
 * Redis history — each acking and retrying on its own; and the Kafka REST sink's wire format
 * (binary embedded: key = the stream id's bytes, value = the event's JSON bytes).
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { handleQueueBatch, retryDelaySeconds } from "../../src/consumer";
import { toChatEvent, toQueueEvent, type QueueEvent } from "../../src/protocol";
import type { Sink } from "../../src/sinks/sink";
import { BINARY_PRODUCE_CONTENT_TYPE, KafkaRestSink } from "../../src/sinks/kafka-rest";
import { connect, newStreamId, sleep, token } from "./helpers";

interface Recorded {
  topic: string;
  auth: string | null;
  contentType: string | null;
  /** As sent: base64 key and value (binary embedded format). */
  records: Array<{ key: string | null; value: string | null }>;
}

/** base64 → the exact UTF-8 text of those bytes (fatal: invalid UTF-8 throws). */
const unb64 = (b64: string) => new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));

async function recorded(): Promise<Recorded[]> {
  return (await (await fetch("https://kafka-rest.test/_recorded")).json()) as Recorded[];
}

type MessageEvent = Extract<QueueEvent, { event_type: "stream_chat_message" }>;

/** A comment's queue event, as the room's outbox makes it (src/protocol.ts toQueueEvent). */
function event(streamId: string, seq: number, message = `m${seq}`): MessageEvent {
  const userId = crypto.randomUUID();
  const frame = {
    type: "comment" as const,
    seq,
    comment: { id: crypto.randomUUID(), stream_id: streamId, user_id: userId, username: "u", message, created_at: new Date().toISOString() },
  };
  return toQueueEvent(frame, streamId, frame.comment.created_at, userId) as MessageEvent;
}

/** A sink that fails the events for which `fail` says so, and records what it stored. */
class FakeSink implements Sink {
  stored: QueueEvent[] = [];
  calls = 0;
  constructor(
    private readonly fail: (e: QueueEvent) => boolean | "throw" = () => false,
    readonly name = "fake",
  ) {}
  async deliver(events: readonly QueueEvent[]) {
    this.calls++;
    if (events.some((e) => this.fail(e) === "throw")) throw new Error("sink down");
    return events.map((e) => {
      if (this.fail(e)) return false;
      this.stored.push(e);
      return true;
    });
  }
}

const messages = (events: unknown[], attempts = 1) =>
  events.map((body, i) => ({ id: `msg-${i}`, timestamp: new Date(), attempts, body }));

describe("queue events from the room", () => {
  it("every accepted comment becomes exactly one Kafka record: key = the stream id's 36 bytes, value = the event's JSON bytes", async () => {
    const sid = newStreamId();
    const c = await connect(sid, { token: await token({ username: "kafka-fan" }) });
    c.send({ type: "message", text: "first", client_msg_id: "k1" });
    c.send({ type: "message", text: "first", client_msg_id: "k1" }); // duplicate: not a new event
    c.send({ type: "message", text: "   " }); // ignored
    c.send({ type: "message", text: "x".repeat(501) }); // rejected
    c.send({ type: "message", text: "second \"quoted\" é" });
    await c.until((x) => x.comments().length === 2, "two comments");
    const mineOf = async () => (await recorded()).flatMap((r) => r.records).filter((r) => r.key !== null && unb64(r.key) === sid);
    let mine: Recorded["records"] = [];
    for (let i = 0; i < 100 && mine.length < 2; i++) {
      await sleep(100);
      mine = await mineOf();
    }
    const batches = (await recorded()).filter((r) => r.records.some((x) => x.key !== null && unb64(x.key) === sid));
    for (const b of batches) {
      expect(b.topic).toBe("streams.chat");
      expect(b.auth).toBe("Bearer kafka-test-token");
      expect(b.contentType).toBe(BINARY_PRODUCE_CONTENT_TYPE);
    }
    expect(mine).toHaveLength(2);
    const comments = c.comments();
    mine.forEach((r, i) => {
      const cm = comments[i]!.comment;
      expect(atob(r.key!)).toHaveLength(36); // the stream id's bytes, no JSON quotes
      // Byte for byte, in DESIGN.md's field order.
      expect(unb64(r.value!)).toBe(
        JSON.stringify({
          event_type: "stream_chat_message",
          stream_id: sid,
          user_id: cm.user_id,
          username: "kafka-fan",
          message: cm.message,
          created_at: cm.created_at,
          comment_id: cm.id,
        }),
      );
    });
    await c.close();
  });
});

describe("queue consumer: one sink per queue, acks and retries per message", () => {
  it("acks every message its sink stored, writing one stream's events in seq order", async () => {
    const sid = newStreamId();
    const sink = new FakeSink();
    const batch = createMessageBatch("chat-history", messages([event(sid, 3), event(sid, 1), event(sid, 2)]));
    const ctx = createExecutionContext();
    await handleQueueBatch(batch, env, ctx, sink);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(["msg-0", "msg-1", "msg-2"]);
    expect(result.retryMessages).toEqual([]);
    expect(sink.stored.map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it("a history sink outage retries only the history queue's messages; the Kafka queue's are acked once", async () => {
    // The same three events, as the outbox sends them: once to each queue.
    const sid = newStreamId();
    const events = [event(sid, 1), event(sid, 2), event(sid, 3)];
    const kafka = new FakeSink(() => false, "kafka");
    const history = new FakeSink(() => "throw", "redis-history");

    const kBatch = createMessageBatch("chat-events", messages(events));
    const kCtx = createExecutionContext();
    await handleQueueBatch(kBatch, env, kCtx, kafka);
    const hBatch = createMessageBatch("chat-history", messages(events));
    const hCtx = createExecutionContext();
    await handleQueueBatch(hBatch, env, hCtx, history);

    const k = await getQueueResult(kBatch, kCtx);
    const h = await getQueueResult(hBatch, hCtx);
    expect(k.explicitAcks.sort()).toEqual(["msg-0", "msg-1", "msg-2"]);
    expect(k.retryMessages).toEqual([]);
    expect(h.explicitAcks).toEqual([]);
    expect(h.retryMessages.map((m) => m.msgId).sort()).toEqual(["msg-0", "msg-1", "msg-2"]);
    expect(kafka.stored.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    expect(kafka.stored.map((e) => e.frame)).toEqual(events.map((e) => e.frame));

    // The history queue redelivers (Redis is back): Kafka's sink is not called again.
    const fixed = new FakeSink(() => false, "redis-history");
    const again = createMessageBatch("chat-history", messages(events, 2));
    const aCtx = createExecutionContext();
    await handleQueueBatch(again, env, aCtx, fixed);
    expect((await getQueueResult(again, aCtx)).explicitAcks).toHaveLength(3);
    expect(kafka.calls).toBe(1);
    expect(fixed.stored).toHaveLength(3);
  });

  it("retries only the messages the sink failed, with backoff, and acks the rest", async () => {
    const sid = newStreamId();
    const flaky = new FakeSink((e) => e.seq === 2);
    const batch = createMessageBatch("chat-events", messages([event(sid, 1), event(sid, 2), event(sid, 3)], 3));
    const ctx = createExecutionContext();
    await handleQueueBatch(batch, env, ctx, flaky);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(["msg-0", "msg-2"]);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["msg-1"]);
  });

  it("sends a malformed body towards the dead letter queue (retry) without touching the sink", async () => {
    const sink = new FakeSink();
    const batch = createMessageBatch("chat-events", messages([{ hello: "world" }]));
    const ctx = createExecutionContext();
    await handleQueueBatch(batch, env, ctx, sink);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["msg-0"]);
    expect(sink.calls).toBe(0);
  });

  it("picks the sink by queue name: chat-events reaches Kafka, chat-history (Redis not configured here) is acked without reaching Kafka", async () => {
    const sid = newStreamId();
    const countFor = async () =>
      (await recorded()).flatMap((r) => r.records).filter((r) => r.key !== null && unb64(r.key) === sid).length;

    const h = createMessageBatch("chat-history", messages([event(sid, 1)]));
    const hCtx = createExecutionContext();
    await handleQueueBatch(h, env, hCtx);
    expect((await getQueueResult(h, hCtx)).explicitAcks).toEqual(["msg-0"]);
    expect(await countFor()).toBe(0);

    const e = event(sid, 2);
    const k = createMessageBatch("chat-events", messages([e]));
    const kCtx = createExecutionContext();
    await handleQueueBatch(k, env, kCtx);
    expect((await getQueueResult(k, kCtx)).explicitAcks).toEqual(["msg-0"]);
    expect(await countFor()).toBe(1);
  });

  it("retries a batch from a queue it has no sink for (towards its dead letter queue), never drops it", async () => {
    const batch = createMessageBatch("chat-evnets", messages([event(newStreamId(), 1)]));
    const ctx = createExecutionContext();
    await handleQueueBatch(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["msg-0"]);
  });

  it("backoff grows and is capped", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 30].map((n) => retryDelaySeconds(n, 60))).toEqual([2, 4, 8, 16, 32, 60, 60, 60]);
  });
});

describe("Kafka REST sink", () => {
  it("sends the binary embedded format: base64 of the stream id and of the event's exact JSON", async () => {
    const sid = newStreamId();
    const e = event(sid, 1, "émoji 👋 \"q\" \\ \n");
    let sent: { records: Array<{ key: string; value: string }> } | undefined;
    const sink = new KafkaRestSink({ url: "https://proxy.example", topic: "t", token: "tk" }, async (url, init) => {
      expect(String(url)).toBe("https://proxy.example/topics/t");
      expect(new Headers(init!.headers).get("content-type")).toBe("application/vnd.kafka.binary.v2+json");
      sent = JSON.parse(String(init!.body));
      return Response.json({ offsets: [{ partition: 0, offset: 1, error_code: null, error: null }] });
    });
    expect(await sink.deliver([e])).toEqual([true]);
    expect(unb64(sent!.records[0]!.key)).toBe(sid);
    expect(unb64(sent!.records[0]!.value)).toBe(JSON.stringify(toChatEvent(e)));
  });

  it("maps per-record errors and HTTP failures to per-event results", async () => {
    const sid = newStreamId();
    const events = [event(sid, 1), event(sid, 2)];
    const partial = new KafkaRestSink({ url: "https://proxy.example/", topic: "t", user: "u", password: "p" }, async (_url, init) => {
      expect(new Headers(init!.headers).get("authorization")).toBe(`Basic ${btoa("u:p")}`);
      return Response.json({ offsets: [{ partition: 0, offset: 1, error_code: null, error: null }, { error_code: 50003, error: "broker down" }] });
    });
    // A failure's outcome is its reason (what the dead letter store records), never `true`.
    expect(await partial.deliver(events)).toEqual([true, "record failed: 50003 broker down"]);
    const down = new KafkaRestSink({ url: "https://proxy.example", topic: "t" }, async () => new Response("nope", { status: 503 }));
    expect(await down.deliver(events)).toEqual(["proxy answered 503: nope", "proxy answered 503: nope"]);
    const unreachable = new KafkaRestSink({ url: "https://proxy.example", topic: "t" }, async () => {
      throw new TypeError("connect failed");
    });
    expect(await unreachable.deliver(events)).toEqual(["request failed: TypeError: connect failed", "request failed: TypeError: connect failed"]);
    const short = new KafkaRestSink({ url: "https://proxy.example", topic: "t" }, async () => Response.json({ offsets: [{ partition: 0, offset: 1 }] }));
    expect(await short.deliver(events)).toEqual([true, "proxy answered no offset for record 1"]);
  });
});
