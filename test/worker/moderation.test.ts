/**
 * Room events through the real worker and room (issue 10): every change is a sequenced event,
 * broadcast, replayed on resume, enforced by role; a resumed client ends where a connected one is.
 */
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ERROR_MESSAGES, type ServerFrame } from "../../src/protocol";
import { apply, emptyState, restrictions, type RoomState } from "../../src/rules/room-state";
import { Client, connect, fetchWorker, newStreamId, newUserId, roomStub, setLimits, token } from "./helpers";

type Frame<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

const ownerToken = (sid: string, sub = newUserId()) => token({ sub, username: "streamer", claims: { stream_roles: { [sid]: "owner" } } });
const modToken = (sid: string, sub = newUserId()) => token({ sub, username: "moddy", claims: { stream_roles: { [sid]: "moderator" } } });

/**
 * What a client shows after the frames it received, over one or more connections, using the
 * rules' own reducer: a fresh history resets, a recovered one is merged by seq, live frames apply.
 */
function view(frames: ServerFrame[], sid: string): { state: RoomState; seqs: number[] } {
  const state = emptyState(sid);
  const seqs: number[] = [];
  for (const f of frames) {
    if (f.type === "welcome") {
      state.pinned = f.pinned ?? null;
      state.slowModeS = f.slow_mode_s ?? 0;
    } else if (f.type === "history") {
      if (!f.recovered) {
        state.comments.clear();
        for (const c of f.comments) state.comments.set(c.comment.id, { seq: c.seq, comment: c.comment });
      } else {
        const merged = [...f.comments.map((c) => ({ type: "comment" as const, ...c })), ...(f.events ?? [])].sort((a, b) => a.seq - b.seq);
        for (const e of merged) {
          apply(state, e, 0);
          seqs.push(e.seq);
        }
      }
    } else if (f.type === "comment" || f.type === "comment_edited" || f.type === "comment_deleted" || f.type === "pinned" || f.type === "moderation") {
      apply(state, f, 0);
      seqs.push(f.seq);
    }
  }
  return { state, seqs };
}

function summary(v: { state: RoomState }, userId: string) {
  const s = v.state;
  return {
    comments: [...s.comments.values()].map((e) => [e.seq, e.comment.id, e.comment.message, e.comment.edited_at ?? null]),
    pinned: s.pinned ? [s.pinned.id, s.pinned.message] : null,
    slowModeS: s.slowModeS,
    me: restrictions(s, userId, "viewer", Date.parse("2000-01-01")),
  };
}

async function acked(c: Client, frame: Record<string, unknown>): Promise<Frame<"ack"> | Frame<"error">> {
  const id = crypto.randomUUID();
  c.send({ ...frame, client_msg_id: id });
  await c.until(
    (x) => x.frames.some((f) => (f.type === "ack" || f.type === "error") && f.client_msg_id === id),
    `answer to ${JSON.stringify(frame)}`,
  );
  return c.frames.find((f) => (f.type === "ack" || f.type === "error") && f.client_msg_id === id) as Frame<"ack"> | Frame<"error">;
}
const ok = async (c: Client, frame: Record<string, unknown>) => {
  const r = await acked(c, frame);
  if (r.type !== "ack") throw new Error(`${JSON.stringify(frame)} refused: ${JSON.stringify(r)}`);
  return r;
};
const refused = async (c: Client, frame: Record<string, unknown>) => {
  const r = await acked(c, frame);
  if (r.type !== "error") throw new Error(`${JSON.stringify(frame)} was accepted`);
  return r;
};

describe("roles over the socket", () => {
  it("owner, moderator and viewer: welcome carries the role; each command allowed or refused by role", async () => {
    const sid = newStreamId();
    const ownerId = newUserId();
    const owner = await connect(sid, { token: await ownerToken(sid, ownerId) });
    const mod = await connect(sid, { token: await modToken(sid) });
    const viewerId = newUserId();
    const viewer = await connect(sid, { token: await token({ sub: viewerId, username: "vee" }) });
    expect(owner.of("welcome")[0]!.role).toBe("owner");
    expect(mod.of("welcome")[0]!.role).toBe("moderator");
    expect(viewer.of("welcome")[0]!.role).toBe("viewer");

    const post = await ok(viewer, { type: "message", text: "hello @streamer see https://example.com" });
    const c = viewer.comments()[0]!.comment;
    expect(c.entities?.map((e) => e.type)).toEqual(["mention", "url"]);
    expect((await refused(viewer, { type: "pin", id: post.id })).code).toBe("forbidden");
    expect((await refused(viewer, { type: "slow_mode", seconds: 5 })).code).toBe("forbidden");
    expect((await refused(mod, { type: "timeout", user_id: ownerId, seconds: 60 })).code).toBe("forbidden");
    expect((await refused(mod, { type: "role", user_id: viewerId, role: "moderator" })).code).toBe("forbidden");
    await ok(mod, { type: "pin", id: post.id });
    await viewer.until((x) => x.of("pinned").length === 1, "pinned");
    expect(viewer.of("pinned")[0]!.comment?.id).toBe(post.id);
    await ok(owner, { type: "role", user_id: viewerId, role: "moderator" });
    await viewer.until((x) => x.of("moderation").some((m) => m.action === "role"), "role event");
    // The grant takes effect on the viewer's very next command (re-checked, not read from the socket).
    await ok(viewer, { type: "slow_mode", seconds: 0 });
    await Promise.all([owner.close(), mod.close(), viewer.close()]);
  });

  it("timeout: the user stays connected as a reader and gets `muted` with `until`; a ban reaches both of their devices", async () => {
    const sid = newStreamId();
    const mod = await connect(sid, { token: await modToken(sid) });
    const userId = newUserId();
    const phone = await connect(sid, { token: await token({ sub: userId, username: "two-devices" }) });
    const laptop = await connect(sid, { token: await token({ sub: userId, username: "two-devices" }) });
    await ok(phone, { type: "message", text: "spam one" });
    await ok(laptop, { type: "message", text: "spam two" });
    await ok(mod, { type: "timeout", user_id: userId, seconds: 60, reason: "cool down" });
    const muted = await refused(phone, { type: "message", text: "still here?" });
    expect(muted.code).toBe("muted");
    expect(Date.parse(muted.until!)).toBeGreaterThan(Date.now() + 50_000);
    await ok(mod, { type: "ban", user_id: userId });
    for (const dev of [phone, laptop]) {
      await dev.until((x) => x.of("moderation").some((m) => m.action === "ban"), "ban on every device");
      const ban = dev.of("moderation").find((m) => m.action === "ban")!;
      expect(ban.deleted).toHaveLength(2);
      expect((await refused(dev, { type: "message", text: "let me in" })).code).toBe("banned");
      expect(dev.closed).toBeNull();
    }
    // A new socket of the banned user is a reader: told so in the welcome, no comments of theirs in the backlog.
    const again = await connect(sid, { token: await token({ sub: userId }) });
    expect(again.of("welcome")[0]!.banned).toBe(true);
    expect(again.of("history")[0]!.comments).toHaveLength(0);
    await Promise.all([mod, phone, laptop, again].map((c) => c.close()));
  });

  it("user and comment ids in commands are matched whatever their case (no dodging a ban, no acting on yourself)", async () => {
    const sid = newStreamId();
    const modId = newUserId();
    const mod = await connect(sid, { token: await modToken(sid, modId) });
    const userId = newUserId();
    const user = await connect(sid, { token: await token({ sub: userId }) });
    const c = await ok(user, { type: "message", text: "hi" });
    expect((await refused(mod, { type: "timeout", user_id: modId.toUpperCase(), seconds: 60 })).code).toBe("forbidden");
    await ok(mod, { type: "pin", id: c.id!.toUpperCase() });
    await ok(mod, { type: "ban", user_id: userId.toUpperCase() });
    expect((await refused(user, { type: "message", text: "still?" })).code).toBe("banned");
    expect((await refused(mod, { type: "timeout", user_id: "not-a-user-id", seconds: 60 })).code).toBe("invalid_frame");
    await Promise.all([mod.close(), user.close()]);
  });

  it("slow mode and the rate limit together: staff exempt from slow mode, everyone under the rate limit", async () => {
    const sid = newStreamId();
    const owner = await connect(sid, { token: await ownerToken(sid) });
    const viewer = await connect(sid);
    await ok(owner, { type: "slow_mode", seconds: 30 });
    await ok(viewer, { type: "message", text: "one" });
    const slow = await refused(viewer, { type: "message", text: "two" });
    expect(slow.code).toBe("slow_mode");
    expect(slow.retry_after_ms).toBeGreaterThan(25_000);
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1 });
    await ok(owner, { type: "message", text: "a" });
    expect((await refused(owner, { type: "message", text: "b" })).code).toBe("rate_limited");
    await Promise.all([owner.close(), viewer.close()]);
  });

  it("edit within the window by the author only; delete by author or staff; text rules apply to edits", async () => {
    const sid = newStreamId();
    const owner = await connect(sid, { token: await ownerToken(sid) });
    const a = await connect(sid);
    const b = await connect(sid);
    const mine = await ok(a, { type: "message", text: "tpyo" });
    expect((await refused(b, { type: "edit", id: mine.id, text: "hijack" })).code).toBe("forbidden");
    expect((await refused(a, { type: "edit", id: mine.id, text: "bad \u0000 byte" })).code).toBe("invalid_text");
    await ok(a, { type: "edit", id: mine.id, text: "typo \u202Efixed" });
    await b.until((x) => x.of("comment_edited").length === 1, "edit broadcast");
    expect(b.of("comment_edited")[0]).toMatchObject({ id: mine.id, message: "typo fixed" });
    expect((await refused(b, { type: "delete", id: mine.id })).code).toBe("forbidden");
    await ok(owner, { type: "delete", id: mine.id });
    await b.until((x) => x.of("comment_deleted").length === 1, "delete broadcast");
    expect((await refused(a, { type: "edit", id: mine.id, text: "gone" })).code).toBe("not_found");
    await Promise.all([owner.close(), a.close(), b.close()]);
  });

  it("blocked terms are acked to the sender only, never broadcast", async () => {
    const sid = newStreamId();
    const mod = await connect(sid, { token: await modToken(sid) });
    const viewer = await connect(sid);
    const ack = await ok(mod, { type: "blocked_terms", add: ["Rickroll"] });
    expect(ack.seq).toBeUndefined();
    expect((await refused(viewer, { type: "message", text: "a RICKROLL link" })).code).toBe("blocked_term");
    expect(viewer.frames.some((f) => f.type === "moderation")).toBe(false);
    await Promise.all([mod.close(), viewer.close()]);
  });
});

describe("resume reaches the state of a client that stayed connected", () => {
  /** Every kind of event, from several roles, one after another. */
  async function script(owner: Client, viewer: Client, viewerId: string, steps: number[], ids: string[]) {
    for (const step of steps) {
      switch (step) {
        case 0: ids.push((await ok(viewer, { type: "message", text: `c${ids.length}` })).id!); break;
        case 1: await ok(viewer, { type: "edit", id: ids.at(-1)!, text: `edited ${ids.length}` }); break;
        case 2: await ok(owner, { type: "pin", id: ids.at(-1)! }); break;
        case 3: await ok(owner, { type: "delete", id: ids.shift()! }); break;
        case 4: await ok(owner, { type: "timeout", user_id: newUserId(), seconds: 10 }); break;
        case 5: await ok(owner, { type: "timeout", user_id: viewerId, seconds: 10 }); break;
        case 6: await ok(owner, { type: "unpin" }); break;
      }
    }
  }

  const STEPS = [0, 0, 1, 2, 0, 3, 4, 0, 1, 2, 6, 0, 5];
  for (const cut of [0, 3, 7, 11]) {
    it(`disconnecting after ${cut} events and resuming gives the same comments, edits, deletions, pin and own mute`, async () => {
      const sid = newStreamId();
      const owner = await connect(sid, { token: await ownerToken(sid) });
      const viewerId = newUserId();
      const viewer = await connect(sid, { token: await token({ sub: viewerId, username: "v" }) });
      const stayer = await connect(sid, { token: await token({ sub: viewerId, username: "v" }) });
      const leaver = await connect(sid, { token: await token({ sub: viewerId, username: "v" }) });
      const ids: string[] = [];
      await script(owner, viewer, viewerId, STEPS.slice(0, cut), ids);
      // Every step is one event: the leaver has seen `cut` of them when it leaves.
      await leaver.until((x) => view(x.frames, sid).seqs.length >= cut, "leaver caught up");
      const before = [...leaver.frames];
      const w = leaver.of("welcome")[0]!;
      const last = Math.max(0, ...view(before, sid).seqs);
      await leaver.close();
      await script(owner, viewer, viewerId, STEPS.slice(cut), ids);
      if (cut === 7) await evictDurableObject(roomStub(sid)); // resume across an eviction too
      const back = await connect(sid, { token: await token({ sub: viewerId, username: "v" }), query: `?since=${last}&epoch=${w.epoch}` });
      expect(back.of("history")[0]!.recovered).toBe(true);
      await stayer.until((x) => view(x.frames, sid).seqs.length >= STEPS.length, "stayer has everything");
      const resumed = view([...before, ...back.frames], sid);
      const stayed = view(stayer.frames, sid);
      expect(summary(resumed, viewerId)).toEqual(summary(stayed, viewerId));
      expect(resumed.seqs).toEqual([...new Set(resumed.seqs)].sort((a, b) => a - b)); // no duplicates, in order
      expect(summary(stayed, viewerId).me.muted_until).toBeDefined();
      await Promise.all([owner, viewer, stayer, back].map((c) => c.close()));
    });
  }

  it("a moderator action while another viewer is resuming is seen exactly once", async () => {
    const sid = newStreamId();
    const owner = await connect(sid, { token: await ownerToken(sid) });
    const viewer = await connect(sid);
    const first = await ok(viewer, { type: "message", text: "x" });
    const w = viewer.of("welcome")[0]!;
    const pending = connect(sid, { query: `?since=${first.seq}&epoch=${w.epoch}` });
    const deleted = ok(owner, { type: "delete", id: first.id });
    const [back] = await Promise.all([pending, deleted]);
    await back.until((x) => view(x.frames, sid).seqs.includes(2), "the deletion");
    expect(view(back.frames, sid).seqs).toEqual([2]);
    await Promise.all([owner.close(), viewer.close(), back.close()]);
  });

  it("a fresh join sees comments in their current state: edits applied, deleted ones absent", async () => {
    const sid = newStreamId();
    const owner = await connect(sid, { token: await ownerToken(sid) });
    const a = await ok(owner, { type: "message", text: "first" });
    const b = await ok(owner, { type: "message", text: "second" });
    await ok(owner, { type: "edit", id: a.id, text: "first, edited" });
    await ok(owner, { type: "delete", id: b.id });
    await ok(owner, { type: "pin", id: a.id });
    const late = await connect(sid);
    const h = late.of("history")[0]!;
    expect(h.recovered).toBe(false);
    expect(h.comments.map((c) => c.comment.message)).toEqual(["first, edited"]);
    expect(h.comments[0]!.comment.edited_at).toBeDefined();
    expect(late.of("welcome")[0]!.pinned?.message).toBe("first, edited");
    await Promise.all([owner.close(), late.close()]);
  });

  it("moderation state and room grants survive an eviction", async () => {
    const sid = newStreamId();
    const owner = await connect(sid, { token: await ownerToken(sid) });
    const userId = newUserId();
    await ok(owner, { type: "ban", user_id: userId });
    await ok(owner, { type: "slow_mode", seconds: 20 });
    await ok(owner, { type: "blocked_terms", add: ["nope"] });
    await owner.close();
    await evictDurableObject(roomStub(sid));
    const banned = await connect(sid, { token: await token({ sub: userId }) });
    expect(banned.of("welcome")[0]).toMatchObject({ banned: true, slow_mode_s: 20 });
    const other = await connect(sid);
    expect((await refused(other, { type: "message", text: "NOPE" })).code).toBe("blocked_term");
    await Promise.all([banned.close(), other.close()]);
  });

  it("slow mode spaces from the last message posted while it is on, in the live room and after an eviction alike (found by the fuzzer, issue 19 §5)", async () => {
    // The live room used to count a message posted before slow mode was turned on (kept in memory),
    // the room's storage only those posted while it was on: after a restart the same viewer could
    // post at once where the live room refused.
    const sid = newStreamId();
    const owner = await connect(sid, { token: await ownerToken(sid) });
    const viewerId = newUserId();
    const viewer = await connect(sid, { token: await token({ sub: viewerId, username: "v" }) });
    await ok(viewer, { type: "message", text: "before slow mode" });
    await ok(owner, { type: "slow_mode", seconds: 600 });
    await ok(viewer, { type: "message", text: "the first under slow mode" });
    expect((await refused(viewer, { type: "message", text: "too soon" })).code).toBe("slow_mode");
    await Promise.all([owner.close(), viewer.close()]);
    await evictDurableObject(roomStub(sid));
    const back = await connect(sid, { token: await token({ sub: viewerId, username: "v" }) });
    const r = await refused(back, { type: "message", text: "after the eviction" });
    expect(r.code).toBe("slow_mode");
    expect(r.retry_after_ms).toBeGreaterThan(500_000);
    await back.close();
  });
});

describe("presence", () => {
  it("sends `viewers` with the count of distinct users when it changes, without a storage write per join", async () => {
    const sid = newStreamId();
    const a = await connect(sid);
    const userB = newUserId();
    const b1 = await connect(sid, { token: await token({ sub: userB }) });
    const b2 = await connect(sid, { token: await token({ sub: userB }) });
    await a.until((x) => x.of("viewers").length > 0, "a viewers frame", 8_000);
    expect(a.of("viewers").at(-1)!.count).toBe(2);
    expect(b2.of("welcome")[0]!.viewers).toBe(2);
    await Promise.all([b1.close(), b2.close()]);
    await a.until((x) => x.of("viewers").at(-1)!.count === 1, "count after leaving", 8_000);
    await a.close();
  });
});

describe("HTTP actions and state", () => {
  const post = async (sid: string, t: string, body: unknown) =>
    fetchWorker(`/v1/streams/${sid}/chat/actions`, {
      method: "POST",
      headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

  it("same rules and error codes as the socket; the event is broadcast to viewers", async () => {
    const sid = newStreamId();
    const viewer = await connect(sid);
    const c = await ok(viewer, { type: "message", text: "remove me" });
    const bot = await ownerToken(sid);
    const res = await post(sid, bot, { type: "delete", id: c.id });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { events: Array<{ type: string; seq: number }>; seq: number };
    expect(body.events[0]).toMatchObject({ type: "comment_deleted", id: c.id });
    await viewer.until((x) => x.of("comment_deleted").length === 1, "broadcast of the HTTP action");
    const viewerToken = await token();
    const forbidden = await post(sid, viewerToken, { type: "slow_mode", seconds: 10 });
    expect(forbidden.status).toBe(403);
    // DESIGN.md: errors are {"error","message"}, the room's refusals included.
    expect(await forbidden.json()).toMatchObject({ error: "forbidden", message: ERROR_MESSAGES.forbidden });
    const missing = await post(sid, bot, { type: "pin", id: crypto.randomUUID() });
    expect(missing.status).toBe(404);
    expect((await missing.json()) as object).toMatchObject({ error: "not_found", message: ERROR_MESSAGES.not_found });
    expect((await post(sid, bot, "{nope")).status).toBe(400);
    const notModeration = await post(sid, bot, { type: "message", text: "bots post through the socket" });
    expect(notModeration.status).toBe(400);
    expect(await notModeration.json()).toMatchObject({ error: "invalid_frame" });
    const outOfRange = await post(sid, bot, { type: "timeout", user_id: newUserId(), seconds: 5 });
    expect(outOfRange.status).toBe(400);
    expect((await post(sid, "garbage", { type: "unpin" })).status).toBe(401);
    await viewer.close();
  });

  it("GET state: viewers see pinned/slow mode/viewers; staff also bans, timeouts, moderators and blocked terms", async () => {
    const sid = newStreamId();
    const bot = await ownerToken(sid);
    const banned = newUserId();
    expect((await post(sid, bot, { type: "ban", user_id: banned, reason: "spam" })).status).toBe(200);
    expect((await post(sid, bot, { type: "blocked_terms", add: ["foo"] })).status).toBe(200);
    expect((await post(sid, bot, { type: "slow_mode", seconds: 15 })).status).toBe(200);
    const get = (t: string) => fetchWorker(`/v1/streams/${sid}/chat/state`, { headers: { authorization: `Bearer ${t}` } });
    const asViewer = (await (await get(await token())).json()) as Record<string, unknown>;
    expect(asViewer).toMatchObject({ role: "viewer", slow_mode_s: 15, pinned: null });
    expect(asViewer.bans).toBeUndefined();
    expect(asViewer.blocked_terms).toBeUndefined();
    const asOwner = (await (await get(bot)).json()) as { bans: Array<{ user_id: string; reason: string }>; blocked_terms: string[] };
    expect(asOwner.bans).toEqual([expect.objectContaining({ user_id: banned, reason: "spam" })]);
    expect(asOwner.blocked_terms).toEqual(["foo"]);
  });
});
