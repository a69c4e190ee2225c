/**
 * Issue 18's commands through the real worker and room (sharded and unsharded): each over the socket
 * and over `POST …/chat/actions`, refused to viewers, bounded with a clear error, and visible where
 * the issue says — chat modes, lockdown and its preset, title, warnings. Held messages and shadow
 * hide are test/worker/review-queue.test.ts; purge and replay test/worker/moderation-replay.test.ts.
 */
import { describe, expect, it } from "vitest";
import { ACCOUNT_AGE_DEFAULT_S, ERROR_MESSAGES } from "../../src/protocol";
import { DEFAULT_LOCKDOWN_PRESET } from "../../src/rules/modes";
import { connect, fetchWorker, newStreamId, newUserId, roomStub, setLimits, staffToken, token } from "./helpers";
import { act, getJson, moderation, okay, refusal, staffed, viewer } from "./tools-helpers";

const STAFF_COMMANDS = (target: string) => [
  { type: "chat_mode", mode: "emote_only", on: true },
  { type: "review", id: crypto.randomUUID(), decision: "allow" },
  { type: "warn", user_id: target, reason: "calm down" },
  { type: "hide_user", user_id: target },
  { type: "unhide_user", user_id: target },
  { type: "lockdown", on: true },
  { type: "lockdown_preset", preset: DEFAULT_LOCKDOWN_PRESET },
  { type: "purge", phrase: "spam", seconds: 60 },
  { type: "title", title: "mine now" },
];

const stateOf = (sid: string, t: string) => getJson<Record<string, unknown>>(`/v1/streams/${sid}/chat/state`, t);

describe("who may use the tools", () => {
  it("a viewer is refused every one: `forbidden` on the socket, 403 over HTTP, and nothing changes", async () => {
    const sid = newStreamId();
    const { owner, mod, ownerToken } = await staffed(sid);
    const v = await viewer(sid);
    const other = newUserId();
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1_000 });
    for (const cmd of STAFF_COMMANDS(other)) {
      expect((await refusal(v.c, cmd)).code, cmd.type).toBe("forbidden");
      const http = await act(sid, v.token, cmd);
      expect(http.status, cmd.type).toBe(403);
      expect(http.body).toEqual({ error: "forbidden", message: ERROR_MESSAGES.forbidden });
    }
    const state = (await stateOf(sid, ownerToken)).body;
    expect(state).toMatchObject({ lockdown: false, modes: { emote_only: false }, hidden: [], held: 0 });
    expect(state.title).toBeUndefined();
    expect(v.c.of("moderation")).toEqual([]);
    expect((await getJson<{ entries: unknown[] }>(`/v1/streams/${sid}/chat/modlog`, ownerToken)).body.entries).toEqual([]);
    await Promise.all([owner.close(), mod.close(), v.c.close()]);
  });

  it("lockdown_preset and title are the owner's: a moderator is refused", async () => {
    const sid = newStreamId();
    const { owner, mod, modToken } = await staffed(sid);
    expect((await refusal(mod, { type: "title", title: "x" })).code).toBe("forbidden");
    expect((await refusal(mod, { type: "lockdown_preset", preset: DEFAULT_LOCKDOWN_PRESET })).code).toBe("forbidden");
    expect((await act(sid, modToken, { type: "title", title: "x" })).status).toBe(403);
    await okay(owner, { type: "title", title: "Owner's stream" });
    await Promise.all([owner.close(), mod.close()]);
  });
});

describe("bad input", () => {
  it("over HTTP: 400 with a clear error, and nothing changes", async () => {
    const sid = newStreamId();
    const { owner, mod, ownerToken } = await staffed(sid);
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1_000 });
    const target = newUserId();
    const bad: Array<[unknown, string]> = [
      [{ type: "chat_mode", mode: "shouting", on: true }, "invalid_frame"],
      [{ type: "chat_mode", mode: "unique", on: true, seconds: 0 }, "invalid_frame"],
      [{ type: "chat_mode", mode: "unique", on: true, seconds: 86_401 }, "invalid_frame"],
      [{ type: "chat_mode", mode: "emote_only" }, "invalid_frame"],
      [{ type: "review", id: "nope", decision: "allow" }, "invalid_frame"],
      [{ type: "review", id: crypto.randomUUID(), decision: "maybe" }, "invalid_frame"],
      [{ type: "warn", user_id: target, reason: "" }, "invalid_frame"],
      [{ type: "warn", user_id: target, reason: " \u200b " }, "invalid_frame"],
      [{ type: "warn", user_id: target, reason: "bell\u0007" }, "invalid_text"],
      [{ type: "warn", user_id: "someone", reason: "x" }, "invalid_frame"],
      [{ type: "hide_user" }, "invalid_frame"],
      [{ type: "lockdown", on: "yes" }, "invalid_frame"],
      [{ type: "lockdown_preset", preset: { ...DEFAULT_LOCKDOWN_PRESET, slow_mode_s: 99_999 } }, "invalid_frame"],
      [{ type: "lockdown_preset", preset: { emote_only: true } }, "invalid_frame"],
      [{ type: "purge", phrase: "", seconds: 60 }, "invalid_frame"],
      [{ type: "purge", phrase: "\u200b", seconds: 60 }, "invalid_frame"],
      [{ type: "purge", phrase: "spam", seconds: 0 }, "invalid_frame"],
      [{ type: "purge", phrase: "spam", seconds: 3_601 }, "invalid_frame"],
      [{ type: "purge", phrase: "spam", seconds: 60, then: "shame" }, "invalid_frame"],
      [{ type: "purge", phrase: "spam", seconds: 60, then: "timeout", timeout_s: 5 }, "invalid_frame"],
      [{ type: "title", title: "x".repeat(141) }, "invalid_frame"],
      [{ type: "title", title: "x".repeat(281) }, "invalid_frame"],
      [{ type: "title", title: "a\u0000b" }, "invalid_text"],
    ];
    for (const [body, error] of bad) {
      const r = await act(sid, ownerToken, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error, JSON.stringify(body)).toBe(error);
      expect(typeof r.body.message).toBe("string");
      expect((r.body.message as string).length).toBeGreaterThan(10);
    }
    const state = (await stateOf(sid, ownerToken)).body;
    expect(state).toMatchObject({ lockdown: false, slow_mode_s: 0, modes: { emote_only: false, unique_s: 0 }, lockdown_preset: DEFAULT_LOCKDOWN_PRESET });
    expect(state.title).toBeUndefined();
    expect((await getJson<{ entries: unknown[] }>(`/v1/streams/${sid}/chat/modlog`, ownerToken)).body.entries).toEqual([]);
    await Promise.all([owner.close(), mod.close()]);
  });

  it("over the socket: the same codes, the socket stays open", async () => {
    const sid = newStreamId();
    const { owner, mod } = await staffed(sid);
    expect((await refusal(mod, { type: "chat_mode", mode: "unique", on: true, seconds: 86_401 })).code).toBe("invalid_frame");
    expect((await refusal(owner, { type: "title", title: "x".repeat(141) })).code).toBe("invalid_frame");
    expect((await refusal(mod, { type: "purge", phrase: "\u200b", seconds: 60 })).code).toBe("invalid_frame");
    expect((await refusal(mod, { type: "warn", user_id: newUserId(), reason: "\u0007" })).code).toBe("invalid_text");
    expect((await refusal(mod, { type: "review", id: crypto.randomUUID(), decision: "allow" })).code).toBe("already_reviewed");
    expect(owner.closed).toBeNull();
    expect(mod.closed).toBeNull();
    await Promise.all([owner.close(), mod.close()]);
  });
});

describe("chat modes", () => {
  it("emote_only and unique: one event each, in the welcome and GET state; viewers refused, staff exempt", async () => {
    const sid = newStreamId();
    const { owner, mod, ownerToken } = await staffed(sid);
    const a = await viewer(sid);
    const b = await viewer(sid);
    await okay(mod, { type: "chat_mode", mode: "emote_only", on: true });
    expect(await moderation(a.c, "chat_mode")).toMatchObject({ mode: "emote_only", on: true });
    expect((await refusal(a.c, { type: "message", text: "hello" })).code).toBe("emote_only");
    await okay(a.c, { type: "message", text: "🔥🔥" });
    await okay(mod, { type: "message", text: "mods may type" });
    const late = await connect(sid);
    expect(late.of("welcome")[0]!.modes).toMatchObject({ emote_only: true, unique_s: 0 });
    expect((await stateOf(sid, b.token)).body.modes).toMatchObject({ emote_only: true });

    const http = await act(sid, ownerToken, { type: "chat_mode", mode: "emote_only", on: false });
    expect(http.status).toBe(200);
    expect(http.body.events).toEqual([expect.objectContaining({ type: "moderation", action: "chat_mode", mode: "emote_only", on: false })]);
    // Off again: no change, no event.
    expect((await act(sid, ownerToken, { type: "chat_mode", mode: "emote_only", on: false })).body.events).toEqual([]);

    await okay(mod, { type: "chat_mode", mode: "unique", on: true, seconds: 120 });
    await okay(a.c, { type: "message", text: "first!" });
    const dup = await refusal(b.c, { type: "message", text: "FIRST!!!  " });
    expect(dup).toMatchObject({ code: "not_unique", message: ERROR_MESSAGES.not_unique });
    await okay(owner, { type: "message", text: "first" });
    expect((await stateOf(sid, b.token)).body.modes).toMatchObject({ emote_only: false, unique_s: 120 });
    await Promise.all([owner, mod, a.c, b.c, late].map((c) => c.close()));
  });

  it("members_only reads the `stream_members` claim (also through a ticket)", async () => {
    const sid = newStreamId();
    const { owner, mod } = await staffed(sid);
    await okay(mod, { type: "chat_mode", mode: "members_only", on: true });
    const outsider = await viewer(sid);
    const member = await viewer(sid, { claims: { stream_members: [sid.toUpperCase()] } });
    const otherStream = await viewer(sid, { claims: { stream_members: [newStreamId()] } });
    expect((await refusal(outsider.c, { type: "message", text: "hi" })).code).toBe("members_only");
    expect((await refusal(otherStream.c, { type: "message", text: "hi" })).code).toBe("members_only");
    await okay(member.c, { type: "message", text: "hi from a member" });
    // A browser connects with a ticket: the claim travels in it.
    const t = await token({ claims: { stream_members: [sid] } });
    const res = await fetchWorker(`/v1/streams/${sid}/chat/tickets`, { method: "POST", headers: { authorization: `Bearer ${t}` } });
    const { ticket } = (await res.json()) as { ticket: string };
    const viaTicket = await connect(sid, { token: "", query: `?ticket=${encodeURIComponent(ticket)}` });
    await okay(viaTicket, { type: "message", text: "member via ticket" });
    await viaTicket.close();
    await Promise.all([owner, mod, outsider.c, member.c, otherStream.c].map((c) => c.close()));
  });

  it("account_age reads the `account_created_at` claim (NumericDate seconds); unknown fails closed; members are exempt", async () => {
    const sid = newStreamId();
    const { owner, mod } = await staffed(sid);
    const ev = await act(sid, await staffToken(sid, "moderator"), { type: "chat_mode", mode: "account_age", on: true });
    expect(ev.body.events).toEqual([expect.objectContaining({ action: "chat_mode", mode: "account_age", on: true, seconds: ACCOUNT_AGE_DEFAULT_S })]);
    const nowS = Math.floor(Date.now() / 1000);
    const fresh = await viewer(sid, { claims: { account_created_at: nowS - 60 } });
    const old = await viewer(sid, { claims: { account_created_at: nowS - 2 * 86_400 } });
    const unknown = await viewer(sid);
    const youngMember = await viewer(sid, { claims: { account_created_at: nowS - 60, stream_members: [sid] } });
    expect((await refusal(fresh.c, { type: "message", text: "hi" })).code).toBe("account_too_new");
    expect((await refusal(unknown.c, { type: "message", text: "hi" })).code).toBe("account_too_new");
    await okay(old.c, { type: "message", text: "hi, I'm old" });
    await okay(youngMember.c, { type: "message", text: "hi, I'm a member" });
    // Through a ticket, the claim travels in it.
    const t = await token({ claims: { account_created_at: nowS - 2 * 86_400 } });
    const res = await fetchWorker(`/v1/streams/${sid}/chat/tickets`, { method: "POST", headers: { authorization: `Bearer ${t}` } });
    const viaTicket = await connect(sid, { token: "", query: `?ticket=${encodeURIComponent(((await res.json()) as { ticket: string }).ticket)}` });
    await okay(viaTicket, { type: "message", text: "old, via a ticket" });
    await viaTicket.close();
    await Promise.all([owner, mod, fresh.c, old.c, unknown.c, youngMember.c].map((c) => c.close()));
  });
});

describe("lockdown and its preset", () => {
  it("the owner's preset is saved without a broadcast; lockdown applies it in one event and off restores the state before", async () => {
    const sid = newStreamId();
    const { owner, mod, modToken, ownerToken } = await staffed(sid);
    const v = await viewer(sid);
    const preset = { emote_only: false, unique_s: 300, members_only: true, account_age_s: 0, first_time_hold: true, slow_mode_s: 30 };
    const saved = await okay(owner, { type: "lockdown_preset", preset });
    expect(saved.seq).toBeUndefined();
    expect((await stateOf(sid, ownerToken)).body.lockdown_preset).toEqual(preset);
    await okay(mod, { type: "slow_mode", seconds: 5 });
    await okay(mod, { type: "chat_mode", mode: "emote_only", on: true });
    const before = { emote_only: true, unique_s: 0, members_only: false, account_age_s: 0, first_time_hold: false };

    const on = await act(sid, modToken, { type: "lockdown", on: true });
    expect(on.status).toBe(200);
    const { slow_mode_s, ...modes } = preset;
    expect(on.body.events).toEqual([expect.objectContaining({ action: "lockdown", on: true, modes, seconds: slow_mode_s })]);
    expect(await moderation(v.c, "lockdown")).toMatchObject({ on: true, modes });
    expect((await refusal(v.c, { type: "message", text: "🔥" })).code).toBe("members_only");
    const joined = await connect(sid);
    expect(joined.of("welcome")[0]).toMatchObject({ lockdown: true, modes, slow_mode_s: 30 });
    expect((await stateOf(sid, v.token)).body).toMatchObject({ lockdown: true, modes, slow_mode_s: 30 });
    // Already on: nothing to do.
    expect((await okay(mod, { type: "lockdown", on: true })).seq).toBeUndefined();

    await okay(mod, { type: "lockdown", on: false });
    expect(await moderation(v.c, "lockdown", (m) => m.on === false)).toMatchObject({ modes: before, seconds: 5 });
    expect((await stateOf(sid, v.token)).body).toMatchObject({ lockdown: false, modes: before, slow_mode_s: 5 });
    await okay(v.c, { type: "message", text: "🔥" });
    await Promise.all([owner, mod, v.c, joined].map((c) => c.close()));
  });
});

describe("title", () => {
  it("set by the owner over the socket or HTTP, cleaned, broadcast, in the welcome and GET state; \"\" clears it", async () => {
    const sid = newStreamId();
    const { owner, mod, ownerToken } = await staffed(sid);
    const v = await viewer(sid);
    await okay(owner, { type: "title", title: "  Speedrun\n night \u202e " });
    expect(await moderation(v.c, "title")).toMatchObject({ title: "Speedrun night", by: expect.any(String) });
    expect((await connect(sid)).of("welcome")[0]!.title).toBe("Speedrun night");
    expect((await stateOf(sid, v.token)).body.title).toBe("Speedrun night");
    const cleared = await act(sid, ownerToken, { type: "title", title: "" });
    expect(cleared.body.events).toEqual([expect.objectContaining({ action: "title", title: "" })]);
    const again = await connect(sid);
    expect(again.of("welcome")[0]!.title).toBeUndefined();
    await Promise.all([owner, mod, v.c, again].map((c) => c.close()));
  });
});

describe("warnings", () => {
  it("the target's sends are refused warning_pending until they acknowledge; the welcome carries the warning until then", async () => {
    const sid = newStreamId();
    const { owner, ownerId, mod, modId, modToken } = await staffed(sid);
    const v = await viewer(sid);
    const w = await act(sid, modToken, { type: "warn", user_id: v.userId, reason: "Please keep it civil" });
    expect(w.status).toBe(200);
    expect(await moderation(v.c, "warn")).toMatchObject({ user_id: v.userId, reason: "Please keep it civil", by: modId });
    const pending = await refusal(v.c, { type: "message", text: "but why" });
    expect(pending).toMatchObject({ code: "warning_pending", message: ERROR_MESSAGES.warning_pending });
    // Another device, or a reconnect: told at once.
    const again = await connect(sid, { token: v.token });
    expect(again.of("welcome")[0]!.warning).toEqual({ reason: "Please keep it civil", by: modId, at: expect.any(String) });
    expect(Date.parse(again.of("welcome")[0]!.warning!.at)).toBeGreaterThan(Date.now() - 60_000);
    // The owner cannot be warned by a moderator.
    expect((await refusal(mod, { type: "warn", user_id: ownerId, reason: "x" })).code).toBe("forbidden");

    await okay(again, { type: "acknowledge_warning" });
    expect(await moderation(v.c, "warning_acknowledged")).toMatchObject({ user_id: v.userId, by: v.userId });
    await okay(v.c, { type: "message", text: "sorry" });
    // Nothing pending now: acknowledging again changes nothing.
    expect((await okay(v.c, { type: "acknowledge_warning" })).seq).toBeUndefined();
    const later = await connect(sid, { token: v.token });
    expect(later.of("welcome")[0]!.warning).toBeUndefined();
    await Promise.all([owner, mod, v.c, again, later].map((c) => c.close()));
  });

  it("acknowledge_warning over HTTP too", async () => {
    const sid = newStreamId();
    const { owner, mod } = await staffed(sid);
    const v = await viewer(sid);
    await okay(mod, { type: "warn", user_id: v.userId, reason: "no links" });
    const r = await act(sid, v.token, { type: "acknowledge_warning" });
    expect(r.status).toBe(200);
    expect(r.body.events).toEqual([expect.objectContaining({ action: "warning_acknowledged", user_id: v.userId })]);
    await okay(v.c, { type: "message", text: "ok" });
    await Promise.all([owner, mod, v.c].map((c) => c.close()));
  });
});
