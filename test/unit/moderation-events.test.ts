/**
 * Issue 18's events on their way to the sinks: the queue body and Kafka value of each new action
 * (src/protocol.ts toQueueEvent / toChatEvent: `stream_chat_moderation` with its action, the
 * envelope, `comment_id` for a review), and Redis history after a purge and a review
 * (src/sinks/redis-history.ts planHistory), in any order and however often the queue delivers.
 * The events are the rules' own (src/rules/moderation.ts), made by a scripted raid.
 */
import { describe, expect, it } from "vitest";
import { KafkaRoomEvent, QueueEvent, toChatEvent, toQueueEvent, type RoomEvent, type SeqComment } from "../../src/protocol";
import { planHistory, type Change } from "../../src/sinks/redis-history";
import { STREAM, T0, alice, bob, carol, code, fresh, mod, owner, post, run, type Fixture } from "./rules-fixture";

const at = new Date(T0).toISOString();

/** The raid: every new action once, with the events the rules made for it. */
function raid(): { f: Fixture; byAction: Map<string, RoomEvent> } {
  const f = fresh();
  run(f, mod, { type: "blocked_terms", add: ["link"], action: "hold" });
  const hello = post(f, carol, "hello all", T0 - 5_000);
  run(f, bob, { type: "message", text: "reply", reply_to: hello }, T0 - 4_500);
  const spam = [post(f, alice, "FOLLOW me now", T0 - 4_000), post(f, bob, "follow ME!!", T0 - 3_000)];
  run(f, bob, { type: "message", text: "quoting spam", reply_to: spam[0] }, T0 - 2_500);
  const held = run(f, carol, { type: "message", text: "my link" }, T0 - 2_000);
  const held2 = run(f, carol, { type: "message", text: "my other link" }, T0 - 1_900);
  if (held.kind !== "held" || held2.kind !== "held") throw new Error("not held");
  run(f, mod, { type: "chat_mode", mode: "unique", on: true, seconds: 60 });
  run(f, mod, { type: "review", id: held.held.comment.id, decision: "allow" });
  run(f, mod, { type: "review", id: held2.held.comment.id, decision: "deny" });
  run(f, mod, { type: "warn", user_id: alice.userId, reason: "no spam" });
  run(f, alice, { type: "acknowledge_warning" });
  run(f, mod, { type: "hide_user", user_id: bob.userId });
  run(f, mod, { type: "unhide_user", user_id: bob.userId });
  run(f, mod, { type: "lockdown", on: true });
  expect(code(run(f, mod, { type: "purge", phrase: "follow me", seconds: 60, then: "timeout", timeout_s: 60, reason: "raid" }))).toBe("ok");
  run(f, owner, { type: "title", title: "Raid over" });
  const byAction = new Map<string, RoomEvent>();
  for (const { e } of f.log) if (e.type === "moderation") byAction.set(e.action + (e.decision ? `/${e.decision}` : ""), e);
  return { f, byAction };
}

describe("Kafka events of the new actions", () => {
  const { f, byAction } = raid();
  const kafka = (key: string) => {
    const e = byAction.get(key);
    if (!e) throw new Error(`no ${key} event`);
    const q = toQueueEvent(e, STREAM, at, mod.userId);
    // The queue body is what the consumer validates; the Kafka value what the topic gets.
    expect(QueueEvent.safeParse(q).success).toBe(true);
    const value = toChatEvent(QueueEvent.parse(q));
    expect(KafkaRoomEvent.safeParse(value).success).toBe(true);
    expect(value).not.toHaveProperty("seq");
    expect(value).not.toHaveProperty("frame");
    expect(value).not.toHaveProperty("id");
    expect(value).toMatchObject({ event_type: "stream_chat_moderation", stream_id: STREAM, created_at: at });
    return value as Record<string, unknown>;
  };

  it("chat_mode, lockdown, title", () => {
    expect(kafka("chat_mode")).toMatchObject({ action: "chat_mode", mode: "unique", on: true, seconds: 60, by: mod.userId });
    expect(kafka("lockdown")).toMatchObject({ action: "lockdown", on: true, modes: { first_time_hold: true, account_age_s: 3_600 }, seconds: 30 });
    expect(kafka("title")).toMatchObject({ action: "title", title: "Raid over", by: owner.userId });
  });

  it("review: the held comment as comment_id, its author as user_id, the decision", () => {
    const allow = kafka("review/allow");
    const deny = kafka("review/deny");
    expect(allow).toMatchObject({ action: "review", decision: "allow", user_id: carol.userId, comment_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(deny).toMatchObject({ action: "review", decision: "deny", user_id: carol.userId });
    expect(deny.comment_id).not.toBe(allow.comment_id);
    // The allowed comment follows as a stream_chat_message with its original created_at.
    const allowed = f.log.find(({ e }) => e.type === "comment" && e.comment.id === allow.comment_id)!.e;
    expect(toChatEvent(toQueueEvent(allowed, STREAM, at, mod.userId))).toMatchObject({ event_type: "stream_chat_message", comment_id: allow.comment_id, created_at: new Date(T0 - 2_000).toISOString() });
  });

  it("warn, warning_acknowledged; a shadow hide reaches no sink (it is no event)", () => {
    expect(kafka("warn")).toMatchObject({ action: "warn", user_id: alice.userId, reason: "no spam" });
    expect(kafka("warning_acknowledged")).toMatchObject({ action: "warning_acknowledged", user_id: alice.userId, by: alice.userId });
    expect([...byAction.keys()].filter((k) => k.includes("hide"))).toEqual([]);
  });

  it("purge: the phrase, the removed comments as deleted_comment_ids, the authors and what happened to them", () => {
    const p = kafka("purge");
    expect(p).toMatchObject({ action: "purge", phrase: "follow me", seconds: 60, then: "timeout", until: new Date(T0 + 60_000).toISOString(), reason: "raid" });
    expect((p.deleted_comment_ids as string[]).length).toBe(2);
    expect([...(p.users as string[])].sort()).toEqual([alice.userId, bob.userId].sort());
  });
});

/** A tiny in-memory Redis for the sink's two keys (as in test/unit/history-plan.test.ts). */
function store() {
  const zset = new Map<string, number>();
  const hash = new Map<string, string>();
  return {
    deliver(batch: RoomEvent[]) {
      const members = new Map<string, { seq: number; member: string }>();
      for (const [m, score] of zset) members.set((JSON.parse(m) as SeqComment).comment.id, { seq: score, member: m });
      const changes = new Map<string, Change>();
      for (const [k, v] of hash) changes.set(k, JSON.parse(v) as Change);
      const plan = planHistory(batch.map((e) => toQueueEvent(e, STREAM, at, mod.userId)), members, changes);
      for (const m of plan.zrem) zset.delete(m);
      for (const z of plan.zadd) zset.set(z.member, z.score);
      for (const [k, v] of Object.entries(plan.changes)) hash.set(k, v);
    },
    view() {
      return [...zset]
        .sort((a, b) => a[1] - b[1])
        .map(([m]) => (JSON.parse(m) as SeqComment).comment)
        .map((c) => [c.id, c.message, c.reply_to?.excerpt ?? null]);
    },
  };
}

describe("Redis history after a purge and a review", () => {
  const { f } = raid();
  const events = f.log.map((l) => l.e);
  /** What the room itself shows: its comments in their current state. */
  const roomView = [...f.state.comments.values()].map((e) => [e.comment.id, e.comment.message, e.comment.reply_to?.excerpt ?? null]);

  it("in order, it is the room's current state: purged messages gone, quotes of them emptied, the allowed one at its new seq", () => {
    const s = store();
    s.deliver(events);
    expect(s.view()).toEqual(roomView);
    expect(s.view().map((c) => c[1])).toEqual(["hello all", "reply", "quoting spam", "my link"]);
    expect(s.view().find((c) => c[1] === "quoting spam")![2]).toBe("");
  });

  it("in any order, one event per batch, and redelivered, it is the same", () => {
    const orders = [[...events].reverse(), ...[3, 7, 11].map((k) => [...events.slice(k), ...events.slice(0, k)])];
    for (const order of orders) {
      const s = store();
      for (const e of order) s.deliver([e]);
      s.deliver(events);
      expect(s.view()).toEqual(roomView);
    }
  });
});
