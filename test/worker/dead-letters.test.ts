/**
 * Dead letters (issue 19 §7): a message whose last delivery fails goes to its dead letter queue
 * with the sink's error recorded; the dead letter queue's consumer parks it in the DeadLetters
 * object; an admin lists it and replays it through the same sinks once they are fixed — and a
 * second replay, or another copy arriving in the dead letter queue, writes nothing again.
 *
 * The queues are driven as in queue.test.ts: createMessageBatch + handleQueueBatch with the
 * attempt count Queues would give (max_retries = 100, so the 101st delivery is the last), then the
 * same messages as the dead letter queue delivers them. The Kafka sink is the real KafkaRestSink
 * against vitest.config.ts's recording proxy, which can be told to fail one stream's produces.
 * The DeadLetters object is one per deployment (shared by every test here), so each test looks only
 * at its own stream; the store's own rules run on fresh objects' SQLite (`runInDurableObject`).
 */
import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { handleQueueBatch } from "../../src/consumer";
import { NO_ERROR_RECORDED, REPLAY_LEASE_MS, REPLAYED_RETENTION_MS, FULL_RETRY_DELAY_S } from "../../src/dead-letter-rules";
import { DeadLetterStore, type DeadLetterPage, type DeadLetterSummary, type ParkReport } from "../../src/dead-letter-store";
import { deadLetters, type DeadLetters } from "../../src/dead-letters";
import { loadConfig, type Env } from "../../src/env";
import { QueueEvent, toChatEvent, toQueueEvent } from "../../src/protocol";
import { replayDeadLetters } from "../../src/replay";
import type { Sink } from "../../src/sinks/sink";
import { fetchWorker, newStreamId, token } from "./helpers";

/** The consumer's last delivery of a message (wrangler.toml max_retries = 100 → attempt 101). */
const LAST_ATTEMPT = loadConfig(env).SINK_MAX_RETRIES + 1;

function comment(streamId: string, seq: number, message = `m${seq}`): QueueEvent {
  const userId = crypto.randomUUID();
  const frame = {
    type: "comment" as const,
    seq,
    comment: { id: crypto.randomUUID(), stream_id: streamId, user_id: userId, username: "u", message, created_at: new Date().toISOString() },
  };
  return toQueueEvent(frame, streamId, frame.comment.created_at, userId);
}

function edit(of: QueueEvent, seq: number, message: string): QueueEvent {
  const id = (of as Extract<QueueEvent, { event_type: "stream_chat_message" }>).comment_id;
  const frame = { type: "comment_edited" as const, seq, id, message, entities: [], edited_at: new Date().toISOString() };
  return toQueueEvent(frame, of.stream_id, frame.edited_at, (of as { user_id: string }).user_id);
}

/** Queue messages as Queues delivers them: one id per message, `attempts` as given. */
const messages = (bodies: unknown[], attempts: number, ids = bodies.map((_, i) => `dl-${crypto.randomUUID()}-${i}`)) =>
  bodies.map((body, i) => ({ id: ids[i]!, timestamp: new Date(1_700_000_000_000 + i), attempts, body }));

/**
 * Hands one batch to the worker's queue handler; the result is getQueueResult's plus `delays`: the
 * delaySeconds each retried message asked for (getQueueResult does not report them).
 */
async function deliver(queue: string, msgs: ReturnType<typeof messages>, sink?: Sink | null, e: Env = env) {
  const batch = createMessageBatch(queue, msgs);
  const delays: Record<string, number | undefined> = {};
  for (const m of batch.messages) {
    const retry = m.retry.bind(m);
    m.retry = (opts?: QueueRetryOptions) => {
      delays[m.id] = opts?.delaySeconds;
      retry(opts);
    };
  }
  const ctx = createExecutionContext();
  await handleQueueBatch(batch, e, ctx, sink);
  return { ...(await getQueueResult(batch, ctx)), delays };
}

const failKafka = (streamId: string, status: number, body: string) =>
  fetch("https://kafka-rest.test/_fail", { method: "POST", body: JSON.stringify({ stream_id: streamId, status, body }) });
const healKafka = (streamId: string) => fetch(`https://kafka-rest.test/_fail?stream_id=${streamId}`, { method: "DELETE" });

const unb64 = (b64: string) => new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
/** The Kafka values the recording proxy holds for a stream, in produce order. */
async function kafkaValues(streamId: string): Promise<string[]> {
  const rec = (await (await fetch("https://kafka-rest.test/_recorded")).json()) as Array<{ records: Array<{ key: string | null; value: string }> }>;
  return rec.flatMap((r) => r.records).filter((r) => r.key !== null && unb64(r.key) === streamId).map((r) => unb64(r.value));
}

/** The Kafka value the consumer produces for a queue event. */
const asProduced = (e: QueueEvent) => JSON.stringify(toChatEvent(QueueEvent.parse(e)));

const admin = () => token({ claims: { role: "admin" } });
async function api<T>(path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { authorization: `Bearer ${init.token ?? (await admin())}` };
  if (init.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetchWorker(path, { method: init.method ?? "GET", headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  return { status: res.status, body: (await res.json()) as T };
}
const listStream = async (streamId: string, state = "all") =>
  (await api<DeadLetterPage>(`/v1/admin/dead-letters?stream_id=${streamId}&state=${state}&limit=100`)).body.items;
const replayStream = async (streamId: string) =>
  (await api<{ claimed: number; replayed: number; failed: number; items: Array<{ ok: boolean; error?: string; seq: number }> }>("/v1/admin/dead-letters/replay", { method: "POST", body: { stream_id: streamId } })).body;

describe("a poison batch: dead letter queue → parked → replayed once", () => {
  it("the last failed delivery records its error, the dead letter queue parks it, a replay after the fix writes each event once, a second replay nothing", async () => {
    const sid = newStreamId();
    const first = comment(sid, 1, "hello");
    const events = [first, comment(sid, 2), edit(first, 3, "hello, edited")];
    const ids = events.map((_, i) => `poison-${sid}-${i}`);
    await failKafka(sid, 503, "poison batch");

    // An earlier attempt fails and is retried: nothing is reported yet.
    const early = await deliver("chat-events", messages(events, 5, ids));
    expect(early.retryMessages.map((m) => m.msgId).sort()).toEqual([...ids].sort());
    expect(await listStream(sid)).toEqual([]);

    // The last attempt fails: retried (Queues now moves them to chat-events-dlq), each recorded as dying with the error.
    const last = await deliver("chat-events", messages(events, LAST_ATTEMPT, ids));
    expect(last.explicitAcks).toEqual([]);
    expect(last.retryMessages.map((m) => m.msgId).sort()).toEqual([...ids].sort());
    let rows = await listStream(sid);
    expect(rows.map((r) => [r.state, r.seq, r.sink, r.queue, r.attempts, r.error])).toEqual(
      events.map((e) => ["dying", e.seq, "kafka", "chat-events", LAST_ATTEMPT, "proxy answered 503: poison batch"]),
    );
    // Dying rows are not replayed: only Queues knows the message will not come again.
    expect((await replayStream(sid)).claimed).toBe(0);

    // The dead letter queue delivers them: parked (keeping the error), acked.
    const dead = await deliver("chat-events-dlq", messages(events, 1, ids));
    expect(dead.explicitAcks.sort()).toEqual([...ids].sort());
    expect(dead.retryMessages).toEqual([]);
    rows = await listStream(sid);
    expect(rows.map((r) => [r.state, r.seq, r.event_type, r.attempts, r.error, r.replays])).toEqual([
      ["parked", 1, "stream_chat_message", LAST_ATTEMPT, "proxy answered 503: poison batch", 0],
      ["parked", 2, "stream_chat_message", LAST_ATTEMPT, "proxy answered 503: poison batch", 0],
      ["parked", 3, "stream_chat_message_edited", LAST_ATTEMPT, "proxy answered 503: poison batch", 0],
    ]);
    for (const r of rows) {
      expect(r.parked_at).not.toBeNull();
      expect(r.failed_at).not.toBeNull();
      expect(Date.parse(r.enqueued_at)).toBeGreaterThan(0);
      expect(r.message_id).toMatch(/^poison-/);
    }
    expect(rows.map((r) => r.comment_id)).toEqual(events.map((e) => (e as { comment_id: string }).comment_id));
    // One row with its body: the queue message as it died.
    const one = await api<DeadLetterSummary & { body: QueueEvent }>(`/v1/admin/dead-letters/${rows[0]!.id}`);
    expect(one.status).toBe(200);
    expect(one.body.body).toEqual(first);

    // Replayed while the sink still fails: every row stays parked with the new error.
    await failKafka(sid, 500, "still broken");
    const failed = await replayStream(sid);
    expect([failed.claimed, failed.replayed, failed.failed]).toEqual([3, 0, 3]);
    rows = await listStream(sid);
    expect(rows.map((r) => [r.state, r.error, r.replays])).toEqual(events.map(() => ["parked", "replay: proxy answered 500: still broken", 1]));
    expect(rows.every((r) => r.last_replay_at !== null && r.replayed_at === null)).toBe(true);
    expect(await kafkaValues(sid)).toEqual([]);

    // The sink is fixed: one replay writes each event once, in seq order, byte for byte what the
    // consumer produces (it writes the validated event: QueueEvent's field order).
    await healKafka(sid);
    const ok = await replayStream(sid);
    expect([ok.claimed, ok.replayed, ok.failed]).toEqual([3, 3, 0]);
    expect(ok.items.map((i) => [i.seq, i.ok])).toEqual([[1, true], [2, true], [3, true]]);
    const written = events.map(asProduced);
    expect(await kafkaValues(sid)).toEqual(written);
    rows = await listStream(sid);
    expect(rows.map((r) => [r.state, r.bytes, r.replays])).toEqual(events.map(() => ["replayed", 0, 2]));
    const tomb = await api<{ body: unknown }>(`/v1/admin/dead-letters/${rows[0]!.id}`);
    expect(tomb.body.body).toBeNull(); // a tombstone keeps no body

    // Replaying again claims nothing and writes nothing.
    expect(await replayStream(sid)).toEqual({ claimed: 0, replayed: 0, failed: 0, items: [] });
    // Another copy of the same events arriving in the dead letter queue (other message ids) is not parked again.
    const copy = await deliver("chat-events-dlq", messages(events, 1));
    expect(copy.explicitAcks).toHaveLength(3);
    expect((await listStream(sid)).map((r) => r.state)).toEqual(["replayed", "replayed", "replayed"]);
    expect((await replayStream(sid)).claimed).toBe(0);
    expect(await kafkaValues(sid)).toEqual(written);
  });

  it("a replayed event older than what Kafka has for the stream is appended after the later records (Kafka keeps produce order)", async () => {
    const sid = newStreamId();
    const old = comment(sid, 1, "old");
    await deliver("chat-events-dlq", messages([old], 1)); // died without the consumer's note
    expect((await listStream(sid)).map((r) => [r.state, r.error, r.attempts])).toEqual([["parked", NO_ERROR_RECORDED, null]]);
    const later = comment(sid, 2, "later");
    expect((await deliver("chat-events", messages([later], 1))).explicitAcks).toHaveLength(1);
    expect((await replayStream(sid)).replayed).toBe(1);
    expect(await kafkaValues(sid)).toEqual([asProduced(later), asProduced(old)]);
  });

  it("the history queue's dead letters park apart; with Redis not configured a replay leaves them parked and says why", async () => {
    const sid = newStreamId();
    const events = [comment(sid, 1), comment(sid, 2)];
    expect((await deliver("chat-history-dlq", messages(events, 1))).explicitAcks).toHaveLength(2);
    const r = await replayStream(sid);
    expect([r.claimed, r.replayed]).toEqual([2, 0]);
    expect(r.items.map((i) => i.error)).toEqual(events.map(() => "sink redis-history is not configured (its variables are not set): not replayed"));
    const rows = await listStream(sid);
    expect(rows.map((x) => [x.sink, x.queue, x.state])).toEqual(events.map(() => ["redis-history", "chat-history", "parked"]));
  });

  it("a replay through a history sink that stores idempotently marks its events replayed; a failing sink keeps them parked", async () => {
    const sid = newStreamId();
    const events = [comment(sid, 1), comment(sid, 2)];
    await deliver("chat-history-dlq", messages(events, 1));
    const stored: number[] = [];
    const fine: Sink = { name: "redis-history", deliver: async (es) => es.map((e) => (stored.push(e.seq), true)) };
    const broken: Sink = { name: "redis-history", deliver: async () => { throw new Error("ECONNREFUSED"); } };
    const store = deadLetters(env);
    const cfg = loadConfig(env);
    const bad = await replayDeadLetters(store, cfg, { streamId: sid }, 10, () => broken);
    expect(bad.items.map((i) => i.error)).toEqual(["replay: sink redis-history threw: Error: ECONNREFUSED", "replay: sink redis-history threw: Error: ECONNREFUSED"]);
    const good = await replayDeadLetters(store, cfg, { streamId: sid }, 10, () => fine);
    expect(good.replayed).toBe(2);
    expect(stored).toEqual([1, 2]);
    expect((await replayDeadLetters(store, cfg, { streamId: sid }, 10, () => fine)).claimed).toBe(0);
    expect(stored).toEqual([1, 2]);
  });

  it("a replay hands a sink at most 100 events per delivery (the consumers' batch size), in seq order", async () => {
    const sid = newStreamId();
    const events = Array.from({ length: 150 }, (_, i) => comment(sid, i + 1));
    await deliver("chat-history-dlq", messages(events, 1));
    const calls: number[][] = [];
    const sink: Sink = { name: "redis-history", deliver: async (es) => (calls.push(es.map((e) => e.seq)), es.map(() => true)) };
    const r = await replayDeadLetters(deadLetters(env), loadConfig(env), { streamId: sid }, 500, () => sink);
    expect([r.claimed, r.replayed]).toEqual([150, 150]);
    expect(calls.map((c) => c.length)).toEqual([100, 50]);
    expect(calls.flat()).toEqual(events.map((e) => e.seq));
  });

  it("a body that is not a queue event is parked as malformed with the reason, never replayed, and can be discarded", async () => {
    const marker = `bad-${crypto.randomUUID()}`;
    await deliver("chat-events-dlq", messages([{ hello: marker }], 1, [marker]));
    const all = await api<DeadLetterPage>("/v1/admin/dead-letters?state=malformed&sink=kafka&limit=100");
    const row = all.body.items.find((r) => r.message_id === marker)!;
    expect(row).toMatchObject({ state: "malformed", stream_id: null, seq: null });
    expect(row.error).toMatch(/^malformed: /);
    const replay = await api<{ items: Array<{ id: number }> }>("/v1/admin/dead-letters/replay", { method: "POST", body: { ids: [row.id] } });
    expect(replay.body.items).toEqual([]);
    const gone = await api<{ discarded: number }>("/v1/admin/dead-letters/discard", { method: "POST", body: { ids: [row.id] } });
    expect(gone.body.discarded).toBe(1);
    expect((await api(`/v1/admin/dead-letters/${row.id}`)).status).toBe(404);
  });

  it("the dead letter queue's consumer leaves a message the full store refuses in the queue (retried after FULL_RETRY_DELAY_S), and retries all when the store is unreachable", async () => {
    const sid = newStreamId();
    const events = [comment(sid, 1), comment(sid, 2)];
    const withStore = (report: (r: ParkReport[]) => Promise<string[]>): Env =>
      ({ ...env, CHAT_DEAD_LETTERS: { idFromName: () => ({}), get: () => ({ report }) } }) as unknown as Env;
    const full = await deliver("chat-events-dlq", messages(events, 1, ["a", "b"]), undefined, withStore(async () => ["parked", "full"]));
    expect(full.explicitAcks).toEqual(["a"]);
    expect(full.retryMessages.map((m) => m.msgId)).toEqual(["b"]);
    expect(full.delays).toEqual({ b: FULL_RETRY_DELAY_S });
    const down = await deliver("chat-events-dlq", messages(events, 3, ["a", "b"]), undefined, withStore(async () => { throw new Error("object unreachable"); }));
    expect(down.explicitAcks).toEqual([]);
    expect(down.retryMessages.map((m) => m.msgId)).toEqual(["a", "b"]);
    expect(down.delays).toEqual({ a: 8, b: 8 }); // the sinks' backoff for a third attempt
    // And the sink consumer still sends a dying message to the dead letter queue when its error cannot be recorded.
    await failKafka(sid, 503, "down");
    const last = await deliver("chat-events", messages(events, LAST_ATTEMPT, ["c", "d"]), undefined, withStore(async () => { throw new Error("object unreachable"); }));
    expect(last.retryMessages.map((m) => m.msgId)).toEqual(["c", "d"]);
    await healKafka(sid);
  });
});

describe("admin routes: who may see and replay dead letters", () => {
  it("401 without a token, 403 for anyone who is not a platform admin (stream owners included), 400 for bad parameters", async () => {
    const sid = newStreamId();
    expect((await fetchWorker("/v1/admin/dead-letters")).status).toBe(401);
    const owner = await token({ claims: { stream_roles: { [sid]: "owner" } } });
    for (const [path, method] of [
      ["/v1/admin/dead-letters", "GET"],
      ["/v1/admin/dead-letters/1", "GET"],
      ["/v1/admin/dead-letters/replay", "POST"],
      ["/v1/admin/dead-letters/discard", "POST"],
    ] as const) {
      const r = await api<{ error: string }>(path, { method, token: owner, body: method === "POST" ? { ids: [1] } : undefined });
      expect([path, r.status, r.body.error]).toEqual([path, 403, "forbidden"]);
    }
    expect((await api<{ error: string }>("/v1/admin/dead-letters?limit=101")).body.error).toBe("invalid_limit");
    expect((await api<{ error: string }>("/v1/admin/dead-letters?state=lost")).body.error).toBe("invalid_state");
    expect((await api<{ error: string }>("/v1/admin/dead-letters?sink=s3")).body.error).toBe("invalid_sink");
    expect((await api<{ error: string }>("/v1/admin/dead-letters?stream_id=x")).body.error).toBe("invalid_stream_id");
    expect((await api<{ error: string }>("/v1/admin/dead-letters/replay", { method: "POST", body: { limit: 501 } })).body.error).toBe("invalid_limit");
    expect((await api<{ error: string }>("/v1/admin/dead-letters/discard", { method: "POST", body: { ids: [] } })).body.error).toBe("invalid_ids");
    expect((await api<{ error: string }>("/v1/admin/dead-letters/abc")).status).toBe(404);
  });

  it("pages the listing oldest first with next_after, filtered by state, sink and stream, with counts per sink and state", async () => {
    const sid = newStreamId();
    const events = Array.from({ length: 5 }, (_, i) => comment(sid, i + 1));
    await deliver("chat-events-dlq", messages(events, 1));
    await deliver("chat-history-dlq", messages(events.slice(0, 2), 1));
    const seen: Array<[string, number]> = [];
    let after = 0;
    for (let page = 0; page < 10; page++) {
      const r = (await api<DeadLetterPage>(`/v1/admin/dead-letters?stream_id=${sid}&limit=2&after=${after}`)).body;
      expect(r.items.length).toBeLessThanOrEqual(2);
      seen.push(...r.items.map((i): [string, number] => [i.sink, i.seq!]));
      expect(r.counts.kafka.parked).toBeGreaterThanOrEqual(5);
      if (r.next_after === null) break;
      after = r.next_after;
    }
    expect(seen).toEqual([...events.map((e): [string, number] => ["kafka", e.seq]), ["redis-history", 1], ["redis-history", 2]]);
    const hist = (await api<DeadLetterPage>(`/v1/admin/dead-letters?stream_id=${sid}&sink=redis-history`)).body;
    expect(hist.items.map((i) => i.seq)).toEqual([1, 2]);
    expect((await api<DeadLetterPage>(`/v1/admin/dead-letters?stream_id=${sid}&state=replayed`)).body.items).toEqual([]);
  });
});

describe("DeadLetterStore on a Durable Object's SQLite", () => {
  /** A store on a fresh DeadLetters object's storage (not the deployment's one), with options. */
  function withStore<T>(fn: (store: DeadLetterStore) => T | Promise<T>, opts: ConstructorParameters<typeof DeadLetterStore>[1] = {}): Promise<T> {
    const stub = env.CHAT_DEAD_LETTERS.get(env.CHAT_DEAD_LETTERS.idFromName(`test-${crypto.randomUUID()}`));
    return runInDurableObject(stub, (_o: DeadLetters, state) => fn(new DeadLetterStore(state.storage, opts)));
  }
  const report = (kind: ParkReport["kind"], body: unknown, messageId: string = crypto.randomUUID(), error?: string): ParkReport => ({
    kind,
    sink: "kafka",
    queue: "chat-events",
    messageId,
    body,
    enqueuedAt: 1_000,
    ...(error ? { error, attempts: 101 } : {}),
  });

  it("one row per (sink, stream, seq): copies are duplicates, a copy of a replayed event is skipped", async () => {
    await withStore((s) => {
      const e = comment(newStreamId(), 7);
      expect(s.report([report("final_failure", e, "m1", "boom"), report("dead", e, "m1"), report("dead", e, "m2")], 10_000)).toEqual(["noted", "parked", "duplicate"]);
      const page = s.list({}, 10);
      expect(page.items.map((i) => [i.state, i.error, i.attempts, i.message_id])).toEqual([["parked", "boom", 101, "m1"]]);
      const [claimed] = s.claim({}, 10, 20_000);
      s.settle([{ id: claimed!.id, ok: true }], 20_000);
      expect(s.report([report("dead", e, "m3"), report("final_failure", e, "m4", "again")], 30_000)).toEqual(["replayed", "replayed"]);
      expect(s.counts().kafka).toEqual({ dying: 0, parked: 0, replayed: 1, malformed: 0 });
    });
  });

  it("a claim is leased: a second replay meanwhile gets nothing, after REPLAY_LEASE_MS it gets the rows again", async () => {
    await withStore((s) => {
      const sid = newStreamId();
      s.report([1, 2, 3].map((n) => report("dead", comment(sid, n))), 0);
      expect(s.claim({}, 2, 1_000).map((r) => r.seq)).toEqual([1, 2]);
      expect(s.claim({}, 10, 1_001).map((r) => r.seq)).toEqual([3]);
      expect(s.claim({}, 10, 1_002)).toEqual([]);
      expect(s.claim({}, 10, 1_000 + REPLAY_LEASE_MS).map((r) => r.seq)).toEqual([1, 2]);
      // A failed replay returns its row to the back of the line: rows never tried come first.
      s.settle([{ id: 1, ok: false, error: "nope" }], 2_000_000);
      s.report([report("dead", comment(sid, 4))], 2_000_001);
      expect(s.claim({}, 10, 3_000_000).map((r) => r.seq)).toEqual([2, 3, 4, 1]);
    });
  });

  it("refuses new rows past its row and byte bounds (updates still land), and frees room when rows are replayed or discarded", async () => {
    await withStore(
      (s) => {
        const sid = newStreamId();
        const [a, b, c] = [1, 2, 3].map((n) => comment(sid, n));
        expect(s.report([report("dead", a), report("final_failure", b, "mb", "x"), report("dead", c)], 0)).toEqual(["parked", "noted", "full"]);
        expect(s.report([report("dead", b, "mb")], 1)).toEqual(["parked"]); // an update of a held row
        s.settle([{ id: s.claim({}, 1, 2)[0]!.id, ok: true }], 2);
        expect(s.report([report("dead", c)], 3)).toEqual(["parked"]);
        expect(s.discard([1, 2, 3])).toBe(2); // the tombstone (row 1) stays
      },
      { maxRows: 2 },
    );
    await withStore(
      (s) => {
        const sid = newStreamId();
        const small = comment(sid, 1, "a");
        expect(s.report([report("dead", small), report("dead", comment(sid, 2, "b".repeat(400)))], 0)).toEqual(["parked", "full"]);
      },
      { maxBytes: 800 },
    );
  });

  it("drops tombstones after REPLAYED_RETENTION_MS and beyond its tombstone cap, oldest first", async () => {
    await withStore(
      (s) => {
        const sid = newStreamId();
        s.report([1, 2, 3].map((n) => report("dead", comment(sid, n))), 0);
        for (const [i, row] of s.claim({}, 10, 0).entries()) s.settle([{ id: row.id, ok: true }], 100_000 * (i + 1));
        expect(s.counts().kafka.replayed).toBe(2); // the cap: the oldest tombstone went
        expect(s.list({ state: "replayed" }, 10).items.map((i) => i.seq)).toEqual([2, 3]);
        s.report([report("dead", comment(sid, 9))], 300_001 + REPLAYED_RETENTION_MS);
        expect(s.counts().kafka.replayed).toBe(0);
      },
      { maxReplayedRows: 2 },
    );
  });
});
