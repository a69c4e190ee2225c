/**
 * The property every room event rests on (src/rules/room-state.ts header): the state a room reaches
 * by decide + apply, live, is the state anyone reaches by applying the same events — a resumed
 * client from nothing, a shard's mirror from a snapshot taken at any point. Checked over scripted
 * and random sequences of every command, issue 18's included. The review queue is not replayed (it
 * is unsequenced): only its removals travel, inside review, purge and ban events.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Command, RoomEvent } from "../../src/protocol";
import { RoomMirror, snapshotOf, type RingEntry } from "../../src/mirror";
import { apply, emptyState, type Actor, type RoomState } from "../../src/rules/room-state";
import { STREAM, T0, alice, bob, carol, fresh, mod, mod2, owner, run, type Fixture } from "./rules-fixture";

const viewer = (n: number): Actor => ({ userId: `00000000-0000-4000-8000-0000000001${String(n).padStart(2, "0")}`, username: `v${n}`, role: "viewer" });
const VIEWERS: Actor[] = [alice, bob, carol, viewer(1), viewer(2), viewer(3)];
const ACTORS: Actor[] = [owner, mod, mod2, ...VIEWERS];
const USERS = [...VIEWERS, mod2].map((a) => a.userId);
/** Commands only staff may give: mostly given by staff (so they happen), now and then by a viewer (refused). */
const STAFF_OPS = new Set(["delete", "pin", "unpin", "timeout", "ban", "unban", "slow_mode", "blocked_terms", "role", "chat_mode", "review", "warn", "hide_user", "unhide_user", "lockdown", "lockdown_preset", "purge", "title"]);
const TEXTS = ["hello", "spam link", "🔥", "🔥🔥", "buy followers", "FOLLOW me", "raid raid", "gg", "a scam", "link?"];
const OPS = [
  "message", "message", "message", "message", "message", "message", "edit", "delete", "pin", "unpin", "timeout", "ban", "unban", "unban", "slow_mode",
  "blocked_terms", "role", "chat_mode", "review", "review", "warn", "acknowledge_warning", "hide_user", "unhide_user",
  "lockdown", "lockdown_preset", "purge", "title",
] as const;
/** `exact`: `actor` is an index into ACTORS (scripted); else the runner picks a fitting actor from it (random). */
type Op = { actor: number; op: (typeof OPS)[number]; i: number; dt: number; exact?: boolean };

const pick = <T>(xs: readonly T[], i: number): T | undefined => (xs.length === 0 ? undefined : xs[i % xs.length]);

/** The command `op` stands for in the state `f` is in now (ids are picked from what exists). */
function command(f: Fixture, { op, i }: Op, actor: Actor): Command | null {
  const s = f.state;
  const comment = pick([...s.comments.keys()], i);
  const user = pick(USERS, i)!;
  switch (op) {
    case "message":
      return { type: "message", text: pick(TEXTS, i)!, ...(i % 4 === 0 && comment ? { reply_to: comment } : {}) };
    case "edit": {
      // An author's own comment, when they have one (others' edits are refused).
      const own = [...s.comments.values()].filter((e) => e.comment.user_id === actor.userId).map((e) => e.comment.id);
      const id = pick(own, i) ?? comment;
      return id ? { type: "edit", id, text: pick(TEXTS, i + 1)! } : null;
    }
    case "delete":
      return comment ? { type: "delete", id: comment } : null;
    case "pin":
      return comment ? { type: "pin", id: comment } : null;
    case "unpin":
      return { type: "unpin" };
    case "timeout":
      return { type: "timeout", user_id: user, seconds: [10, 60, 600][i % 3]! };
    case "ban":
      return { type: "ban", user_id: user, ...(i % 2 ? { reason: "raid" } : {}) };
    case "unban":
      return { type: "unban", user_id: pick([...s.bans.keys(), ...s.timeouts.keys()], i) ?? user };
    case "slow_mode":
      return { type: "slow_mode", seconds: [0, 5, 30][i % 3]! };
    case "blocked_terms":
      return i % 3 === 2 ? { type: "blocked_terms", remove: [pick(["scam", "link"], i)!] } : { type: "blocked_terms", add: [pick(["scam", "link", "follow"], i)!], action: i % 2 ? "hold" : "block" };
    case "role":
      return { type: "role", user_id: user, role: i % 2 ? "moderator" : "viewer" };
    case "chat_mode": {
      const mode = pick(["emote_only", "unique", "members_only", "account_age", "first_time_hold"] as const, i)!;
      return { type: "chat_mode", mode, on: i % 3 !== 0, ...(i % 2 ? { seconds: 30 + (i % 5) } : {}) };
    }
    case "review": {
      const held = pick([...s.held.keys()], i);
      return held ? { type: "review", id: held, decision: i % 2 ? "allow" : "deny" } : null;
    }
    case "warn":
      return { type: "warn", user_id: user, reason: pick(["spam", "be nice", "last warning"], i)! };
    case "acknowledge_warning":
      return { type: "acknowledge_warning" };
    case "hide_user":
      return { type: "hide_user", user_id: user };
    case "unhide_user":
      return { type: "unhide_user", user_id: user };
    case "lockdown":
      return { type: "lockdown", on: i % 2 === 0 };
    case "lockdown_preset":
      return { type: "lockdown_preset", preset: { emote_only: i % 2 === 0, unique_s: (i % 3) * 60, members_only: false, account_age_s: 0, first_time_hold: i % 5 === 0, slow_mode_s: i % 4 } };
    case "purge":
      return { type: "purge", phrase: pick(["spam", "raid", "follow", "🔥"], i)!, seconds: [10, 60, 600][i % 3]!, ...(i % 3 === 1 ? { then: "timeout" as const } : i % 3 === 2 ? { then: "ban" as const } : {}) };
    case "title":
      return { type: "title", title: pick(["", "Raid night", "  spaced \n out  "], i)! };
  }
}

/**
 * Runs `ops` live from a fresh stream (decide + apply, as the room does; the clock moves by each
 * `dt`), calling `after(f)` after each one.
 */
function live(ops: readonly Op[], after: (f: Fixture, n: number) => void = () => {}): Fixture {
  const f = fresh();
  let now = T0;
  for (const [n, o] of ops.entries()) {
    now += o.dt;
    // Members and known account ages differ by actor, so the modes refuse some and not others.
    const warned = ACTORS.filter((a) => f.state.warnings.has(a.userId));
    const who = o.exact
      ? ACTORS[o.actor]!
      : STAFF_OPS.has(o.op) && o.actor % 5 !== 4
        ? [owner, mod, mod2][o.actor % 3]!
        : o.op === "acknowledge_warning"
          ? (pick(warned, o.i) ?? pick(VIEWERS, o.i)!)
          : o.op === "message" || o.op === "edit"
            ? pick(VIEWERS, o.actor + o.i)!
            : ACTORS[o.actor % ACTORS.length]!;
    const actor = { ...who, member: o.actor % 2 === 0, accountCreatedAt: o.actor % 3 === 0 ? null : T0 - 86_400_000 * 30 };
    const cmd = command(f, o, actor);
    if (cmd) run(f, actor, cmd, now);
    after(f, n);
  }
  return f;
}

/** Ring entries as the room stores and broadcasts them (src/room-store.ts persist). */
function ringOf(events: readonly RoomEvent[]): RingEntry[] {
  return events.map((e) => ({ seq: e.seq, comment: e.type === "comment", json: e.type === "comment" ? JSON.stringify({ seq: e.seq, comment: e.comment }) : JSON.stringify(e) }));
}

const sorted = <T>(xs: Iterable<T>) => [...xs].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

/** What a viewer of the stream sees and what the rules enforce, comparably (insertion order of the comments kept). */
function visible(s: RoomState) {
  return {
    seq: s.seq,
    comments: [...s.comments.values()].map((e) => [e.seq, e.comment]),
    pinned: s.pinned,
    slowModeS: s.slowModeS,
    grants: sorted(s.grants),
    modes: s.modes,
    lockdown: s.lockdown,
    title: s.title,
  };
}
function enforced(s: RoomState) {
  return {
    ...visible(s),
    bans: sorted([...s.bans].map(([u, b]) => [u, b.by, b.reason ?? null])),
    timeouts: sorted([...s.timeouts].map(([u, t]) => [u, t.until, t.by])),
    warnings: sorted([...s.warnings].map(([u, w]) => [u, w.reason, w.by, w.at])),
    // (Shadow hides are room state, not events: never replayed, like the review queue.)
  };
}

/**
 * Runs `ops` live and, after every command, checks: a state that only applied the same events (from
 * nothing) enforces the same; a shard's mirror started from a snapshot taken after op `cut` and fed
 * the ring entries since shows the same. Returns the live fixture.
 */
function checkReplay(ops: readonly Op[], cut: number): Fixture {
  const again = emptyState(STREAM);
  let replayed = 0;
  let mirror: RoomMirror | null = null;
  const f = live(ops, (f, n) => {
    for (const { e, now } of f.log.slice(replayed)) apply(again, JSON.parse(JSON.stringify(e)) as RoomEvent, now);
    replayed = f.log.length;
    expect(enforced(again)).toEqual(enforced(f.state));
    // Held messages never replay: none of those still waiting is a comment anywhere.
    for (const id of f.state.held.keys()) expect(again.comments.has(id)).toBe(false);
    if (n === cut) {
      // Sent over RPC in the room: a copy, not the live objects.
      mirror = new RoomMirror(JSON.parse(JSON.stringify(snapshotOf(f.state, "epoch-1", ringOf(f.log.map((l) => l.e))))));
    } else if (mirror) {
      const { gap } = mirror.accept("epoch-1", ringOf(f.log.map((l) => l.e)).filter((r) => r.seq > mirror!.seq), T0);
      expect(gap).toBe(false);
      expect(visible(mirror.state)).toEqual(visible(f.state));
    }
  });
  return f;
}

const at = (actor: Actor, op: Op["op"], i = 0, dt = 1_000): Op => ({ actor: ACTORS.indexOf(actor), op, i, dt, exact: true });

describe("replay equivalence", () => {
  it("a scripted raid: modes, holds, reviews, warnings, hides, lockdown, purge, title", () => {
    const ops: Op[] = [
      at(owner, "title", 1),
      at(alice, "message", 1),
      at(owner, "pin", 0),
      at(mod, "blocked_terms", 1), // hold "link"
      at(bob, "message", 1), // "spam link" held
      at(carol, "message", 9), // "link?" held
      at(mod, "review", 1), // allow one
      at(mod, "chat_mode", 1), // unique on
      at(mod, "warn", 1), // bob
      at(bob, "message", 0),
      at(bob, "acknowledge_warning"),
      at(mod, "hide_user", 2), // carol
      at(carol, "message", 3),
      at(owner, "lockdown_preset", 1),
      at(mod, "lockdown", 0), // on
      at(alice, "message", 4),
      at(mod, "purge", 2), // "follow", ban
      at(mod, "purge", 0), // "spam"
      at(mod, "lockdown", 1), // off
      at(owner, "title", 2),
      at(mod, "unhide_user", 2),
      at(owner, "role", 1),
    ];
    for (let cut = 0; cut < ops.length; cut += 5) checkReplay(ops, cut);
    const f = live(ops);
    expect(f.log.some(({ e }) => e.type === "moderation" && e.action === "purge")).toBe(true);
    expect(f.log.some(({ e }) => e.type === "moderation" && e.action === "review")).toBe(true);
  });

  it("holds for random sequences of every command, from nothing and from a snapshot at any point", () => {
    const op = fc.record({ actor: fc.nat(11), op: fc.constantFrom(...OPS), i: fc.nat(1_000), dt: fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 700_000 })) });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 80 }), fc.nat(80), (ops, cut) => {
        checkReplay(ops, Math.min(cut, ops.length - 1));
      }),
      { numRuns: 300 },
    );
  });
});
