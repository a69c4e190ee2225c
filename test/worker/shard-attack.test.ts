/**
 * Attacks on the sharded path (DESIGN.md "Hot streams and global viewers"; src/shard.ts,
 * src/shard-links.ts, src/mirror.ts, src/rules/placement.ts and the room's admit/commands/
 * shardReport/mirrorSnapshot): a hostile or unlucky client, or an unlucky platform event (an
 * eviction, a failed, slow or stuck RPC, reordering at an await), against a guarantee that the
 * unsharded room keeps.
 *
 * Each `it.fails` titled "FAULT …" demonstrates a fault that is still in src/ (its comment,
 * "FAULT (…)", names the fault and where it comes from); the suite stays green until it is fixed.
 * Then the test flips to `it` and is titled after the guarantee it now proves, and its comment
 * becomes "Fixed (…); before the fix: …", describing the code as it was then. Any other plain `it`
 * is an attack that was tried and held.
 *
 * Only meaningful sharded (SHARD_MAX_SOCKETS=3, vitest.config.ts's default), so a region's fourth
 * socket opens a second shard. Platform events are simulated by wrapping a method of one object's
 * prototype (RPC serves prototype methods only), restricted to that object and undone in `finally`.
 */
import { listDurableObjectIds, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CLOSE_TOO_MANY_SOCKETS, HISTORY_SIZE, type ServerFrame } from "../../src/protocol";
import type { ChatRoom } from "../../src/room";
import type { ChatShard } from "../../src/shard";
import { ACK_HOLD_MS } from "../../src/shard";
import { BASE, Client, SHARDED, newStreamId, newUserId, roomStub, setLimits, sleep, token } from "./helpers";

type Frame<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

// ---------------------------------------------------------------------------------------------
// Connecting from a region, answers, seqs
// ---------------------------------------------------------------------------------------------

function upgradeFrom(sid: string, continent: string, t: string, query = "", headers: Record<string, string> = {}): Promise<Response> {
  const req = new Request(`${BASE}/ws/streams/${sid}/chat${query}`, {
    headers: { upgrade: "websocket", authorization: `Bearer ${t}`, ...headers },
    cf: { continent },
  } as RequestInit);
  return exports.default.fetch(req);
}

async function connectFrom(sid: string, continent: string, t: string, query = "", headers: Record<string, string> = {}): Promise<Client> {
  const res = await upgradeFrom(sid, continent, t, query, headers);
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade failed: ${res.status} ${await res.text()}`);
  const c = new Client(res.webSocket);
  await c.until((x) => x.of("history").length > 0, "welcome + history");
  return c;
}

/** A viewer of `continent`; `sub` to open another socket of the same user. */
async function viewer(sid: string, continent: string, sub = newUserId(), query = ""): Promise<{ sub: string; c: Client }> {
  return { sub, c: await connectFrom(sid, continent, await token({ sub, username: `u${sub.slice(0, 6)}` }), query) };
}

const shardKey = (sid: string, name: string) => `${sid}/${name}`;
const shardStub = (sid: string, name: string) => env.CHAT_SHARD.get(env.CHAT_SHARD.idFromName(shardKey(sid, name)));

/** Shard name → user ids of its open sockets (read inside each shard). */
async function placement(sid: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const key of await roomStub(sid).shardKeys()) {
    out[key.slice(key.indexOf("/") + 1)] = await runInDurableObject(env.CHAT_SHARD.get(env.CHAT_SHARD.idFromName(key)), (_s: ChatShard, state) =>
      state
        .getWebSockets()
        .filter((ws) => ws.readyState === WebSocket.OPEN)
        .map((ws) => (ws.deserializeAttachment() as { u: string; x?: 1 }))
        .filter((a) => a.x !== 1)
        .map((a) => a.u)
        .sort(),
    );
  }
  return out;
}

const answerOf = (c: Client, cmid: string) =>
  c.frames.find((f) => (f.type === "ack" || f.type === "error") && f.client_msg_id === cmid) as Frame<"ack"> | Frame<"error"> | undefined;

/** Sends `frame` with `cmid` and waits for its ack or error. */
async function answer(c: Client, frame: Record<string, unknown>, cmid: string = crypto.randomUUID(), ms = 10_000): Promise<Frame<"ack"> | Frame<"error">> {
  c.send({ ...frame, client_msg_id: cmid });
  await c.until((x) => answerOf(x, cmid) !== undefined, `the answer to ${cmid}`, ms);
  return answerOf(c, cmid)!;
}

async function post(c: Client, text: string): Promise<Frame<"ack">> {
  const r = await answer(c, { type: "message", text });
  if (r.type !== "ack") throw new Error(`message refused: ${JSON.stringify(r)}`);
  return r;
}

const SEQUENCED = new Set<string>(["comment", "comment_edited", "comment_deleted", "pinned", "moderation"]);
/** The seqs of the sequenced frames a socket received live, in arrival order. */
const liveSeqs = (c: Client) => c.frames.filter((f): f is Frame<"comment"> => SEQUENCED.has(f.type)).map((f) => f.seq);
const untilSeq = (c: Client, last: number, what = `seq ${last}`, ms = 15_000) => c.until((x) => liveSeqs(x).includes(last), what, ms);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Limits no test here wants to hit by accident (each test lowers the one it is about). */
const roomy = { RATE_LIMIT_PER_SEC: 10_000, ROOM_MAX_MESSAGES_PER_SEC: 10_000, SOCKET_MAX_FRAMES_PER_SEC: 10_000 };

// ---------------------------------------------------------------------------------------------
// Simulated platform events: one object's method made to fail, hang or wait
// ---------------------------------------------------------------------------------------------

type Method = (...args: unknown[]) => Promise<unknown>;
/**
 * Wraps `method` on the prototype of the class of the object behind `stub`: calls for which
 * `mine(this)` holds go to `wrapper(real, this, args)`, every other call to the real method (the
 * prototype is shared by every object of the class, and by an evicted object's next instance).
 * Returns the undo.
 */
async function wrap<T extends Rpc.DurableObjectBranded>(
  stub: DurableObjectStub<T>,
  method: string,
  mine: (self: unknown) => boolean,
  wrapper: (real: Method, self: unknown, args: unknown[]) => Promise<unknown>,
): Promise<() => void> {
  return runInDurableObject(stub, (obj: T) => {
    const proto = Object.getPrototypeOf(obj) as Record<string, Method>;
    const real = proto[method]!;
    proto[method] = function (this: unknown, ...args: unknown[]) {
      return mine(this) ? wrapper(real, this, args) : real.apply(this, args);
    };
    return () => {
      proto[method] = real;
    };
  });
}

const isShard = (sid: string, name: string) => (self: unknown) => (self as { key?: string }).key === shardKey(sid, name);
const isRoom = (sid: string) => (self: unknown) => (self as { state?: { streamId?: string } }).state?.streamId === sid;

/** Makes every delivery to the shard `name` of `sid` fail while `failing.on` is true; `undo` restores the method. */
async function failDeliveries(sid: string, name: string): Promise<{ failing: { on: boolean }; undo: () => void }> {
  const failing = { on: true };
  const undo = await wrap(shardStub(sid, name), "deliver", isShard(sid, name), async (real, self, args) => {
    if (failing.on) throw new Error("injected delivery failure");
    return real.apply(self, args);
  });
  return { failing, undo };
}

/**
 * Calls that wait while the gate is closed, then run for real. The wait is a poll inside the
 * object's own context (a promise resolved from the test's context would run the real call on
 * behalf of another object, which workerd refuses).
 */
class Gate {
  closed = true;
  waiting = 0;
  async hold(run: () => Promise<unknown>): Promise<unknown> {
    this.waiting++;
    try {
      while (this.closed) await new Promise((r) => setTimeout(r, 20));
    } finally {
      this.waiting--;
    }
    return run();
  }
  release(): void {
    this.closed = false;
  }
}

/** The room's link to one shard (src/audience.ts ShardedAudience → src/shard-links.ts), for looking at its queue. */
async function linkOf(sid: string, name: string): Promise<{ pending: number; inflight: boolean }> {
  return runInDurableObject(roomStub(sid), (room: ChatRoom) => {
    const links = (room as unknown as { audience: { links: { links: Map<string, { pending: unknown[]; inflight: boolean }> } } }).audience.links.links;
    const l = links.get(name);
    return { pending: l?.pending.length ?? -1, inflight: l?.inflight ?? false };
  });
}

describe.skipIf(!SHARDED)("attacks on fan-out shards (SHARD_MAX_SOCKETS=3)", () => {
  // -------------------------------------------------------------------------------------------
  // Sequence: gaps and duplicates
  // -------------------------------------------------------------------------------------------

  // Fixed (seq gap); before the fix: when a shard's deliveries fail for more than the ring
  // (HISTORY_SIZE events), the room sends it a snapshot; the shard's sockets last saw seq 1, the
  // snapshot's ring starts far later, and ChatShard.catchUp (src/shard.ts, `missed === null`) only
  // logs a warning and broadcasts the ring: sockets that stayed open silently skip the events in
  // between. The unsharded room never skips a seq on an open socket. Expected: no gap, or the
  // sockets are told to resync (closed, so a client resumes and gets a fresh backlog).
  it("a shard whose deliveries failed for more than the ring never skips a seq on its open sockets: they get every event in between, or are closed to resync", { timeout: 60_000 }, async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), roomy);
    const here = await viewer(sid, "EU");
    const there = await viewer(sid, "AS");
    await post(there.c, "before");
    await untilSeq(here.c, 1);
    const { failing, undo } = await failDeliveries(sid, "EU-0");
    const last = HISTORY_SIZE + 11;
    try {
      for (let i = 2; i <= last; i++) there.c.send({ type: "message", text: `m${i}`, client_msg_id: `m${i}` });
      await there.c.until((x) => x.of("ack").length >= last - 1, "every ack on AS", 30_000);
      failing.on = false;
      await here.c.until((x) => liveSeqs(x).includes(last) || x.closed !== null, `seq ${last} (or a close) on EU`, 20_000);
    } finally {
      failing.on = false;
      undo();
    }
    if (here.c.closed === null) expect(liveSeqs(here.c)).toEqual(range(1, last));
    await Promise.all([here.c.close(), there.c.close()]);
  });

  // FAULT (duplicate frames): a shard evicted while a delivery to it is failing has `sent` null;
  // a viewer who joins it then gets welcome/history from a fresh snapshot (seq 2) without `sent`
  // being set (ensureMirror skips it when the shard has sockets, src/shard.ts ensureMirror), and the
  // retried delivery sets sent = prev = 1 (src/shard.ts deliver, `this.sent === null && d.prev >= 0`),
  // so catchUp re-broadcasts seq 2 to every socket — the newcomer already has it in its history and
  // at or below its welcome.seq. Unsharded, a live frame never repeats what the welcome covered.
  it.fails("FAULT duplicate: a viewer who joins an evicted shard while its delivery is failing gets frames at or below its welcome.seq again", { timeout: 40_000 }, async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), roomy);
    const old = await viewer(sid, "EU");
    const there = await viewer(sid, "AS");
    await post(there.c, "one");
    await untilSeq(old.c, 1);
    const { failing, undo } = await failDeliveries(sid, "EU-0");
    let late: Client;
    try {
      await post(there.c, "two");
      await sleep(300); // at least one failed attempt
      await evictDurableObject(shardStub(sid, "EU-0"));
      late = (await viewer(sid, "EU")).c;
      expect((await placement(sid))["EU-0"]).toHaveLength(2);
      expect(late.of("welcome")[0]!.seq).toBe(2);
      failing.on = false;
      await untilSeq(old.c, 2, "the retried delivery");
    } finally {
      failing.on = false;
      undo();
    }
    await post(there.c, "three");
    await untilSeq(late!, 3);
    expect(liveSeqs(old.c)).toEqual([1, 2, 3]);
    expect(liveSeqs(late!)).toEqual([3]);
    await Promise.all([old.c.close(), late!.close(), there.c.close()]);
  });

  // Fixed (first comment lost after hibernation); before the fix: the room knows what a shard has
  // broadcast only from deliveries of entries (src/shard-links.ts: link.acked, −1 until then; a new
  // shard gets its mirror from mirrorSnapshot(), not from a delivery). A shard evicted before its
  // first entry (an idle stream: hibernation evicts every quiet shard) gets prev: −1 with that
  // entry, answers need: "snapshot", and on the snapshot sets `sent` to the snapshot's seq
  // (src/shard.ts deliver: `if (this.sent === null) this.sent = before`): the entry that woke it is
  // never sent to its sockets. (test/worker/shards.test.ts "the room and a shard evicted together"
  // failed the same way: the room's restart also reset acked to −1.)
  it("a shard evicted before the stream's first comment still sends that comment, and the next, to its sockets", { timeout: 40_000 }, async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), roomy);
    const here = await viewer(sid, "EU");
    const there = await viewer(sid, "AS");
    await sleep(1_000); // presence pushes and reports settle (deliveries without entries)
    await evictDurableObject(shardStub(sid, "EU-0"));
    await post(there.c, "first");
    await post(there.c, "second");
    await untilSeq(here.c, 2);
    expect(liveSeqs(here.c)).toEqual([1, 2]);
    await Promise.all([here.c.close(), there.c.close()]);
  });

  // FAULT (gap across a room restart): a room starting again sets every listed shard's acked to the
  // seq it loaded (src/shard-links.ts constructor: `acked = host.loadedSeq`), assuming everything
  // it had sequenced was broadcast. An entry whose delivery was still failing (or in flight) when
  // the room went away was not; if that shard was evicted too, it takes prev as what its sockets
  // saw (src/shard.ts deliver: `this.sent = d.prev`) and never sends them that entry.
  it.fails("FAULT gap: a comment whose delivery was failing when the room restarted never reaches a shard that was evicted too", { timeout: 40_000 }, async () => {
    const sid = newStreamId();
    const here = await viewer(sid, "EU");
    const there = await viewer(sid, "AS");
    await post(there.c, "one");
    await untilSeq(here.c, 1);
    const { failing, undo } = await failDeliveries(sid, "EU-0");
    try {
      await post(there.c, "two");
      await sleep(300); // at least one failed attempt
      await evictDurableObject(shardStub(sid, "EU-0"));
      // The room reset (a crash, a platform restart): its retry timer cannot keep it alive.
      await runInDurableObject(roomStub(sid), (_room: ChatRoom, state) => state.abort("test: room reset")).catch(() => undefined);
    } finally {
      failing.on = false;
      undo();
    }
    await post(there.c, "three");
    await untilSeq(here.c, 3);
    expect(liveSeqs(here.c)).toEqual([1, 2, 3]);
    await Promise.all([here.c.close(), there.c.close()]);
  });

  // Fixed (resume); before the fix: a client that saw seq 3 on one shard resumes (`since=3`) on a
  // shard whose mirror is behind (its feed failing, or simply slower); mirror.historyFrame
  // (src/mirror.ts historyFrame: `since <= view.seq` fails) answers a fresh backlog with
  // recovered:false and a welcome.seq (0) below what the client already has, then sends seqs 1–3
  // live again when the feed catches up. The room, which admitted the upgrade at seq 3, would have
  // answered recovered:true with nothing missed. Expected: the shard answers as the room would (e.g.
  // admit returns the room's seq and the shard waits for, or fetches, a mirror at least that far).
  it("a resume with since=<latest> on a shard whose feed is behind is answered as the room would: welcome.seq = since, recovered:true, nothing sent again", { timeout: 40_000 }, async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), roomy);
    const eu = await viewer(sid, "EU"); // EU-0 exists, its mirror at 0
    const me = await viewer(sid, "AS");
    const { failing, undo } = await failDeliveries(sid, "EU-0");
    let back: Client;
    try {
      for (let i = 1; i <= 3; i++) await post(me.c, `m${i}`);
      await untilSeq(me.c, 3);
      const epoch = me.c.of("welcome")[0]!.epoch;
      await me.c.close();
      back = await connectFrom(sid, "EU", await token({ sub: me.sub }), `?since=3&epoch=${encodeURIComponent(epoch)}`);
    } finally {
      failing.on = false;
      undo();
    }
    await untilSeq(eu.c, 3, "EU-0's feed again");
    await sleep(200);
    expect({ seq: back.of("welcome")[0]!.seq, recovered: back.of("history")[0]!.recovered, live: liveSeqs(back) }).toEqual({ seq: 3, recovered: true, live: [] });
    await Promise.all([eu.c.close(), back.close()]);
  });

  // Held: a delivery that the shard applied but whose answer was lost is sent again; the shard
  // skips what it has (RoomMirror.accept) and its sockets see every seq once.
  it("a delivery applied by the shard but answered with an error is redelivered without duplicates", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), roomy);
    const here = await viewer(sid, "EU");
    const there = await viewer(sid, "AS");
    let lost = 0;
    const undo = await wrap(shardStub(sid, "EU-0"), "deliver", isShard(sid, "EU-0"), async (real, self, args) => {
      const ack = await real.apply(self, args);
      if (lost < 3 && (args[0] as { entries: unknown[] }).entries.length > 0) {
        lost++;
        throw new Error("injected: answer lost after the delivery was applied");
      }
      return ack;
    });
    try {
      for (let i = 1; i <= 6; i++) await post(there.c, `m${i}`);
      await untilSeq(here.c, 6);
      await post(there.c, "m7");
      await untilSeq(here.c, 7);
    } finally {
      undo();
    }
    expect(lost).toBe(3);
    expect(liveSeqs(here.c)).toEqual(range(1, 7));
    await Promise.all([here.c.close(), there.c.close()]);
  });

  // -------------------------------------------------------------------------------------------
  // Acks and answers
  // -------------------------------------------------------------------------------------------

  // Fixed (ack held past ACK_HOLD_MS); before the fix: fill() (src/shard.ts) arms the hold timer
  // only when none is armed, and the timer does not re-arm itself for what is still held after it
  // fires; an ack held while another one's timer was running waits until the next fill() or
  // deliver() instead of ACK_HOLD_MS. With the shard's feed failing, the second ack of a sender does
  // not come until the feed recovers (never, if it does not). Expected: every answer within
  // ~ACK_HOLD_MS.
  it("with the shard's feed failing, every held ack is released within ACK_HOLD_MS, also one held while another's hold was running", { timeout: 40_000 }, async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), roomy);
    const sender = await viewer(sid, "EU");
    const { failing, undo } = await failDeliveries(sid, "EU-0");
    try {
      sender.c.send({ type: "message", text: "first", client_msg_id: "a" });
      await sleep(3_000);
      const sentAt = Date.now();
      sender.c.send({ type: "message", text: "second", client_msg_id: "b" });
      await sender.c.until((x) => answerOf(x, "a") !== undefined, "the first ack (released by the hold timer)", ACK_HOLD_MS + 3_000);
      await sender.c.until((x) => answerOf(x, "b") !== undefined, "the second ack within ACK_HOLD_MS", sentAt + ACK_HOLD_MS + 2_500 - Date.now());
    } finally {
      failing.on = false;
      undo();
    }
    await sender.c.close();
  });

  // Fixed (dedupe); before the fix: a shard that has seen `room_busy` refuses every message and edit
  // on it until the retry time (src/shard.ts webSocketMessage: `posts && now < this.busyUntil`, and
  // the shedding just above it), before the room's dedupe: a repeat of an already acknowledged
  // client_msg_id (what a client resends when an ack was lost) gets `room_busy` instead of its ack.
  // The room dedupes first (README "One pass per command"), so unsharded the repeat gets the same
  // ack at once — DESIGN.md: "a repeated client_msg_id gets the same ack".
  it("after a room_busy on the shard, a repeat of an acknowledged client_msg_id still gets its original ack", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { ROOM_MAX_MESSAGES_PER_SEC: 1 });
    const a = await viewer(sid, "EU");
    const b = await viewer(sid, "EU");
    const first = await answer(a.c, { type: "message", text: "one" }, "x");
    expect(first).toMatchObject({ type: "ack", seq: 1 });
    expect(await answer(b.c, { type: "message", text: "two" })).toMatchObject({ type: "error", code: "room_busy" });
    a.c.send({ type: "message", text: "one", client_msg_id: "x" });
    await a.c.until((x) => x.frames.filter((f) => (f.type === "ack" || f.type === "error") && f.client_msg_id === "x").length === 2, "the repeat's answer");
    const repeat = a.c.frames.filter((f) => (f.type === "ack" || f.type === "error") && f.client_msg_id === "x")[1];
    expect(repeat).toEqual(first);
    await Promise.all([a.c.close(), b.c.close()]);
  });

  // Fixed (answers out of order); before the fix: the shard's gate (src/fanout.ts gate → reject →
  // sendError, called from src/shard.ts webSocketMessage) answers a malformed frame at once, while
  // the answer to the valid frame sent before it waits for the room's RPC (and the hold): a socket's
  // answers arrive in another order than its frames. The unsharded room answers in frame order, and
  // the shard's own refusals (slot() → fill()) keep it; the gate's errors and the frame budget's
  // `rate_limited` skip the queue.
  it("a socket's answers come in the order of its frames: the ack of a message before the error for a malformed frame sent after it", async () => {
    const sid = newStreamId();
    const a = await viewer(sid, "EU");
    a.c.send({ type: "message", text: "hello", client_msg_id: "first" });
    a.c.send({ type: "no-such-frame", client_msg_id: "second" });
    await a.c.until((x) => answerOf(x, "first") !== undefined && answerOf(x, "second") !== undefined, "both answers");
    const order = a.c.frames.filter((f) => f.type === "ack" || f.type === "error").map((f) => (f as Frame<"ack">).client_msg_id);
    expect(order).toEqual(["first", "second"]);
    await a.c.close();
  });

  // Was a fault (ack before its comment, batch=1): the shard released an ack once the mirror had its
  // seq while the broadcast to ?batch=1 sockets still sat in the fan-out's coalescing window (the
  // unsharded room had the same order). Fixed in src/fanout.ts send(): a batched socket's own
  // answers wait for the window's frames. Sends are modelled as costly so three sockets coalesce.
  it("a batch=1 sender under traffic gets each ack after its own comment, even while frames are coalesced", { timeout: 30_000 }, async () => {
    const sid = newStreamId();
    const s = await viewer(sid, "EU", newUserId(), "?batch=1");
    const o = await viewer(sid, "EU");
    await setLimits(roomStub(sid), roomy, { sendCostUs: 1_000_000 });
    for (let round = 0; round < 10; round++) {
      o.c.send({ type: "message", text: `o${round}`, client_msg_id: `o${round}` });
      s.c.send({ type: "message", text: `s${round}`, client_msg_id: `s${round}` });
      await s.c.until((x) => answerOf(x, `s${round}`) !== undefined, `s${round}'s ack`);
      await sleep(30);
    }
    const mine = s.c.of("ack").map((a) => a.seq!);
    await untilSeq(s.c, Math.max(...mine));
    const early = mine.filter((seq) => {
      const ackAt = s.c.frames.findIndex((f) => f.type === "ack" && f.seq === seq);
      const commentAt = s.c.frames.findIndex((f) => f.type === "comment" && f.seq === seq);
      return ackAt < commentAt;
    });
    expect(early).toEqual([]);
    await Promise.all([s.c.close(), o.c.close()]);
  });

  // -------------------------------------------------------------------------------------------
  // Stuck RPCs: unbounded queues, unanswered clients
  // -------------------------------------------------------------------------------------------

  // Fixed (close not answered); before the fix: ChatShard.webSocketClose (src/shard.ts) awaits
  // reportNow(), i.e. the room's shardReport RPC (and every report queued before it on reportChain),
  // before it answers the client's close. While the room does not answer (overloaded, stuck), no
  // close on the shard is answered: DESIGN.md "A client's close is always answered". Expected: the
  // close is answered at once and the report goes on in the background (ctx.waitUntil).
  it("a client's close on the shard is answered even while the room's shardReport RPC does not answer (after at most CLOSE_REPORT_WAIT_MS)", { timeout: 30_000 }, async () => {
    const sid = newStreamId();
    const a = await viewer(sid, "EU");
    const b = await viewer(sid, "EU");
    const gate = new Gate();
    const undo = await wrap(roomStub(sid), "shardReport", isRoom(sid), (real, self, args) => gate.hold(() => real.apply(self, args)));
    try {
      a.c.ws.close(1000, "bye");
      await a.c.until((x) => x.closed !== null, "a's close answered", 5_000);
      b.c.ws.close(1000, "bye");
      await b.c.until((x) => x.closed !== null, "b's close answered", 5_000);
    } finally {
      gate.release();
      undo();
    }
  });

  // Fixed (unbounded pending, dead feed); before the fix: a deliver() RPC that never settles leaves
  // the link `inflight` for ever (src/shard-links.ts kick: no deadline); everything broadcast
  // meanwhile piles up in link.pending, past HISTORY_SIZE (the snapshot fallback is only checked
  // when a delivery starts), and the shard's sockets get nothing more. Expected: pending stays
  // bounded (≤ the ring) and a stuck delivery is abandoned after a deadline so the shard is fed
  // again.
  it("a deliver() RPC that never settles: the room's queue for that shard stays within the ring, and once the shard answers its sockets are fed again or closed to resync", { timeout: 60_000 }, async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), roomy);
    const here = await viewer(sid, "EU");
    const there = await viewer(sid, "AS");
    await post(there.c, "before");
    await untilSeq(here.c, 1);
    const gate = new Gate();
    const undo = await wrap(shardStub(sid, "EU-0"), "deliver", isShard(sid, "EU-0"), (real, self, args) => gate.hold(() => real.apply(self, args)));
    const last = HISTORY_SIZE + 51;
    try {
      for (let i = 2; i <= last; i++) there.c.send({ type: "message", text: `m${i}`, client_msg_id: `m${i}` });
      await there.c.until((x) => x.of("ack").length >= last - 1, "every ack on AS", 30_000);
      expect(gate.waiting).toBeGreaterThanOrEqual(1);
      const link = await linkOf(sid, "EU-0");
      expect(link.pending).toBeLessThanOrEqual(HISTORY_SIZE);
      // Every call to this shard hangs while the gate is closed: once it opens, the room's retry
      // (deadline DELIVERY_TIMEOUT_MS, then a snapshot) feeds it again — or, the sockets being more
      // than the ring behind, closes them to resync (1012) instead of leaving a gap.
      gate.release();
      await here.c.until((x) => liveSeqs(x).includes(last) || x.closed !== null, "the shard fed again (or its sockets told to resync)", 30_000);
      if (here.c.closed === null) expect(liveSeqs(here.c)).toEqual(range(1, last));
      else expect(here.c.closed.code).toBe(1012);
    } finally {
      gate.release();
      undo();
    }
    await Promise.all([here.c.close(), there.c.close()]);
  });

  // Fixed (unanswered commands, unbounded uplink); before the fix: while one commands() RPC to the
  // room is pending, every later command of every socket on the shard waits in `uplink`
  // (src/shard.ts flushUplink: one RPC at a time, no deadline, no cap); if the RPC never settles, no
  // sender on the shard is ever answered and the queue only grows. Expected: a deadline (then
  // `internal_error`, the path webSocketMessage already has) and a bound per socket.
  it("a hung commands() RPC still gets every command waiting on the shard answered (internal_error after UPLINK_TIMEOUT_MS), none left waiting", { timeout: 30_000 }, async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), roomy);
    const a = await viewer(sid, "EU");
    const b = await viewer(sid, "EU");
    const gate = new Gate();
    const undo = await wrap(roomStub(sid), "commands", isRoom(sid), (real, self, args) => gate.hold(() => real.apply(self, args)));
    let queued = 0;
    try {
      for (let i = 0; i < 20; i++) {
        a.c.send({ type: "message", text: `a${i}`, client_msg_id: `a${i}` });
        b.c.send({ type: "message", text: `b${i}`, client_msg_id: `b${i}` });
      }
      await sleep(500);
      queued = await runInDurableObject(shardStub(sid, "EU-0"), (s: ChatShard) => (s as unknown as { uplink: unknown[] }).uplink.length);
      const answered = (c: Client, p: string) => range(0, 19).every((i) => answerOf(c, `${p}${i}`) !== undefined);
      await a.c.until((x) => answered(x, "a"), "every answer on a", ACK_HOLD_MS + 5_000);
      await b.c.until((x) => answered(x, "b"), "every answer on b", 2_000);
    } finally {
      gate.release();
      undo();
    }
    expect(queued).toBeGreaterThan(0); // what waited behind the stuck RPC
    await Promise.all([a.c.close(), b.c.close()]);
  });

  // -------------------------------------------------------------------------------------------
  // Sockets per user, presence, admission
  // -------------------------------------------------------------------------------------------

  // FAULT (MAX_SOCKETS_PER_USER per stream): the cap is enforced by each shard's fan-out on its own
  // sockets (src/fanout.ts accept), and placement (src/rules/placement.ts pickShard) puts a user's
  // sockets from other regions on other shards: one user keeps a socket per region (7 continents +
  // "unknown"), MAX_SOCKETS_PER_USER on each. DESIGN.md: "MAX_SOCKETS_PER_USER sockets per user per
  // stream"; the unsharded room closes the oldest with 4429.
  it.fails("FAULT sockets per user: one user's sockets from four regions stay open with MAX_SOCKETS_PER_USER=2", { timeout: 30_000 }, async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { MAX_SOCKETS_PER_USER: 2 });
    const u = newUserId();
    const mine: Client[] = [];
    for (const r of ["EU", "AS", "NA", "SA"]) mine.push((await viewer(sid, r, u)).c);
    await sleep(500);
    expect(mine.filter((c) => c.closed === null)).toHaveLength(2);
    expect(mine.slice(0, 2).map((c) => c.closed?.code)).toEqual([CLOSE_TOO_MANY_SOCKETS, CLOSE_TOO_MANY_SOCKETS]);
    await Promise.all(mine.filter((c) => c.closed === null).map((c) => c.close()));
  });

  // FAULT (same, one region): affinity only remembers the user's last shard and gives up on it at
  // SHARD_MAX_SOCKETS + MAX_SOCKETS_PER_USER sockets (pickShard's slack); the user's next socket
  // opens on another shard of the region and from then on sticks there, so their sockets are split
  // over two shards and neither fan-out sees more than the cap.
  it.fails("FAULT sockets per user: within one region a user ends up with sockets on two shards, over MAX_SOCKETS_PER_USER", { timeout: 30_000 }, async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { MAX_SOCKETS_PER_USER: 2 });
    const [x, y, z] = [newUserId(), newUserId(), newUserId()];
    const zs: Client[] = [];
    const others: Client[] = [];
    others.push((await viewer(sid, "EU", x)).c);
    others.push((await viewer(sid, "EU", y)).c);
    zs.push((await viewer(sid, "EU", z)).c); // EU-0 full (3)
    others.push((await viewer(sid, "EU", x)).c); // affinity: EU-0 (4)
    others.push((await viewer(sid, "EU", y)).c); // affinity: EU-0 (5 = 3 + slack 2)
    zs.push((await viewer(sid, "EU", z)).c); // EU-0 past max + slack: EU-1
    zs.push((await viewer(sid, "EU", z)).c); // affinity: EU-1, where z has one socket
    const p = await placement(sid);
    expect(p["EU-1"]).toEqual([z, z]);
    await sleep(500);
    expect(zs.filter((c) => c.closed === null).length).toBeLessThanOrEqual(2);
    await Promise.all([...zs, ...others].filter((c) => c.closed === null).map((c) => c.close()));
  });

  // FAULT (presence): the room sums each shard's distinct users (src/shard-links.ts `viewers`, whose
  // comment admits it), so one user with sockets on two shards counts twice — and, with the two
  // faults above, a user can count once per region or shard. DESIGN.md: presence behaves exactly
  // as on a single room, where `viewers` counts distinct users.
  it.fails("FAULT presence: one user with sockets on two shards is counted as two viewers", async () => {
    const sid = newStreamId();
    const u = newUserId();
    const a = await viewer(sid, "EU", u);
    const b = await viewer(sid, "AS", u);
    await sleep(1_500); // the shards' reports of their counts (REPORT_INTERVAL_MS)
    const v = await viewer(sid, "NA");
    expect(v.c.of("welcome")[0]!.viewers).toBe(2);
    await Promise.all([a.c.close(), b.c.close(), v.c.close()]);
  });

  // Fixed (presence after hibernation); before the fix: a shard keeps the stream's total only in
  // memory (src/shard.ts viewersTotal); woken after an eviction (hibernation does this to every idle
  // shard) it is 0, and the room pushes a total only when the total changes (src/shard-links.ts
  // kick: `link.viewersSent !== viewers`). A close that leaves the total unchanged (the user has
  // another socket) makes the fan-out send its own count (src/fanout.ts scheduleViewers →
  // presence.total()) — `viewers: 0` to every socket on that shard, until the total changes.
  it("a shard woken from hibernation by a close keeps telling its sockets the stream's total, never viewers: 0", { timeout: 40_000 }, async () => {
    const sid = newStreamId();
    const u = newUserId();
    const a1 = await viewer(sid, "EU", u);
    const a2 = await viewer(sid, "EU", u);
    const w = await viewer(sid, "AS");
    const lastViewers = (c: Client) => c.of("viewers").at(-1)?.count;
    for (const c of [a1.c, a2.c, w.c]) await c.until((x) => lastViewers(x) === 2, "viewers 2", 15_000);
    await post(w.c, "hello");
    await untilSeq(a2.c, 1);
    const seen = a2.c.of("viewers").length;
    await evictDurableObject(shardStub(sid, "EU-0"));
    a2.c.send('{ "type": "ping" }'); // wakes the shard (a ping the runtime does not answer itself)
    await a2.c.until((x) => x.of("pong").length === 1, "pong");
    await a1.c.close(); // u still has a2: the stream's total stays 2
    // Past VIEWERS_INTERVAL_MS, with a2 pinging (pings the runtime does not answer itself reach the
    // shard: locally a woken object's timers only run while it gets events).
    for (let i = 0; i < 10; i++) {
      a2.c.send('{ "type": "ping" }');
      await sleep(500);
    }
    expect(a2.c.of("viewers").slice(seen).map((v) => v.count).filter((n) => n !== 2)).toEqual([]);
    await Promise.all([a2.c.close(), w.c.close()]);
  });

  // Fixed (admission bypass); before the fix: the room counts an admitted socket in link.admitted
  // until the shard's counts arrive, and any delivery answer overwrites them (src/shard-links.ts
  // counted: admitted = 0). A new shard's first upgrade awaits the room's mirrorSnapshot RPC before
  // it accepts the socket (src/shard.ts fetch → ensureMirror); a delivery that lands meanwhile (here
  // the room's presence push, 500 ms after the admission; on a busy stream any message) answers
  // sockets: 0, the room forgets the admission, and admits more past MAX_VIEWERS_PER_STREAM.
  // Expected: a socket admitted and not yet accepted is still counted (e.g. the shard counts
  // upgrades in progress).
  it("a socket admitted to a new shard still counts while that shard waits for its mirror: a second viewer past MAX_VIEWERS_PER_STREAM=1 gets 503", { timeout: 30_000 }, async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { MAX_VIEWERS_PER_STREAM: 1 });
    const undo = await wrap(roomStub(sid), "mirrorSnapshot", isRoom(sid), async (real, self, args) => {
      await sleep(2_000); // a slow snapshot (a far region, a busy room)
      return real.apply(self, args);
    });
    const sockets: WebSocket[] = [];
    try {
      const first = upgradeFrom(sid, "EU", await token());
      await sleep(1_000);
      const second = await upgradeFrom(sid, "EU", await token());
      const one = await first;
      for (const r of [one, second]) if (r.webSocket) sockets.push(r.webSocket);
      expect(one.status).toBe(101);
      expect(second.status).toBe(503);
    } finally {
      undo();
      for (const ws of sockets) {
        ws.accept();
        ws.close(1000);
      }
    }
  });

  // -------------------------------------------------------------------------------------------
  // What held
  // -------------------------------------------------------------------------------------------

  it("internal headers sent by a client (x-chat-shard, x-chat-welcome, x-chat-identity, x-chat-region, x-chat-stream) change nothing", async () => {
    const sid = newStreamId();
    const sub = newUserId();
    const forged = {
      "x-chat-shard": `${sid}/EU-7`,
      "x-chat-welcome": encodeURIComponent(JSON.stringify({ role: "owner", viewers: 999, messages_per_sec: 1e6, frames_per_sec: 1e6, sockets_per_user: 1e6 })),
      "x-chat-identity": encodeURIComponent(JSON.stringify({ id: newUserId(), username: "admin", role: "owner" })),
      "x-chat-region": "AN",
      "x-chat-stream": newStreamId(),
      "x-chat-ticket-nonce": "x.1",
    };
    const c = await connectFrom(sid, "EU", await token({ sub, username: "plain" }), "", forged);
    const w = c.of("welcome")[0]!;
    expect(w).toMatchObject({ stream_id: sid, user: { id: sub, username: "plain" }, role: "viewer", viewers: 1 });
    expect(w.limits).toEqual({ messages_per_sec: 10, frames_per_sec: 20 });
    expect(await placement(sid)).toEqual({ "EU-0": [sub] });
    await c.close();
  });

  it("bad tickets on the sharded path create no shard (nor room) object", async () => {
    const names = Array.from({ length: 20 }, newStreamId);
    for (const sid of names) {
      for (const continent of ["EU", "AS"]) {
        const res = await exports.default.fetch(new Request(`${BASE}/ws/streams/${sid}/chat?ticket=${"A".repeat(40)}.${"B".repeat(43)}`, { headers: { upgrade: "websocket" }, cf: { continent } } as RequestInit));
        expect(res.status).toBe(401);
      }
    }
    const shards = new Set((await listDurableObjectIds(env.CHAT_SHARD)).map((id) => id.toString()));
    const rooms = new Set((await listDurableObjectIds(env.CHAT_ROOM)).map((id) => id.toString()));
    for (const sid of names) {
      expect(rooms.has(env.CHAT_ROOM.idFromName(sid).toString())).toBe(false);
      for (const n of ["EU-0", "AS-0", "unknown-0"]) expect(shards.has(env.CHAT_SHARD.idFromName(shardKey(sid, n)).toString())).toBe(false);
    }
  });

  it("a stream_full refusal creates no shard and uses up no ticket", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { MAX_VIEWERS_PER_STREAM: 1 });
    const first = await viewer(sid, "EU");
    const t = await token();
    const res = await exports.default.fetch(new Request(`${BASE}/v1/streams/${sid}/chat/tickets`, { method: "POST", headers: { authorization: `Bearer ${t}` } }));
    const { ticket } = (await res.json()) as { ticket: string };
    const refused = await exports.default.fetch(new Request(`${BASE}/ws/streams/${sid}/chat?ticket=${ticket}`, { headers: { upgrade: "websocket" }, cf: { continent: "AS" } } as RequestInit));
    expect(refused.status).toBe(503);
    expect(await roomStub(sid).shardKeys()).toEqual([shardKey(sid, "EU-0")]);
    await first.c.close();
    await sleep(300); // the shard's report of the close
    const again = await exports.default.fetch(new Request(`${BASE}/ws/streams/${sid}/chat?ticket=${ticket}`, { headers: { upgrade: "websocket" }, cf: { continent: "AS" } } as RequestInit));
    expect(again.status).toBe(101);
    const c = new Client(again.webSocket!);
    await c.until((x) => x.of("history").length > 0, "welcome");
    await c.close();
  });

  it("one ticket used from two regions at once opens one socket; the other is 401", async () => {
    const sid = newStreamId();
    const t = await token();
    const res = await exports.default.fetch(new Request(`${BASE}/v1/streams/${sid}/chat/tickets`, { method: "POST", headers: { authorization: `Bearer ${t}` } }));
    const { ticket } = (await res.json()) as { ticket: string };
    const tries = await Promise.all(
      ["EU", "AS", "NA"].map((continent) =>
        exports.default.fetch(new Request(`${BASE}/ws/streams/${sid}/chat?ticket=${ticket}`, { headers: { upgrade: "websocket" }, cf: { continent } } as RequestInit)),
      ),
    );
    expect(tries.map((r) => r.status).sort()).toEqual([101, 401, 401]);
    for (const r of tries) {
      if (!r.webSocket) continue;
      r.webSocket.accept();
      r.webSocket.close(1000);
    }
  });

  it("a client_msg_id raced from the same user's sockets on three shards is posted once and acked alike", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), roomy);
    const u = newUserId();
    const socks = [(await viewer(sid, "EU", u)).c, (await viewer(sid, "AS", u)).c, (await viewer(sid, "NA", u)).c];
    for (let i = 0; i < 5; i++) for (const c of socks) c.send({ type: "message", text: `race ${i}`, client_msg_id: `race-${i}` });
    for (const c of socks) await c.until((x) => range(0, 4).every((i) => answerOf(x, `race-${i}`) !== undefined), "five answers");
    for (let i = 0; i < 5; i++) {
      const acks = socks.map((c) => answerOf(c, `race-${i}`));
      expect(acks.every((a) => a?.type === "ack")).toBe(true);
      expect(new Set(acks.map((a) => JSON.stringify(a))).size).toBe(1);
    }
    for (const c of socks) {
      await untilSeq(c, 5);
      expect(liveSeqs(c)).toEqual(range(1, 5));
    }
    await Promise.all(socks.map((c) => c.close()));
  });
});
