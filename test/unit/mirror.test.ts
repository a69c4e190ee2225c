/**
 * The resume ring's frames and a fan-out shard's mirror of the room (src/mirror.ts): history on a
 * join and on a resume, the broadcast form of a ring entry, and RoomMirror fed the room's entries
 * (in order, redelivered, with gaps). The events are real: decide/apply from src/rules/room-state.ts,
 * stored as the room stores them (src/room-store.ts persist), so a mirror is checked against the
 * room it copies.
 */
import { describe, expect, it } from "vitest";
import { HISTORY_SIZE, HistoryFrame, ServerFrame, type Command, type RoomEvent, type SeqComment } from "../../src/protocol";
import { BACKLOG_SIZE, RoomMirror, backlogFrame, eventFrame, historyFrame, historyPage, type MirrorSnapshot, type RingEntry, type ResumeView } from "../../src/mirror";
import { apply, decide, emptyState, type Actor, type RoomState } from "../../src/rules/room-state";

const STREAM = "6b5f0c1e-8a0b-4c59-9b5e-3f2a1d0c9e8f";
const EPOCH = "epoch-a";
/** A fixed instant, ms. */
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);
const owner: Actor = { userId: "00000000-0000-4000-8000-00000000000a", username: "owner", role: "owner" };
const mod: Actor = { userId: "00000000-0000-4000-8000-00000000000b", username: "mod", role: "moderator" };
const alice: Actor = { userId: "00000000-0000-4000-8000-00000000000d", username: "alice", role: "viewer" };
const bob: Actor = { userId: "00000000-0000-4000-8000-00000000000e", username: "bob", role: "viewer" };
const carol: Actor = { userId: "00000000-0000-4000-8000-00000000000f", username: null, role: "viewer" };

/** A ring entry as src/room-store.ts persist() stores it: a comment as `{"seq","comment"}`, anything else as the event. */
function stored(e: RoomEvent): RingEntry {
  if (e.type === "comment") return { seq: e.seq, comment: true, json: JSON.stringify({ seq: e.seq, comment: e.comment } satisfies SeqComment) };
  return { seq: e.seq, comment: false, json: JSON.stringify(e) };
}

/**
 * The room's side, as src/room.ts runs it: decide → apply → store → ring (last HISTORY_SIZE).
 * Every entry is also kept in `log`, in seq order, to feed mirrors with.
 */
class Room {
  readonly state: RoomState = emptyState(STREAM);
  readonly ring: RingEntry[] = [];
  readonly log: RingEntry[] = [];
  readonly epoch = EPOCH;
  now = T0;
  private ids = 0;
  private readonly opts = { editWindowMs: 300_000, newId: () => `00000000-0000-4000-8000-${String(++this.ids).padStart(12, "0")}` };

  constructor() {
    this.state.ownerId = owner.userId;
    this.state.knownRoles.set(mod.userId, "moderator");
  }

  /** Runs one command at a clock one second later; returns the entries it produced (none when refused). */
  run(actor: Actor, cmd: Command): RingEntry[] {
    this.now += 1000;
    const o = decide(this.state, actor, cmd, this.now, this.opts);
    if (o.kind !== "ok") return [];
    if (o.blockedTerms) this.state.blockedTerms = o.blockedTerms;
    return o.events.map((e) => {
      apply(this.state, e, this.now);
      const entry = stored(e);
      this.ring.push(entry);
      if (this.ring.length > HISTORY_SIZE) this.ring.shift();
      this.log.push(entry);
      return entry;
    });
  }

  /** Runs a command that must be accepted and produce entries. */
  ok(actor: Actor, cmd: Command): RingEntry[] {
    const entries = this.run(actor, cmd);
    if (entries.length === 0) throw new Error(`refused or no event: ${JSON.stringify(cmd)}`);
    return entries;
  }

  /** Posts a message that must be accepted; returns the comment's id. */
  post(actor: Actor, text: string, replyTo?: string): string {
    const [entry] = this.run(actor, { type: "message", text, ...(replyTo ? { reply_to: replyTo } : {}) });
    if (!entry) throw new Error(`post refused: ${text}`);
    return (JSON.parse(entry.json) as SeqComment).comment.id;
  }

  view(): ResumeView {
    return { epoch: this.epoch, seq: this.state.seq, ring: this.ring, comments: this.state.comments };
  }

  /** The room's history frame (src/room.ts historyFrame without its cache). */
  history(since: string | null, epoch: string | null): string {
    return historyFrame(this.view(), since, epoch);
  }

  /** What src/room.ts takeSnapshot() returns, cloned as an RPC would. */
  snapshot(): MirrorSnapshot {
    const s = this.state;
    return structuredClone({
      stream_id: s.streamId,
      epoch: this.epoch,
      seq: s.seq,
      ring: this.ring.slice(),
      comments: [...s.comments.values()],
      pinned: s.pinned,
      slow_mode_s: s.slowModeS,
    });
  }
}

/** A history frame parsed, after checking it against the protocol's HistoryFrame schema. */
function parse(frame: string): { type: "history"; comments: SeqComment[]; recovered: boolean; events?: RoomEvent[] } {
  const raw = JSON.parse(frame);
  HistoryFrame.parse(raw);
  return raw;
}

const seqsOf = (entries: readonly RingEntry[]) => entries.map((e) => e.seq);

/** The room with n comments by alice, "m1" … "mn". */
function roomWith(n: number): Room {
  const room = new Room();
  for (let i = 1; i <= n; i++) room.post(alice, `m${i}`);
  return room;
}

describe("historyFrame", () => {
  it("answers a covered resume with exactly the missed frames: comments and other events apart", () => {
    const room = new Room();
    const a = room.post(alice, "one");
    room.post(bob, "two");
    const [edited] = room.ok(alice, { type: "edit", id: a, text: "one!" });
    const [pinned] = room.ok(owner, { type: "pin", id: a });
    const c = room.post(carol, "three", a);
    const [slow] = room.ok(mod, { type: "slow_mode", seconds: 5 });
    expect(room.state.seq).toBe(6);

    const frame = room.history("2", EPOCH);
    const h = parse(frame);
    expect(h.recovered).toBe(true);
    expect(h.comments).toEqual([JSON.parse(room.log[4]!.json)]);
    expect(h.comments[0]!.comment.id).toBe(c);
    expect(h.events).toEqual([JSON.parse(edited!.json), JSON.parse(pinned!.json), JSON.parse(slow!.json)]);
    // Frames exactly as stored (and broadcast), not re-encoded.
    expect(frame).toBe(`{"type":"history","comments":[${room.log[4]!.json}],"recovered":true,"events":[${edited!.json},${pinned!.json},${slow!.json}]}`);
  });

  it("gives the comments as they were broadcast on a resume, not their current state", () => {
    const room = new Room();
    const a = room.post(alice, "before");
    room.ok(alice, { type: "edit", id: a, text: "after" });
    const h = parse(room.history("0", EPOCH));
    expect(h.recovered).toBe(true);
    expect(h.comments.map((c) => c.comment.message)).toEqual(["before"]);
    expect(h.events).toEqual([expect.objectContaining({ type: "comment_edited", id: a, message: "after" })]);
  });

  it("leaves `events` out when only comments were missed", () => {
    const room = roomWith(3);
    const frame = room.history("1", EPOCH);
    expect(frame).toBe(`{"type":"history","comments":[${room.log[1]!.json},${room.log[2]!.json}],"recovered":true}`);
  });

  it("answers since = seq with an empty recovered history", () => {
    const room = roomWith(3);
    room.ok(owner, { type: "slow_mode", seconds: 10 });
    expect(room.history("4", EPOCH)).toBe(`{"type":"history","comments":[],"recovered":true}`);
  });

  it("answers since = 0 on a new stream (empty ring) with an empty recovered history", () => {
    const room = new Room();
    expect(room.history("0", EPOCH)).toBe(`{"type":"history","comments":[],"recovered":true}`);
  });

  it("recovers back to the ring's oldest entry and no further: an older since gets the backlog", () => {
    const room = roomWith(HISTORY_SIZE + 10);
    const oldest = room.ring[0]!.seq;
    expect(oldest).toBe(11);
    const edge = parse(room.history(String(oldest - 1), EPOCH));
    expect(edge.recovered).toBe(true);
    expect(edge.comments.map((c) => c.seq)).toEqual(seqsOf(room.ring));
    expect(edge.comments).toHaveLength(HISTORY_SIZE);

    const past = parse(room.history(String(oldest - 2), EPOCH));
    expect(past.recovered).toBe(false);
    expect(past).toEqual(parse(backlogFrame(room.state.comments)));
    expect(past.comments.map((c) => c.seq)).toEqual(Array.from({ length: BACKLOG_SIZE }, (_, i) => HISTORY_SIZE + 10 - BACKLOG_SIZE + 1 + i));
  });

  it("gives the backlog for another epoch, a missing epoch or a missing since", () => {
    const room = roomWith(5);
    const backlog = backlogFrame(room.state.comments);
    expect(room.history("3", "epoch-b")).toBe(backlog);
    expect(room.history("3", null)).toBe(backlog);
    expect(room.history(null, EPOCH)).toBe(backlog);
    expect(room.history(null, null)).toBe(backlog);
    expect(parse(backlog).recovered).toBe(false);
  });

  it("gives the backlog for a since that is not a plain decimal, never an error", () => {
    const room = roomWith(5);
    const backlog = backlogFrame(room.state.comments);
    for (const since of ["1e3", "-1", "", " 3", "3 ", "3.0", "0x3", "+3", "three", "1234567890123456"]) {
      expect(room.history(since, EPOCH), JSON.stringify(since)).toBe(backlog);
    }
    // Leading zeros are still a decimal.
    expect(parse(room.history("003", EPOCH)).comments.map((c) => c.seq)).toEqual([4, 5]);
  });

  it("gives the backlog for a since after the last seq (a since from elsewhere)", () => {
    const room = roomWith(5);
    expect(room.history("6", EPOCH)).toBe(backlogFrame(room.state.comments));
    expect(room.history("999999999999999", EPOCH)).toBe(backlogFrame(room.state.comments));
  });
});

describe("backlogFrame", () => {
  it("keeps the latest BACKLOG_SIZE comments in their current state, in seq order", () => {
    const room = roomWith(BACKLOG_SIZE + 10);
    const ids = [...room.state.comments.keys()];
    const last = ids[ids.length - 1]!;
    room.ok(alice, { type: "edit", id: last, text: "edited" });
    room.ok(alice, { type: "delete", id: ids[ids.length - 2]! });
    const h = parse(backlogFrame(room.state.comments));
    expect(h.recovered).toBe(false);
    expect(h.events).toBeUndefined();
    expect(h.comments).toHaveLength(BACKLOG_SIZE);
    // The deletion let one older comment in; the edit shows with its edited_at.
    const expected = [...room.state.comments.values()].slice(-BACKLOG_SIZE);
    expect(h.comments).toEqual(expected);
    expect(h.comments[0]!.comment.message).toBe(`m${10}`);
    expect(h.comments.map((c) => c.comment.id)).not.toContain(ids[ids.length - 2]);
    expect(h.comments[BACKLOG_SIZE - 1]!.comment).toMatchObject({ id: last, message: "edited", edited_at: expect.any(String) });
    expect(h.comments.map((c) => c.seq)).toEqual([...h.comments.map((c) => c.seq)].sort((x, y) => x - y));
  });

  it("gives every comment when there are fewer than BACKLOG_SIZE, and none on an empty stream", () => {
    expect(parse(backlogFrame(roomWith(3).state.comments)).comments.map((c) => c.comment.message)).toEqual(["m1", "m2", "m3"]);
    expect(backlogFrame(new Map())).toBe(`{"type":"history","comments":[],"recovered":false}`);
  });
});

describe("eventFrame", () => {
  it("sends a comment entry as a comment frame with the stored seq and comment", () => {
    const room = new Room();
    room.post(alice, "hello @bob");
    const entry = room.log[0]!;
    const frame = eventFrame(entry);
    expect(frame.startsWith(`{"type":"comment","seq":1,"comment":{`)).toBe(true);
    const parsed = JSON.parse(frame);
    expect(ServerFrame.parse(parsed).type).toBe("comment");
    expect(parsed).toEqual({ type: "comment", ...JSON.parse(entry.json) });
  });

  it("sends any other event exactly as stored", () => {
    const room = new Room();
    const a = room.post(alice, "x");
    const entries = [
      ...room.ok(owner, { type: "pin", id: a }),
      ...room.ok(mod, { type: "timeout", user_id: bob.userId, seconds: 60, reason: "calm down" }),
      ...room.ok(alice, { type: "delete", id: a }), // also unpins: two entries
    ];
    expect(entries.map((e) => (JSON.parse(e.json) as RoomEvent).type)).toEqual(["pinned", "moderation", "comment_deleted", "pinned"]);
    for (const e of entries) {
      expect(eventFrame(e)).toBe(e.json);
      ServerFrame.parse(JSON.parse(eventFrame(e)));
    }
  });
});

describe("RoomMirror", () => {
  /** A room with some history: comments, a reply, an edit, a pin, slow mode. */
  function busyRoom(): Room {
    const room = new Room();
    const a = room.post(alice, "first");
    room.post(bob, "second", a);
    room.ok(alice, { type: "edit", id: a, text: "first, edited" });
    room.ok(owner, { type: "pin", id: a });
    room.ok(mod, { type: "slow_mode", seconds: 3 });
    room.post(carol, "third");
    return room;
  }

  it("starts from a snapshot with the room's seq, ring, comments, pin and slow mode", () => {
    const room = busyRoom();
    const m = new RoomMirror(room.snapshot());
    expect(m.epoch).toBe(EPOCH);
    expect(m.seq).toBe(room.state.seq);
    expect(m.ring).toEqual(room.ring);
    expect([...m.state.comments]).toEqual([...room.state.comments]);
    expect(m.state.pinned).toEqual(room.state.pinned);
    expect(m.state.pinned?.message).toBe("first, edited");
    expect(m.state.slowModeS).toBe(3);
    for (const since of [null, "0", "3", "6", "7"]) expect(m.historyFrame(since, EPOCH)).toBe(room.history(since, EPOCH));
    expect(m.historyFrame(null, null)).toBe(room.history(null, null));
  });

  it("keeps only the last HISTORY_SIZE entries of a longer snapshot ring", () => {
    const room = roomWith(HISTORY_SIZE + 5);
    const snap = room.snapshot();
    snap.ring = room.log.slice(); // more than a ring holds
    const m = new RoomMirror(snap);
    expect(m.ring).toHaveLength(HISTORY_SIZE);
    expect(m.ring[0]!.seq).toBe(6);
    expect(m.ring).toEqual(room.ring);
  });

  it("does not change the snapshot it was built from", () => {
    const room = busyRoom();
    const snap = room.snapshot();
    const before = structuredClone(snap);
    const m = new RoomMirror(snap);
    const a = snap.comments[0]!.comment.id;
    m.accept(EPOCH, [...room.ok(alice, { type: "edit", id: a, text: "again" }), ...room.ok(alice, { type: "delete", id: a })], room.now);
    expect(m.state.comments.has(a)).toBe(false);
    expect(snap).toEqual(before);
  });

  it("applies entries in order and returns them", () => {
    const room = busyRoom();
    const m = new RoomMirror(room.snapshot());
    const a = [...room.state.comments.keys()][0]!;
    const entries = [
      ...room.ok(bob, { type: "message", text: "fourth" }),
      ...room.ok(alice, { type: "edit", id: a, text: "first, again" }),
      ...room.ok(owner, { type: "slow_mode", seconds: 0 }),
    ];
    expect(entries).toHaveLength(3);
    const r = m.accept(EPOCH, entries, room.now);
    expect(r).toEqual({ applied: entries, gap: false });
    expect(m.seq).toBe(room.state.seq);
    expect(m.ring.slice(-3)).toEqual(entries);
    expect(m.state.slowModeS).toBe(0);
    expect(m.state.pinned?.message).toBe("first, again");
    expect([...m.state.comments]).toEqual([...room.state.comments]);
  });

  it("skips entries it already applied (a redelivery), alone or ahead of new ones", () => {
    const room = busyRoom();
    const m = new RoomMirror(room.snapshot());
    const first = [...room.ok(bob, { type: "message", text: "a" }), ...room.ok(owner, { type: "message", text: "b" })];
    m.accept(EPOCH, first, room.now);
    const ringBefore = m.ring.slice();

    expect(m.accept(EPOCH, first, room.now)).toEqual({ applied: [], gap: false });
    expect(m.ring).toEqual(ringBefore);
    // Entries from before the snapshot, too.
    expect(m.accept(EPOCH, room.log.slice(0, 3), room.now)).toEqual({ applied: [], gap: false });

    const next = room.ok(mod, { type: "message", text: "c" }); // staff: slow mode does not hold them
    expect(m.accept(EPOCH, [...first, ...next], room.now)).toEqual({ applied: next, gap: false });
    expect(seqsOf(m.ring)).toEqual(seqsOf(room.ring));
    expect(m.historyFrame("0", EPOCH)).toBe(room.history("0", EPOCH));
  });

  it("reports a gap on a jump, keeping what came before it and nothing after", () => {
    const room = busyRoom();
    const m = new RoomMirror(room.snapshot());
    const start = m.seq;
    const e1 = room.ok(bob, { type: "message", text: "a" });
    const e2 = room.ok(owner, { type: "message", text: "b" });
    const e3 = room.ok(mod, { type: "message", text: "c" }); // staff: slow mode does not hold them
    const r = m.accept(EPOCH, [...e1, ...e3], room.now);
    expect(r).toEqual({ applied: e1, gap: true });
    expect(m.seq).toBe(start + 1);
    expect(m.ring[m.ring.length - 1]).toEqual(e1[0]);
    expect(m.state.comments.has((JSON.parse(e3[0]!.json) as SeqComment).comment.id)).toBe(false);
    // Nothing applied at all when the first new entry is already past the next seq.
    expect(m.accept(EPOCH, e3, room.now)).toEqual({ applied: [], gap: true });
    expect(m.seq).toBe(start + 1);
    // The missing entry closes the gap.
    expect(m.accept(EPOCH, [...e2, ...e3], room.now)).toEqual({ applied: [...e2, ...e3], gap: false });
    expect(m.historyFrame(String(start), EPOCH)).toBe(room.history(String(start), EPOCH));
  });

  it("reports a gap for entries of another epoch and applies none of them", () => {
    const room = busyRoom();
    const m = new RoomMirror(room.snapshot());
    const seq = m.seq;
    const next = room.ok(bob, { type: "message", text: "a" });
    expect(m.accept("epoch-b", next, room.now)).toEqual({ applied: [], gap: true });
    expect(m.seq).toBe(seq);
    expect(m.ring).toHaveLength(room.ring.length - 1);
    // An empty batch of another epoch says nothing about a gap.
    expect(m.accept("epoch-b", [], room.now)).toEqual({ applied: [], gap: false });
    expect(m.accept(EPOCH, next, room.now)).toEqual({ applied: next, gap: false });
  });

  it("keeps the ring at HISTORY_SIZE entries", () => {
    const room = new Room();
    const m = new RoomMirror(room.snapshot());
    for (let i = 1; i <= HISTORY_SIZE + 50; i++) expect(m.accept(EPOCH, room.ok(alice, { type: "message", text: `m${i}` }), room.now).gap).toBe(false);
    expect(m.ring).toHaveLength(HISTORY_SIZE);
    expect(m.ring[0]!.seq).toBe(51);
    expect(m.ring).toEqual(room.ring);
    expect(m.state.comments.size).toBe(HISTORY_SIZE);
    expect([...m.state.comments.keys()]).toEqual([...room.state.comments.keys()]);
  });

  it("refreshes its cached backlog after an edit, a delete and a ban", () => {
    const room = new Room();
    const m = new RoomMirror(room.snapshot());
    const a = room.post(alice, "original");
    const b = room.post(bob, "keep");
    const c = room.post(carol, "gone soon");
    m.accept(EPOCH, room.log, room.now);
    const messages = () => parse(m.historyFrame(null, null)).comments.map((x) => x.comment.message);
    expect(messages()).toEqual(["original", "keep", "gone soon"]);
    expect(m.historyFrame(null, null)).toBe(m.historyFrame(null, null));

    m.accept(EPOCH, room.ok(alice, { type: "edit", id: a, text: "changed" }), room.now);
    expect(messages()).toEqual(["changed", "keep", "gone soon"]);
    m.accept(EPOCH, room.ok(mod, { type: "delete", id: c }), room.now);
    expect(messages()).toEqual(["changed", "keep"]);
    m.accept(EPOCH, room.ok(owner, { type: "ban", user_id: alice.userId }), room.now);
    expect(messages()).toEqual(["keep"]);
    expect(parse(m.historyFrame(null, null)).comments[0]!.comment.id).toBe(b);
    // A redelivery changes nothing and the frame stays what the room answers.
    m.accept(EPOCH, room.log, room.now);
    expect(m.historyFrame(null, null)).toBe(room.history(null, null));
    expect(m.historyFrame("3", "epoch-b")).toBe(room.history(null, null));
  });

  it("since(seq) gives the entries after seq, or null once the ring no longer reaches back", () => {
    const room = roomWith(HISTORY_SIZE + 20);
    const m = new RoomMirror(room.snapshot());
    const oldest = m.ring[0]!.seq;
    expect(m.since(m.seq)).toEqual([]);
    expect(m.since(m.seq - 3)).toEqual(room.ring.slice(-3));
    expect(m.since(oldest - 1)).toEqual(room.ring);
    expect(m.since(oldest - 2)).toBeNull();
    expect(m.since(0)).toBeNull();
  });

  it("since(seq) on a mirror with an empty ring: nothing missed at its seq, null before", () => {
    const empty = new RoomMirror({ stream_id: STREAM, epoch: EPOCH, seq: 0, ring: [], comments: [], pinned: null, slow_mode_s: 0 });
    expect(empty.since(0)).toEqual([]);
    const room = roomWith(5);
    const snap = room.snapshot();
    snap.ring = [];
    const m = new RoomMirror(snap);
    expect(m.since(5)).toEqual([]);
    expect(m.since(4)).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// The property that matters: a mirror ends where the room is
// ---------------------------------------------------------------------------------------------

/** A small deterministic PRNG (mulberry32), so the script is the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs `n` random commands of every kind on `room` (refused ones change nothing). */
function script(room: Room, n: number, random: () => number): void {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const viewers = [alice, bob, carol];
  const staff = [owner, mod];
  const recent = () => [...room.state.comments.values()].slice(-20).map((e) => e.comment);
  for (let i = 0; i < n; i++) {
    const r = random();
    const cs = recent();
    if (r < 0.45 || cs.length === 0) {
      const actor = pick([...viewers, ...staff]);
      const reply = cs.length > 0 && random() < 0.3 ? pick(cs).id : undefined;
      room.run(actor, { type: "message", text: `msg ${i} @bob`, ...(reply ? { reply_to: reply } : {}) });
    } else if (r < 0.6) {
      const c = pick(cs);
      const author = [...viewers, ...staff].find((a) => a.userId === c.user_id)!;
      room.run(author, { type: "edit", id: c.id, text: `edit ${i} https://example.com/${i}` });
    } else if (r < 0.68) {
      const c = pick(cs);
      room.run(random() < 0.5 ? pick(staff) : [...viewers, ...staff].find((a) => a.userId === c.user_id)!, { type: "delete", id: c.id });
    } else if (r < 0.76) {
      room.run(pick(staff), random() < 0.7 ? { type: "pin", id: pick(cs).id } : { type: "unpin" });
    } else if (r < 0.82) {
      room.run(pick(staff), { type: "slow_mode", seconds: pick([0, 0, 2, 5]) });
    } else if (r < 0.88) {
      room.run(pick(staff), { type: "timeout", user_id: pick(viewers).userId, seconds: 10, reason: "cool off" });
    } else if (r < 0.93) {
      room.run(pick(staff), { type: "ban", user_id: pick(viewers).userId });
    } else if (r < 0.97) {
      room.run(pick(staff), { type: "unban", user_id: pick(viewers).userId });
    } else {
      room.run(owner, { type: "role", user_id: pick(viewers).userId, role: pick(["moderator", "viewer"] as const) });
    }
  }
}

/** Feeds `entries` to `m` in random batches, each re-sending a few entries of the batch before. */
function feed(m: RoomMirror, entries: readonly RingEntry[], random: () => number, now: number): void {
  let i = 0;
  while (i < entries.length) {
    const overlap = Math.min(i, Math.floor(random() * 4));
    const size = 1 + Math.floor(random() * 12);
    const r = m.accept(EPOCH, entries.slice(i - overlap, i + size), now);
    expect(r.gap).toBe(false);
    expect(seqsOf(r.applied)).toEqual(seqsOf(entries.slice(i, i + size)));
    i += size;
  }
}

/** The mirror shows what the room shows: state joins need, ring, and every history frame. */
function expectSame(m: RoomMirror, room: Room): void {
  expect(m.seq).toBe(room.state.seq);
  expect([...m.state.comments]).toEqual([...room.state.comments]);
  expect(m.state.pinned).toEqual(room.state.pinned);
  expect(m.state.slowModeS).toBe(room.state.slowModeS);
  expect(m.ring).toEqual(room.ring);
  const oldest = room.ring[0]?.seq ?? room.state.seq + 1;
  const sinces = [null, "0", String(oldest - 2), String(oldest - 1), String(oldest), String(room.state.seq - 1), String(room.state.seq), String(room.state.seq + 1)];
  for (let s = Math.max(0, room.state.seq - 30); s <= room.state.seq; s += 7) sinces.push(String(s));
  for (const since of sinces) {
    for (const epoch of [EPOCH, "epoch-b", null]) {
      const label = `since=${since} epoch=${epoch}`;
      expect(m.historyFrame(since, epoch), label).toBe(room.history(since, epoch));
      expect(historyFrame({ epoch: m.epoch, seq: m.seq, ring: m.ring, comments: m.state.comments }, since, epoch), label).toBe(room.history(since, epoch));
    }
  }
  for (let s = Math.max(0, oldest - 3); s <= room.state.seq; s += 11) {
    expect(m.since(s)).toEqual(s < oldest - 1 ? null : room.ring.filter((e) => e.seq > s));
  }
}

describe("a mirror fed the room's entries ends where the room is", () => {
  for (const seed of [1, 7, 42]) {
    it(`seed ${seed}: from an empty snapshot and from one taken midway, through a ring roll-over`, () => {
      const random = rng(seed);
      const room = new Room();
      const fromStart = new RoomMirror(room.snapshot());
      script(room, 150, random);
      const midway = room.snapshot();
      const cut = room.log.length;
      const fromMid = new RoomMirror(midway);
      expectSame(fromMid, room);

      script(room, 250, random);
      expect(room.log.length).toBeGreaterThan(HISTORY_SIZE + 50);
      // Comments were edited, deleted, quoted, pinned, removed by bans; the mirror saw them all.
      const types = new Set(room.log.map((e) => (e.comment ? "comment" : (JSON.parse(e.json) as RoomEvent).type)));
      expect([...types].sort()).toEqual(["comment", "comment_deleted", "comment_edited", "moderation", "pinned"]);

      feed(fromStart, room.log, random, room.now);
      feed(fromMid, room.log.slice(cut), random, room.now);
      expectSame(fromStart, room);
      expectSame(fromMid, room);
    });
  }
});

describe("historyPage (the history API without Redis)", () => {
  const messages = (page: readonly SeqComment[]) => page.map((c) => c.comment.message);

  it("pages newest-first like Redis and answers oldest first: `limit` newest, `before` exclusive", () => {
    const room = roomWith(6);
    expect(messages(historyPage(room.state.comments, 2))).toEqual(["m5", "m6"]);
    expect(messages(historyPage(room.state.comments, 2, 5))).toEqual(["m3", "m4"]);
    expect(messages(historyPage(room.state.comments, 10, 3))).toEqual(["m1", "m2"]);
    expect(historyPage(room.state.comments, 10, 1)).toEqual([]);
    expect(messages(historyPage(room.state.comments, 200, 1000))).toEqual(["m1", "m2", "m3", "m4", "m5", "m6"]);
  });

  it("gives the current state: edits applied, deleted comments skipped even when `before` names one", () => {
    const room = roomWith(4);
    const [, second, third] = [...room.state.comments.values()];
    room.ok(alice, { type: "edit", id: second!.comment.id, text: "m2 edited" });
    room.ok(alice, { type: "delete", id: third!.comment.id });
    expect(messages(historyPage(room.state.comments, 50))).toEqual(["m1", "m2 edited", "m4"]);
    expect(messages(historyPage(room.state.comments, 1, third!.seq))).toEqual(["m2 edited"]);
  });

  it("with limit 50 equals a newcomer's backlog", () => {
    const room = roomWith(BACKLOG_SIZE + 7);
    expect(historyPage(room.state.comments, BACKLOG_SIZE)).toEqual(parse(backlogFrame(room.state.comments)).comments);
  });
});
