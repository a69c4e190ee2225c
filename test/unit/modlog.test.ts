/**
 * The moderation log's entries (src/rules/modlog.ts logEntries; issue 18 §3): one per moderation
 * action, computed against the state before its events, with the target, reason and details staff
 * need — and none for what is not moderation (comments, edits, an author's own deletion, the unpin
 * a deletion or ban makes on its own).
 */
import { describe, expect, it } from "vitest";
import type { Command } from "../../src/protocol";
import { concerns, logEntries, type LogDraft } from "../../src/rules/modlog";
import { apply, decide, type Actor } from "../../src/rules/room-state";
import { T0, alice, bob, fresh, mod, options, owner, post, run, type Fixture } from "./rules-fixture";

/** Decides `cmd`, returns the log drafts it writes (read before its events apply), then applies it like run(). */
function logged(f: Fixture, actor: Actor, cmd: Command, now = T0): LogDraft[] {
  const o = decide(f.state, actor, cmd, now, options(f));
  if (o.kind !== "ok") throw new Error(`refused: ${JSON.stringify(o)}`);
  const drafts = logEntries(f.state, actor.userId, cmd, o, now);
  for (const e of o.events) apply(f.state, e, now);
  if (o.blockedTerms) f.state.blockedTerms = o.blockedTerms;
  if (o.lockdownPreset) f.state.lockdownPreset = o.lockdownPreset;
  if (o.hidden) {
    if (o.hidden.on) f.state.hidden.add(o.hidden.userId);
    else f.state.hidden.delete(o.hidden.userId);
  }
  return drafts;
}
const one = (drafts: LogDraft[]) => {
  expect(drafts).toHaveLength(1);
  return drafts[0]!;
};
const at = new Date(T0).toISOString();

describe("logEntries", () => {
  it("timeout, ban, unban, slow_mode, role: who, when, the target, the reason and the event's seq", () => {
    const f = fresh();
    expect(one(logged(f, mod, { type: "timeout", user_id: alice.userId, seconds: 60, reason: "calm" }))).toEqual({
      action: "timeout",
      by: mod.userId,
      at,
      target: alice.userId,
      reason: "calm",
      details: { seconds: 60, until: new Date(T0 + 60_000).toISOString() },
      event_seq: 1,
    });
    expect(one(logged(f, mod, { type: "unban", user_id: alice.userId }))).toMatchObject({ action: "unban", target: alice.userId, details: { lifted: ["timeout"] } });
    expect(one(logged(f, mod, { type: "slow_mode", seconds: 5 }))).toEqual({ action: "slow_mode", by: mod.userId, at, details: { seconds: 5 }, event_seq: 3 });
    expect(one(logged(f, owner, { type: "role", user_id: bob.userId, role: "moderator" }))).toMatchObject({ action: "role", target: bob.userId, details: { role: "moderator" } });
  });

  it("a ban: one entry with the number of comments it removed, none for the unpin it makes", () => {
    const f = fresh();
    const a = post(f, alice, "one");
    post(f, alice, "two");
    run(f, mod, { type: "pin", id: a });
    const e = one(logged(f, mod, { type: "ban", user_id: alice.userId, reason: "raid" }));
    expect(e).toMatchObject({ action: "ban", target: alice.userId, reason: "raid", details: { deleted: 2 }, event_seq: 4 });
  });

  it("deletions: by staff logged with the author and an excerpt (the unpin it makes is not separate); an author's own is not", () => {
    const f = fresh();
    const a = post(f, alice, "rude words here");
    run(f, mod, { type: "pin", id: a });
    expect(one(logged(f, mod, { type: "delete", id: a }))).toEqual({
      action: "delete",
      by: mod.userId,
      at,
      target: alice.userId,
      details: { comment_id: a, excerpt: "rude words here" },
      event_seq: 3,
    });
    const b = post(f, bob, "oops");
    expect(logged(f, bob, { type: "delete", id: b })).toEqual([]);
  });

  it("pin and unpin asked for are logged; comments and edits are not", () => {
    const f = fresh();
    expect(logged(f, alice, { type: "message", text: "hi" })).toEqual([]);
    const id = [...f.state.comments.keys()][0]!;
    expect(logged(f, alice, { type: "edit", id, text: "hi!" })).toEqual([]);
    expect(one(logged(f, mod, { type: "pin", id }))).toMatchObject({ action: "pin", target: alice.userId, details: { comment_id: id } });
    expect(one(logged(f, mod, { type: "unpin" }))).toMatchObject({ action: "unpin", details: { comment_id: null } });
    // Nothing pinned: no event, no entry.
    expect(logged(f, mod, { type: "unpin" })).toEqual([]);
  });

  it("blocked terms: what was added (with its action) and removed; an edit that changes nothing writes nothing", () => {
    const f = fresh();
    expect(one(logged(f, mod, { type: "blocked_terms", add: ["Scam", "link"], action: "hold" }))).toEqual({
      action: "blocked_terms",
      by: mod.userId,
      at,
      details: { added: [{ term: "scam", action: "hold" }, { term: "link", action: "hold" }], removed: [] },
    });
    expect(one(logged(f, mod, { type: "blocked_terms", add: ["scam"], remove: ["link"] }))).toMatchObject({
      details: { added: [{ term: "scam", action: "block" }], removed: ["link"] },
    });
    expect(logged(f, mod, { type: "blocked_terms", add: ["scam"] })).toEqual([]);
    expect(logged(f, mod, { type: "blocked_terms", remove: ["never-added"] })).toEqual([]);
  });

  it("chat_mode, lockdown and its preset, title", () => {
    const f = fresh();
    expect(one(logged(f, mod, { type: "chat_mode", mode: "unique", on: true, seconds: 60 }))).toEqual({
      action: "chat_mode",
      by: mod.userId,
      at,
      details: { mode: "unique", on: true, seconds: 60 },
      event_seq: 1,
    });
    const preset = { emote_only: true, unique_s: 0, members_only: false, account_age_s: 0, first_time_hold: false, slow_mode_s: 3 };
    expect(one(logged(f, owner, { type: "lockdown_preset", preset }))).toEqual({ action: "lockdown_preset", by: owner.userId, at, details: preset });
    const { slow_mode_s, ...modes } = preset;
    expect(one(logged(f, mod, { type: "lockdown", on: true }))).toMatchObject({ action: "lockdown", details: { on: true, modes, seconds: slow_mode_s }, event_seq: 2 });
    expect(one(logged(f, owner, { type: "title", title: "Raid night" }))).toMatchObject({ action: "title", details: { title: "Raid night" } });
  });

  it("review: the author is the target, the held comment's id in details; an allow's comment is not logged", () => {
    const f = fresh();
    run(f, mod, { type: "blocked_terms", add: ["link"], action: "hold" });
    const h = run(f, alice, { type: "message", text: "my link" });
    if (h.kind !== "held") throw new Error("not held");
    const e = one(logged(f, mod, { type: "review", id: h.held.comment.id, decision: "allow" }));
    expect(e).toEqual({ action: "review", by: mod.userId, at, target: alice.userId, details: { decision: "allow", comment_id: h.held.comment.id }, event_seq: 1 });
  });

  it("warn, warning_acknowledged, hide, unhide", () => {
    const f = fresh();
    expect(one(logged(f, mod, { type: "warn", user_id: alice.userId, reason: "no spam" }))).toMatchObject({ action: "warn", target: alice.userId, reason: "no spam", details: {} });
    expect(one(logged(f, alice, { type: "acknowledge_warning" }))).toMatchObject({ action: "warning_acknowledged", by: alice.userId, target: alice.userId });
    expect(logged(f, alice, { type: "acknowledge_warning" })).toEqual([]);
    // A shadow hide makes no event: its entry (staff only) is its only trace.
    expect(one(logged(f, mod, { type: "hide_user", user_id: bob.userId }))).toEqual({ action: "hide", by: mod.userId, at, target: bob.userId, details: {} });
    expect(logged(f, mod, { type: "hide_user", user_id: bob.userId })).toEqual([]);
    expect(one(logged(f, mod, { type: "unhide_user", user_id: bob.userId }))).toMatchObject({ action: "unhide", target: bob.userId });
  });

  it("purge: one entry (none for its unpin) with the phrase, the authors and what it did to them", () => {
    const f = fresh();
    const a = post(f, alice, "spam 1", T0 - 1_000);
    post(f, bob, "spam 2", T0 - 1_000);
    run(f, mod, { type: "pin", id: a });
    const e = one(logged(f, mod, { type: "purge", phrase: "spam", seconds: 60, then: "timeout", timeout_s: 60, reason: "raid" }));
    expect(e).toEqual({
      action: "purge",
      by: mod.userId,
      at,
      reason: "raid",
      details: { phrase: "spam", seconds: 60, then: "timeout", users: [alice.userId, bob.userId], until: new Date(T0 + 60_000).toISOString(), deleted: 2 },
      event_seq: 4,
    });
    expect(concerns({ seq: 1, ...e }, alice.userId)).toBe(true);
    expect(concerns({ seq: 1, ...e }, mod.userId)).toBe(false);
  });
});

describe("concerns", () => {
  it("names the target, or a user among a purge's users", () => {
    const base = { seq: 1, action: "timeout", by: mod.userId, at, details: {} };
    expect(concerns({ ...base, target: alice.userId }, alice.userId)).toBe(true);
    expect(concerns({ ...base, target: alice.userId }, bob.userId)).toBe(false);
    expect(concerns({ ...base, action: "purge", details: { users: [bob.userId] } }, bob.userId)).toBe(true);
    expect(concerns({ ...base, details: { users: "not a list" } }, bob.userId)).toBe(false);
  });
});
