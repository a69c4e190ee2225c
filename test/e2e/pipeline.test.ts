/**
 * End to end on real services: wrangler dev (worker + ChatRoom + queue) → bridge → Redis, Kafka,
 * Postgres. Clients chat; then the history API, Redis itself and the Kafka topic must hold exactly
 * those messages, once each, in order, with the username from Postgres.
 */
import { execFileSync } from "node:child_process";
import { Kafka, logLevel, type Consumer } from "kafkajs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { devToken, startWorker, type RunningWorker } from "../support/worker";
import { startBridge, workerVarsFor, type RunningBridge } from "../support/bridge";
import { ChatSocket, eventually } from "../support/chat";
import type { ChatEvent, SeqComment } from "../../src/protocol";

const KAFKA = process.env.KAFKA_BROKERS ?? "127.0.0.1:9092";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const PG = "postgres://postgres@127.0.0.1:5432/test";

let bridge: RunningBridge;
let worker: RunningWorker;
let consumer: Consumer;
const seen: Array<{ key: string; value: ChatEvent; partition: number; offset: string }> = [];

/** psql, independent of our code (the ids interpolated below are UUIDs we generated). */
function psql(sql: string) {
  return execFileSync("psql", [PG, "-v", "ON_ERROR_STOP=1", "-qtA", "-c", sql], { encoding: "utf8" }).trim();
}

beforeAll(async () => {
  bridge = await startBridge({ KAFKA_BROKERS: KAFKA, REDIS_URL, PG_ALLOWED_ADDRS: "127.0.0.1:5432" });
  // Limits raised so that a burst of 230 messages from one socket is accepted whole.
  worker = await startWorker({
    vars: {
      ...workerVarsFor(bridge, PG),
      RATE_LIMIT_PER_SEC: "1000",
      SOCKET_MAX_FRAMES_PER_SEC: "1000",
      ROOM_MAX_MESSAGES_PER_SEC: "1000",
      SINK_RETRY_MAX_DELAY_S: "2",
    },
  });
  const kafka = new Kafka({ clientId: "e2e-test", brokers: [KAFKA], logLevel: logLevel.NOTHING });
  consumer = kafka.consumer({ groupId: `e2e-${crypto.randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: "streams.chat", fromBeginning: false });
  // Wait until the group has its partitions, so nothing produced from now on is missed.
  const joined = new Promise<void>((resolve) => {
    const off = consumer.on(consumer.events.GROUP_JOIN, () => {
      off();
      resolve();
    });
  });
  await consumer.run({
    eachMessage: async ({ message, partition }) => {
      seen.push({
        key: message.key!.toString("utf8"), // the stream id's own bytes (binary embedded format)
        value: JSON.parse(message.value!.toString()) as ChatEvent,
        partition,
        offset: message.offset,
      });
    },
  });
  await joined;
}, 180_000);

afterEach(({ task }) => {
  if (task.result?.state === "fail") {
    console.log(`worker logs:\n${worker?.logs().slice(-4000)}\nbridge logs:\n${bridge?.logs().slice(-2000)}`);
  }
});

afterAll(async () => {
  await consumer?.disconnect();
  await worker?.stop();
  await bridge?.stop();
});

describe("chat → queue → Redis + Kafka, usernames from Postgres", () => {
  it("every message lands once, in order, in the history API, in Redis and in Kafka", { timeout: 150_000 }, async () => {
    const sid = crypto.randomUUID();
    const alice = await devToken(worker.url, "e2e-alice");
    const bob = await devToken(worker.url, "e2e-bob");
    // Alice has a row in Postgres, which wins over her token's claim; Bob has none.
    psql(
      `INSERT INTO users (id, username) VALUES ('${alice.user_id}', 'Alice (from Postgres)')
       ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username`,
    );
    psql(`DELETE FROM users WHERE id = '${bob.user_id}'`);

    const a = await ChatSocket.open(worker.url, sid, alice.token);
    const b = await ChatSocket.open(worker.url, sid, bob.token);
    await a.until(() => a.frames.some((f) => f.type === "welcome"), "welcome");
    const welcome = a.frames.find((f) => f.type === "welcome")!;
    expect(welcome).toMatchObject({ user: { id: alice.user_id, username: "Alice (from Postgres)" } });

    const N = 40;
    for (let i = 0; i < N; i++) (i % 2 ? b : a).send(`e2e message ${i} ✓`, `cm-${i}`);
    await a.until(() => a.comments().length === N, `${N} comments`);
    await b.until(() => b.comments().length === N, `${N} comments at bob`);
    const live = a.comments();
    expect(live.map((c) => c.seq)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(live.filter((c) => c.comment.user_id === alice.user_id).every((c) => c.comment.username === "Alice (from Postgres)")).toBe(true);
    expect(live.filter((c) => c.comment.user_id === bob.user_id).every((c) => c.comment.username === "e2e-bob")).toBe(true);
    a.close();
    b.close();

    // History API (through the worker, from Redis).
    const api = await eventually(
      async () => {
        const res = await fetch(`${worker.url}/v1/streams/${sid}/chat/history?limit=200`, { headers: { authorization: `Bearer ${alice.token}` } });
        return ((await res.json()) as { comments: SeqComment[] }).comments;
      },
      (c) => c.length >= N,
      "history API to hold every message",
    );
    expect(api.map((c) => c.seq)).toEqual(live.map((c) => c.seq));
    expect(api.map((c) => c.comment)).toEqual(live.map((c) => c.comment));

    // Paging back with `before`.
    const page = (await (
      await fetch(`${worker.url}/v1/streams/${sid}/chat/history?limit=5&before=11`, { headers: { authorization: `Bearer ${bob.token}` } })
    ).json()) as { comments: SeqComment[] };
    expect(page.comments.map((c) => c.seq)).toEqual([6, 7, 8, 9, 10]);

    // Redis itself, read with redis-cli (not through our code).
    const raw = execFileSync("redis-cli", ["-u", REDIS_URL, "ZRANGE", `chat:${sid}:history`, "0", "-1", "WITHSCORES"], { encoding: "utf8" })
      .trim()
      .split("\n");
    expect(raw.length).toBe(2 * N);
    for (let i = 0; i < N; i++) {
      expect(Number(raw[2 * i + 1])).toBe(i + 1);
      expect(JSON.parse(raw[2 * i]!)).toEqual({ seq: i + 1, comment: live[i]!.comment });
    }

    // Kafka: exactly these events, once each, in order, key = stream id.
    const mine = await eventually(
      async () => seen.filter((m) => m.key === sid),
      (m) => m.length >= N,
      "Kafka to hold every message",
    );
    await new Promise((r) => setTimeout(r, 1500)); // would a duplicate still arrive?
    const final = seen.filter((m) => m.key === sid);
    expect(final).toHaveLength(N);
    expect(new Set(final.map((m) => m.partition)).size).toBe(1);
    // In DESIGN.md's field order, so that JSON.stringify gives the exact bytes expected on the topic.
    const expectedEvents = live.map((c) => ({
      event_type: "stream_chat_message",
      stream_id: sid,
      user_id: c.comment.user_id,
      username: c.comment.username,
      message: c.comment.message,
      created_at: c.comment.created_at,
      comment_id: c.comment.id,
    }));
    expect(final.map((m) => m.value)).toEqual(expectedEvents);

    // The same records through an independent client (kcat, librdkafka), byte for byte: the key is
    // exactly the 36 bytes of the stream id (no JSON quotes), the value exactly the event's JSON.
    const first = final[0]!;
    const lines = execFileSync(
      "kcat",
      ["-C", "-b", KAFKA, "-t", "streams.chat", "-p", String(first.partition), "-o", first.offset, "-e", "-q", "-f", "%K\t%S\t%k\t%s\n"],
      { encoding: "utf8", timeout: 30_000, maxBuffer: 64 * 1024 * 1024 },
    )
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => l.split("\t"))
      .filter(([, , key]) => key === sid);
    expect(lines).toHaveLength(N);
    lines.forEach(([keyLen, valueLen, , value], i) => {
      const expected = JSON.stringify(expectedEvents[i]);
      expect(keyLen).toBe("36");
      expect(value).toBe(expected);
      expect(Number(valueLen)).toBe(Buffer.byteLength(expected, "utf8"));
    });
    console.log(`e2e: sent ${N}, live ${live.length}, history API ${api.length}, Redis ${raw.length / 2}, Kafka ${final.length}, duplicates 0`);
  });

  it("keeps only the newest 200 per stream in Redis", async () => {
    const sid = crypto.randomUUID();
    const t = await devToken(worker.url, "e2e-many");
    const s = await ChatSocket.open(worker.url, sid, t.token);
    for (let i = 1; i <= 230; i++) s.send(`n${i}`);
    await s.until(() => s.comments().length === 230, "230 comments", 30_000);
    s.close();
    const hist = await eventually(
      async () => {
        const res = await fetch(`${worker.url}/v1/streams/${sid}/chat/history?limit=200`, { headers: { authorization: `Bearer ${t.token}` } });
        return ((await res.json()) as { comments: SeqComment[] }).comments;
      },
      (c) => c.length === 200 && c.at(-1)?.seq === 230,
      "the newest 200",
    );
    expect(hist.map((c) => c.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 31));
    expect(execFileSync("redis-cli", ["-u", REDIS_URL, "ZCARD", `chat:${sid}:history`], { encoding: "utf8" }).trim()).toBe("200");
  });
});
