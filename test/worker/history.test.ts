/**
 * The history API's two sources (issue 18 §6): with Redis configured it reads Redis (the production
 * path, unchanged: a failing Redis is a 503, never another source); without Redis — the default
 * `npm run dev` — it answers from the stream's room: its last 200 comments in their current state,
 * paged exactly like Redis. `x-history-source` says which one answered. This suite runs without
 * Redis (vitest.config.ts), so the fallback is what the socket tests' rooms answer; the Redis path
 * talks to the fake Upstash of vitest.config.ts through the worker's fetch with Redis variables set.
 */
import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { HISTORY_SIZE, HistoryResponse, type SeqComment } from "../../src/protocol";
import type { ChatRoom } from "../../src/room";
import type { RoomState } from "../../src/rules/room-state";
import worker from "../../src/worker";
import { BASE, acked, connect, fetchWorker, newStreamId, roomStub, setLimits, staffToken, token, type Client } from "./helpers";

/** GET the history API as `t`: status, source header and the parsed body. */
async function history(sid: string, t: string, query = "") {
  const res = await fetchWorker(`/v1/streams/${sid}/chat/history${query}`, { headers: { authorization: `Bearer ${t}` } });
  const body = res.status === 200 ? HistoryResponse.parse(await res.json()) : null;
  return { status: res.status, source: res.headers.get("x-history-source"), comments: body?.comments ?? [] };
}

const texts = (comments: readonly SeqComment[]) => comments.map((c) => c.comment.message);

/** Sends a message and returns its ack's id and seq. */
async function post(c: Client, text: string): Promise<{ id: string; seq: number }> {
  const ack = await acked(c, { type: "message", text });
  return { id: ack.id!, seq: ack.seq! };
}

describe("history API without Redis: the room answers", () => {
  it("the comments in their current state (edits applied, deletions and a ban's comments gone), oldest first, paged like Redis", async () => {
    const sid = newStreamId();
    const viewerToken = await token({ username: "viewer" });
    const ownerToken = await staffToken(sid, "owner");
    const viewer = await connect(sid, { token: viewerToken });
    const owner = await connect(sid, { token: ownerToken });

    const m: Array<{ id: string; seq: number }> = [];
    for (let i = 1; i <= 6; i++) m.push(await post(viewer, `m${i}`));
    await acked(viewer, { type: "edit", id: m[1]!.id, text: "m2 (edited)" });
    await acked(viewer, { type: "delete", id: m[3]!.id });
    const fromOwner = await post(owner, "from the owner");

    const all = await history(sid, viewerToken);
    expect(all.status).toBe(200);
    expect(all.source).toBe("room");
    expect(texts(all.comments)).toEqual(["m1", "m2 (edited)", "m3", "m5", "m6", "from the owner"]);
    expect(all.comments[1]!.comment.edited_at).toEqual(expect.any(String));
    // Exactly what a newcomer's socket is given as the backlog (the room's comments in current state).
    const late = await connect(sid, { token: await token() });
    expect(all.comments).toEqual(late.of("history")[0]!.comments);

    // Paging: `limit` newest, `before` exclusive, oldest first — as Redis pages.
    expect(texts((await history(sid, viewerToken, "?limit=2")).comments)).toEqual(["m6", "from the owner"]);
    expect(texts((await history(sid, viewerToken, `?limit=2&before=${m[4]!.seq}`)).comments)).toEqual(["m2 (edited)", "m3"]);
    expect(texts((await history(sid, viewerToken, `?before=${m[0]!.seq}`)).comments)).toEqual([]);
    expect(texts((await history(sid, viewerToken, `?before=${fromOwner.seq + 100}`)).comments)).toEqual(texts(all.comments));

    // A ban removes the user's comments from the room, so from the history too.
    const viewerId = viewer.of("welcome")[0]!.user.id;
    await acked(owner, { type: "ban", user_id: viewerId });
    expect(texts((await history(sid, ownerToken)).comments)).toEqual(["from the owner"]);

    for (const c of [viewer, owner, late]) await c.close();
  });

  it("a stream nobody has joined answers an empty page, and the read does not bind its room", async () => {
    const sid = newStreamId();
    const page = await history(sid, await token());
    expect(page).toEqual({ status: 200, source: "room", comments: [] });
    const bound = await runInDurableObject(roomStub(sid), (room: ChatRoom) => (room as unknown as { state: RoomState }).state.streamId);
    expect(bound).toBe("");
  });

  it(`holds what the room holds: the last ${HISTORY_SIZE} comments (limit=${HISTORY_SIZE}), 50 by default`, async () => {
    const sid = newStreamId();
    const t = await token();
    const c = await connect(sid, { token: t });
    // This test is about the ring's bound, not the rate limits: give the room room to breathe.
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 10_000, ROOM_MAX_MESSAGES_PER_SEC: 10_000, SOCKET_MAX_FRAMES_PER_SEC: 10_000 });
    const total = HISTORY_SIZE + 5;
    for (let i = 1; i <= total; i++) c.send({ type: "message", text: `n${i}`, client_msg_id: `n${i}` });
    await c.until((x) => x.of("ack").length === total, `${total} acks`, 15_000);
    expect(c.of("error")).toEqual([]);

    const full = await history(sid, t, `?limit=${HISTORY_SIZE}`);
    expect(full.comments).toHaveLength(HISTORY_SIZE);
    expect(full.comments[0]!.comment.message).toBe("n6");
    expect(full.comments.at(-1)!.comment.message).toBe(`n${total}`);
    const seqs = full.comments.map((x) => x.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const byDefault = await history(sid, t);
    expect(byDefault.comments).toEqual(full.comments.slice(-50));
    await c.close();
  }, 30_000);
});

describe("history API with Redis configured: Redis answers, never the room", () => {
  /** The worker's fetch with Redis variables set (the fake Upstash of vitest.config.ts). */
  async function withRedis(url: string, sid: string, t: string): Promise<Response> {
    const ctx = createExecutionContext();
    const redisEnv = { ...env, UPSTASH_REDIS_REST_URL: url, UPSTASH_REDIS_REST_TOKEN: "upstash-test-token" } as Env;
    const res = await worker.fetch(new Request(`${BASE}/v1/streams/${sid}/chat/history?limit=10`, { headers: { authorization: `Bearer ${t}` } }), redisEnv, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  }

  it("answers Redis's members (x-history-source: redis) even when the room holds other comments", async () => {
    const sid = newStreamId();
    const t = await token();
    const c = await connect(sid, { token: t });
    await post(c, "only in the room");
    const stored: SeqComment[] = [1, 2].map((seq) => ({
      seq,
      comment: { id: crypto.randomUUID(), stream_id: sid, user_id: crypto.randomUUID(), username: "r", message: `redis ${seq}`, created_at: new Date(0).toISOString() },
    }));
    // Highest score first, as ZRANGE … REV answers.
    const put = await fetch(`https://upstash.test/_members/${encodeURIComponent(`chat:${sid}:history`)}`, {
      method: "POST",
      body: JSON.stringify(stored.map((s) => JSON.stringify(s)).reverse()),
    });
    expect(put.ok).toBe(true);

    const res = await withRedis("https://upstash.test", sid, t);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-history-source")).toBe("redis");
    expect(HistoryResponse.parse(await res.json()).comments).toEqual(stored);
    await c.close();
  });

  it("a configured Redis that fails answers 503 history_unavailable, not the room's comments", async () => {
    const sid = newStreamId();
    const t = await token();
    const c = await connect(sid, { token: t });
    await post(c, "only in the room");
    const res = await withRedis("https://upstash-down.test", sid, t);
    expect(res.status).toBe(503);
    expect(res.headers.get("x-history-source")).toBeNull();
    expect(await res.json()).toEqual({ error: "history_unavailable", message: "History storage is unavailable, try again shortly" });
    await c.close();
  });
});
