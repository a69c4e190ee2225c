/**
 * The room's outbox (src/outbox.ts) on a Durable Object's real SQLite storage: one cursor per
 * queue, so one queue's outage neither holds back nor re-sends the other; seq order, batches of
 * at most 50, exponential backoff 1 s … 60 s, state that survives a new instance (eviction).
 */
import { toQueueEvent } from "../../src/protocol";
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Outbox, OUTBOX_BATCH_SIZE, type OutboxTarget } from "../../src/outbox";
import { newStreamId, sleep } from "./helpers";

/** A Queue producer stand-in: records what it accepted; `down` makes sendBatch reject. */
type QueueLike = OutboxTarget["queue"];
class FakeQueue implements QueueLike {
  batches: unknown[][] = [];
  attempts = 0;
  down = false;
  gate: Promise<void> | null = null;
  async sendBatch(messages: Iterable<MessageSendRequest<unknown>>): Promise<QueueSendBatchResponse> {
    this.attempts++;
    const list = [...messages];
    if (this.gate) await this.gate;
    if (this.down) throw new Error("Queue send failed: internal error");
    for (const m of list) expect(m.contentType).toBe("json");
    this.batches.push(list.map((m) => m.body));
    return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } } as unknown as QueueSendBatchResponse;
  }
  seqs(): number[] {
    return this.batches.flat().map((b) => (b as { seq: number }).seq);
  }
}

const ev = (seq: number, extra: Record<string, unknown> = {}) => ({ seq, event_type: "stream_chat_message", message: `m${seq}`, ...extra });

/** Runs `fn` with the storage of a fresh ChatRoom instance (its SQLite database). */
function withSql<T>(fn: (sql: SqlStorage) => Promise<T> | T): Promise<T> {
  const stub = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(newStreamId()));
  return runInDurableObject(stub, (_room, state) => fn(state.storage.sql));
}

const rows = (sql: SqlStorage) => sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("Outbox", () => {
  it("sends every event to every queue once, in seq order, in batches of at most 50, then forgets it", async () => {
    await withSql(async (sql) => {
      const a = new FakeQueue();
      const b = new FakeQueue();
      const box = new Outbox(sql, [
        { name: "kafka", queue: a },
        { name: "history", queue: b },
      ]);
      for (let s = 1; s <= 120; s++) box.add(s, ev(s));
      expect(box.pending()).toBe(true);
      expect(box.backlog()).toEqual({ kafka: 120, history: 120 });
      expect(await box.drain()).toEqual({ retryInMs: null });
      for (const q of [a, b]) {
        expect(q.seqs()).toEqual(range(1, 120));
        expect(q.batches.map((x) => x.length)).toEqual([OUTBOX_BATCH_SIZE, OUTBOX_BATCH_SIZE, 20]);
      }
      expect(a.batches[0]![0]).toEqual(ev(1));
      expect(box.pending()).toBe(false);
      expect(rows(sql)).toBe(0);
    });
  });

  it("a queue outage backs that queue off (1 s, 2 s, 4 s … 60 s) while the other queue carries on, and re-sends nothing to it", async () => {
    await withSql(async (sql) => {
      let clock = 1_000_000;
      const kafka = new FakeQueue();
      const history = new FakeQueue();
      history.down = true;
      const box = new Outbox(
        sql,
        [
          { name: "kafka", queue: kafka },
          { name: "history", queue: history },
        ],
        { now: () => clock },
      );
      for (let s = 1; s <= 30; s++) box.add(s, ev(s));
      expect(await box.drain()).toEqual({ retryInMs: 1_000 });
      expect(kafka.seqs()).toEqual(range(1, 30));
      expect(history.attempts).toBe(1);

      // Inside the backoff window the failing queue is not tried; the healthy one keeps flowing.
      for (let s = 31; s <= 40; s++) box.add(s, ev(s));
      clock += 500;
      expect(await box.drain()).toEqual({ retryInMs: 500 });
      expect(history.attempts).toBe(1);
      expect(kafka.seqs()).toEqual(range(1, 40));

      const delays: number[] = [];
      for (let i = 0; i < 8; i++) {
        clock += 60_000;
        delays.push((await box.drain()).retryInMs!);
      }
      expect(delays).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
      expect(box.backlog()).toEqual({ kafka: 0, history: 40 });
      expect(rows(sql)).toBe(40); // kept until the history queue has them too

      // The queue is back: it gets everything it missed, in order; Kafka gets nothing twice.
      history.down = false;
      clock += 60_000;
      expect(await box.drain()).toEqual({ retryInMs: null });
      expect(history.seqs()).toEqual(range(1, 40));
      expect(kafka.seqs()).toEqual(range(1, 40));
      expect(rows(sql)).toBe(0);

      // Healthy again: the next failure starts the backoff from 1 s.
      history.down = true;
      box.add(41, ev(41));
      expect(await box.drain()).toEqual({ retryInMs: 1_000 });
    });
  });

  it("keeps its cursors in storage: a new instance (after eviction) sends each queue only what it lacks", async () => {
    await withSql(async (sql) => {
      const kafka = new FakeQueue();
      const history = new FakeQueue();
      history.down = true;
      const first = new Outbox(sql, [
        { name: "kafka", queue: kafka },
        { name: "history", queue: history },
      ]);
      for (let s = 1; s <= 5; s++) first.add(s, ev(s));
      await first.drain();

      const kafka2 = new FakeQueue();
      const history2 = new FakeQueue();
      const second = new Outbox(sql, [
        { name: "kafka", queue: kafka2 },
        { name: "history", queue: history2 },
      ]);
      expect(second.pending()).toBe(true);
      expect(second.backlog()).toEqual({ kafka: 0, history: 5 });
      expect(() => second.add(5, ev(5))).toThrow(/seq 5 is not above target kafka's cursor 5/);
      second.add(6, ev(6));
      expect(await second.drain()).toEqual({ retryInMs: null });
      expect(kafka2.seqs()).toEqual([6]);
      expect(history2.seqs()).toEqual(range(1, 6));
    });
  });

  it("sends rows left by the room's earlier single-queue outbox to every queue, and drops cursors of removed queues", async () => {
    await withSql(async (sql) => {
      sql.exec("CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)");
      for (const s of [7, 8, 9]) sql.exec("INSERT INTO outbox (seq, body) VALUES (?, ?)", s, JSON.stringify(ev(s)));
      const a = new FakeQueue();
      const b = new FakeQueue();
      const box = new Outbox(sql, [
        { name: "kafka", queue: a },
        { name: "history", queue: b },
      ]);
      await box.drain();
      expect(a.seqs()).toEqual([7, 8, 9]);
      expect(b.seqs()).toEqual([7, 8, 9]);

      // "history" no longer listed: its cursor must not pin rows forever.
      const only = new Outbox(sql, [{ name: "kafka", queue: a }]);
      only.add(10, ev(10));
      await only.drain();
      expect(rows(sql)).toBe(0);
      expect(sql.exec("SELECT target FROM outbox_cursor").toArray()).toEqual([{ target: "kafka" }]);
    });
  });

  it("runs one send per queue at a time: concurrent drains neither duplicate nor reorder", async () => {
    await withSql(async (sql) => {
      const q = new FakeQueue();
      let open!: () => void;
      q.gate = new Promise((r) => (open = r));
      const box = new Outbox(sql, [{ name: "kafka", queue: q }]);
      box.add(1, ev(1));
      const d1 = box.drain();
      box.add(2, ev(2));
      const d2 = box.drain(); // joins the running loop
      box.add(3, ev(3));
      await sleep(10);
      expect(q.attempts).toBe(1);
      q.gate = null;
      open();
      expect(await Promise.all([d1, d2])).toEqual([{ retryInMs: null }, { retryInMs: null }]);
      expect(q.seqs()).toEqual([1, 2, 3]);
      expect(q.batches).toHaveLength(2); // 1, then 2+3 coalesced
    });
  });

  it("splits batches by size as well as by count (Queues: 256 KB per sendBatch)", async () => {
    await withSql(async (sql) => {
      const q = new FakeQueue();
      const box = new Outbox(sql, [{ name: "kafka", queue: q }]);
      for (let s = 1; s <= 10; s++) box.add(s, ev(s, { message: "x".repeat(20_000) }));
      await box.drain();
      expect(q.seqs()).toEqual(range(1, 10));
      expect(q.batches.length).toBeGreaterThan(1);
      for (const b of q.batches) expect(JSON.stringify(b).length).toBeLessThan(256 * 1024);
    });
  });

  it("refuses bad input with a clear error", async () => {
    await withSql((sql) => {
      const q = new FakeQueue();
      expect(() => new Outbox(sql, [])).toThrow(/at least one target/);
      expect(() => new Outbox(sql, [{ name: "a", queue: q }, { name: "a", queue: q }])).toThrow(/duplicate target name "a"/);
      expect(() => new Outbox(sql, [{ name: "Kafka Queue", queue: q }])).toThrow(/must be 1-64 of/);
      expect(() => new Outbox(sql, [{ name: "a", queue: undefined as unknown as FakeQueue }])).toThrow(/no queue binding/);
      expect(() => new Outbox(sql, [{ name: "a", queue: q }], { batchSize: 101 })).toThrow(/batchSize/);
      const box = new Outbox(sql, [{ name: "a", queue: q }]);
      expect(() => box.add(0, ev(0))).toThrow(/positive integer/);
      expect(() => box.add(1.5, ev(1))).toThrow(/positive integer/);
      expect(() => box.add(1, undefined)).toThrow(/not JSON-serialisable/);
    });
  });

  it("feeds the real CHAT_EVENTS and CHAT_HISTORY bindings", async () => {
    const sid = newStreamId();
    const userId = crypto.randomUUID();
    const comment = { id: crypto.randomUUID(), stream_id: sid, user_id: userId, username: "outbox", message: "through both queues", created_at: new Date().toISOString() };
    const event = toQueueEvent({ type: "comment", seq: 1, comment }, sid, comment.created_at, userId);
    await withSql(async (sql) => {
      const box = new Outbox(sql, [
        { name: "kafka", queue: env.CHAT_EVENTS },
        { name: "history", queue: env.CHAT_HISTORY },
      ]);
      box.add(1, event);
      expect(await box.drain()).toEqual({ retryInMs: null });
      expect(box.pending()).toBe(false);
    });
    // The chat-events consumer relays it to the (recording) Kafka REST proxy.
    let found = 0;
    for (let i = 0; i < 100 && found === 0; i++) {
      await sleep(100);
      const recorded = (await (await fetch("https://kafka-rest.test/_recorded")).json()) as Array<{ records: Array<{ key: string }> }>;
      found = recorded.flatMap((r) => r.records).filter((r) => atob(r.key) === sid).length;
    }
    expect(found).toBe(1);
  });
});
