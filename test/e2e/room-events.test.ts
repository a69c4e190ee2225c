/**
 * Room events on real services (issue 10): edits, deletions, pins and moderation go through the
 * queues to real Redis (history shows the current state) and real Kafka (new event types, the
 * common envelope, key = the stream id), and the history sink stays right under redelivery and
 * reordering — through @upstash/redis → the bridge → Redis, the production code path.
 */
import { execFileSync } from "node:child_process";
import { Redis } from "@upstash/redis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { toQueueEvent, type RoomEvent, type SeqComment, type ServerFrame } from "../../src/protocol";
import { RedisHistorySink, historyKey } from "../../src/sinks/redis-history";
import { startBridge, workerVarsFor, type RunningBridge } from "../support/bridge";
import { ChatSocket, eventually } from "../support/chat";
import { devToken, startWorker, type RunningWorker } from "../support/worker";

const KAFKA = process.env.KAFKA_BROKERS ?? "127.0.0.1:9092";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

let bridge: RunningBridge;
let worker: RunningWorker;

beforeAll(async () => {
  bridge = await startBridge({ KAFKA_BROKERS: KAFKA, REDIS_URL, PG_ALLOWED_ADDRS: "127.0.0.1:5432" });
  worker = await startWorker({ vars: { ...workerVarsFor(bridge), SINK_RETRY_MAX_DELAY_S: "2" } });
}, 180_000);

afterEach(({ task }) => {
  if (task.result?.state === "fail") console.log(`worker logs:\n${worker?.logs().slice(-4000)}\nbridge logs:\n${bridge?.logs().slice(-2000)}`);
});

afterAll(async () => {
  await worker?.stop();
  await bridge?.stop();
});

/** Sends a command with a client_msg_id and waits for its ack (fails on an error frame). */
async function command(s: ChatSocket, frame: Record<string, unknown>): Promise<{ id?: string; seq?: number }> {
  const cmid = crypto.randomUUID();
  s.ws.send(JSON.stringify({ ...frame, client_msg_id: cmid }));
  const answer = (f: ServerFrame) => (f.type === "ack" || f.type === "error") && f.client_msg_id === cmid;
  await s.until(() => s.frames.some(answer), `answer to ${frame.type}`);
  const f = s.frames.find(answer)!;
  if (f.type !== "ack") throw new Error(`${JSON.stringify(frame)} refused: ${JSON.stringify(f)}`);
  return f;
}

/** Every record of the topic with this key, read with kcat (an independent client). */
function kafkaRecords(sid: string): Array<Record<string, unknown>> {
  const out = execFileSync("kcat", ["-b", KAFKA, "-t", "streams.chat", "-C", "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n"], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  return out
    .split("\n")
    .filter((l) => l.startsWith(`${sid}\t`))
    .map((l) => JSON.parse(l.slice(sid.length + 1)) as Record<string, unknown>);
}

describe("room events → Redis history and Kafka", () => {
  it("history shows the current state; Kafka gets every event type with the common envelope", { timeout: 150_000 }, async () => {
    const sid = crypto.randomUUID();
    const owner = await devToken(worker.url, "e2e-owner", sid);
    const viewer = await devToken(worker.url, "e2e-viewer");
    const o = await ChatSocket.open(worker.url, sid, owner.token);
    const v = await ChatSocket.open(worker.url, sid, viewer.token);
    await o.until(() => o.frames.some((f) => f.type === "welcome"), "welcome");
    expect(o.frames.find((f) => f.type === "welcome")).toMatchObject({ role: "owner" });

    const keep = await command(v, { type: "message", text: "keep me, @e2e-owner" });
    const edit = await command(v, { type: "message", text: "tpyo" });
    const gone = await command(v, { type: "message", text: "delete me" });
    await command(v, { type: "edit", id: edit.id, text: "typo fixed" });
    await command(o, { type: "delete", id: gone.id });
    await command(o, { type: "pin", id: keep.id });
    const reply = await command(o, { type: "message", text: "thanks", reply_to: keep.id });
    await command(o, { type: "timeout", user_id: viewer.user_id, seconds: 30, reason: "e2e" });

    const history = await eventually(
      async () => {
        const res = await fetch(`${worker.url}/v1/streams/${sid}/chat/history`, { headers: { authorization: `Bearer ${viewer.token}` } });
        return ((await res.json()) as { comments: SeqComment[] }).comments;
      },
      (c) => c.length === 3 && c.some((x) => x.comment.message === "typo fixed"),
      "the history API to show the current state",
    );
    expect(history.map((c) => c.comment.message)).toEqual(["keep me, @e2e-owner", "typo fixed", "thanks"]);
    expect(history[1]!.comment.edited_at).toBeDefined();
    expect(history[2]!.comment.reply_to).toMatchObject({ id: keep.id, excerpt: "keep me, @e2e-owner" });
    expect(history[0]!.comment.entities).toEqual([{ type: "mention", offset: 9, length: 10, username: "e2e-owner" }]);
    const raw = execFileSync("redis-cli", ["-u", REDIS_URL, "ZRANGE", historyKey(sid), "0", "-1"], { encoding: "utf8" }).trim().split("\n");
    expect(raw.map((m) => (JSON.parse(m) as SeqComment).comment.id)).toEqual([keep.id, edit.id, reply.id]);

    const records = await eventually(async () => kafkaRecords(sid), (r) => r.length >= 8, "8 Kafka records");
    expect(records.map((r) => r.event_type)).toEqual([
      "stream_chat_message",
      "stream_chat_message",
      "stream_chat_message",
      "stream_chat_message_edited",
      "stream_chat_message_deleted",
      "stream_chat_pinned",
      "stream_chat_message",
      "stream_chat_moderation",
    ]);
    for (const r of records) {
      expect(r.stream_id).toBe(sid);
      expect(typeof r.created_at).toBe("string");
      expect(r).not.toHaveProperty("seq");
      expect(r).not.toHaveProperty("frame");
    }
    expect(records[3]).toMatchObject({ comment_id: edit.id, message: "typo fixed", user_id: viewer.user_id, by: viewer.user_id });
    expect(records[4]).toMatchObject({ comment_id: gone.id, by: owner.user_id });
    expect(records[5]).toMatchObject({ comment_id: keep.id, by: owner.user_id });
    expect(records[6]).toMatchObject({ comment_id: reply.id, reply_to_id: keep.id });
    expect(records[7]).toMatchObject({ action: "timeout", user_id: viewer.user_id, seconds: 30, reason: "e2e", by: owner.user_id });
    // The plain message event is exactly DESIGN.md's fields.
    expect(Object.keys(records[0]!).sort()).toEqual(["comment_id", "created_at", "event_type", "message", "stream_id", "user_id", "username"]);
    o.close();
    v.close();
  });

  it("a redelivered and a reordered batch of edits and deletions leave Redis in the current state", async () => {
    const sid = crypto.randomUUID();
    const redis = new Redis({ url: `${bridge.url}/redis`, token: bridge.token, automaticDeserialization: false, enableTelemetry: false });
    const sink = new RedisHistorySink(redis);
    const user = crypto.randomUUID();
    const at = new Date().toISOString();
    const c = (seq: number, text: string): RoomEvent => ({
      type: "comment",
      seq,
      comment: { id: crypto.randomUUID(), stream_id: sid, user_id: user, username: null, message: text, created_at: at },
    });
    const one = c(1, "one");
    const two = c(2, "two");
    const three = c(3, "three");
    const id = (e: RoomEvent) => (e as Extract<RoomEvent, { type: "comment" }>).comment.id;
    const frames: RoomEvent[] = [
      one,
      two,
      three,
      { type: "comment_edited", seq: 4, id: id(one), message: "one, edited", entities: [], edited_at: at },
      { type: "comment_deleted", seq: 5, id: id(two), by: user },
      { type: "moderation", seq: 6, action: "ban", user_id: user, deleted: [id(three)], by: user },
    ];
    const events = frames.map((f) => toQueueEvent(f, sid, at, user));
    // Reordered: the edit and the deletions arrive before their comments, in separate batches.
    expect(await sink.deliver([events[3]!, events[4]!, events[5]!])).toEqual([true, true, true]);
    expect(await sink.deliver([events[2]!, events[1]!, events[0]!])).toEqual([true, true, true]);
    // Redelivered, whole.
    expect(await sink.deliver(events)).toEqual(events.map(() => true));
    const members = (await redis.zrange(historyKey(sid), 0, -1)) as string[];
    expect(members.map((m) => (JSON.parse(m) as SeqComment).comment)).toEqual([{ ...(one as { comment: object }).comment, message: "one, edited", edited_at: at }]);
  });
});
