/**
 * The stream's rules as a pure state machine (src/rules/room-state.ts): every command allowed and
 * refused, by each role, with a clock and ids the test controls.
 */
import { describe, expect, it } from "vitest";
import type { Command, RoomEvent } from "../../src/protocol";
import { apply, decide, emptyState, effectiveRole, restrictions, type Actor, type Outcome, type RoomState } from "../../src/rules/room-state";
import { seesStaffState, standing } from "../../src/rules/standing";

const STREAM = "6b5f0c1e-8a0b-4c59-9b5e-3f2a1d0c9e8f";
const owner: Actor = { userId: "00000000-0000-4000-8000-00000000000a", username: "owner", role: "owner" };
const mod: Actor = { userId: "00000000-0000-4000-8000-00000000000b", username: "mod", role: "moderator" };
const mod2: Actor = { userId: "00000000-0000-4000-8000-00000000000c", username: "mod2", role: "moderator" };
const alice: Actor = { userId: "00000000-0000-4000-8000-00000000000d", username: "alice", role: "viewer" };
const bob: Actor = { userId: "00000000-0000-4000-8000-00000000000e", username: "bob", role: "viewer" };

let ids = 0;
const opts = { editWindowMs: 300_000, newId: () => `00000000-0000-4000-8000-${String(++ids).padStart(12, "0")}` };

/** Runs a command and applies its events, like the room does; returns the outcome. */
function run(s: RoomState, actor: Actor, cmd: Command, now = 1_000_000): Outcome {
  const o = decide(s, actor, cmd, now, opts);
  if (o.kind === "ok") {
    for (const e of o.events) apply(s, e, now);
    if (o.blockedTerms) s.blockedTerms = o.blockedTerms;
  }
  return o;
}
function post(s: RoomState, actor: Actor, text: string, now = 1_000_000): string {
  const o = run(s, actor, { type: "message", text }, now);
  if (o.kind !== "ok") throw new Error(`post refused: ${JSON.stringify(o)}`);
  return o.ack.id!;
}
const code = (o: Outcome) => (o.kind === "error" ? o.code : o.kind);
function fresh(): RoomState {
  const s = emptyState(STREAM);
  // The worker told the room who the staff are when they connected.
  s.knownRoles.set(mod.userId, "moderator");
  s.knownRoles.set(mod2.userId, "moderator");
  s.ownerId = owner.userId;
  return s;
}

describe("messages", () => {
  it("sequence every event with one counter", () => {
    const s = fresh();
    const a = post(s, alice, "hi");
    run(s, alice, { type: "edit", id: a, text: "hi!" });
    run(s, owner, { type: "pin", id: a });
    run(s, owner, { type: "slow_mode", seconds: 5 });
    expect(s.seq).toBe(4);
  });

  it("ignores visually empty text and refuses invalid text", () => {
    const s = fresh();
    expect(code(run(s, alice, { type: "message", text: "\u200b \u2060" }))).toBe("ignored");
    expect(code(run(s, alice, { type: "message", text: "a\u0007b" }))).toBe("invalid_text");
    expect(s.seq).toBe(0);
  });

  it("fills reply_to from the ring and refuses a reply to a comment that is gone", () => {
    const s = fresh();
    const a = post(s, alice, "first @bob see https://example.com/x");
    const o = run(s, bob, { type: "message", text: "reply", reply_to: a });
    expect(o.kind).toBe("ok");
    const c = s.comments.get((o as { ack: { id: string } }).ack.id)!.comment;
    expect(c.reply_to).toEqual({ id: a, user_id: alice.userId, username: "alice", excerpt: "first @bob see https://example.com/x" });
    expect(s.comments.get(a)!.comment.entities?.map((e) => e.type)).toEqual(["mention", "url"]);
    run(s, alice, { type: "delete", id: a });
    expect(code(run(s, bob, { type: "message", text: "late", reply_to: a }))).toBe("not_found");
  });

  it("refuses attachments it cannot resolve", () => {
    const s = fresh();
    expect(code(run(s, alice, { type: "message", text: "pic", attachments: ["nope"] }))).toBe("invalid_attachment");
  });

  it("rejects blocked terms case-insensitively, for every role", () => {
    const s = fresh();
    expect(code(run(s, mod, { type: "blocked_terms", add: ["Spoiler"] }))).toBe("ok");
    expect(code(run(s, alice, { type: "message", text: "big SPOILER ahead" }))).toBe("blocked_term");
    expect(code(run(s, owner, { type: "message", text: "spoiler" }))).toBe("blocked_term");
    const a = post(s, alice, "fine");
    expect(code(run(s, alice, { type: "edit", id: a, text: "now a spoiler" }))).toBe("blocked_term");
    expect(code(run(s, mod, { type: "blocked_terms", remove: ["SPOILER"] }))).toBe("ok");
    expect(code(run(s, alice, { type: "message", text: "spoiler" }))).toBe("ok");
    expect(code(run(s, alice, { type: "blocked_terms", add: ["x"] }))).toBe("forbidden");
  });
});

describe("edit and delete", () => {
  it("lets only the author edit, within the edit window", () => {
    const s = fresh();
    const a = post(s, alice, "typo", 1_000);
    expect(code(run(s, bob, { type: "edit", id: a, text: "hijack" }, 2_000))).toBe("forbidden");
    expect(code(run(s, owner, { type: "edit", id: a, text: "hijack" }, 2_000))).toBe("forbidden");
    expect(code(run(s, alice, { type: "edit", id: a, text: "fixed" }, 1_000 + 300_000))).toBe("ok");
    expect(s.comments.get(a)!.comment).toMatchObject({ message: "fixed", edited_at: new Date(301_000).toISOString() });
    expect(code(run(s, alice, { type: "edit", id: a, text: "late" }, 1_000 + 300_001))).toBe("edit_window_passed");
    expect(code(run(s, alice, { type: "edit", id: "00000000-0000-4000-8000-ffffffffffff", text: "x" }))).toBe("not_found");
  });

  it("lets the author, the owner and moderators delete; a moderator not a moderator's or the owner's comment", () => {
    const s = fresh();
    const a = post(s, alice, "a");
    expect(code(run(s, bob, { type: "delete", id: a }))).toBe("forbidden");
    expect(code(run(s, mod, { type: "delete", id: a }))).toBe("ok");
    const m = post(s, mod2, "mod says");
    expect(code(run(s, mod, { type: "delete", id: m }))).toBe("forbidden");
    const o = post(s, owner, "owner says");
    expect(code(run(s, mod, { type: "delete", id: o }))).toBe("forbidden");
    expect(code(run(s, owner, { type: "delete", id: m }))).toBe("ok");
    const own = post(s, bob, "mine");
    expect(code(run(s, bob, { type: "delete", id: own }))).toBe("ok");
    expect(code(run(s, bob, { type: "delete", id: own }))).toBe("not_found");
  });

  it("deleting the pinned comment unpins it in the same command", () => {
    const s = fresh();
    const a = post(s, alice, "pin me");
    run(s, mod, { type: "pin", id: a });
    const o = run(s, alice, { type: "delete", id: a }) as Extract<Outcome, { kind: "ok" }>;
    expect(o.events.map((e) => e.type)).toEqual(["comment_deleted", "pinned"]);
    expect(s.pinned).toBeNull();
  });
});

describe("pin", () => {
  it("one pinned comment, staff only, follows edits", () => {
    const s = fresh();
    const a = post(s, alice, "one");
    const b = post(s, bob, "two");
    expect(code(run(s, alice, { type: "pin", id: a }))).toBe("forbidden");
    run(s, mod, { type: "pin", id: a });
    run(s, mod, { type: "pin", id: b });
    expect(s.pinned?.id).toBe(b);
    run(s, bob, { type: "edit", id: b, text: "two (edited)" });
    expect(s.pinned?.message).toBe("two (edited)");
    expect(code(run(s, owner, { type: "unpin" }))).toBe("ok");
    expect(s.pinned).toBeNull();
    const again = run(s, owner, { type: "unpin" }) as Extract<Outcome, { kind: "ok" }>;
    expect(again.events).toEqual([]); // nothing pinned: acknowledged, no event
  });
});

describe("timeout, ban, slow mode, roles", () => {
  it("a timeout mutes until it ends; moderators cannot time out staff; nobody themselves", () => {
    const s = fresh();
    expect(code(run(s, mod, { type: "timeout", user_id: alice.userId, seconds: 60 }, 0))).toBe("ok");
    const muted = run(s, alice, { type: "message", text: "hi" }, 59_999);
    expect(muted).toEqual({ kind: "error", code: "muted", until: new Date(60_000).toISOString() });
    expect(restrictions(s, alice.userId, "viewer", 59_999)).toEqual({ muted_until: new Date(60_000).toISOString() });
    expect(code(run(s, alice, { type: "message", text: "hi" }, 60_000))).toBe("ok");
    expect(code(run(s, mod, { type: "timeout", user_id: mod2.userId, seconds: 60 }))).toBe("forbidden");
    expect(code(run(s, mod, { type: "timeout", user_id: owner.userId, seconds: 60 }))).toBe("forbidden");
    expect(code(run(s, mod, { type: "timeout", user_id: mod.userId, seconds: 60 }))).toBe("forbidden");
    expect(code(run(s, alice, { type: "timeout", user_id: bob.userId, seconds: 60 }))).toBe("forbidden");
    expect(code(run(s, owner, { type: "timeout", user_id: mod.userId, seconds: 60 }))).toBe("ok");
  });

  it("a ban deletes the user's ring comments (listed in the event) and the pin if theirs; unban restores sending", () => {
    const s = fresh();
    const a1 = post(s, alice, "spam 1");
    const b1 = post(s, bob, "innocent");
    const a2 = post(s, alice, "spam 2");
    run(s, mod, { type: "pin", id: a2 });
    const o = run(s, mod, { type: "ban", user_id: alice.userId, reason: "spam" }) as Extract<Outcome, { kind: "ok" }>;
    const ban = o.events[0] as Extract<RoomEvent, { type: "moderation" }>;
    expect(ban).toMatchObject({ action: "ban", user_id: alice.userId, deleted: [a1, a2], reason: "spam", by: mod.userId });
    expect(o.events[1]).toMatchObject({ type: "pinned", comment: null });
    expect([...s.comments.keys()]).toEqual([b1]);
    expect(code(run(s, alice, { type: "message", text: "hi" }))).toBe("banned");
    expect(restrictions(s, alice.userId, "viewer", 0)).toEqual({ banned: true });
    expect(code(run(s, mod, { type: "unban", user_id: alice.userId }))).toBe("ok");
    expect(code(run(s, alice, { type: "message", text: "sorry" }))).toBe("ok");
    expect((run(s, mod, { type: "unban", user_id: alice.userId }) as Extract<Outcome, { kind: "ok" }>).events).toEqual([]);
  });

  it("slow mode spaces viewers' messages, not staff's", () => {
    const s = fresh();
    run(s, owner, { type: "slow_mode", seconds: 10 });
    expect(code(run(s, alice, { type: "message", text: "1" }, 0))).toBe("ok");
    expect(run(s, alice, { type: "message", text: "2" }, 4_000)).toEqual({ kind: "error", code: "slow_mode", retry_after_ms: 6_000 });
    expect(code(run(s, alice, { type: "message", text: "3" }, 10_000))).toBe("ok");
    expect(code(run(s, mod, { type: "message", text: "a" }, 10_000))).toBe("ok");
    expect(code(run(s, mod, { type: "message", text: "b" }, 10_001))).toBe("ok");
    expect(code(run(s, alice, { type: "slow_mode", seconds: 0 }))).toBe("forbidden");
  });

  it("slow mode spaces from messages posted while it is on, not from one posted before (what the room stores)", () => {
    const s = fresh();
    expect(code(run(s, alice, { type: "message", text: "before" }, 0))).toBe("ok");
    run(s, owner, { type: "slow_mode", seconds: 10 }, 1_000);
    expect(code(run(s, alice, { type: "message", text: "first under slow mode" }, 2_000))).toBe("ok");
    expect(run(s, alice, { type: "message", text: "too soon" }, 3_000)).toEqual({ kind: "error", code: "slow_mode", retry_after_ms: 9_000 });
  });

  it("only the owner grants roles; a granted moderator acts, a demoted one does not", () => {
    const s = fresh();
    expect(code(run(s, mod, { type: "role", user_id: alice.userId, role: "moderator" }))).toBe("forbidden");
    expect(code(run(s, owner, { type: "role", user_id: alice.userId, role: "moderator" }))).toBe("ok");
    expect(effectiveRole(s, alice.userId, "viewer")).toBe("moderator");
    expect(code(run(s, alice, { type: "timeout", user_id: bob.userId, seconds: 10 }))).toBe("ok");
    // The now-moderator is protected from other moderators.
    expect(code(run(s, mod, { type: "timeout", user_id: alice.userId, seconds: 10 }))).toBe("forbidden");
    expect(code(run(s, owner, { type: "role", user_id: mod.userId, role: "viewer" }))).toBe("ok");
    expect(code(run(s, mod, { type: "timeout", user_id: bob.userId, seconds: 10 }))).toBe("forbidden");
    expect(code(run(s, owner, { type: "role", user_id: owner.userId, role: "viewer" }))).toBe("forbidden");
  });
});

describe("attack report fixes", () => {
  it("an owner is never restricted, even by a ban made before the room knew who the owner was", () => {
    const s = emptyState(STREAM); // the room has not met the owner: no ownerId, no known roles
    s.knownRoles.set(mod.userId, "moderator");
    expect(code(run(s, mod, { type: "ban", user_id: owner.userId }))).toBe("ok");
    expect(code(run(s, owner, { type: "message", text: "my own chat" }))).toBe("ok");
    expect(restrictions(s, owner.userId, "owner", 0)).toEqual({});
    expect(code(run(s, owner, { type: "unban", user_id: owner.userId }))).toBe("forbidden");
  });

  it("a banned or timed-out moderator is a reader: no moderation either; a moderator's ban of an unmet moderator holds until the owner lifts it", () => {
    const s = fresh();
    expect(code(run(s, owner, { type: "ban", user_id: mod.userId }))).toBe("ok");
    expect(code(run(s, mod, { type: "slow_mode", seconds: 30 }))).toBe("banned");
    expect(code(run(s, mod, { type: "ban", user_id: alice.userId }))).toBe("banned");
    run(s, owner, { type: "unban", user_id: mod.userId });
    run(s, owner, { type: "timeout", user_id: mod.userId, seconds: 60 }, 0);
    expect(code(run(s, mod, { type: "pin", id: post(s, owner, "x", 0) }, 1_000))).toBe("muted");
    const newMod: Actor = { userId: "00000000-0000-4000-8000-0000000000ff", username: "new", role: "moderator" };
    expect(code(run(s, mod2, { type: "ban", user_id: newMod.userId }, 0))).toBe("ok"); // not met yet: the room cannot know
    // Issue 22: a ban holds whatever the role (it used to lapse for a moderator and return on demotion).
    expect(code(run(s, newMod, { type: "slow_mode", seconds: 5 }, 0))).toBe("banned");
    s.knownRoles.set(newMod.userId, "moderator"); // they connected: now the room knows
    expect(code(run(s, mod2, { type: "unban", user_id: newMod.userId }, 0))).toBe("forbidden");
    expect(code(run(s, owner, { type: "unban", user_id: newMod.userId }, 0))).toBe("ok");
    expect(code(run(s, newMod, { type: "slow_mode", seconds: 5 }, 0))).toBe("ok");
  });

  it("deleting or editing a comment re-quotes its replies; a ban empties the quotes of its comments", () => {
    const s = fresh();
    const a = post(s, alice, "my address is 12 Secret Lane");
    const o = run(s, bob, { type: "message", text: "reply", reply_to: a }) as Extract<Outcome, { kind: "ok" }>;
    const r = o.ack.id!;
    run(s, alice, { type: "edit", id: a, text: "never mind" });
    expect(s.comments.get(r)!.comment.reply_to!.excerpt).toBe("never mind");
    run(s, mod, { type: "delete", id: a });
    expect(s.comments.get(r)!.comment.reply_to!.excerpt).toBe("");
    const b = post(s, alice, "again");
    const o2 = run(s, bob, { type: "message", text: "r2", reply_to: b }) as Extract<Outcome, { kind: "ok" }>;
    run(s, mod, { type: "ban", user_id: alice.userId });
    expect(s.comments.get(o2.ack.id!)!.comment.reply_to!.excerpt).toBe("");
  });

  it("commands that change nothing make no event", () => {
    const s = fresh();
    const a = post(s, alice, "x");
    run(s, mod, { type: "pin", id: a });
    const seq = s.seq;
    for (const cmd of [{ type: "pin", id: a }, { type: "slow_mode", seconds: 0 }] as Command[]) {
      expect((run(s, mod, cmd) as Extract<Outcome, { kind: "ok" }>).events).toEqual([]);
    }
    run(s, owner, { type: "role", user_id: alice.userId, role: "moderator" });
    expect((run(s, owner, { type: "role", user_id: alice.userId, role: "moderator" }) as Extract<Outcome, { kind: "ok" }>).events).toEqual([]);
    expect(s.seq).toBe(seq + 1);
  });

  it("reasons follow the text rules; a term both added and removed is refused", () => {
    const s = fresh();
    expect(code(run(s, mod, { type: "ban", user_id: alice.userId, reason: "spam \u0007" }))).toBe("invalid_text");
    const o = run(s, mod, { type: "ban", user_id: alice.userId, reason: "spam \u202Egnp.exe" }) as Extract<Outcome, { kind: "ok" }>;
    expect((o.events[0] as Extract<RoomEvent, { type: "moderation" }>).reason).toBe("spam gnp.exe");
    expect(code(run(s, mod, { type: "blocked_terms", add: ["a"], remove: ["A"] }))).toBe("invalid_frame");
  });
});

describe("issue 22: a ban or timeout holds whatever the role, until `unban` lifts it", () => {
  const events = (o: Outcome) => (o.kind === "ok" ? o.events : []);
  const mod3: Actor = { userId: "00000000-0000-4000-8000-0000000000f3", username: "mod3", role: "moderator" };

  it("ban, then promote: the promotion is refused target_restricted and the ban still holds; a demotion revives nothing", () => {
    const s = fresh();
    expect(code(run(s, mod, { type: "ban", user_id: alice.userId }))).toBe("ok");
    const seq = s.seq;
    expect(run(s, owner, { type: "role", user_id: alice.userId, role: "moderator" })).toEqual({ kind: "error", code: "target_restricted" });
    expect(s.seq).toBe(seq);
    expect(effectiveRole(s, alice.userId, "viewer")).toBe("viewer");
    // Demoting a banned user is allowed (an event everyone sees) and changes nothing about the ban.
    expect(events(run(s, owner, { type: "role", user_id: alice.userId, role: "viewer" }))).toHaveLength(1);
    expect(code(run(s, alice, { type: "message", text: "still banned?" }))).toBe("banned");
    expect(standing(s, 1_000_000).bans.map((b) => b.user_id)).toEqual([alice.userId]);
  });

  it("staff by token claim or Postgres who are banned stay banned: welcome, sends, moderation, state and stats agree", () => {
    const s = fresh();
    run(s, owner, { type: "ban", user_id: mod.userId }); // the owner may ban a moderator
    expect(restrictions(s, mod.userId, "moderator", 0)).toEqual({ banned: true });
    expect(code(run(s, mod, { type: "message", text: "hi" }))).toBe("banned");
    expect(code(run(s, mod, { type: "ban", user_id: bob.userId }))).toBe("banned");
    expect(seesStaffState(s, mod.userId, "moderator", 0)).toBe(false);
    expect(standing(s, 0).bans.map((b) => b.user_id)).toEqual([mod.userId]);
    // Who may lift it: the owner, not another moderator (moderators cannot act on moderators).
    expect(code(run(s, mod2, { type: "unban", user_id: mod.userId }))).toBe("forbidden");
    expect(events(run(s, owner, { type: "unban", user_id: mod.userId }))).toMatchObject([{ action: "unban", lifted: ["ban"] }]);
    expect(seesStaffState(s, mod.userId, "moderator", 0)).toBe(true);
    expect(code(run(s, mod, { type: "ban", user_id: bob.userId }))).toBe("ok");
  });

  it("timeout, then promote: refused until the timeout ends or is lifted; a timed-out moderator still reads the staff state", () => {
    const s = fresh();
    run(s, mod, { type: "timeout", user_id: alice.userId, seconds: 60 }, 0);
    expect(code(run(s, owner, { type: "role", user_id: alice.userId, role: "moderator" }, 59_999))).toBe("target_restricted");
    expect(code(run(s, owner, { type: "role", user_id: alice.userId, role: "moderator" }, 60_000))).toBe("ok");
    run(s, owner, { type: "timeout", user_id: mod3.userId, seconds: 60 }, 0); // a moderator the room has not met
    expect(code(run(s, mod3, { type: "slow_mode", seconds: 5 }, 1_000))).toBe("muted");
    expect(seesStaffState(s, mod3.userId, "moderator", 1_000)).toBe(true);
    expect(code(run(s, owner, { type: "role", user_id: mod3.userId, role: "moderator" }, 1_000))).toBe("target_restricted");
  });

  it("unban lifts a timeout too, and says what it lifted; with nothing to lift there is no event", () => {
    const s = fresh();
    run(s, mod, { type: "timeout", user_id: alice.userId, seconds: 600 }, 0);
    expect(events(run(s, mod, { type: "unban", user_id: alice.userId }, 1_000))).toMatchObject([{ action: "unban", user_id: alice.userId, lifted: ["timeout"] }]);
    expect(restrictions(s, alice.userId, "viewer", 1_000)).toEqual({});
    expect(code(run(s, alice, { type: "message", text: "back" }, 1_000))).toBe("ok");
    expect(events(run(s, mod, { type: "unban", user_id: alice.userId }, 1_000))).toEqual([]);
    run(s, mod, { type: "timeout", user_id: bob.userId, seconds: 600 }, 0);
    run(s, mod, { type: "ban", user_id: bob.userId }, 0);
    expect(events(run(s, mod, { type: "unban", user_id: bob.userId }, 1_000))).toMatchObject([{ lifted: ["ban", "timeout"] }]);
    expect(standing(s, 1_000)).toEqual({ bans: [], timeouts: [] });
    // An ended timeout is nothing to lift.
    run(s, mod, { type: "timeout", user_id: bob.userId, seconds: 10 }, 0);
    expect(events(run(s, mod, { type: "unban", user_id: bob.userId }, 10_000))).toEqual([]);
  });

  it("an unban event from before `lifted` lifted the ban only, and replays so", () => {
    const s = fresh();
    run(s, mod, { type: "timeout", user_id: alice.userId, seconds: 600 }, 0);
    run(s, mod, { type: "ban", user_id: alice.userId }, 0);
    apply(s, { type: "moderation", seq: s.seq + 1, action: "unban", user_id: alice.userId, by: mod.userId }, 0);
    expect(restrictions(s, alice.userId, "viewer", 1_000)).toEqual({ muted_until: new Date(600_000).toISOString() });
  });

  it("the state route lists what holds: not a ban recorded on the owner before the room knew them, not an ended timeout", () => {
    const s = emptyState(STREAM);
    s.knownRoles.set(mod.userId, "moderator");
    run(s, mod, { type: "ban", user_id: owner.userId }, 0);
    run(s, mod, { type: "timeout", user_id: alice.userId, seconds: 10 }, 0);
    expect(standing(s, 0)).toMatchObject({ bans: [{ user_id: owner.userId }], timeouts: [{ user_id: alice.userId }] });
    s.knownRoles.set(owner.userId, "owner"); // the owner connected
    expect(standing(s, 10_000)).toEqual({ bans: [], timeouts: [] });
    expect(seesStaffState(s, owner.userId, "owner", 0)).toBe(true);
    expect(seesStaffState(s, alice.userId, "viewer", 0)).toBe(false);
  });
});

describe("replay", () => {
  it("applying the same events to a fresh state gives the same state", () => {
    const s = fresh();
    const log: RoomEvent[] = [];
    const rec = (o: Outcome) => o.kind === "ok" && log.push(...o.events);
    const a = post(s, alice, "a");
    log.push({ type: "comment", seq: 1, comment: s.comments.get(a)!.comment });
    rec(run(s, alice, { type: "edit", id: a, text: "a2" }));
    const b = post(s, bob, "b");
    log.push({ type: "comment", seq: s.seq, comment: { ...s.comments.get(b)!.comment } });
    rec(run(s, mod, { type: "pin", id: b }));
    rec(run(s, mod, { type: "ban", user_id: bob.userId }));
    rec(run(s, owner, { type: "slow_mode", seconds: 30 }));
    const r = fresh();
    for (const e of log.sort((x, y) => x.seq - y.seq)) apply(r, e, 1_000_000);
    expect([...r.comments]).toEqual([...s.comments]);
    expect(r.pinned).toEqual(s.pinned);
    expect(r.slowModeS).toBe(30);
    expect([...r.bans.keys()]).toEqual([bob.userId]);
  });
});
