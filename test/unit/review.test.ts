/**
 * Hold for review (src/rules/review.ts; issue 18 §2) and the message path it joins in
 * src/rules/room-state.ts decide(): warnings, modes, block vs hold terms, first-time holds, shadow
 * hide, the queue's bounds, and what a review decides.
 */
import { describe, expect, it } from "vitest";
import type { Attachment, ModerationFrame } from "../../src/protocol";
import { HELD_TTL_MS, MAX_HELD, MAX_HELD_PER_USER, expiredHeld, heldItem, termVerdict, type Held } from "../../src/rules/review";
import { T0, alice, bob, code, events, fresh, mod, newId, owner, post, run, type Fixture } from "./rules-fixture";

const holdTerms = (f: Fixture, ...terms: string[]) => run(f, mod, { type: "blocked_terms", add: terms, action: "hold" });
const blockTerms = (f: Fixture, ...terms: string[]) => run(f, mod, { type: "blocked_terms", add: terms });

function hold(f: Fixture, actor = alice, text = "a held link", now = T0): Held {
  const o = run(f, actor, { type: "message", text }, now);
  if (o.kind !== "held") throw new Error(`expected held, got ${JSON.stringify(o)}`);
  return o.held;
}

describe("termVerdict", () => {
  it("block wins over hold; hold alone holds; nothing matching is null", () => {
    const terms = new Map([
      ["link", "hold" as const],
      ["scam", "block" as const],
    ]);
    expect(termVerdict("my LINK", terms)).toBe("hold");
    expect(termVerdict("scam link", terms)).toBe("block");
    expect(termVerdict("hello", terms)).toBeNull();
    expect(termVerdict("anything", new Map())).toBeNull();
  });

  it("re-adding a term with another action changes it", () => {
    const f = fresh();
    blockTerms(f, "link");
    holdTerms(f, "LINK");
    expect(f.state.blockedTerms).toEqual(new Map([["link", "hold"]]));
  });
});

describe("the message path", () => {
  it("a warned user is refused warning_pending before anything else is checked", () => {
    const f = fresh();
    const own = post(f, alice, "before the warning");
    run(f, mod, { type: "warn", user_id: alice.userId, reason: "calm" });
    blockTerms(f, "bad");
    expect(code(run(f, alice, { type: "message", text: "bad" }))).toBe("warning_pending");
    expect(code(run(f, alice, { type: "message", text: "x".repeat(600) }))).toBe("warning_pending");
    expect(code(run(f, alice, { type: "edit", id: own, text: "edited" }))).toBe("warning_pending");
    // Other users are not affected.
    expect(code(run(f, bob, { type: "message", text: "unwarned" }))).toBe("ok");
  });

  it("emote_only refuses a message with images, even with emoji text", () => {
    const f = fresh();
    run(f, mod, { type: "chat_mode", mode: "emote_only", on: true });
    const image: Attachment = { upload_id: "u1", url: "/v1/uploads/x/u1", content_type: "image/png", size: 10 };
    const more = { attachment: () => image };
    expect(code(run(f, alice, { type: "message", text: "🔥", attachments: ["u1"] }, T0, more))).toBe("emote_only");
    expect(code(run(f, alice, { type: "message", text: "", attachments: ["u1"] }, T0, more))).toBe("emote_only");
    expect(code(run(f, alice, { type: "message", text: "🔥🔥" }))).toBe("ok");
    expect(code(run(f, alice, { type: "message", text: "fire" }))).toBe("emote_only");
  });

  it("a hold term holds a viewer's message (not broadcast, not sequenced); a block term refuses it, also when both match", () => {
    const f = fresh();
    holdTerms(f, "link");
    blockTerms(f, "scam");
    const h = hold(f, alice, "see my link", T0);
    expect(h).toMatchObject({ reason: "blocked_term", heldAt: T0, expiresAt: T0 + HELD_TTL_MS });
    expect(h.comment).toMatchObject({ user_id: alice.userId, message: "see my link", created_at: new Date(T0).toISOString() });
    expect(f.state.seq).toBe(0);
    expect(f.state.comments.size).toBe(0);
    expect(code(run(f, alice, { type: "message", text: "scam link" }))).toBe("blocked_term");
  });

  it("staff are never held; a viewer's edit that adds a hold term is refused (an edit cannot wait for review)", () => {
    const f = fresh();
    holdTerms(f, "link");
    expect(code(run(f, mod, { type: "message", text: "a link" }))).toBe("ok");
    const mine = post(f, alice, "clean");
    expect(code(run(f, alice, { type: "edit", id: mine, text: "now a link" }))).toBe("blocked_term");
    const modMsg = post(f, mod, "clean too");
    expect(code(run(f, mod, { type: "edit", id: modMsg, text: "a link" }))).toBe("ok");
  });

  it("first_time_hold holds a user's first message only (and never staff's)", () => {
    const f = fresh();
    run(f, mod, { type: "chat_mode", mode: "first_time_hold", on: true });
    expect(hold(f, alice, "hello!").reason).toBe("first_time");
    // Still a first-timer while nothing of theirs was accepted.
    expect(hold(f, alice, "anyone?").reason).toBe("first_time");
    f.posted.add(bob.userId);
    expect(code(run(f, bob, { type: "message", text: "hi again" }))).toBe("ok");
    expect(code(run(f, mod, { type: "message", text: "mod here" }))).toBe("ok");
    // The room says nothing about who posted: nobody is a first-timer.
    expect(code(run(f, alice, { type: "message", text: "x" }, T0, { hasPosted: undefined }))).toBe("ok");
  });

  it("a hidden user's message is `hidden` (to them and staff only): never held, still refused by a block term", () => {
    const f = fresh();
    run(f, mod, { type: "hide_user", user_id: alice.userId });
    run(f, mod, { type: "chat_mode", mode: "first_time_hold", on: true });
    holdTerms(f, "link");
    blockTerms(f, "scam");
    const seq = f.state.seq;
    const o = run(f, alice, { type: "message", text: "my link" });
    expect(o.kind).toBe("hidden");
    expect(o.kind === "hidden" && o.comment).toMatchObject({ user_id: alice.userId, message: "my link" });
    expect(f.state.seq).toBe(seq);
    expect(f.state.comments.size).toBe(0);
    expect(f.state.held.size).toBe(0);
    expect(code(run(f, alice, { type: "message", text: "scam" }))).toBe("blocked_term");
  });

  it("review_queue_full: per user past MAX_HELD_PER_USER, for everyone past MAX_HELD", () => {
    const f = fresh();
    holdTerms(f, "link");
    for (let i = 0; i < MAX_HELD_PER_USER; i++) hold(f, alice, `link ${i}`);
    const full = run(f, alice, { type: "message", text: "link again" });
    expect(code(full)).toBe("review_queue_full");
    expect(full.kind === "error" && full.retry_after_ms).toBeGreaterThan(0);
    // Others still get held.
    hold(f, bob, "bob's link");
    // Fill the stream's queue to MAX_HELD with other users' messages.
    for (let i = 0; f.state.held.size < MAX_HELD; i++) {
      const id = newId();
      f.state.held.set(id, { comment: { id, stream_id: f.state.streamId, user_id: `user-${i}`, username: null, message: "link", created_at: new Date(T0).toISOString() }, reason: "blocked_term", heldAt: T0, expiresAt: T0 + HELD_TTL_MS });
    }
    expect(code(run(f, owner, { type: "message", text: "owner's link" }))).toBe("ok");
    f.posted.add(bob.userId);
    const carolLike = { ...bob, userId: "00000000-0000-4000-8000-0000000000ff" };
    expect(code(run(f, carolLike, { type: "message", text: "a link" }))).toBe("review_queue_full");
  });
});

describe("review", () => {
  it("allow: a review event, then the held comment as a new comment at seq+1 with its created_at unchanged", () => {
    const f = fresh();
    holdTerms(f, "link");
    post(f, bob, "before");
    const h = hold(f, alice, "a link", T0);
    const later = T0 + 60_000;
    const o = run(f, mod, { type: "review", id: h.comment.id, decision: "allow" }, later);
    const [review, comment] = events(o);
    expect(review).toMatchObject({ type: "moderation", action: "review", seq: 2, id: h.comment.id, decision: "allow", user_id: alice.userId, by: mod.userId });
    expect(comment).toEqual({ type: "comment", seq: 3, comment: h.comment });
    expect(o.kind === "ok" && o.ack).toEqual({ id: h.comment.id, seq: 2 });
    expect(f.state.comments.get(h.comment.id)?.comment.created_at).toBe(new Date(T0).toISOString());
    expect(f.state.held.size).toBe(0);
  });

  it("deny: one review event, the comment never appears; the first decision wins", () => {
    const f = fresh();
    holdTerms(f, "link");
    const h = hold(f);
    const es = events(run(f, mod, { type: "review", id: h.comment.id, decision: "deny" }));
    expect(es).toHaveLength(1);
    expect(es[0]).toMatchObject({ action: "review", decision: "deny", id: h.comment.id, user_id: alice.userId } satisfies Partial<ModerationFrame>);
    expect(f.state.comments.size).toBe(0);
    expect(code(run(f, owner, { type: "review", id: h.comment.id, decision: "allow" }))).toBe("already_reviewed");
    expect(code(run(f, mod, { type: "review", id: h.comment.id, decision: "deny" }))).toBe("already_reviewed");
  });

  it("an expired or unknown message is already_reviewed; viewers may not review", () => {
    const f = fresh();
    holdTerms(f, "link");
    const h = hold(f, alice, "link", T0);
    expect(code(run(f, bob, { type: "review", id: h.comment.id, decision: "allow" }))).toBe("forbidden");
    expect(code(run(f, mod, { type: "review", id: h.comment.id, decision: "allow" }, T0 + HELD_TTL_MS))).toBe("already_reviewed");
    expect(code(run(f, mod, { type: "review", id: newId(), decision: "allow" }))).toBe("already_reviewed");
  });

  it("a ban drops the user's held messages", () => {
    const f = fresh();
    holdTerms(f, "link");
    const h = hold(f);
    hold(f, bob, "bob's link");
    run(f, mod, { type: "ban", user_id: alice.userId });
    expect([...f.state.held.keys()]).not.toContain(h.comment.id);
    expect(f.state.held.size).toBe(1);
    expect(code(run(f, mod, { type: "review", id: h.comment.id, decision: "allow" }))).toBe("already_reviewed");
  });
});

describe("queue helpers", () => {
  it("expiredHeld lists what expired by now, oldest first; heldItem is the staff view in RFC 3339", () => {
    const f = fresh();
    holdTerms(f, "link");
    const a = hold(f, alice, "link 1", T0);
    const b = hold(f, bob, "link 2", T0 + 1_000);
    expect(expiredHeld(f.state.held, T0 + HELD_TTL_MS - 1)).toEqual([]);
    expect(expiredHeld(f.state.held, T0 + HELD_TTL_MS)).toEqual([a.comment.id]);
    expect(expiredHeld(f.state.held, T0 + HELD_TTL_MS + 1_000)).toEqual([a.comment.id, b.comment.id]);
    expect(heldItem(a)).toEqual({
      id: a.comment.id,
      comment: a.comment,
      reason: "blocked_term",
      held_at: new Date(T0).toISOString(),
      expires_at: new Date(T0 + HELD_TTL_MS).toISOString(),
    });
  });
});
