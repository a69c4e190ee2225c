/**
 * Hold for review and shadow hide through the real worker and room (issue 18 §2, §4), sharded and
 * unsharded: what the sender, staff (wherever their sockets are) and other viewers receive, what a
 * review does, and that neither a held nor a hidden message reaches anyone else or the history.
 */
import { describe, expect, it } from "vitest";
import { ERROR_MESSAGES } from "../../src/protocol";
import { HELD_TTL_MS, MAX_HELD_PER_USER } from "../../src/rules/review";
import { Client, connect, newStreamId, roomStub, setLimits, staffToken } from "./helpers";
import { act, heldFor, moderation, okay, refusal, staffed, viewer, type Frame } from "./tools-helpers";

/** A stream with a `hold` term, its staff, a second moderator who joined after three sockets (so, sharded, on another shard), a sender and a bystander. */
async function holding(sid: string, term = "link") {
  const s = await staffed(sid);
  await okay(s.mod, { type: "blocked_terms", add: [term], action: "hold" });
  const sender = await viewer(sid, { username: "sender" });
  const bystander = await viewer(sid, { username: "bystander" });
  const mod2 = await connect(sid, { token: await staffToken(sid, "moderator") });
  await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1_000 });
  return { ...s, sender, bystander, mod2 };
}
const staffHeld = (c: Client, id: string) => c.of("held").find((h) => h.id === id && h.comment !== undefined);

describe("a held message", () => {
  it("the sender gets `held` (id, client_msg_id, expires_at) and no comment goes out; every staff socket gets it live, viewers never", async () => {
    const sid = newStreamId();
    const { owner, mod, mod2, sender, bystander } = await holding(sid);
    const h = await heldFor(sender.c, { type: "message", text: "check my link" });
    expect(h.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(h.client_msg_id).toBeDefined();
    expect(h.comment).toBeUndefined();
    expect(h.reason).toBeUndefined();
    expect(Date.parse(h.expires_at) - Date.now()).toBeGreaterThan(HELD_TTL_MS - 60_000);
    for (const staff of [owner, mod, mod2]) {
      await staff.until((x) => staffHeld(x, h.id) !== undefined, "the held message, to staff");
      expect(staffHeld(staff, h.id)).toMatchObject({ reason: "blocked_term", expires_at: h.expires_at, comment: { id: h.id, message: "check my link", user_id: sender.userId } });
    }
    // Nothing was broadcast: the next comment is seq 1 for everyone, and nobody else heard of the held one.
    const next = await okay(bystander.c, { type: "message", text: "hello" });
    expect(next.seq).toBe(1);
    await sender.c.until((x) => x.comments().length === 1, "the bystander's comment");
    for (const c of [sender.c, bystander.c]) expect(c.comments().map((x) => x.comment.message)).toEqual(["hello"]);
    expect(bystander.c.of("held")).toEqual([]);
    expect(sender.c.of("held")).toHaveLength(1);
    // A retry of the same client_msg_id is answered `held` again, not queued twice.
    sender.c.send({ type: "message", text: "check my link", client_msg_id: h.client_msg_id });
    await sender.c.until((x) => x.of("held").length === 2, "the retry's answer");
    expect(sender.c.of("held")[1]).toMatchObject({ id: h.id });
    const queue = await connect(sid, { token: await staffToken(sid, "moderator") });
    await queue.until((x) => x.of("review_queue").length === 1, "the review queue");
    expect(queue.of("review_queue")[0]!.items.map((i) => i.id)).toEqual([h.id]);
    await Promise.all([owner, mod, mod2, sender.c, bystander.c, queue].map((c) => c.close()));
  });

  it("staff get the queue on join (`review_queue`, after history); a viewer gets none", async () => {
    const sid = newStreamId();
    const { owner, mod, mod2, sender, bystander, ownerToken } = await holding(sid);
    const first = await heldFor(sender.c, { type: "message", text: "link one" });
    const second = await heldFor(bystander.c, { type: "message", text: "link two" });
    for (const t of [ownerToken, await staffToken(sid, "moderator"), await staffToken(sid, "moderator")]) {
      const c = await connect(sid, { token: t });
      await c.until((x) => x.of("review_queue").length === 1, "review_queue on join");
      const types = c.frames.map((f) => f.type);
      expect(types.indexOf("review_queue")).toBeGreaterThan(types.indexOf("history"));
      const items = c.of("review_queue")[0]!.items;
      expect(items.map((i) => i.id)).toEqual([first.id, second.id]);
      expect(items[0]).toMatchObject({ reason: "blocked_term", comment: { message: "link one" }, expires_at: first.expires_at, held_at: expect.any(String) });
      await c.close();
    }
    const v = await viewer(sid);
    // Allowing one now: the viewer sees the comment, and by then would have had any queue.
    await okay(mod, { type: "review", id: first.id, decision: "allow" });
    await v.c.until((x) => x.comments().length === 1, "the allowed comment");
    expect(v.c.of("review_queue")).toEqual([]);
    expect(v.c.of("held")).toEqual([]);
    await Promise.all([owner, mod, mod2, sender.c, bystander.c, v.c].map((c) => c.close()));
  });

  it("allow broadcasts it with a new seq (created_at unchanged); deny drops it; a second review is already_reviewed", async () => {
    const sid = newStreamId();
    const { owner, mod, mod2, sender, bystander, modToken } = await holding(sid);
    const h = await heldFor(sender.c, { type: "message", text: "a link for you" });
    await mod.until((x) => staffHeld(x, h.id) !== undefined, "held, to the moderator");
    const createdAt = staffHeld(mod, h.id)!.comment!.created_at;
    await okay(bystander.c, { type: "message", text: "meanwhile" });
    const allow = await okay(mod2, { type: "review", id: h.id, decision: "allow" });
    expect(allow).toMatchObject({ id: h.id, seq: 2 });
    for (const c of [sender.c, bystander.c, owner]) {
      await c.until((x) => x.comments().some((m) => m.comment.id === h.id), "the allowed comment");
      const got = c.comments().find((m) => m.comment.id === h.id)!;
      expect(got.seq).toBe(3);
      expect(got.comment.created_at).toBe(createdAt);
      expect(await moderation(c, "review")).toMatchObject({ id: h.id, decision: "allow", user_id: sender.userId, seq: 2 });
    }
    const again = await refusal(mod, { type: "review", id: h.id, decision: "deny" });
    expect(again).toMatchObject({ code: "already_reviewed", message: ERROR_MESSAGES.already_reviewed });
    const http = await act(sid, modToken, { type: "review", id: h.id, decision: "allow" });
    expect(http.status).toBe(409);
    expect(http.body).toMatchObject({ error: "already_reviewed" });

    const d = await heldFor(sender.c, { type: "message", text: "another link" });
    const denied = await act(sid, modToken, { type: "review", id: d.id, decision: "deny" });
    expect(denied.status).toBe(200);
    expect(denied.body.events).toEqual([expect.objectContaining({ action: "review", decision: "deny", id: d.id, user_id: sender.userId })]);
    expect(await moderation(sender.c, "review", (m) => m.decision === "deny")).toMatchObject({ id: d.id });
    const late = await connect(sid);
    expect(late.of("history")[0]!.comments.map((c) => c.comment.message)).toEqual(["meanwhile", "a link for you"]);
    const queue = await connect(sid, { token: modToken });
    await queue.until((x) => x.of("review_queue").length === 1, "the review queue");
    expect(queue.of("review_queue")[0]!.items).toEqual([]);
    await Promise.all([owner, mod, mod2, sender.c, bystander.c, late, queue].map((c) => c.close()));
  });

  it("first_time_hold holds a newcomer's first message until one is allowed; the queue is bounded per user", async () => {
    const sid = newStreamId();
    const { owner, mod, mod2, sender, bystander } = await holding(sid, "zzz-unused");
    await okay(bystander.c, { type: "message", text: "I was here before" });
    await okay(mod, { type: "chat_mode", mode: "first_time_hold", on: true });
    await okay(bystander.c, { type: "message", text: "still fine" });
    const held: Array<Frame<"held">> = [];
    for (let i = 0; i < MAX_HELD_PER_USER; i++) held.push(await heldFor(sender.c, { type: "message", text: `hello ${i}` }));
    await owner.until((x) => staffHeld(x, held.at(-1)!.id) !== undefined, "the newcomer's messages, to staff");
    expect(staffHeld(owner, held[0]!.id)!.reason).toBe("first_time");
    const full = await refusal(sender.c, { type: "message", text: "hello?" });
    expect(full.code).toBe("review_queue_full");
    expect(full.retry_after_ms).toBeGreaterThan(0);
    await okay(mod, { type: "review", id: held[0]!.id, decision: "allow" });
    // Now they have posted: no longer a first-timer.
    await okay(sender.c, { type: "message", text: "thanks!" });
    await Promise.all([owner, mod, mod2, sender.c, bystander.c].map((c) => c.close()));
  });
});

describe("shadow hide", () => {
  it("a hidden user's messages reach themselves and staff (`hidden_comment`), not other viewers, not the history", async () => {
    const sid = newStreamId();
    const { owner, mod, mod2, sender, bystander, modToken } = await holding(sid, "zzz-unused");
    const hide = await act(sid, modToken, { type: "hide_user", user_id: sender.userId });
    // No event: the hidden user (and every viewer) must not hear of it; staff get the log entry.
    expect(hide.body.events).toEqual([]);
    await mod2.until((x) => x.of("modlog").some((m) => m.entry.action === "hide" && m.entry.target === sender.userId), "the hide's log entry");
    const other = await connect(sid, { token: sender.token }); // the hidden user's second device
    const ack = await okay(sender.c, { type: "message", text: "can anyone see me?" });
    expect(ack.id).toBeDefined();
    expect(ack.seq).toBeUndefined();
    for (const c of [sender.c, other, owner, mod, mod2]) {
      await c.until((x) => x.of("hidden_comment").some((h) => h.comment.id === ack.id), "the hidden comment");
      expect(c.of("hidden_comment").find((h) => h.comment.id === ack.id)!.comment).toMatchObject({ message: "can anyone see me?", user_id: sender.userId });
    }
    const marker = await okay(bystander.c, { type: "message", text: "marker" });
    expect(marker.seq).toBe(1); // neither the hide nor the hidden message took a seq
    expect(sender.c.of("moderation")).toEqual([]);
    await bystander.c.until((x) => x.comments().length === 1, "the marker");
    expect(bystander.c.of("hidden_comment")).toEqual([]);
    expect(bystander.c.comments().map((c) => c.comment.message)).toEqual(["marker"]);
    const late = await connect(sid);
    expect(late.of("history")[0]!.comments.map((c) => c.comment.message)).toEqual(["marker"]);
    const w = late.of("welcome")[0]!;
    const resumed = await connect(sid, { query: `?since=0&epoch=${w.epoch}` });
    expect(resumed.of("history")[0]).toMatchObject({ recovered: true });
    expect(resumed.of("history")[0]!.comments.map((c) => c.comment.message)).toEqual(["marker"]);

    await okay(mod, { type: "unhide_user", user_id: sender.userId });
    await okay(sender.c, { type: "message", text: "back in the open" });
    await bystander.c.until((x) => x.comments().some((c) => c.comment.message === "back in the open"), "the unhidden user's comment");
    await Promise.all([owner, mod, mod2, sender.c, other, bystander.c, late, resumed].map((c) => c.close()));
  });
});

describe("slow mode spaces held and hidden messages like any other", () => {
  it("a shadow-hidden user and a first-timer whose message is held wait like everyone (no tell, no flood)", async () => {
    const sid = newStreamId();
    const { owner, mod, mod2, sender, bystander } = await holding(sid, "zzz-unused");
    await okay(mod, { type: "hide_user", user_id: sender.userId });
    await okay(mod, { type: "slow_mode", seconds: 30 });
    await okay(sender.c, { type: "message", text: "one" });
    const slowed = await refusal(sender.c, { type: "message", text: "two" });
    expect(slowed.code).toBe("slow_mode");
    expect(slowed.retry_after_ms).toBeGreaterThan(25_000);
    await okay(mod, { type: "chat_mode", mode: "first_time_hold", on: true });
    await heldFor(bystander.c, { type: "message", text: "first words" });
    expect((await refusal(bystander.c, { type: "message", text: "more words" })).code).toBe("slow_mode");
    await Promise.all([owner, mod, mod2, sender.c, bystander.c].map((c) => c.close()));
  });
});
