/**
 * The history sink's planning (src/sinks/redis-history.ts planHistory): Redis history shows the
 * current state whatever order and however often the queue delivers a stream's events.
 */
import { describe, expect, it } from "vitest";
import { toQueueEvent, type QueueEvent, type RoomEvent, type SeqComment } from "../../src/protocol";
import { planHistory, type Change } from "../../src/sinks/redis-history";

const SID = "6b5f0c1e-8a0b-4c59-9b5e-3f2a1d0c9e8f";
const U = "00000000-0000-4000-8000-00000000000d";
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const at = "2026-11-30T12:00:00.000Z";

const comment = (seq: number, n: number, message = `m${n}`): RoomEvent => ({
  type: "comment",
  seq,
  comment: { id: id(n), stream_id: SID, user_id: U, username: "u", message, created_at: at },
});
const edit = (seq: number, n: number, message: string): RoomEvent => ({ type: "comment_edited", seq, id: id(n), message, entities: [], edited_at: at });
const del = (seq: number, n: number): RoomEvent => ({ type: "comment_deleted", seq, id: id(n), by: U });
const ban = (seq: number, ns: number[]): RoomEvent => ({ type: "moderation", seq, action: "ban", user_id: U, deleted: ns.map(id), by: U });
const q = (e: RoomEvent): QueueEvent => toQueueEvent(e, SID, at, U);

/** A tiny in-memory Redis for the two keys: applies plans batch by batch, like the sink. */
function store() {
  const zset = new Map<string, number>(); // member → score
  const hash = new Map<string, string>();
  return {
    deliver(batch: RoomEvent[]) {
      const members = new Map<string, { seq: number; member: string }>();
      for (const [m, score] of zset) members.set((JSON.parse(m) as SeqComment).comment.id, { seq: score, member: m });
      const changes = new Map<string, Change>();
      for (const [k, v] of hash) changes.set(k, JSON.parse(v) as Change);
      const plan = planHistory(batch.map(q), members, changes);
      for (const m of plan.zrem) zset.delete(m);
      for (const z of plan.zadd) zset.set(z.member, z.score);
      for (const [k, v] of Object.entries(plan.changes)) hash.set(k, v);
    },
    replyExcerpt(commentId: string) {
      for (const [m] of zset) {
        const c = (JSON.parse(m) as SeqComment).comment;
        if (c.id === commentId) return c.reply_to?.excerpt;
      }
      return undefined;
    },
    view() {
      return [...zset]
        .sort((a, b) => a[1] - b[1])
        .map(([m]) => (JSON.parse(m) as SeqComment).comment)
        .map((c) => [c.id, c.message, c.edited_at ?? null]);
    },
  };
}

const EVENTS: RoomEvent[] = [comment(1, 1), comment(2, 2), edit(3, 1, "one, edited"), comment(4, 3), del(5, 2), edit(6, 1, "one, edited again"), comment(7, 4), ban(8, [4])];

const reply = (seq: number, n: number, to: number, excerptText: string): RoomEvent => ({
  type: "comment",
  seq,
  comment: {
    id: id(n),
    stream_id: SID,
    user_id: U,
    username: "u",
    message: `reply ${n}`,
    created_at: at,
    reply_to: { id: id(to), user_id: U, username: "u", excerpt: excerptText },
  },
});

describe("Redis history is the current state", () => {
  it("a reply's quote follows its target: edited text, nothing once deleted — in any order (attack report 5)", () => {
    const events = [comment(1, 1, "my address is 12 Secret Lane"), reply(2, 2, 1, "my address is 12 Secret Lane"), edit(3, 1, "oops"), del(4, 1)];
    for (const order of [events, [...events].reverse(), [events[0]!, events[2]!, events[3]!, events[1]!]]) {
      const s = store();
      for (const e of order) s.deliver([e]);
      expect(s.view()).toEqual([[id(2), "reply 2", null]]);
      expect(s.replyExcerpt(id(2))).toBe("");
    }
    const s = store();
    s.deliver(events.slice(0, 3));
    expect(s.replyExcerpt(id(2))).toBe("oops");
  });

  it("in order: edits applied, deletions and a ban's comments removed", () => {
    const s = store();
    s.deliver(EVENTS);
    expect(s.view()).toEqual([
      [id(1), "one, edited again", at],
      [id(3), "m3", null],
    ]);
  });

  it("any order, one event per batch, gives the same history (an edit or delete before its comment is not undone)", () => {
    const expected = (() => {
      const s = store();
      s.deliver(EVENTS);
      return s.view();
    })();
    // Deterministic shuffles: every rotation and the reverse.
    const orders = [...EVENTS.map((_, k) => [...EVENTS.slice(k), ...EVENTS.slice(0, k)]), [...EVENTS].reverse()];
    for (const order of orders) {
      const s = store();
      for (const e of order) s.deliver([e]);
      expect(s.view()).toEqual(expected);
    }
  });

  it("redelivery changes nothing", () => {
    const s = store();
    s.deliver(EVENTS);
    const once = s.view();
    s.deliver(EVENTS);
    s.deliver([EVENTS[0]!, EVENTS[2]!]);
    expect(s.view()).toEqual(once);
  });

  it("an older edit arriving after a newer one is ignored", () => {
    const s = store();
    s.deliver([comment(1, 1), edit(3, 1, "newest")]);
    s.deliver([edit(2, 1, "older")]);
    expect(s.view()).toEqual([[id(1), "newest", at]]);
  });
});
