/**
 * The pure parts of the demo page's moderation panels (src/client/page-moderation.ts, issue 18 §6):
 * what a ban confirmation counts — the user's comments within the room's ring, checked against the
 * room's own decide() so the count is the ban event's `deleted` — and the custom timeout's bounds.
 */
import { describe, expect, it } from "vitest";
import { banEffect, banWarning, timeoutSeconds } from "../../src/client/page-moderation";
import { HISTORY_SIZE, TIMEOUT_MAX_S, TIMEOUT_MIN_S, type RoomEvent, type SeqComment } from "../../src/protocol";
import { apply, decide, emptyState, type Actor } from "../../src/rules/room-state";

const STREAM = "6b5f0c1e-8a0b-4c59-9b5e-3f2a1d0c9e8f";
const owner: Actor = { userId: "00000000-0000-4000-8000-00000000000a", username: "owner", role: "owner" };
const alice: Actor = { userId: "00000000-0000-4000-8000-00000000000d", username: "alice", role: "viewer" };
const bob: Actor = { userId: "00000000-0000-4000-8000-00000000000e", username: "bob", role: "viewer" };

/** A room run by its real rules, and the page's view of it: every comment it ever saw (the SDK keeps up to 500). */
function room() {
  const state = emptyState(STREAM);
  state.ownerId = owner.userId;
  let now = Date.UTC(2026, 10, 30);
  let ids = 0;
  const seen: SeqComment[] = [];
  const run = (actor: Actor, cmd: Parameters<typeof decide>[2]): RoomEvent[] => {
    now += 1000;
    const o = decide(state, actor, cmd, now, { editWindowMs: 300_000, newId: () => `00000000-0000-4000-8000-${String(++ids).padStart(12, "0")}` });
    if (o.kind !== "ok") throw new Error(`refused: ${JSON.stringify(o)}`);
    for (const e of o.events) {
      apply(state, e, now);
      if (e.type === "comment") seen.push({ seq: e.seq, comment: e.comment });
    }
    return o.events;
  };
  const post = (actor: Actor, text: string) => {
    const [e] = run(actor, { type: "message", text });
    return e!.type === "comment" ? e!.comment.id : "";
  };
  return { state, run, post, view: () => ({ comments: seen.slice(), pinned: state.pinned }) };
}

describe("banEffect: what the confirmation says a ban removes", () => {
  it("counts the user's comments the room still holds: the ban event's `deleted`", () => {
    const r = room();
    r.post(alice, "a1");
    r.post(bob, "b1");
    r.post(alice, "a2");
    const effect = banEffect(r.view(), alice.userId);
    const [ban] = r.run(owner, { type: "ban", user_id: alice.userId });
    expect(ban!.type === "moderation" && ban!.deleted?.length).toBe(2);
    expect(effect).toEqual({ messages: 2, older: 0, pinned: null });
  });

  it("counts only the ring: comments the page holds from before the room's last 200 stay and are said to stay", () => {
    const r = room();
    r.post(alice, "old");
    for (let i = 0; i < HISTORY_SIZE; i++) r.post(bob, `b${i}`);
    const last = r.post(alice, "new");
    r.run(owner, { type: "pin", id: last });
    const effect = banEffect(r.view(), alice.userId);
    const [ban] = r.run(owner, { type: "ban", user_id: alice.userId });
    expect(ban!.type === "moderation" && ban!.deleted).toEqual([last]);
    expect(effect).toEqual({ messages: 1, older: 1, pinned: "removed" });
    expect(banWarning(effect)).toBe(
      "This removes 1 message of theirs from the chat for everyone, including the pinned message. 1 older message of theirs stays: too old for the chat to remove. They can still read the chat. Unban lifts the ban, but does not bring the messages back.",
    );
  });

  it("says when their pinned comment is older than the ring (unpinned, not removed) and when there is nothing to remove", () => {
    const r = room();
    const pinned = r.post(alice, "pin me");
    r.run(owner, { type: "pin", id: pinned });
    for (let i = 0; i < HISTORY_SIZE; i++) r.post(bob, `b${i}`);
    const effect = banEffect(r.view(), alice.userId);
    expect(effect).toEqual({ messages: 0, older: 1, pinned: "unpinned" });
    expect(banWarning(effect)).toMatch(/^They have no recent messages in the chat to remove\. Their pinned message is unpinned\. /);
    const events = r.run(owner, { type: "ban", user_id: alice.userId });
    expect(events.map((e) => e.type)).toEqual(["moderation", "pinned"]);
    expect(banEffect(r.view(), "00000000-0000-4000-8000-0000000000ff")).toEqual({ messages: 0, older: 0, pinned: null });
  });
});

describe("timeoutSeconds: the timeout dialog's choice", () => {
  it("takes the presets and a custom whole number within the protocol's bounds", () => {
    expect(["60", "600", "3600", "86400"].map((c) => timeoutSeconds(c, ""))).toEqual([60, 600, 3600, 86_400]);
    expect(timeoutSeconds("custom", ` ${TIMEOUT_MIN_S} `)).toBe(TIMEOUT_MIN_S);
    expect(timeoutSeconds("custom", String(TIMEOUT_MAX_S))).toBe(TIMEOUT_MAX_S);
    expect(timeoutSeconds("custom", "90")).toBe(90);
  });

  it("refuses, with what is allowed, anything the room would refuse", () => {
    for (const bad of ["", String(TIMEOUT_MIN_S - 1), String(TIMEOUT_MAX_S + 1), "1.5", "-20", "1e3", "ten", "0x20"]) {
      expect(timeoutSeconds("custom", bad), bad).toEqual({ problem: "Enter a whole number of seconds from 10 to 86,400 (24 hours)." });
    }
  });
});
