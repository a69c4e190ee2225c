/**
 * Issue 18's moderation commands (src/rules/moderation.ts decideTool, through room-state.ts decide):
 * who may run each, what bounds it checks, the event it makes (none for a no-op) and what applying
 * that event does. Review and the message path are test/unit/review.test.ts.
 */
import { describe, expect, it } from "vitest";
import { ACCOUNT_AGE_DEFAULT_S, UNIQUE_DEFAULT_S, UNIQUE_MAX_S, type Command, type ModerationFrame } from "../../src/protocol";
import { DEFAULT_LOCKDOWN_PRESET, MODES_OFF } from "../../src/rules/modes";
import { MAX_HIDDEN, MAX_WARNINGS, PURGE_DEFAULT_TIMEOUT_S } from "../../src/rules/moderation";
import { MAX_BANS, MAX_TIMEOUTS, restriction } from "../../src/rules/room-state";
import { T0, alice, bob, carol, code, events, fresh, mod, mod2, owner, post, run } from "./rules-fixture";

const only = (o: Parameters<typeof events>[0]) => {
  const es = events(o);
  expect(es).toHaveLength(1);
  return es[0] as ModerationFrame;
};

describe("every new staff command is refused to viewers", () => {
  const cmds: Command[] = [
    { type: "chat_mode", mode: "emote_only", on: true },
    { type: "review", id: "00000000-0000-4000-9000-000000000001", decision: "allow" },
    { type: "warn", user_id: bob.userId, reason: "calm down" },
    { type: "hide_user", user_id: bob.userId },
    { type: "unhide_user", user_id: bob.userId },
    { type: "lockdown", on: true },
    { type: "lockdown_preset", preset: { ...DEFAULT_LOCKDOWN_PRESET } },
    { type: "purge", phrase: "spam", seconds: 60 },
    { type: "title", title: "hello" },
  ];
  it.each(cmds.map((c) => [c.type, c] as const))("%s → forbidden, nothing changes", (_t, cmd) => {
    const f = fresh();
    const before = JSON.stringify({ ...f.state, recent: undefined }, (_k, v) => (v instanceof Map || v instanceof Set ? [...v] : v));
    expect(code(run(f, alice, cmd))).toBe("forbidden");
    expect(JSON.stringify({ ...f.state, recent: undefined }, (_k, v) => (v instanceof Map || v instanceof Set ? [...v] : v))).toBe(before);
  });
});

describe("chat_mode", () => {
  it("turns each flag on and off with one event each, and a no-op makes none", () => {
    const f = fresh();
    for (const mode of ["emote_only", "members_only", "first_time_hold"] as const) {
      const on = only(run(f, mod, { type: "chat_mode", mode, on: true }));
      expect(on).toMatchObject({ action: "chat_mode", mode, on: true, by: mod.userId });
      expect(f.state.modes[mode]).toBe(true);
      expect(events(run(f, mod, { type: "chat_mode", mode, on: true }))).toEqual([]);
      only(run(f, owner, { type: "chat_mode", mode, on: false }));
      expect(f.state.modes[mode]).toBe(false);
      expect(events(run(f, owner, { type: "chat_mode", mode, on: false }))).toEqual([]);
    }
    expect(f.state.modes).toEqual(MODES_OFF);
  });

  it("unique and account_age take seconds (defaults when absent); a new value is an event, the same one is not", () => {
    const f = fresh();
    expect(only(run(f, mod, { type: "chat_mode", mode: "unique", on: true }))).toMatchObject({ mode: "unique", on: true, seconds: UNIQUE_DEFAULT_S });
    expect(f.state.modes.unique_s).toBe(UNIQUE_DEFAULT_S);
    expect(events(run(f, mod, { type: "chat_mode", mode: "unique", on: true, seconds: UNIQUE_DEFAULT_S }))).toEqual([]);
    expect(only(run(f, mod, { type: "chat_mode", mode: "unique", on: true, seconds: 30 })).seconds).toBe(30);
    expect(f.state.modes.unique_s).toBe(30);
    const off = only(run(f, mod, { type: "chat_mode", mode: "unique", on: false, seconds: 99 }));
    expect(off.on).toBe(false);
    expect(off.seconds).toBeUndefined();
    expect(f.state.modes.unique_s).toBe(0);

    expect(only(run(f, mod, { type: "chat_mode", mode: "account_age", on: true })).seconds).toBe(ACCOUNT_AGE_DEFAULT_S);
    expect(f.state.modes.account_age_s).toBe(ACCOUNT_AGE_DEFAULT_S);
  });

  it("refuses a unique window past its bound with invalid_frame (account_age has a longer one)", () => {
    const f = fresh();
    expect(code(run(f, mod, { type: "chat_mode", mode: "unique", on: true, seconds: UNIQUE_MAX_S + 1 }))).toBe("invalid_frame");
    expect(f.state.modes.unique_s).toBe(0);
    expect(code(run(f, mod, { type: "chat_mode", mode: "account_age", on: true, seconds: UNIQUE_MAX_S + 1 }))).toBe("ok");
  });

  it("turning unique off forgets the window, so turning it on again starts empty", () => {
    const f = fresh();
    run(f, mod, { type: "chat_mode", mode: "unique", on: true });
    post(f, alice, "hello there");
    expect(code(run(f, bob, { type: "message", text: "HELLO there!" }))).toBe("not_unique");
    run(f, mod, { type: "chat_mode", mode: "unique", on: false });
    run(f, mod, { type: "chat_mode", mode: "unique", on: true });
    expect(code(run(f, bob, { type: "message", text: "HELLO there!" }))).toBe("ok");
  });
});

describe("warn and acknowledge_warning", () => {
  it("a warning refuses the user's messages until they acknowledge it; staff cannot be warned by moderators", () => {
    const f = fresh();
    const w = only(run(f, mod, { type: "warn", user_id: alice.userId, reason: "  no\nspam  " }));
    expect(w).toMatchObject({ action: "warn", user_id: alice.userId, reason: "no spam", by: mod.userId });
    expect(f.state.warnings.get(alice.userId)).toEqual({ reason: "no spam", by: mod.userId, at: T0 });
    expect(code(run(f, alice, { type: "message", text: "hi" }))).toBe("warning_pending");
    expect(only(run(f, alice, { type: "acknowledge_warning" }))).toMatchObject({ action: "warning_acknowledged", user_id: alice.userId, by: alice.userId });
    expect(f.state.warnings.has(alice.userId)).toBe(false);
    expect(code(run(f, alice, { type: "message", text: "hi" }))).toBe("ok");
    // Nothing pending: no event.
    expect(events(run(f, alice, { type: "acknowledge_warning" }))).toEqual([]);
  });

  it("guards its target: not the owner, not a moderator (unless the owner warns), not oneself", () => {
    const f = fresh();
    expect(code(run(f, mod, { type: "warn", user_id: owner.userId, reason: "x" }))).toBe("forbidden");
    expect(code(run(f, mod, { type: "warn", user_id: mod2.userId, reason: "x" }))).toBe("forbidden");
    expect(code(run(f, mod, { type: "warn", user_id: mod.userId, reason: "x" }))).toBe("forbidden");
    expect(code(run(f, owner, { type: "warn", user_id: mod2.userId, reason: "x" }))).toBe("ok");
  });

  it("bounds: a blank reason is invalid_frame, control characters invalid_text, past MAX_WARNINGS limit_reached", () => {
    const f = fresh();
    expect(code(run(f, mod, { type: "warn", user_id: alice.userId, reason: " \u200b " }))).toBe("invalid_frame");
    expect(code(run(f, mod, { type: "warn", user_id: alice.userId, reason: "a\u0007" }))).toBe("invalid_text");
    for (let i = 0; f.state.warnings.size < MAX_WARNINGS; i++) f.state.warnings.set(`u${i}`, { reason: "r", by: mod.userId, at: T0 });
    expect(code(run(f, mod, { type: "warn", user_id: alice.userId, reason: "one more" }))).toBe("limit_reached");
    // Warning someone already warned replaces it: no new entry, so no limit.
    f.state.warnings.set(bob.userId, { reason: "old", by: mod.userId, at: T0 });
    f.state.warnings.delete("u0");
    expect(code(run(f, mod, { type: "warn", user_id: bob.userId, reason: "new" }))).toBe("ok");
    expect(f.state.warnings.get(bob.userId)?.reason).toBe("new");
  });

  it("a timed-out user may still acknowledge (and nothing else)", () => {
    const f = fresh();
    run(f, mod, { type: "warn", user_id: alice.userId, reason: "calm" });
    run(f, mod, { type: "timeout", user_id: alice.userId, seconds: 60 });
    expect(code(run(f, alice, { type: "acknowledge_warning" }))).toBe("ok");
    expect(code(run(f, alice, { type: "message", text: "hi" }))).toBe("muted");
  });
});

describe("hide_user and unhide_user", () => {
  it("change room state without an event (the hidden user must not hear of it), guarded like any action on a user, bounded by MAX_HIDDEN", () => {
    const f = fresh();
    const hide = run(f, mod, { type: "hide_user", user_id: alice.userId });
    expect(events(hide)).toEqual([]);
    expect(hide.kind === "ok" && hide.hidden).toEqual({ userId: alice.userId, on: true });
    expect(f.state.hidden.has(alice.userId)).toBe(true);
    expect(f.state.seq).toBe(0);
    // A no-op changes nothing.
    const again = run(f, mod, { type: "hide_user", user_id: alice.userId });
    expect(again.kind === "ok" && again.hidden).toBeUndefined();
    const unhide = run(f, mod, { type: "unhide_user", user_id: alice.userId });
    expect(unhide.kind === "ok" && unhide.hidden).toEqual({ userId: alice.userId, on: false });
    expect(f.state.hidden.has(alice.userId)).toBe(false);
    const noop = run(f, mod, { type: "unhide_user", user_id: alice.userId });
    expect(noop.kind === "ok" && noop.hidden).toBeUndefined();
    expect(code(run(f, mod, { type: "hide_user", user_id: mod2.userId }))).toBe("forbidden");
    expect(code(run(f, mod, { type: "hide_user", user_id: owner.userId }))).toBe("forbidden");
    for (let i = 0; f.state.hidden.size < MAX_HIDDEN; i++) f.state.hidden.add(`u${i}`);
    expect(code(run(f, mod, { type: "hide_user", user_id: bob.userId }))).toBe("limit_reached");
    // Unhiding is never limited.
    expect(code(run(f, mod, { type: "unhide_user", user_id: "u1" }))).toBe("ok");
  });
});

describe("lockdown and lockdown_preset", () => {
  it("on applies the preset (modes and slow mode) in one event; off restores what it replaced", () => {
    const f = fresh();
    run(f, mod, { type: "chat_mode", mode: "emote_only", on: true });
    run(f, mod, { type: "slow_mode", seconds: 5 });
    const before = { ...f.state.modes };
    const on = only(run(f, mod, { type: "lockdown", on: true }));
    const { slow_mode_s, ...presetModes } = DEFAULT_LOCKDOWN_PRESET;
    expect(on).toMatchObject({ action: "lockdown", on: true, modes: presetModes, seconds: slow_mode_s });
    expect(f.state.modes).toEqual(presetModes);
    expect(f.state.slowModeS).toBe(slow_mode_s);
    expect(f.state.lockdown).toEqual({ ...before, slow_mode_s: 5 });
    expect(events(run(f, mod, { type: "lockdown", on: true }))).toEqual([]);
    const off = only(run(f, owner, { type: "lockdown", on: false }));
    expect(off).toMatchObject({ action: "lockdown", on: false, modes: before, seconds: 5 });
    expect(f.state.modes).toEqual(before);
    expect(f.state.slowModeS).toBe(5);
    expect(f.state.lockdown).toBeNull();
    expect(events(run(f, owner, { type: "lockdown", on: false }))).toEqual([]);
  });

  it("the preset is the owner's only: saved without an event, used by the next lockdown", () => {
    const f = fresh();
    const preset = { emote_only: false, unique_s: 120, members_only: true, account_age_s: 0, first_time_hold: false, slow_mode_s: 10 };
    expect(code(run(f, mod, { type: "lockdown_preset", preset }))).toBe("forbidden");
    const o = run(f, owner, { type: "lockdown_preset", preset });
    expect(events(o)).toEqual([]);
    expect(o.kind === "ok" && o.lockdownPreset).toEqual(preset);
    expect(f.state.seq).toBe(0);
    run(f, mod, { type: "lockdown", on: true });
    expect(f.state.modes).toEqual({ emote_only: false, unique_s: 120, members_only: true, account_age_s: 0, first_time_hold: false });
    expect(f.state.slowModeS).toBe(10);
    expect(code(run(f, alice, { type: "message", text: "raid" }))).toBe("members_only");
  });
});

describe("purge", () => {
  it("removes the messages containing the folded phrase within `seconds`, in one event, and nothing else", () => {
    const f = fresh();
    const old = post(f, alice, "FOLLOW me at spam.example", T0 - 120_000);
    const a = post(f, alice, "Follow ME at spam.example", T0 - 30_000);
    const b = post(f, bob, "ｆｏｌｌｏｗ　ｍｅ now", T0 - 10_000);
    const keep = post(f, carol, "hello everyone", T0 - 5_000);
    const e = only(run(f, mod, { type: "purge", phrase: "  Follow  Me ", seconds: 60 }));
    expect(e).toMatchObject({ action: "purge", phrase: "follow me", seconds: 60, by: mod.userId });
    expect(e.deleted).toEqual([a, b]);
    expect(e.then).toBeUndefined();
    // The authors are named even when nothing else happens to them (the removal notice, the user card).
    expect(e.users).toEqual([alice.userId, bob.userId]);
    expect([...f.state.comments.keys()]).toEqual([old, keep]);
    // Nobody is restricted without `then`.
    expect(restriction(f.state, alice.userId, "viewer", T0)).toBeNull();
  });

  it("skips staff's messages and the purger's own; no match → no event", () => {
    const f = fresh();
    const m = post(f, mod2, "raid raid");
    const o = post(f, owner, "no raid here");
    const self = post(f, mod, "raid?");
    expect(events(run(f, mod, { type: "purge", phrase: "raid", seconds: 60 }))).toEqual([]);
    expect([...f.state.comments.keys()]).toEqual([m, o, self]);
    expect(f.state.seq).toBe(3);
  });

  it("includes held messages (they leave the review queue)", () => {
    const f = fresh();
    run(f, mod, { type: "blocked_terms", add: ["raid"], action: "hold" });
    const held = run(f, alice, { type: "message", text: "raid incoming" });
    expect(held.kind).toBe("held");
    const id = held.kind === "held" ? held.held.comment.id : "";
    const e = only(run(f, mod, { type: "purge", phrase: "raid", seconds: 60 }));
    expect(e.deleted).toEqual([id]);
    expect(f.state.held.size).toBe(0);
  });

  it("then timeout: the authors are timed out (default length), in the same event", () => {
    const f = fresh();
    post(f, alice, "spam spam", T0 - 1_000);
    post(f, bob, "more spam", T0 - 1_000);
    const e = only(run(f, mod, { type: "purge", phrase: "spam", seconds: 60, then: "timeout", reason: "raid" }));
    expect(e).toMatchObject({ then: "timeout", users: [alice.userId, bob.userId], until: new Date(T0 + PURGE_DEFAULT_TIMEOUT_S * 1000).toISOString(), reason: "raid" });
    expect(code(run(f, alice, { type: "message", text: "hi" }, T0 + 1_000))).toBe("muted");
    expect(code(run(f, bob, { type: "message", text: "hi" }, T0 + 1_000))).toBe("muted");
    const custom = fresh();
    post(custom, alice, "spam", T0);
    expect(only(run(custom, mod, { type: "purge", phrase: "spam", seconds: 60, then: "timeout", timeout_s: 60 })).until).toBe(new Date(T0 + 60_000).toISOString());
  });

  it("then ban: the authors are banned, all their ring messages go (not only the matching ones), their held ones too", () => {
    const f = fresh();
    const earlier = post(f, alice, "hi all", T0 - 3_000_000);
    const spam = post(f, alice, "spam", T0 - 1_000);
    run(f, mod, { type: "blocked_terms", add: ["link"], action: "hold" });
    expect(run(f, alice, { type: "message", text: "my link" }).kind).toBe("held");
    const e = only(run(f, mod, { type: "purge", phrase: "spam", seconds: 60, then: "ban" }));
    expect(e).toMatchObject({ then: "ban", users: [alice.userId] });
    expect(e.deleted).toEqual(expect.arrayContaining([spam, earlier]));
    expect(f.state.comments.size).toBe(0);
    expect(f.state.held.size).toBe(0);
    expect(code(run(f, alice, { type: "message", text: "hi" }))).toBe("banned");
  });

  it("removes the pin when it removes the pinned comment (a second event)", () => {
    const f = fresh();
    const a = post(f, alice, "spam here", T0 - 1_000);
    run(f, mod, { type: "pin", id: a });
    const es = events(run(f, mod, { type: "purge", phrase: "spam", seconds: 60 }));
    expect(es.map((e) => e.type)).toEqual(["moderation", "pinned"]);
    expect(es[1]).toMatchObject({ comment: null, seq: es[0]!.seq + 1 });
    expect(f.state.pinned).toBeNull();
  });

  it("then ban removes the pin of a banned author even when it is no longer in the ring (as a ban does)", () => {
    const f = fresh();
    const pinned = post(f, alice, "welcome!", T0 - 1_000);
    run(f, mod, { type: "pin", id: pinned });
    post(f, alice, "spam", T0 - 500);
    f.state.comments.delete(pinned); // fell out of the ring; the pin stays
    const es = events(run(f, mod, { type: "purge", phrase: "spam", seconds: 60, then: "ban" }));
    expect(es.map((e) => e.type)).toEqual(["moderation", "pinned"]);
    expect(f.state.pinned).toBeNull();
  });

  it("bounds: an unusable phrase is invalid_frame, a reason with control characters invalid_text, past the caps limit_reached", () => {
    const f = fresh();
    post(f, alice, "spam");
    expect(code(run(f, mod, { type: "purge", phrase: "\u200b", seconds: 60 }))).toBe("invalid_frame");
    expect(code(run(f, mod, { type: "purge", phrase: "spam", seconds: 60, reason: "a\u0007" }))).toBe("invalid_text");
    for (let i = 0; f.state.timeouts.size < MAX_TIMEOUTS; i++) f.state.timeouts.set(`u${i}`, { until: T0 + 1e6, by: mod.userId });
    expect(code(run(f, mod, { type: "purge", phrase: "spam", seconds: 60, then: "timeout" }))).toBe("limit_reached");
    for (let i = 0; f.state.bans.size < MAX_BANS; i++) f.state.bans.set(`u${i}`, { by: mod.userId, at: T0 });
    expect(code(run(f, mod, { type: "purge", phrase: "spam", seconds: 60, then: "ban" }))).toBe("limit_reached");
    expect(f.state.comments.size).toBe(1);
  });
});

describe("title", () => {
  it("is the owner's: cleaned (trimmed, one line), one event, a no-op none, \"\" clears it", () => {
    const f = fresh();
    expect(code(run(f, mod, { type: "title", title: "x" }))).toBe("forbidden");
    expect(only(run(f, owner, { type: "title", title: "  Friday\n  speedrun\u202e  " }))).toMatchObject({ action: "title", title: "Friday speedrun" });
    expect(f.state.title).toBe("Friday speedrun");
    expect(events(run(f, owner, { type: "title", title: "Friday speedrun" }))).toEqual([]);
    expect(only(run(f, owner, { type: "title", title: " " })).title).toBe("");
    expect(f.state.title).toBe("");
  });

  it("refuses control characters (invalid_text) and a title past its bound (invalid_frame, not a message error)", () => {
    const f = fresh();
    expect(code(run(f, owner, { type: "title", title: "a\u0000b" }))).toBe("invalid_text");
    expect(code(run(f, owner, { type: "title", title: "x".repeat(141) }))).toBe("invalid_frame");
    expect(code(run(f, owner, { type: "title", title: "x".repeat(140) }))).toBe("ok");
  });
});
