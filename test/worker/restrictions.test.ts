/**
 * Issue 22 §2–§3 through the real worker and room, sharded and unsharded: a ban or a timeout holds
 * whatever the user's role until `unban` lifts it. Promotion never lifts or hides one (a `role` →
 * moderator of a restricted user is refused `target_restricted`), demotion never revives anything,
 * staff by token claim are held like anyone, and `unban` lifts a timeout too — its event says what
 * it lifted and replays exactly on resume. Each test is an input from the report that broke before.
 */
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ServerFrame } from "../../src/protocol";
import { applyEvent, emptyView, historyFrames, resetView, welcomeView, type RoomView } from "../../src/client/store";
import { Client, acked, answer, connect, fetchWorker, newStreamId, newUserId, postAction, roomStub, staffToken, token } from "./helpers";
import { png } from "./images";

type Moderation = Extract<ServerFrame, { type: "moderation" }>;

const get = (path: string, t: string) => fetchWorker(path, { headers: { authorization: `Bearer ${t}` } });

/** The state route as `t` sees it (README "Protocol summary"). */
async function state(sid: string, t: string): Promise<{ role: string; bans?: Array<{ user_id: string }>; timeouts?: Array<{ user_id: string }>; moderators?: string[] }> {
  const res = await get(`/v1/streams/${sid}/chat/state`, t);
  expect(res.status).toBe(200);
  return res.json();
}
const bannedIds = async (sid: string, t: string) => ((await state(sid, t)).bans ?? []).map((b) => b.user_id);

/** What `user` is told and allowed, every way the room says it: a new socket's welcome, a send, a moderation command. */
async function standingOf(sid: string, userToken: string) {
  const c = await connect(sid, { token: userToken });
  const w = c.of("welcome")[0]!;
  const send = await answer(c, { type: "message", text: "can I speak?" });
  const act = await answer(c, { type: "slow_mode", seconds: 7 });
  await c.close();
  return {
    welcome: { role: w.role, banned: w.banned ?? false, muted: w.muted_until !== undefined },
    send: send.type === "ack" ? "ok" : send.code,
    act: act.type === "ack" ? "ok" : act.code,
  };
}

const actions = (c: Client) => c.of("moderation").map((m) => m.action);

/** A new stream with its owner and a moderator (both by token claim) connected. */
async function staffedStream() {
  const sid = newStreamId();
  const ownerTok = await staffToken(sid, "owner");
  const owner = await connect(sid, { token: ownerTok });
  const mod = await connect(sid, { token: await staffToken(sid, "moderator") });
  return { sid, ownerTok, owner, mod };
}

describe("a ban holds whatever the role (issue 22 §2)", () => {
  it("ban, then an immediate promotion: refused target_restricted; state, welcome and sends agree; the demotion is an event and revives nothing", async () => {
    const { sid, ownerTok, owner, mod } = await staffedStream();
    const userId = newUserId();
    const userTok = await token({ sub: userId, username: "u" });
    const watcher = await connect(sid);

    await acked(mod, { type: "ban", user_id: userId, reason: "spam" });
    const promote = await answer(owner, { type: "role", user_id: userId, role: "moderator" });
    expect(promote).toMatchObject({ type: "error", code: "target_restricted", message: "This user is banned or timed out: unban them first" });
    const http = await postAction(sid, ownerTok, { type: "role", user_id: userId, role: "moderator" });
    expect([http.status, ((await http.json()) as { error: string }).error]).toEqual([409, "target_restricted"]);

    expect(await bannedIds(sid, ownerTok)).toEqual([userId]);
    expect((await state(sid, ownerTok)).moderators).not.toContain(userId);
    expect(await standingOf(sid, userTok)).toEqual({ welcome: { role: "viewer", banned: true, muted: false }, send: "banned", act: "banned" });

    // The demotion is allowed and seen by everyone; the ban was never suspended, so nothing comes back.
    const demote = await acked(owner, { type: "role", user_id: userId, role: "viewer" });
    expect(demote.seq).toBeGreaterThan(0);
    expect(await standingOf(sid, userTok)).toEqual({ welcome: { role: "viewer", banned: true, muted: false }, send: "banned", act: "banned" });

    await acked(owner, { type: "unban", user_id: userId });
    await watcher.until((x) => actions(x).includes("unban"), "the unban");
    expect(actions(watcher)).toEqual(["ban", "role", "unban"]);
    expect(watcher.of("moderation").at(-1)).toMatchObject({ action: "unban", user_id: userId, lifted: ["ban"] });
    expect((await standingOf(sid, userTok)).send).toBe("ok");
    await Promise.all([owner, mod, watcher].map((c) => c.close()));
  });

  it("ban and promotion sent together: exactly one wins, and state, welcome and sends agree with it", async () => {
    const { sid, ownerTok, owner, mod } = await staffedStream();
    const userId = newUserId();
    const [ban, promote] = await Promise.all([
      answer(mod, { type: "ban", user_id: userId }),
      answer(owner, { type: "role", user_id: userId, role: "moderator" }),
    ]);
    const banned = ban.type === "ack";
    expect([ban.type, promote.type].sort(), JSON.stringify({ ban, promote })).toEqual(["ack", "error"]);
    expect(banned ? promote : ban).toMatchObject({ code: banned ? "target_restricted" : "forbidden" });
    expect((await bannedIds(sid, ownerTok)).includes(userId)).toBe(banned);
    const me = await standingOf(sid, await token({ sub: userId }));
    expect(me.welcome).toEqual({ role: banned ? "viewer" : "moderator", banned, muted: false });
    expect(me.send).toBe(banned ? "banned" : "ok");
    await Promise.all([owner.close(), mod.close()]);
  });

  it("a moderator by token claim, banned by a moderator before the room met them, stays banned everywhere; only the owner lifts it", async () => {
    const { sid, ownerTok, owner, mod } = await staffedStream();
    const otherId = newUserId();
    const otherTok = await staffToken(sid, "moderator", otherId);
    await acked(mod, { type: "ban", user_id: otherId }); // the room cannot know they are a moderator yet

    expect(await standingOf(sid, otherTok)).toEqual({ welcome: { role: "moderator", banned: true, muted: false }, send: "banned", act: "banned" });
    // The state route, the stats route and uploads agree: a banned moderator is a reader.
    expect(await state(sid, otherTok)).toEqual(expect.objectContaining({ role: "moderator" }));
    expect((await state(sid, otherTok)).bans).toBeUndefined();
    expect((await get(`/v1/streams/${sid}/chat/stats`, otherTok)).status).toBe(403);
    const upload = await fetchWorker(`/v1/streams/${sid}/chat/uploads`, {
      method: "POST",
      headers: { authorization: `Bearer ${otherTok}`, "content-type": "image/png" },
      body: await png(),
    });
    expect(upload.status).toBe(403);
    expect(await bannedIds(sid, ownerTok)).toEqual([otherId]);

    // Now the room knows them as a moderator: another moderator cannot lift it, the owner can.
    expect(await answer(mod, { type: "unban", user_id: otherId })).toMatchObject({ type: "error", code: "forbidden" });
    await acked(owner, { type: "unban", user_id: otherId });
    expect(await standingOf(sid, otherTok)).toEqual({ welcome: { role: "moderator", banned: false, muted: false }, send: "ok", act: "ok" });
    expect((await get(`/v1/streams/${sid}/chat/stats`, otherTok)).status).toBe(200);
    await Promise.all([owner.close(), mod.close()]);
  });

  it("a timeout, then a promotion: refused until unban lifts the timeout; then the promotion goes through", async () => {
    const sid = newStreamId();
    const ownerTok = await staffToken(sid, "owner");
    const owner = await connect(sid, { token: ownerTok });
    const userId = newUserId();
    await acked(owner, { type: "timeout", user_id: userId, seconds: 600 });
    expect(await answer(owner, { type: "role", user_id: userId, role: "moderator" })).toMatchObject({ type: "error", code: "target_restricted" });
    await acked(owner, { type: "unban", user_id: userId });
    await acked(owner, { type: "role", user_id: userId, role: "moderator" });
    expect(await standingOf(sid, await token({ sub: userId }))).toEqual({ welcome: { role: "moderator", banned: false, muted: false }, send: "ok", act: "ok" });
    await owner.close();
  });
});

/**
 * The SDK's store (src/client/store.ts) fed one user's frames over its connections, as the SDK
 * feeds it: a fresh history resets the view, a recovered one is merged by seq, live frames apply.
 */
function storeOf(frames: ServerFrame[]): Omit<RoomView, "viewers"> {
  let view = emptyView();
  let welcome: Extract<ServerFrame, { type: "welcome" }> | undefined;
  for (const f of frames) {
    if (f.type === "welcome") welcome = f;
    else if (f.type === "history" && !f.recovered) view = resetView(view, welcome!, historyFrames(f.comments));
    else if (f.type === "history") {
      view = welcomeView(view, welcome!);
      for (const e of historyFrames(f.comments, f.events)) view = applyEvent(view, e);
    }
    else if (f.type === "comment" || f.type === "comment_edited" || f.type === "comment_deleted" || f.type === "pinned" || f.type === "moderation") view = applyEvent(view, f);
  }
  const { viewers: _presence, ...rest } = view;
  return rest;
}

describe("unban lifts a timeout too (issue 22 §3)", () => {
  it("timeout, unban: the user can send; the event says `lifted: [timeout]`; state, welcome, an eviction and a resumed client's store agree", async () => {
    const sid = newStreamId();
    const ownerTok = await staffToken(sid, "owner");
    const owner = await connect(sid, { token: ownerTok });
    const userId = newUserId();
    const userTok = () => token({ sub: userId, username: "u" });
    const stayer = await connect(sid, { token: await userTok() });
    const leaver = await connect(sid, { token: await userTok() });
    await acked(owner, { type: "message", text: "before" });
    const timeout = await acked(owner, { type: "timeout", user_id: userId, seconds: 600 });
    expect(await answer(stayer, { type: "message", text: "muted?" })).toMatchObject({ type: "error", code: "muted" });
    await leaver.until((x) => x.of("moderation").length === 1, "the timeout");
    expect(storeOf(leaver.frames).mutedUntil).not.toBeNull();
    const before = [...leaver.frames];
    const epoch = leaver.of("welcome")[0]!.epoch;
    await leaver.close();

    const res = await postAction(sid, ownerTok, { type: "unban", user_id: userId });
    expect(res.status).toBe(200);
    const { events } = (await res.json()) as { events: Moderation[] };
    expect(events).toEqual([expect.objectContaining({ type: "moderation", action: "unban", user_id: userId, lifted: ["timeout"], by: expect.any(String) })]);
    const mine = await acked(stayer, { type: "message", text: "free again" });
    expect((await state(sid, ownerTok)).timeouts).toEqual([]);

    const back = await connect(sid, { token: await userTok(), query: `?since=${timeout.seq}&epoch=${epoch}` });
    expect(back.of("history")[0]).toMatchObject({ recovered: true, events: [expect.objectContaining({ action: "unban", lifted: ["timeout"] })] });
    await back.until((x) => x.comments().some((c) => c.seq === mine.seq) || x.of("history")[0]!.comments.some((c) => c.seq === mine.seq), "the comment after the unban");
    await stayer.until((x) => x.comments().some((c) => c.seq === mine.seq), "own comment");
    const resumed = storeOf([...before, ...back.frames]);
    expect(resumed).toEqual(storeOf(stayer.frames));
    expect([resumed.mutedUntil, resumed.banned, resumed.seq]).toEqual([null, false, mine.seq]);

    // The lifted timeout is gone from storage too: a room that starts again does not bring it back.
    await Promise.all([owner.close(), stayer.close(), back.close()]);
    await evictDurableObject(roomStub(sid));
    expect(await standingOf(sid, await userTok())).toEqual({ welcome: { role: "viewer", banned: false, muted: false }, send: "ok", act: "forbidden" });
  });

  it("an unban of a user both banned and timed out lifts both, says so, and the user is free", async () => {
    const sid = newStreamId();
    const ownerTok = await staffToken(sid, "owner");
    const userId = newUserId();
    for (const body of [{ type: "timeout", user_id: userId, seconds: 600 }, { type: "ban", user_id: userId }]) expect((await postAction(sid, ownerTok, body)).status).toBe(200);
    const res = await postAction(sid, ownerTok, { type: "unban", user_id: userId });
    expect(((await res.json()) as { events: Moderation[] }).events[0]).toMatchObject({ action: "unban", lifted: ["ban", "timeout"] });
    expect(await state(sid, ownerTok)).toMatchObject({ bans: [], timeouts: [] });
    expect((await standingOf(sid, await token({ sub: userId }))).send).toBe("ok");
    // Nothing left to lift: no event.
    expect(((await (await postAction(sid, ownerTok, { type: "unban", user_id: userId })).json()) as { events: unknown[] }).events).toEqual([]);
  });
});
