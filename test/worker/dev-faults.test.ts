/**
 * The fault matrix's dev-only switches (README "Faults", src/dev-faults.ts, src/worker.ts):
 * `POST /dev/faults/queue` and `POST /dev/faults/evict` refuse bad bodies with a typed 400 and
 * change nothing; an eviction resets the room (or its shards) as the platform would — the sockets
 * drop, storage stays, and a viewer who comes back resumes with nothing missed.
 */
import { describe, expect, it } from "vitest";
import { SHARDED, type Client, acked, connect, fetchWorker, newStreamId, openSockets, shardStubs, token } from "./helpers";

function post(path: string, body: unknown): Promise<Response> {
  return fetchWorker(path, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
}

/** Sends `frame` with the given client_msg_id and waits for its ack. */
async function ackOf(c: Client, frame: Record<string, unknown>, cmid: string) {
  c.send({ ...frame, client_msg_id: cmid });
  const pick = () => c.frames.filter((f) => f.type === "ack" && f.client_msg_id === cmid).at(-1) as { id?: string; seq?: number } | undefined;
  await c.until(() => pick() !== undefined, `ack of ${cmid}`);
  return pick()!;
}

async function errorOf(res: Response): Promise<{ status: number; code: string }> {
  const body = (await res.json()) as { error: string };
  return { status: res.status, code: body.error };
}

describe("POST /dev/faults/* refuse bad input", () => {
  it.each([
    ["/dev/faults/evict", { stream_id: "not-a-uuid", target: "room" }, "invalid_stream_id"],
    ["/dev/faults/evict", { target: "room" }, "invalid_stream_id"],
    ["/dev/faults/evict", { stream_id: crypto.randomUUID(), target: "everything" }, "invalid_target"],
    ["/dev/faults/evict", { stream_id: crypto.randomUUID() }, "invalid_target"],
    ["/dev/faults/queue", { queue: "chat-nope" }, "invalid_queue"],
    ["/dev/faults/queue", { queue: "chat-events", batches: 11 }, "invalid_batches"],
    ["/dev/faults/queue", { queue: "chat-events", batches: 1.5 }, "invalid_batches"],
    ["/dev/faults/queue", { queue: "chat-events", when: "later" }, "invalid_when"],
  ])("%s %j → 400 %s", async (path, body, code) => {
    expect(await errorOf(await post(path, body))).toEqual({ status: 400, code });
  });

  it("a body that is not JSON is a 400", async () => {
    const res = await post("/dev/faults/evict", "{nope");
    expect(res.status).toBe(400);
  });
});

describe("POST /dev/faults/evict", () => {
  it("target room: the room's sockets drop, its storage stays, a resume recovers what was missed", { timeout: 30_000 }, async () => {
    const sid = newStreamId();
    const t = await token();
    const a = await connect(sid, { token: t });
    const first = await ackOf(a, { type: "message", text: "before the reset" }, "m1");
    const res = await post("/dev/faults/evict", { stream_id: sid, target: "room" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ reset: ["room"] });
    if (!SHARDED) await a.until((c) => c.closed !== null, "the room's socket closed by the reset", 10_000);
    // The room came back from storage: the same seq, and a retried client_msg_id is not applied again.
    const b = await connect(sid, { token: t, query: `?since=0` });
    expect(b.of("history").at(-1)!.comments.map((c) => c.comment.id)).toContain(first.id);
    const again = await ackOf(b, { type: "message", text: "before the reset" }, "m1");
    expect(again.seq).toBe(first.seq);
    const next = await acked(b, { type: "message", text: "after the reset" });
    expect(next.seq).toBe(first.seq! + 1);
    await b.close();
  });

  it.runIf(SHARDED)("target shards: every shard of the stream is reset and its sockets drop; the room keeps the stream", { timeout: 30_000 }, async () => {
    const sid = newStreamId();
    const viewers = await Promise.all([0, 1, 2, 3].map(async () => connect(sid, { token: await token() })));
    const keys = (await shardStubs(sid)).length;
    expect(keys).toBeGreaterThan(0);
    const res = await post("/dev/faults/evict", { stream_id: sid, target: "shards" });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { reset: string[] }).reset).toHaveLength(keys);
    for (const v of viewers) await v.until((c) => c.closed !== null, "a shard socket closed by the reset", 10_000);
    expect(await openSockets(sid)).toBe(0);
    const back = await connect(sid, { token: await token() });
    expect((await acked(back, { type: "message", text: "still here" })).seq).toBe(1);
    await back.close();
  });
});
