/**
 * Fan-out shards (DESIGN.md "Hot streams and global viewers", src/shard.ts, src/shard-links.ts)
 * through the real worker, room and shards: placement by region and affinity, one sequence on
 * every shard, per-user budgets, moderation and client_msg_id dedupe across shards, presence
 * summed over shards, shard and room evictions, a failed delivery retried, admission over shards.
 *
 * Only meaningful sharded: run with SHARD_MAX_SOCKETS=3 (the default of vitest.config.ts), so a
 * region's fourth socket opens a second shard. Viewers choose their region with request.cf.continent.
 * No timed assertions: every wait is "until this holds", with a generous deadline.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { StatsResponse, type ServerFrame } from "../../src/protocol";
import type { ChatRoom } from "../../src/room";
import type { RoomLimits } from "../../src/rules/limits";
import type { DeliveryAck, ShardDelivery } from "../../src/shard-api";
import { BucketMap } from "../../src/rules/budget";
import type { ChatShard } from "../../src/shard";
import { BASE, Client, SHARDED, fetchWorker, newStreamId, newUserId, roomStub, setLimits, token } from "./helpers";

type Frame<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

/** Presence frames are sent at most every 3 s per shard, after the room's push (≤ 0.5 s): wait well beyond. */
const PRESENCE_WAIT_MS = 15_000;

const ownerToken = (sid: string, sub = newUserId()) => token({ sub, username: "streamer", claims: { stream_roles: { [sid]: "owner" } } });
const modToken = (sid: string, sub = newUserId()) => token({ sub, username: "moddy", claims: { stream_roles: { [sid]: "moderator" } } });

/** An upgrade from `continent` (request.cf as Cloudflare's edge sets it), waiting for welcome + history. */
async function connectFrom(sid: string, continent: string, t: string, query = ""): Promise<Client> {
  const res = await upgradeFrom(sid, continent, t, query);
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade failed: ${res.status} ${await res.text()}`);
  const c = new Client(res.webSocket);
  await c.until((x) => x.of("history").length > 0, "welcome + history");
  return c;
}

function upgradeFrom(sid: string, continent: string, t: string, query = ""): Promise<Response> {
  const req = new Request(`${BASE}/ws/streams/${sid}/chat${query}`, {
    headers: { upgrade: "websocket", authorization: `Bearer ${t}` },
    cf: { continent },
  } as RequestInit);
  return exports.default.fetch(req);
}

/** A viewer of `continent` with a fresh user id (returned, to open more sockets as the same user). */
async function viewer(sid: string, continent: string, sub = newUserId()): Promise<{ sub: string; c: Client }> {
  return { sub, c: await connectFrom(sid, continent, await token({ sub, username: `u${sub.slice(0, 6)}` })) };
}

const shardStub = (sid: string, name: string) => env.CHAT_SHARD.get(env.CHAT_SHARD.idFromName(`${sid}/${name}`));

/** Shard name (`EU-0`, …) → user ids of its open sockets, sorted; read inside each shard object. */
async function placement(sid: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const key of await roomStub(sid).shardKeys()) {
    const users = await runInDurableObject(env.CHAT_SHARD.get(env.CHAT_SHARD.idFromName(key)), (_s: ChatShard, state) =>
      state
        .getWebSockets()
        .filter((ws) => ws.readyState === WebSocket.OPEN)
        .map((ws) => (ws.deserializeAttachment() as { u: string }).u),
    );
    out[key.slice(key.indexOf("/") + 1)] = users.sort();
  }
  return out;
}

async function stats(sid: string): Promise<StatsResponse> {
  const res = await fetchWorker(`/v1/streams/${sid}/chat/stats`, { headers: { authorization: `Bearer ${await ownerToken(sid)}` } });
  expect(res.status).toBe(200);
  return StatsResponse.parse(await res.json());
}

/** Sends `frame` with a fresh client_msg_id and waits for its ack or error. */
async function answer(c: Client, frame: Record<string, unknown>, cmid: string = crypto.randomUUID()): Promise<Frame<"ack"> | Frame<"error">> {
  c.send({ ...frame, client_msg_id: cmid });
  await c.until((x) => x.frames.some((f) => (f.type === "ack" || f.type === "error") && f.client_msg_id === cmid), `the answer to ${cmid}`, 10_000);
  return c.frames.find((f) => (f.type === "ack" || f.type === "error") && f.client_msg_id === cmid) as Frame<"ack"> | Frame<"error">;
}

async function post(c: Client, text: string): Promise<Frame<"ack">> {
  const r = await answer(c, { type: "message", text });
  if (r.type !== "ack") throw new Error(`message refused: ${JSON.stringify(r)}`);
  return r;
}

/** The seqs of the sequenced frames a socket received live, in arrival order. */
const SEQUENCED = new Set<string>(["comment", "comment_edited", "comment_deleted", "pinned", "moderation"]);
function liveSeqs(c: Client): number[] {
  return c.frames.filter((f): f is Frame<"comment"> => SEQUENCED.has(f.type)).map((f) => f.seq);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Waits until the socket has received seq `last` live (callers then check that nothing before it is missing). */
const untilSeq = (c: Client, last: number, what = `seq ${last}`) => c.until((x) => liveSeqs(x).includes(last), what, 10_000);

/** The last presence count a socket received, or undefined. */
const lastViewers = (c: Client) => c.of("viewers").at(-1)?.count;

/** A budget of one message per user with (practically) no refill, so "who was refused" never depends on timing. */
async function oneMessagePerUser(sid: string): Promise<void> {
  await runInDurableObject(roomStub(sid), (room: ChatRoom) => {
    const limits = (room as unknown as { limits: RoomLimits }).limits;
    (room as unknown as { limits: RoomLimits }).limits = { ...limits, user: new BucketMap(0.0001, 1) };
  });
}

describe.skipIf(!SHARDED)("fan-out shards (SHARD_MAX_SOCKETS=3)", () => {
  it("places viewers on shards of their region (3 per shard), keeps a user's sockets together, and every socket on every shard gets every comment in seq order", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1000, SOCKET_MAX_FRAMES_PER_SEC: 1000 });
    const eu = [];
    for (let i = 0; i < 7; i++) eu.push(await viewer(sid, "EU"));
    const as = [await viewer(sid, "AS"), await viewer(sid, "AS")];

    const sorted = (xs: Array<{ sub: string }>) => xs.map((x) => x.sub).sort();
    expect(await placement(sid)).toEqual({
      "EU-0": sorted(eu.slice(0, 3)),
      "EU-1": sorted(eu.slice(3, 6)),
      "EU-2": sorted(eu.slice(6)),
      "AS-0": sorted(as),
    });
    expect((await roomStub(sid).shardKeys()).sort()).toEqual(["AS-0", "EU-0", "EU-1", "EU-2"].map((n) => `${sid}/${n}`));
    const s = await stats(sid);
    expect(s.viewers.per_shard).toEqual({ "EU-0": 3, "EU-1": 3, "EU-2": 1, "AS-0": 2 });
    expect(s.viewers.per_region).toEqual({ EU: 7, AS: 2 });

    // Affinity: the second socket of a user on the full EU-0 goes to EU-0, not to EU-2 which has room.
    const again = await connectFrom(sid, "EU", await token({ sub: eu[0]!.sub }));
    expect((await placement(sid))["EU-0"]).toEqual([...sorted(eu.slice(0, 3)), eu[0]!.sub].sort());
    expect((await stats(sid)).viewers.per_shard).toEqual({ "EU-0": 4, "EU-1": 3, "EU-2": 1, "AS-0": 2 });

    // Senders on four shards, interleaved.
    const senders = [eu[0]!.c, eu[4]!.c, eu[6]!.c, as[1]!.c];
    const texts: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (const [i, c] of senders.entries()) {
        const text = `round ${round} from ${i}`;
        texts.push(text);
        await post(c, text);
      }
    }
    const all = [...eu.map((v) => v.c), ...as.map((v) => v.c), again];
    for (const c of all) await untilSeq(c, texts.length);
    const order = all[0]!.comments().map((f) => f.comment.id);
    for (const c of all) {
      expect(liveSeqs(c)).toEqual(range(1, texts.length));
      expect(c.comments().map((f) => f.comment.message)).toEqual(texts);
      expect(c.comments().map((f) => f.comment.id)).toEqual(order);
    }
    await Promise.all(all.map((c) => c.close()));
  });

  it("one user's rate limit is one budget over their sockets on two shards: one send accepted, the other rate_limited", async () => {
    const sid = newStreamId();
    const u = newUserId();
    const a = await viewer(sid, "EU", u);
    const b = await viewer(sid, "AS", u);
    const other = await viewer(sid, "AS");
    expect(await placement(sid)).toEqual({ "EU-0": [u], "AS-0": [u, other.sub].sort() });
    await oneMessagePerUser(sid);

    const first = await answer(a.c, { type: "message", text: "from EU" });
    expect(first).toMatchObject({ type: "ack", seq: 1 });
    const second = await answer(b.c, { type: "message", text: "from AS" });
    expect(second).toMatchObject({ type: "error", code: "rate_limited" });
    expect((second as Frame<"error">).retry_after_ms).toBeGreaterThan(0);
    // The EU socket has no budget left either; another user on the AS shard has their own.
    expect(await answer(a.c, { type: "message", text: "again from EU" })).toMatchObject({ type: "error", code: "rate_limited" });
    expect(await post(other.c, "someone else")).toMatchObject({ seq: 2 });
    for (const c of [a.c, b.c, other.c]) {
      await untilSeq(c, 2);
      expect(c.comments().map((f) => f.comment.message)).toEqual(["from EU", "someone else"]);
    }
    await Promise.all([a.c.close(), b.c.close(), other.c.close()]);
  });

  it("a ban reaches the user's sockets on every shard and refuses their next send from any shard; a moderator's delete reaches every shard", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1000 });
    const owner = await connectFrom(sid, "EU", await ownerToken(sid));
    const v1 = await viewer(sid, "EU");
    const v2 = await viewer(sid, "EU");
    const target = newUserId();
    const t1 = await viewer(sid, "EU", target); // EU-1: EU-0 is full
    const t2 = await viewer(sid, "AS", target);
    const mod = await connectFrom(sid, "NA", await modToken(sid));
    const p = await placement(sid);
    expect(p["EU-1"]).toEqual([target]);
    expect(p["AS-0"]).toEqual([target]);
    expect(Object.keys(p).sort()).toEqual(["AS-0", "EU-0", "EU-1", "NA-0"]);
    const everyone = [owner, v1.c, v2.c, t1.c, t2.c, mod];

    const theirs = await post(t1.c, "spam");
    const innocent = await post(v1.c, "hello");
    expect(await answer(owner, { type: "ban", user_id: target, reason: "spam" })).toMatchObject({ type: "ack", seq: 3 });
    for (const c of everyone) await untilSeq(c, 3, "the ban");
    for (const c of everyone) {
      const ban = c.of("moderation").find((m) => m.action === "ban");
      expect(ban).toMatchObject({ seq: 3, user_id: target, deleted: [theirs.id] });
    }
    for (const t of [t1.c, t2.c]) {
      expect(await answer(t, { type: "message", text: "let me back" })).toMatchObject({ type: "error", code: "banned" });
    }

    expect(await answer(mod, { type: "delete", id: innocent.id })).toMatchObject({ type: "ack", seq: 4 });
    for (const c of everyone) {
      await untilSeq(c, 4, "the delete");
      expect(c.of("comment_deleted")).toEqual([expect.objectContaining({ seq: 4, id: innocent.id })]);
      expect(liveSeqs(c)).toEqual([1, 2, 3, 4]);
    }
    await Promise.all(everyone.map((c) => c.close()));
  });

  it("the same client_msg_id from the user's socket on another shard gets the same ack and no second broadcast", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1000 });
    const u = newUserId();
    const a = await viewer(sid, "EU", u);
    const b = await viewer(sid, "AS", u);
    const watcher = await viewer(sid, "NA");
    expect(Object.keys(await placement(sid)).sort()).toEqual(["AS-0", "EU-0", "NA-0"]);

    const first = await answer(a.c, { type: "message", text: "once" }, "dup-1");
    expect(first).toMatchObject({ type: "ack", seq: 1 });
    const retry = await answer(b.c, { type: "message", text: "once" }, "dup-1");
    expect(retry).toEqual(first);

    // Both sockets at once, with another id: one comment, the same ack on both.
    a.c.send({ type: "message", text: "raced", client_msg_id: "dup-2" });
    b.c.send({ type: "message", text: "raced", client_msg_id: "dup-2" });
    const ackOf = (c: Client) => c.of("ack").find((x) => x.client_msg_id === "dup-2");
    await a.c.until((x) => ackOf(x) !== undefined, "dup-2 on EU");
    await b.c.until((x) => ackOf(x) !== undefined, "dup-2 on AS");
    expect(ackOf(a.c)).toEqual(ackOf(b.c));
    expect(ackOf(a.c)).toMatchObject({ seq: 2 });

    // The next comment is seq 3: nothing was broadcast in between, on any shard.
    expect(await post(watcher.c, "marker")).toMatchObject({ seq: 3 });
    for (const c of [a.c, b.c, watcher.c]) {
      await untilSeq(c, 3, "marker");
      expect(c.comments().map((f) => [f.seq, f.comment.message])).toEqual([
        [1, "once"],
        [2, "raced"],
        [3, "marker"],
      ]);
    }
    await Promise.all([a.c.close(), b.c.close(), watcher.c.close()]);
  });

  it("presence is summed over shards: welcome.viewers and viewers frames count the users of every shard", { timeout: 60_000 }, async () => {
    const sid = newStreamId();
    const regions = ["EU", "EU", "EU", "EU", "AS", "NA"]; // EU-0 ×3, EU-1, AS-0, NA-0
    const users: Client[] = [];
    for (const [i, r] of regions.entries()) {
      const v = await viewer(sid, r);
      expect(v.c.of("welcome")[0]!.viewers).toBe(i + 1);
      users.push(v.c);
    }
    expect(Object.keys(await placement(sid)).sort()).toEqual(["AS-0", "EU-0", "EU-1", "NA-0"]);
    for (const c of users) await c.until((x) => lastViewers(x) === 6, "viewers 6 on every shard", PRESENCE_WAIT_MS);

    // A close on one shard lowers the count seen on all the others.
    await users.pop()!.close(); // NA-0's only user
    await users.pop()!.close(); // AS-0's only user
    for (const c of users) await c.until((x) => lastViewers(x) === 4, "viewers 4 on every shard", PRESENCE_WAIT_MS);
    const late = await viewer(sid, "AS");
    expect(late.c.of("welcome")[0]!.viewers).toBe(5);
    await Promise.all([...users, late.c].map((c) => c.close()));
  });

  it("presence after a room eviction: a newcomer's welcome.viewers still counts the users already on the shards", { timeout: 60_000 }, async () => {
    const sid = newStreamId();
    const users: Client[] = [];
    for (const r of ["EU", "EU", "EU", "EU", "AS"]) users.push((await viewer(sid, r)).c);
    for (const c of users) await c.until((x) => lastViewers(x) === 5, "viewers 5 on every shard", PRESENCE_WAIT_MS);
    await evictDurableObject(roomStub(sid));
    const late = await viewer(sid, "NA");
    expect(late.c.of("welcome")[0]!.viewers).toBe(6);
    for (const c of [...users, late.c]) await c.until((x) => lastViewers(x) === 6, "viewers 6 on every shard after the room's eviction", PRESENCE_WAIT_MS);
    await Promise.all([...users, late.c].map((c) => c.close()));
  });

  it("a shard evicted while its sockets stay open: later comments reach them with no gap, and a resume on it recovers exactly the missed frames", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1000 });
    const a = await viewer(sid, "EU");
    const b = await viewer(sid, "EU");
    const c = await viewer(sid, "EU");
    const d = await viewer(sid, "EU"); // EU-1
    expect((await placement(sid))["EU-0"]).toHaveLength(3);
    const epoch = a.c.of("welcome")[0]!.epoch;
    const onEu0 = [a.c, b.c, c.c];
    const all = [...onEu0, d.c];

    for (let i = 1; i <= 3; i++) await post(d.c, `before ${i}`);
    for (const x of all) await untilSeq(x, 3);
    await evictDurableObject(shardStub(sid, "EU-0"));
    for (let i = 4; i <= 6; i++) await post(d.c, `after ${i}`);
    // A sender on the evicted shard: its ack waits for its own comment, which comes after the others.
    const own = await post(a.c, "from the evicted shard");
    expect(own.seq).toBe(7);
    for (const x of all) {
      await untilSeq(x, 7);
      expect(liveSeqs(x)).toEqual(range(1, 7));
    }
    const ackAt = a.c.frames.findIndex((f) => f.type === "ack");
    const commentAt = a.c.frames.findIndex((f) => f.type === "comment" && f.seq === 7);
    expect(commentAt).toBeLessThan(ackAt);

    // c leaves at seq 7; three comments later, with EU-0 evicted again, it resumes (on EU-0: affinity).
    await c.c.close();
    for (let i = 8; i <= 10; i++) await post(d.c, `missed ${i}`);
    for (const x of [a.c, b.c, d.c]) await untilSeq(x, 10);
    await evictDurableObject(shardStub(sid, "EU-0"));
    const back = await connectFrom(sid, "EU", await token({ sub: c.sub }), `?since=7&epoch=${encodeURIComponent(epoch)}`);
    expect((await placement(sid))["EU-0"]).toContain(c.sub);
    const h = back.of("history")[0]!;
    expect(h.recovered).toBe(true);
    expect(h.comments.map((x) => [x.seq, x.comment.message])).toEqual([
      [8, "missed 8"],
      [9, "missed 9"],
      [10, "missed 10"],
    ]);
    expect(h.events ?? []).toEqual([]);
    // And from there on, live frames without repeats.
    await post(d.c, "live 11");
    for (const x of [a.c, b.c, d.c, back]) await untilSeq(x, 11);
    expect(liveSeqs(back)).toEqual([11]);
    expect(liveSeqs(a.c)).toEqual(range(1, 11));
    await Promise.all([a.c, b.c, d.c, back].map((x) => x.close()));
  });

  it("the room evicted with sockets on several shards: later comments continue at the next seq everywhere", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1000 });
    const vs = [];
    for (const r of ["EU", "EU", "EU", "EU", "AS", "NA"]) vs.push(await viewer(sid, r));
    expect(Object.keys(await placement(sid)).sort()).toEqual(["AS-0", "EU-0", "EU-1", "NA-0"]);
    const all = vs.map((v) => v.c);

    await post(all[0]!, "one");
    await post(all[4]!, "two");
    for (const x of all) await untilSeq(x, 2);
    await evictDurableObject(roomStub(sid));
    expect(await post(all[3]!, "three")).toMatchObject({ seq: 3 });
    await evictDurableObject(roomStub(sid));
    expect(await post(all[5]!, "four")).toMatchObject({ seq: 4 });
    for (const x of all) {
      await untilSeq(x, 4);
      expect(liveSeqs(x)).toEqual(range(1, 4));
      expect(x.comments().map((f) => f.comment.message)).toEqual(["one", "two", "three", "four"]);
    }
    await Promise.all(all.map((x) => x.close()));
  });

  // An idle stream: the room (which holds no socket when sharded) and a shard are both evicted.
  it("the room and a shard evicted together: the next comment still reaches that shard's sockets", { timeout: 40_000 }, async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1000 });
    const vs = [];
    for (const r of ["EU", "EU", "EU", "EU"]) vs.push(await viewer(sid, r)); // EU-0 ×3, EU-1
    const all = vs.map((v) => v.c);
    await post(all[0]!, "one");
    for (const x of all) await untilSeq(x, 1);
    await evictDurableObject(roomStub(sid));
    await evictDurableObject(shardStub(sid, "EU-0"));
    expect(await post(all[3]!, "two")).toMatchObject({ seq: 2 }); // from EU-1, which kept its memory
    await evictDurableObject(roomStub(sid));
    await evictDurableObject(shardStub(sid, "EU-0"));
    expect(await post(all[1]!, "three")).toMatchObject({ seq: 3 }); // from the evicted EU-0 itself
    for (const x of all) {
      await untilSeq(x, 3);
      expect(liveSeqs(x)).toEqual(range(1, 3));
    }
    await Promise.all(all.map((x) => x.close()));
  });

  it("a delivery that fails is retried: the viewer on that shard still gets every seq in order", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1000 });
    const here = await viewer(sid, "EU");
    const there = await viewer(sid, "AS");
    await post(there.c, "before");
    await untilSeq(here.c, 1);

    // EU-0's next deliver() with entries throws once. RPC serves prototype methods only, so the
    // prototype is wrapped, for this one instance, and unwrapped at the first call or at the end.
    type Patched = { deliver(d: ShardDelivery): Promise<DeliveryAck> };
    const unpatch = await runInDurableObject(shardStub(sid, "EU-0"), (shard: ChatShard) => {
      const proto = Object.getPrototypeOf(shard) as Patched;
      const real = proto.deliver;
      const record = shard as unknown as { failedSeqs?: number[] };
      proto.deliver = async function (this: ChatShard, d: ShardDelivery) {
        if (this === shard && d.entries.length > 0) {
          proto.deliver = real;
          record.failedSeqs = d.entries.map((e) => e.seq);
          throw new Error("injected delivery failure");
        }
        return real.call(this, d);
      };
      return () => {
        proto.deliver = real;
      };
    });
    try {
      for (let i = 2; i <= 6; i++) await post(there.c, `during ${i}`);
      await untilSeq(here.c, 6, "every seq after the failure");
    } finally {
      unpatch();
    }
    const failed = await runInDurableObject(shardStub(sid, "EU-0"), (shard: ChatShard) => (shard as unknown as { failedSeqs?: number[] }).failedSeqs);
    expect(failed?.[0]).toBe(2); // the failure did happen, on the first delivery after the patch
    expect(liveSeqs(here.c)).toEqual(range(1, 6));
    expect(here.c.comments().map((f) => f.comment.message)).toEqual(["before", "during 2", "during 3", "during 4", "during 5", "during 6"]);
    await Promise.all([here.c.close(), there.c.close()]);
  });

  it("admission counts sockets over all shards: past MAX_VIEWERS_PER_STREAM 503 stream_full with Retry-After, and a close frees a place", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { MAX_VIEWERS_PER_STREAM: 5 });
    const open: Client[] = [];
    for (const r of ["EU", "EU", "EU", "EU", "AS"]) open.push((await viewer(sid, r)).c);
    expect(Object.values((await stats(sid)).viewers.per_shard).sort()).toEqual([1, 1, 3]);

    for (const r of ["EU", "AS", "SA"]) {
      const refused = await upgradeFrom(sid, r, await token());
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await refused.json()).toEqual({ error: "stream_full", message: expect.any(String) });
    }
    // The owner still gets in (it does not take a viewer's place for this check).
    const owner = await connectFrom(sid, "EU", await ownerToken(sid));
    await owner.close();

    await open.shift()!.close(); // one socket of EU-0
    open.push((await viewer(sid, "AS")).c);
    expect((await upgradeFrom(sid, "AS", await token())).status).toBe(503);
    expect((await stats(sid)).viewers.total).toBe(5);
    await Promise.all(open.map((c) => c.close()));
  });

  it("admission after a room eviction still counts the sockets already on the shards", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { MAX_VIEWERS_PER_STREAM: 4 });
    const open: Client[] = [];
    for (const r of ["EU", "EU", "EU", "AS"]) open.push((await viewer(sid, r)).c);
    expect((await upgradeFrom(sid, "EU", await token())).status).toBe(503);
    await evictDurableObject(roomStub(sid));
    await setLimits(roomStub(sid), { MAX_VIEWERS_PER_STREAM: 4 }); // the limit again, on the new instance
    const res = await upgradeFrom(sid, "EU", await token());
    if (res.webSocket) open.push(new Client(res.webSocket));
    expect(res.status).toBe(503);
    await Promise.all(open.map((c) => c.close()));
  });
});
