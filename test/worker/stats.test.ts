/**
 * Stats and metrics (issue 12, the part that stands without fan-out shards): `GET
 * /v1/streams/{id}/chat/stats` through the real worker and room — who may read it, viewers per
 * shard and region, messages/s, fan-out percentiles, queue backlog — and the Analytics Engine data
 * points of the room and of the queue consumer. Miniflare's CHAT_METRICS is a local no-op that
 * cannot be read back, so the points are caught by a test double put in the room's `metricsOut`
 * (runInDurableObject) or in the env handed to the consumer. No timed assertions.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { handleQueueBatch } from "../../src/consumer";
import type { DataPoint, MetricsWriter } from "../../src/metrics";
import { StatsResponse, toQueueEvent, type QueueEvent } from "../../src/protocol";
import type { ChatRoom } from "../../src/room";
import type { Sink } from "../../src/sinks/sink";
import { BASE, Client, SHARDED, connect, fetchWorker, newStreamId, newUserId, roomStub, setLimits, token } from "./helpers";

const ownerToken = (sid: string, sub = newUserId()) => token({ sub, username: "streamer", claims: { stream_roles: { [sid]: "owner" } } });
const modToken = (sid: string, sub = newUserId()) => token({ sub, username: "moddy", claims: { stream_roles: { [sid]: "moderator" } } });

const getStats = (sid: string, t?: string) =>
  fetchWorker(`/v1/streams/${sid}/chat/stats`, { headers: t ? { authorization: `Bearer ${t}` } : {} });

async function stats(sid: string, t: string): Promise<StatsResponse> {
  const res = await getStats(sid, t);
  expect(res.status).toBe(200);
  return StatsResponse.parse(await res.json());
}

const action = (sid: string, t: string, body: unknown) =>
  fetchWorker(`/v1/streams/${sid}/chat/actions`, { method: "POST", headers: { authorization: `Bearer ${t}`, "content-type": "application/json" }, body: JSON.stringify(body) });

/** An upgrade whose request carries `cf` as Cloudflare's edge would set it. */
async function connectFrom(sid: string, continent: string, t: string): Promise<Client> {
  const req = new Request(`${BASE}/ws/streams/${sid}/chat`, {
    headers: { upgrade: "websocket", authorization: `Bearer ${t}` },
    cf: { continent },
  } as RequestInit);
  const res = await exports.default.fetch(req);
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade failed: ${res.status} ${await res.text()}`);
  const c = new Client(res.webSocket);
  await c.until((x) => x.of("history").length > 0, "welcome + history");
  return c;
}

/** Sends `n` messages with ids and waits for their acks. */
async function sendAcked(c: Client, n: number, prefix: string): Promise<void> {
  for (let i = 0; i < n; i++) c.send({ type: "message", text: `${prefix} ${i}`, client_msg_id: `${prefix}-${i}` });
  await c.until((x) => x.of("ack").filter((a) => a.client_msg_id.startsWith(`${prefix}-`)).length === n, `${n} acks`);
}

class RecordingWriter implements MetricsWriter {
  points: DataPoint[] = [];
  writeDataPoint(p: DataPoint) {
    this.points.push(p);
  }
}

/** Puts `writer` in place of the room's CHAT_METRICS binding (before any socket, so the first report is due). */
async function useWriter(sid: string, writer: MetricsWriter): Promise<void> {
  await runInDurableObject(roomStub(sid), (room: ChatRoom) => {
    (room as unknown as { metricsOut: MetricsWriter }).metricsOut = writer;
  });
}

describe("GET /v1/streams/{id}/chat/stats: who may read it", () => {
  it("the owner, a moderator, an admin and a moderator the room appointed get 200; a viewer, a banned moderator get 403 forbidden", async () => {
    const sid = newStreamId();
    const owner = await ownerToken(sid);
    expect((await getStats(sid, owner)).status).toBe(200);
    expect((await getStats(sid, await modToken(sid))).status).toBe(200);
    expect((await getStats(sid, await token({ claims: { role: "admin" } }))).status).toBe(200);

    const appointed = newUserId();
    const appointedToken = await token({ sub: appointed });
    const refused = await getStats(sid, appointedToken);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ error: "forbidden", message: expect.any(String) });
    expect((await action(sid, owner, { type: "role", user_id: appointed, role: "moderator" })).status).toBe(200);
    expect((await getStats(sid, appointedToken)).status).toBe(200);

    const badMod = newUserId();
    const badModToken = await modToken(sid, badMod);
    expect((await getStats(sid, badModToken)).status).toBe(200);
    expect((await action(sid, owner, { type: "ban", user_id: badMod })).status).toBe(200);
    expect((await getStats(sid, badModToken)).status).toBe(403);

    // A stream_roles claim for another stream grants nothing here.
    expect((await getStats(sid, await ownerToken(newStreamId()))).status).toBe(403);
  });

  it("no token → 401, a stream id that is not a UUID → 400", async () => {
    expect((await getStats(newStreamId())).status).toBe(401);
    expect((await getStats("not-a-uuid", await token())).status).toBe(400);
  });
});

describe("the stats answer", () => {
  it("counts sockets (total, per shard, per region) and distinct users", async () => {
    const sid = newStreamId();
    const owner = await ownerToken(sid);
    const fresh = await stats(sid, owner);
    // Unsharded the room is the one shard; sharded, a stream starts with none (they are made on demand).
    expect(fresh.viewers).toEqual({ total: 0, users: 0, per_shard: SHARDED ? {} : { room: 0 }, per_region: {} });

    const alice = newUserId();
    const a1 = await connectFrom(sid, "EU", await token({ sub: alice }));
    const a2 = await connectFrom(sid, "AS", await token({ sub: alice }));
    const b = await connect(sid); // no cf continent: "unknown" (or what the local runtime's placeholder says)
    const s = await stats(sid, owner);
    expect(s.stream_id).toBe(sid);
    expect(s.viewers.total).toBe(3);
    expect(s.viewers.users).toBe(2);
    if (SHARDED) {
      // One shard per region (src/rules/placement.ts), each holding one of the three sockets.
      expect(Object.values(s.viewers.per_shard)).toEqual([1, 1, 1]);
      expect(Object.keys(s.viewers.per_shard)).toEqual(expect.arrayContaining(["EU-0", "AS-0"]));
    } else {
      expect(s.viewers.per_shard).toEqual({ room: 3 });
    }
    expect(s.viewers.per_region.EU).toBeGreaterThanOrEqual(1);
    expect(s.viewers.per_region.AS).toBeGreaterThanOrEqual(1);
    expect(Object.values(s.viewers.per_region).reduce((x, y) => x + y, 0)).toBe(3);

    await a2.close();
    const after = await stats(sid, owner);
    expect(after.viewers.total).toBe(2);
    expect(after.viewers.per_region.AS ?? 0).toBe(s.viewers.per_region.AS! - 1);
    await a1.close();
    await b.close();
  });

  it("messages_per_sec counts sequenced events of the last minute; fanout_ms has one sample per event, p50 ≤ p99; queue_backlog per queue", async () => {
    const sid = newStreamId();
    const owner = await ownerToken(sid);
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1000, SOCKET_MAX_FRAMES_PER_SEC: 1000 }); // one sender, no waiting
    const plain = await connect(sid);
    const batched = await connect(sid, { query: "?batch=1" }); // its frames may wait for a flush: measured then
    await sendAcked(plain, 11, "m");
    await batched.until((x) => x.comments().length === 11, "11 comments on the batch=1 socket");
    expect((await action(sid, owner, { type: "slow_mode", seconds: 5 })).status).toBe(200); // an event, not a comment
    // Every socket has every event once the batch=1 one has seq 12: the last flush is done.
    await batched.until((x) => x.frames.some((f) => "seq" in f && f.seq === 12), "event 12 on the batch=1 socket");

    const s = await stats(sid, owner);
    expect(s.messages_per_sec).toBe(0.2); // 12 events / 60 s
    expect(s.fanout_ms.samples).toBe(12);
    expect(s.fanout_ms.p50).not.toBeNull();
    expect(s.fanout_ms.p50!).toBeGreaterThanOrEqual(0);
    expect(s.fanout_ms.p50!).toBeLessThanOrEqual(s.fanout_ms.p99!);
    expect(Object.keys(s.queue_backlog).sort()).toEqual(["history", "kafka"]);
    for (const n of Object.values(s.queue_backlog)) expect(Number.isInteger(n) && n >= 0).toBe(true);
    // Refused and duplicate messages are not events.
    plain.send({ type: "message", text: "m 0", client_msg_id: "m-0" });
    plain.send({ type: "message", text: "x".repeat(501) });
    await plain.until((x) => x.of("error").length === 1 && x.of("ack").length === 12, "the refusal and the repeated ack");
    expect((await stats(sid, owner)).messages_per_sec).toBe(0.2);
    await plain.close();
    await batched.close();
  });
});

describe("Analytics Engine data points (CHAT_METRICS)", () => {
  it("the binding exists under the test config (Miniflare's local dataset) and accepts a point", () => {
    expect(typeof env.CHAT_METRICS?.writeDataPoint).toBe("function");
    expect(() => env.CHAT_METRICS!.writeDataPoint({ indexes: ["t"], blobs: ["t"], doubles: [1] })).not.toThrow();
  });

  it("the room writes one point per region when active, then not again within the interval", async () => {
    const sid = newStreamId();
    const writer = new RecordingWriter();
    await useWriter(sid, writer);
    const c = await connectFrom(sid, "EU", await token());
    expect(writer.points).toHaveLength(1);
    const [p] = writer.points;
    expect(p!.indexes).toEqual([sid]);
    expect(p!.blobs).toEqual([sid, SHARDED ? "EU-0" : "room", "EU"]);
    // [sockets in this shard and region, messages/s, fanout p50, p99, largest queue backlog, sockets of the stream]
    expect(p!.doubles).toHaveLength(6);
    expect(p!.doubles[0]).toBe(1);
    expect(p!.doubles[5]).toBe(1);
    for (const d of p!.doubles) expect(d).toBeGreaterThanOrEqual(0);

    await sendAcked(c, 3, "dp");
    expect(writer.points).toHaveLength(1); // throttled: no write per message
    await c.close();
  });

  it("a failing binding never breaks chat", async () => {
    const sid = newStreamId();
    let calls = 0;
    await useWriter(sid, {
      writeDataPoint() {
        calls++;
        throw new Error("dataset unavailable");
      },
    });
    const c = await connect(sid);
    await sendAcked(c, 2, "ok");
    expect(c.comments()).toHaveLength(2);
    expect(calls).toBeGreaterThan(0);
    expect((await getStats(sid, await ownerToken(sid))).status).toBe(200);
    await c.close();
  });
});

describe("Analytics Engine data points of the queue consumer", () => {
  const event = (sid: string, seq: number): QueueEvent => {
    const userId = crypto.randomUUID();
    const frame = {
      type: "comment" as const,
      seq,
      comment: { id: crypto.randomUUID(), stream_id: sid, user_id: userId, username: "u", message: `m${seq}`, created_at: new Date().toISOString() },
    };
    return toQueueEvent(frame, sid, frame.comment.created_at, userId);
  };
  const messages = (bodies: unknown[]) => bodies.map((body, i) => ({ id: `msg-${i}`, timestamp: new Date(), attempts: 1, body }));
  /** Stores every event except those whose seq is in `failing`. */
  const sink = (failing: number[]): Sink => ({
    name: "kafka",
    deliver: async (events) => events.map((e) => !failing.includes(e.seq)),
  });

  it("one point per batch: blobs [sink, queue], doubles [stored, retried] — malformed messages count as failures", async () => {
    const sid = newStreamId();
    const writer = new RecordingWriter();
    const batch = createMessageBatch("chat-events", messages([event(sid, 1), event(sid, 2), event(sid, 3), { not: "an event" }]));
    const ctx = createExecutionContext();
    await handleQueueBatch(batch, { ...env, CHAT_METRICS: writer as unknown as AnalyticsEngineDataset }, ctx, sink([2]));
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.length).toBe(2);
    expect(result.retryMessages.length).toBe(2);
    expect(writer.points).toEqual([{ indexes: ["kafka"], blobs: ["kafka", "chat-events"], doubles: [2, 2] }]);
  });

  it("a queue with no sink writes sink none with every message failed; an unconfigured sink writes nothing; no binding, no harm", async () => {
    const sid = newStreamId();
    const writer = new RecordingWriter();
    const metricsEnv = { ...env, CHAT_METRICS: writer as unknown as AnalyticsEngineDataset };
    await handleQueueBatch(createMessageBatch("chat-mystery", messages([event(sid, 1)])), metricsEnv, createExecutionContext());
    expect(writer.points).toEqual([{ indexes: ["none"], blobs: ["none", "chat-mystery"], doubles: [0, 1] }]);
    await handleQueueBatch(createMessageBatch("chat-events", messages([event(sid, 2)])), metricsEnv, createExecutionContext(), null);
    expect(writer.points).toHaveLength(1);

    const { CHAT_METRICS: _gone, ...bare } = env;
    const batch = createMessageBatch("chat-events", messages([event(sid, 3)]));
    const ctx = createExecutionContext();
    await handleQueueBatch(batch, bare, ctx, sink([]));
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["msg-0"]);
  });
});
