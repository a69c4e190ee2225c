import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { handleQueueBatch, retryDelaySeconds } from "../../src/consumer";
import type { QueueEvent } from "../../src/protocol";
import type { Sink } from "../../src/sinks/sink";
import { KafkaRestSink } from "../../src/sinks/kafka-rest";
import { connect, newStreamId, sleep, token } from "./helpers";

interface Recorded {
  topic: string;
  auth: string | null;
  contentType: string | null;
  records: Array<{ key: string; value: Record<string, unknown> }>;
}

async function recorded(): Promise<Recorded[]> {
  return (await (await fetch("https://kafka-rest.test/_recorded")).json()) as Recorded[];
}

function event(streamId: string, seq: number, message = `m${seq}`): QueueEvent {
  return {
    event_type: "stream_chat_message",
    stream_id: streamId,
    user_id: crypto.randomUUID(),
    username: "u",
    message,
    created_at: new Date().toISOString(),
    comment_id: crypto.randomUUID(),
    seq,
  };
}

/** A sink that fails the events for which `fail` says so, and records what it stored. */
class FakeSink implements Sink {
  readonly name = "fake";
  stored: QueueEvent[] = [];
  constructor(private readonly fail: (e: QueueEvent) => boolean | "throw" = () => false) {}
  async deliver(events: readonly QueueEvent[]) {
    if (events.some((e) => this.fail(e) === "throw")) throw new Error("sink down");
    return events.map((e) => {
      if (this.fail(e)) return false;
      this.stored.push(e);
      return true;
    });
  }
}

describe("queue events from the room", () => {
  it("every accepted comment becomes exactly one Kafka record with exactly the event's fields", async () => {
    const sid = newStreamId();
    const c = await connect(sid, { token: await token({ username: "kafka-fan" }) });
    c.send({ type: "message", text: "first", client_msg_id: "k1" });
    c.send({ type: "message", text: "first", client_msg_id: "k1" }); // duplicate: not a new event
    c.send({ type: "message", text: "   " }); // ignored
    c.send({ type: "message", text: "x".repeat(501) }); // rejected
    c.send({ type: "message", text: "second" });
    await c.until((x) => x.comments().length === 2, "two comments");
    let mine: Recorded["records"] = [];
    for (let i = 0; i < 100 && mine.length < 2; i++) {
      await sleep(100);
      mine = (await recorded()).flatMap((r) => r.records).filter((r) => r.key === sid);
    }
    const batches = (await recorded()).filter((r) => r.records.some((x) => x.key === sid));
    for (const b of batches) {
      expect(b.topic).toBe("streams.chat");
      expect(b.auth).toBe("Bearer kafka-test-token");
      expect(b.contentType).toBe("application/vnd.kafka.json.v2+json");
    }
    expect(mine).toHaveLength(2);
    const comments = c.comments();
    mine.forEach((r, i) => {
      const cm = comments[i]!.comment;
      expect(r.value).toEqual({
        event_type: "stream_chat_message",
        stream_id: sid,
        user_id: cm.user_id,
        username: "kafka-fan",
        message: cm.message,
        created_at: cm.created_at,
        comment_id: cm.id,
      });
    });
    await c.close();
  });
});

describe("queue consumer: acks and retries per message", () => {
  const messages = (events: unknown[], attempts = 1) =>
    events.map((body, i) => ({ id: `msg-${i}`, timestamp: new Date(), attempts, body }));

  it("acks every message when all sinks store it, writing one stream's events in seq order", async () => {
    const sid = newStreamId();
    const sinkA = new FakeSink();
    const sinkB = new FakeSink();
    const batch = createMessageBatch("chat-events", messages([event(sid, 3), event(sid, 1), event(sid, 2)]));
    const ctx = createExecutionContext();
    await handleQueueBatch(batch, env, ctx, [sinkA, sinkB]);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(["msg-0", "msg-1", "msg-2"]);
    expect(result.retryMessages).toEqual([]);
    expect(sinkA.stored.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(sinkB.stored.map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it("retries only the messages a sink failed, with backoff, and acks the rest", async () => {
    const sid = newStreamId();
    const flaky = new FakeSink((e) => e.seq === 2);
    const batch = createMessageBatch("chat-events", messages([event(sid, 1), event(sid, 2), event(sid, 3)], 3));
    const ctx = createExecutionContext();
    await handleQueueBatch(batch, env, ctx, [new FakeSink(), flaky]);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(["msg-0", "msg-2"]);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["msg-1"]);
  });

  it("retries the whole batch when a sink throws, and never acks", async () => {
    const sid = newStreamId();
    const batch = createMessageBatch("chat-events", messages([event(sid, 1), event(sid, 2)]));
    const ctx = createExecutionContext();
    await handleQueueBatch(batch, env, ctx, [new FakeSink(), new FakeSink(() => "throw")]);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages.map((m) => m.msgId).sort()).toEqual(["msg-0", "msg-1"]);
  });

  it("sends a malformed body towards the dead letter queue (retry) without touching the sinks", async () => {
    const sink = new FakeSink();
    const batch = createMessageBatch("chat-events", messages([{ hello: "world" }]));
    const ctx = createExecutionContext();
    await handleQueueBatch(batch, env, ctx, [sink]);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["msg-0"]);
    expect(sink.stored).toEqual([]);
  });

  it("backoff grows and is capped", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 30].map((n) => retryDelaySeconds(n, 60))).toEqual([2, 4, 8, 16, 32, 60, 60, 60]);
  });
});

describe("Kafka REST sink", () => {
  it("maps per-record errors and HTTP failures to per-event results", async () => {
    const sid = newStreamId();
    const events = [event(sid, 1), event(sid, 2)];
    const partial = new KafkaRestSink({ url: "https://proxy.example/", topic: "t", user: "u", password: "p" }, async (_url, init) => {
      expect(new Headers(init!.headers).get("authorization")).toBe(`Basic ${btoa("u:p")}`);
      return Response.json({ offsets: [{ partition: 0, offset: 1, error_code: null, error: null }, { error_code: 50003, error: "broker down" }] });
    });
    expect(await partial.deliver(events)).toEqual([true, false]);
    const down = new KafkaRestSink({ url: "https://proxy.example", topic: "t" }, async () => new Response("nope", { status: 503 }));
    expect(await down.deliver(events)).toEqual([false, false]);
    const unreachable = new KafkaRestSink({ url: "https://proxy.example", topic: "t" }, async () => {
      throw new TypeError("connect failed");
    });
    expect(await unreachable.deliver(events)).toEqual([false, false]);
  });
});
