/**
 * The moderation log and the user card through the real worker and room (issue 18 §3), sharded and
 * unsharded: `GET …/chat/modlog` (staff only, newest first, paged), `modlog` frames to staff sockets
 * live, and `GET …/chat/users/{user_id}`.
 */
import { describe, expect, it } from "vitest";
import type { ModlogResponse, UserCardResponse } from "../../src/protocol";
import { connect, fetchWorker, newStreamId, newUserId, roomStub, setLimits, staffToken, token } from "./helpers";
import { getJson, okay, reply, staffed, viewer } from "./tools-helpers";

const modlog = (sid: string, t: string, query = "") => getJson<ModlogResponse & { error?: string; message?: string }>(`/v1/streams/${sid}/chat/modlog${query}`, t);
const card = (sid: string, t: string, userId: string) => getJson<UserCardResponse & { error?: string }>(`/v1/streams/${sid}/chat/users/${userId}`, t);

describe("GET …/chat/modlog", () => {
  it("staff only: 403 for a viewer, 401 without credentials", async () => {
    const sid = newStreamId();
    const { owner, mod, ownerToken, modToken } = await staffed(sid);
    await okay(mod, { type: "slow_mode", seconds: 5 });
    expect((await modlog(sid, await token())).status).toBe(403);
    expect((await modlog(sid, await token())).body).toMatchObject({ error: "forbidden" });
    expect((await fetchWorker(`/v1/streams/${sid}/chat/modlog`)).status).toBe(401);
    expect((await modlog(sid, ownerToken)).status).toBe(200);
    expect((await modlog(sid, modToken)).body.entries).toHaveLength(1);
    await Promise.all([owner.close(), mod.close()]);
  });

  it("newest first, paged with before/limit (next_before until the end); a bad limit or before is 400", async () => {
    const sid = newStreamId();
    const { owner, mod, modId, ownerToken } = await staffed(sid);
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1_000 });
    const target = newUserId();
    await okay(mod, { type: "timeout", user_id: target, seconds: 60, reason: "first" });
    await okay(mod, { type: "unban", user_id: target });
    await okay(mod, { type: "chat_mode", mode: "emote_only", on: true });
    await okay(mod, { type: "blocked_terms", add: ["bad"], action: "hold" });
    await okay(owner, { type: "title", title: "Log me" });
    const all = (await modlog(sid, ownerToken)).body;
    expect(all.entries.map((e) => e.action)).toEqual(["title", "blocked_terms", "chat_mode", "unban", "timeout"]);
    expect(all.entries.map((e) => e.seq)).toEqual([5, 4, 3, 2, 1]);
    expect(all.next_before).toBeUndefined();
    expect(all.entries[4]).toMatchObject({ action: "timeout", by: modId, target, reason: "first", details: { seconds: 60 }, event_seq: 1, at: expect.any(String) });
    expect(all.entries[1]).toMatchObject({ action: "blocked_terms", details: { added: [{ term: "bad", action: "hold" }], removed: [] } });
    expect(all.entries[1]!.event_seq).toBeUndefined();

    const p1 = (await modlog(sid, ownerToken, "?limit=2")).body;
    expect(p1.entries.map((e) => e.seq)).toEqual([5, 4]);
    expect(p1.next_before).toBe(4);
    const p2 = (await modlog(sid, ownerToken, `?limit=2&before=${p1.next_before}`)).body;
    expect(p2.entries.map((e) => e.seq)).toEqual([3, 2]);
    const p3 = (await modlog(sid, ownerToken, `?limit=2&before=${p2.next_before}`)).body;
    expect(p3.entries.map((e) => e.seq)).toEqual([1]);
    expect(p3.next_before).toBeUndefined();

    for (const q of ["?limit=0", "?limit=201", "?limit=x", "?limit=1.5", "?limit=", "?before=0", "?before=-3", "?before=abc", "?before=1e3"]) {
      const r = await modlog(sid, ownerToken, q);
      expect(r.status, q).toBe(400);
      expect(r.body.error, q).toMatch(/^invalid_(limit|before)$/);
      expect(r.body.message, q).toMatch(/limit|before/);
    }
    await Promise.all([owner.close(), mod.close()]);
  });

  it("staff sockets get each entry live as a `modlog` frame (wherever they are); viewers do not", async () => {
    const sid = newStreamId();
    const { owner, mod } = await staffed(sid);
    const v = await viewer(sid);
    const v2 = await viewer(sid);
    const lateMod = await connect(sid, { token: await staffToken(sid, "moderator") });
    const c = await okay(v.c, { type: "message", text: "delete me" });
    await okay(mod, { type: "delete", id: c.id });
    for (const s of [owner, mod, lateMod]) {
      await s.until((x) => x.of("modlog").some((m) => m.entry.action === "delete"), "the delete's log entry");
      expect(s.of("modlog").find((m) => m.entry.action === "delete")!.entry).toMatchObject({ target: v.userId, details: { comment_id: c.id, excerpt: "delete me" } });
    }
    // An author's own deletion is not moderation.
    const own = await okay(v2.c, { type: "message", text: "mine" });
    await okay(v2.c, { type: "delete", id: own.id });
    await okay(mod, { type: "slow_mode", seconds: 3 });
    await owner.until((x) => x.of("modlog").some((m) => m.entry.action === "slow_mode"), "the slow mode entry");
    expect(owner.of("modlog").map((m) => m.entry.action)).toEqual(["delete", "slow_mode"]);
    expect(v.c.of("modlog")).toEqual([]);
    expect(v2.c.of("modlog")).toEqual([]);
    await Promise.all([owner, mod, v.c, v2.c, lateMod].map((s) => s.close()));
  });
});

describe("GET …/chat/users/{user_id}", () => {
  it("staff only; a bad user id is 400", async () => {
    const sid = newStreamId();
    const { owner, mod, ownerToken } = await staffed(sid);
    const v = await viewer(sid);
    expect((await card(sid, v.token, v.userId)).status).toBe(403);
    expect((await card(sid, ownerToken, "nope")).status).toBe(400);
    expect((await card(sid, ownerToken, "nope")).body.error).toBe("invalid_user_id");
    expect((await card(sid, ownerToken, v.userId)).status).toBe(200);
    await Promise.all([owner.close(), mod.close(), v.c.close()]);
  });

  it("messages here, first message, account age from the token claim (no database), standing and history with reasons and who", async () => {
    const sid = newStreamId();
    const { owner, mod, modId, ownerToken } = await staffed(sid);
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1_000 });
    const createdS = Math.floor(Date.now() / 1000) - 3 * 86_400;
    const v = await viewer(sid, { username: "carded", claims: { account_created_at: createdS } });
    const before = (await card(sid, ownerToken, v.userId)).body;
    // The room remembers the account age of those who post (not of every viewer who connects).
    expect(before).toMatchObject({ user_id: v.userId, role: "viewer", messages: 0, first_message_at: null, account_created_at: null, banned: false, muted_until: null, hidden: false, warning_pending: false, history: [] });

    await okay(v.c, { type: "message", text: "one" });
    await okay(v.c, { type: "message", text: "two" });
    await okay(mod, { type: "warn", user_id: v.userId, reason: "slow down" });
    await okay(mod, { type: "hide_user", user_id: v.userId });
    await okay(owner, { type: "timeout", user_id: v.userId, seconds: 600, reason: "cool off" });
    const c = (await card(sid, ownerToken, v.userId)).body;
    expect(c).toMatchObject({ username: "carded", messages: 2, hidden: true, warning_pending: true, banned: false });
    expect(Date.parse(c.first_message_at!)).toBeGreaterThan(Date.now() - 60_000);
    expect(Date.parse(c.muted_until!)).toBeGreaterThan(Date.now() + 500_000);
    expect(c.account_created_at).toBe(new Date(createdS * 1000).toISOString());
    expect(c.history.map((e) => [e.action, e.by, e.reason ?? null])).toEqual([
      ["timeout", expect.any(String), "cool off"],
      ["hide", modId, null],
      ["warn", modId, "slow down"],
    ]);
    // A purge names its authors in `users`, not as the target: the card finds it there too.
    await okay(owner, { type: "unban", user_id: v.userId });
    await okay(mod, { type: "unhide_user", user_id: v.userId });
    await okay(v.c, { type: "acknowledge_warning" });
    await okay(v.c, { type: "message", text: "buy cheap followers" });
    await okay(mod, { type: "purge", phrase: "cheap followers", seconds: 60 });
    const purged = (await card(sid, ownerToken, v.userId)).body;
    expect(purged.history[0]).toMatchObject({ action: "purge", details: { phrase: "cheap followers", users: [v.userId], deleted: 1 } });
    expect(purged.messages).toBe(3);
    await okay(owner, { type: "ban", user_id: v.userId, reason: "enough" });
    const banned = (await card(sid, ownerToken, v.userId)).body;
    expect(banned).toMatchObject({ banned: true, muted_until: null });
    expect(banned.history[0]).toMatchObject({ action: "ban", reason: "enough", details: { deleted: 2 } });
    expect(banned.history.map((e) => e.action)).toEqual(["ban", "purge", "warning_acknowledged", "unhide", "unban", "timeout", "hide", "warn"]);
    await Promise.all([owner.close(), mod.close(), v.c.close()]);
  });

  it("a newcomer whose first message is held: the card has their account age, and they stay a first-timer", async () => {
    const sid = newStreamId();
    const { owner, mod, ownerToken } = await staffed(sid);
    await okay(mod, { type: "chat_mode", mode: "first_time_hold", on: true });
    const createdS = Math.floor(Date.now() / 1000) - 86_400;
    const v = await viewer(sid, { claims: { account_created_at: createdS } });
    expect((await reply(v.c, { type: "message", text: "hi!" })).type).toBe("held");
    const c = (await card(sid, ownerToken, v.userId)).body;
    expect(c).toMatchObject({ messages: 0, first_message_at: null, account_created_at: new Date(createdS * 1000).toISOString() });
    expect((await reply(v.c, { type: "message", text: "hello?" })).type).toBe("held");
    await Promise.all([owner.close(), mod.close(), v.c.close()]);
  });

  it("a user who never connected: no account age, nothing posted; a moderator shows as one", async () => {
    const sid = newStreamId();
    const { owner, mod, modId, ownerToken } = await staffed(sid);
    const stranger = newUserId();
    expect((await card(sid, ownerToken, stranger)).body).toMatchObject({ user_id: stranger, username: null, role: "viewer", messages: 0, account_created_at: null });
    expect((await card(sid, ownerToken, modId)).body.role).toBe("moderator");
    await Promise.all([owner.close(), mod.close()]);
  });
});
