/**
 * Slow consumers (issue 19 §3, src/rules/consumers.ts) through the worker, in both modes (the room's
 * own sockets, or fan-out shards). A test client inside workerd always reads, so "stopped reading"
 * is played by what it reports: a `?seen=1` socket whose `seen` stays old while events flow is what
 * the room sees of a client whose TCP window filled. The bound is made small and the grace 0 (per
 * room, setLimits), so the outcome does not depend on the clock: the first delivery over the bound
 * starts the grace, the next one closes.
 */
import { describe, expect, it } from "vitest";
import { CLOSE_SLOW_CONSUMER, SLOW_CONSUMER_REASON } from "../../src/rules/consumers";
import { acked, Client, connect, newStreamId, roomStub, setLimits, token } from "./helpers";

const BEHIND = 5;
const MESSAGES = 20;

async function tightLimits(sid: string): Promise<void> {
  await setLimits(roomStub(sid), {
    SLOW_CONSUMER_MAX_BEHIND: BEHIND,
    SLOW_CONSUMER_GRACE_MS: 0,
    RATE_LIMIT_PER_SEC: 1_000,
    ROOM_MAX_MESSAGES_PER_SEC: 1_000,
    SOCKET_MAX_FRAMES_PER_SEC: 1_000,
  });
}

/** Reports every comment it reads, as soon as it reads it (a client that keeps up). */
function keepReporting(c: Client): void {
  c.ws.addEventListener("message", () => {
    const seqs = c.frames.map((f) => ("seq" in f && typeof f.seq === "number" ? f.seq : 0));
    const last = Math.max(0, ...seqs);
    if (c.closed === null) c.send({ type: "seen", seq: last });
  });
}

describe("slow consumers: a ?seen=1 socket that stops reporting", () => {
  it("is closed 4408 slow_consumer while events flow; sockets that report, and sockets that never opted in, are not", async () => {
    const sid = newStreamId();
    const stuck = await connect(sid, { query: "?seen=1" });
    const stuckBatched = await connect(sid, { query: "?seen=1&batch=1" });
    const reading = await connect(sid, { query: "?seen=1" });
    const readingBatched = await connect(sid, { query: "?seen=1&batch=1" });
    const plain = await connect(sid);
    const sender = await connect(sid, { token: await token({ username: "sender" }) });
    await tightLimits(sid);
    const start = stuck.of("welcome")[0]!.seq;
    stuck.send({ type: "seen", seq: start }); // its last report: what it had when it joined
    keepReporting(reading);
    keepReporting(readingBatched);

    const seqs: number[] = [];
    for (let i = 0; i < MESSAGES; i++) seqs.push((await acked(sender, { type: "message", text: `m${i}` })).seq!);
    const last = seqs[seqs.length - 1]!;
    for (const c of [reading, readingBatched, plain, sender]) await c.until((x) => x.comments().some((f) => f.seq === last), "the last comment");

    for (const c of [stuck, stuckBatched]) {
      await c.until((x) => x.closed !== null, "the 4408 close");
      expect(c.closed).toEqual({ code: CLOSE_SLOW_CONSUMER, reason: SLOW_CONSUMER_REASON });
      // Closed soon after it passed the bound: it did not get the whole burst.
      expect(c.comments().length).toBeLessThan(MESSAGES);
      expect(c.comments().length).toBeGreaterThanOrEqual(BEHIND);
    }
    for (const c of [reading, readingBatched, plain, sender]) {
      expect(c.closed).toBeNull();
      expect(c.comments().map((f) => f.seq)).toEqual(seqs);
    }
    await Promise.all([reading.close(), readingBatched.close(), plain.close(), sender.close()]);
  });

  it("a closed slow consumer resumes with since and gets exactly what it missed", async () => {
    const sid = newStreamId();
    const stuck = await connect(sid, { query: "?seen=1" });
    const sender = await connect(sid, { token: await token({ username: "sender" }) });
    await tightLimits(sid);
    stuck.send({ type: "seen", seq: stuck.of("welcome")[0]!.seq });
    const seqs: number[] = [];
    for (let i = 0; i < MESSAGES; i++) seqs.push((await acked(sender, { type: "message", text: `r${i}` })).seq!);
    await stuck.until((x) => x.closed !== null, "the 4408 close");
    expect(stuck.closed!.code).toBe(CLOSE_SLOW_CONSUMER);
    const got = stuck.comments().map((f) => f.seq);
    const epoch = stuck.of("welcome")[0]!.epoch;
    const again = await connect(sid, { query: `?seen=1&since=${Math.max(...got)}&epoch=${epoch}` });
    const history = again.of("history")[0]!;
    expect(history.recovered).toBe(true);
    expect([...got, ...history.comments.map((c) => c.seq)]).toEqual(seqs);
    await Promise.all([again.close(), sender.close()]);
  });
});
