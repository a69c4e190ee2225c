/**
 * The mod log in words (src/client/page-modlog.ts describeEntry; and page-words.ts purgeNotice, shown by the log panel and the user
 * card) read against the entries the room really writes: each command is decided by the room's
 * rules (src/rules/room-state.ts decide) and logged by src/rules/modlog.ts logEntries, so a detail
 * the page reads under another name or shape (a count where it expected a list) shows up here.
 */
import { describe, expect, it } from "vitest";
import type { Command, ModlogEntry } from "../../src/protocol";
import { describeEntry, liftableEntries } from "../../src/client/page-modlog";
import { purgeNotice } from "../../src/client/page-words";
import { logEntries } from "../../src/rules/modlog";
import { decide, type Actor } from "../../src/rules/room-state";
import { T0, alice, bob, fresh, mod, options, owner, post, run, type Fixture } from "./rules-fixture";

const names = new Map([alice, bob, mod, owner].map((a) => [a.userId, a.username!]));
const name = (id: string | undefined) => (id === undefined ? "someone" : (names.get(id) ?? "?"));

/** The words of every log entry `cmd` writes (decided and logged like the room, then applied). */
function words(f: Fixture, actor: Actor, cmd: Command, now = T0): string[] {
  const o = decide(f.state, actor, cmd, now, options(f));
  if (o.kind !== "ok") throw new Error(`refused: ${JSON.stringify(o)}`);
  const drafts = logEntries(f.state, actor.userId, cmd, o, now);
  run(f, actor, cmd, now);
  return drafts.map((d, i) => describeEntry({ ...d, seq: i + 1 } as ModlogEntry, name));
}

describe("describeEntry, on the room's own log entries", () => {
  it("a ban says how many messages it removed; a purge how many and what it did to their authors", () => {
    const f = fresh();
    post(f, alice, "spam one");
    post(f, alice, "spam two");
    post(f, bob, "spam three");
    post(f, bob, "hello");
    expect(words(f, mod, { type: "ban", user_id: alice.userId })).toEqual(["banned alice (2 messages removed)"]);
    // bob's "spam three" matches; banning him removes his "hello" too.
    expect(words(f, mod, { type: "purge", phrase: "spam", seconds: 600, then: "ban" })).toEqual(["removed 2 messages containing “spam” and banned 1 user"]);
  });

  it("blocked terms: how many were added (and whether they hold for review) and removed", () => {
    const f = fresh();
    expect(words(f, mod, { type: "blocked_terms", add: ["scam", "link"], action: "hold" })).toEqual(["added 2 blocked terms (hold for review)"]);
    expect(words(f, mod, { type: "blocked_terms", add: ["raid"], remove: ["link"] })).toEqual(["added 1 blocked term, removed 1 blocked term"]);
  });

  it("a warning and its acknowledgement never name the actor twice (the panel shows them beside the words)", () => {
    const f = fresh();
    post(f, alice, "hi");
    expect(words(f, mod, { type: "warn", user_id: alice.userId, reason: "no links" })).toEqual(["warned alice"]);
    expect(words(f, alice, { type: "acknowledge_warning" })).toEqual(["acknowledged a warning"]);
  });

  it("pins, timeouts, slow mode, modes, lockdown and the title", () => {
    const f = fresh();
    const id = post(f, alice, "pin me");
    expect(words(f, mod, { type: "pin", id })).toEqual(["pinned a message of alice"]);
    expect(words(f, mod, { type: "unpin" })).toEqual(["unpinned the pinned message"]);
    expect(words(f, mod, { type: "timeout", user_id: bob.userId, seconds: 600 })).toEqual(["timed out bob for 10 minutes"]);
    expect(words(f, mod, { type: "slow_mode", seconds: 30 })).toEqual(["set slow mode to 30 seconds"]);
    expect(words(f, mod, { type: "chat_mode", mode: "emote_only", on: true })).toEqual(["turned emote only mode on"]);
    expect(words(f, owner, { type: "title", title: "Cozy Friday" })).toEqual(["set the title to “Cozy Friday”"]);
  });
});

describe("liftableEntries: which entries still offer Unban", () => {
  it("only the newest ban or running timeout of each target, and none once an unban followed", () => {
    const f = fresh();
    post(f, alice, "hi");
    const entries: ModlogEntry[] = [];
    const log = (actor: Actor, cmd: Command, now = T0) => {
      const o = decide(f.state, actor, cmd, now, options(f));
      if (o.kind !== "ok") throw new Error(`refused: ${JSON.stringify(o)}`);
      for (const d of logEntries(f.state, actor.userId, cmd, o, now)) entries.push({ ...d, seq: entries.length + 1 } as ModlogEntry);
      run(f, actor, cmd, now);
    };
    log(mod, { type: "timeout", user_id: alice.userId, seconds: 60 }); // 1
    log(mod, { type: "ban", user_id: alice.userId }); // 2
    log(mod, { type: "timeout", user_id: bob.userId, seconds: 60 }); // 3
    const newest = () => [...entries].reverse();
    expect([...liftableEntries(newest(), T0)].sort()).toEqual([2, 3]);
    // bob's timeout has ended by itself: nothing to lift.
    expect([...liftableEntries(newest(), T0 + 61_000)]).toEqual([2]);
    log(mod, { type: "unban", user_id: alice.userId }); // 4
    expect([...liftableEntries(newest(), T0)]).toEqual([3]);
  });
});

describe("purgeNotice: one line per purge", () => {
  it("names up to three authors, else counts them; an author the page never saw is counted", () => {
    expect(purgeNotice(["alice"])).toBe("Messages from alice were removed by a moderator.");
    expect(purgeNotice(["alice", "bob", "carol"])).toBe("Messages from alice, bob and carol were removed by a moderator.");
    expect(purgeNotice(Array.from({ length: 20 }, (_, i) => `raider${i}`))).toBe("Messages from 20 users were removed by a moderator.");
    expect(purgeNotice(["alice", null])).toBe("Messages from 2 users were removed by a moderator.");
    expect(purgeNotice([])).toBe("Messages were removed by a moderator.");
  });
});
