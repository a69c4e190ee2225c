/**
 * Hostile viewers and rogue moderators against the moderation tools (issue 18): evasions of the
 * chat modes, and staff-only frames to a moderator the room has demoted.
 */
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { Client, SHARDED, connect, newStreamId, newUserId, roomStub, setLimits, shardStubs, staffToken } from "./helpers";
import { getJson, heldFor, moderation, okay, refusal, viewer } from "./tools-helpers";

/** Resolves once every frame the server sent `c` before now has arrived (the pong of an exact ping comes after them). */
async function drained(c: Client): Promise<void> {
  const pongs = c.of("pong").length;
  c.send('{"type":"ping"}');
  await c.until((x) => x.of("pong").length > pongs, "pong");
}

describe("unique mode is not bypassed by invisible characters or accents", () => {
  it("a repeat with a ZWNJ, a tag character, a Hangul filler, a braille blank, a CGJ or an accent is not_unique", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1000, ROOM_MAX_MESSAGES_PER_SEC: 1000, SOCKET_MAX_FRAMES_PER_SEC: 1000 });
    const mod = await connect(sid, { token: await staffToken(sid, "moderator") });
    const a = await viewer(sid);
    const b = await viewer(sid);
    await okay(mod, { type: "chat_mode", mode: "unique", on: true, seconds: 600 });
    await okay(a.c, { type: "message", text: "hello world" });
    for (const text of ["hello\u200Cworld", "hello\u200Dworld", "hello world\u{E0041}", "hello\u3164world", "hello\u2800world", "hello world\u034F", "hellö world", "hello world\uFE0F"]) {
      expect((await refusal(b.c, { type: "message", text })).code, JSON.stringify(text)).toBe("not_unique");
    }
    // Different words still pass.
    await okay(b.c, { type: "message", text: "hello there" });
    await Promise.all([mod, a.c, b.c].map((c) => c.close()));
  });
});

describe("emote_only carries no hidden text", () => {
  it("tag characters outside a flag's tag sequence, and a lone regional indicator, are refused; real flags pass", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1000, ROOM_MAX_MESSAGES_PER_SEC: 1000, SOCKET_MAX_FRAMES_PER_SEC: 1000 });
    const mod = await connect(sid, { token: await staffToken(sid, "moderator") });
    const a = await viewer(sid);
    await okay(mod, { type: "chat_mode", mode: "emote_only", on: true });
    // "🔥" followed by the invisible tag letters "hi": ASCII smuggled past the mode.
    expect((await refusal(a.c, { type: "message", text: "🔥\u{E0068}\u{E0069}" })).code).toBe("emote_only");
    expect((await refusal(a.c, { type: "message", text: "\u{E0068}\u{E0069}\u{E007F}🔥" })).code).toBe("emote_only");
    expect((await refusal(a.c, { type: "message", text: "🇭" })).code).toBe("emote_only");
    await okay(a.c, { type: "message", text: "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} 🇫🇷 1️⃣" });
    await Promise.all([mod, a.c].map((c) => c.close()));
  });
});

describe.skipIf(!SHARDED)("a moderator demoted by the room, on a shard that lost its mirror", () => {
  it("gets no held messages or log entries after the shard's eviction", async () => {
    const sid = newStreamId();
    const owner = await connect(sid, { token: await staffToken(sid, "owner") });
    const demotedId = newUserId();
    // A token moderator the owner demotes in the room: the socket's attachment still says moderator.
    const demoted = await connect(sid, { token: await staffToken(sid, "moderator", demotedId) });
    const sender = await viewer(sid);
    await okay(owner, { type: "blocked_terms", add: ["link"], action: "hold" });
    await okay(owner, { type: "role", user_id: demotedId, role: "viewer" });
    await moderation(demoted, "role", (m) => m.role === "viewer");
    for (const shard of await shardStubs(sid)) await evictDurableObject(shard);
    const h = await heldFor(sender.c, { type: "message", text: "a link" });
    await owner.until((x) => x.of("held").some((f) => f.id === h.id && f.comment !== undefined), "the held message, to the owner");
    await okay(owner, { type: "slow_mode", seconds: 2 });
    await owner.until((x) => x.of("modlog").some((f) => f.entry.action === "slow_mode"), "the log entry, to the owner");
    await drained(demoted);
    expect(demoted.of("held").filter((f) => f.id === h.id)).toEqual([]);
    expect(demoted.of("modlog").filter((f) => f.entry.action === "slow_mode")).toEqual([]);
    await Promise.all([owner, demoted, sender.c].map((c) => c.close()));
  });
});

describe("GET …/chat/modlog parses limit as strictly as before", () => {
  it("a limit written as an exponent, in hex, padded or as a float is 400 invalid_limit", async () => {
    const sid = newStreamId();
    const ownerToken = await staffToken(sid, "owner");
    for (const q of ["?limit=1e2", "?limit=0x10", "?limit=%205", "?limit=5.0", "?limit=+5", "?limit=0b11"]) {
      const r = await getJson<{ error: string }>(`/v1/streams/${sid}/chat/modlog${q}`, ownerToken);
      expect(r.status, q).toBe(400);
      expect(r.body.error, q).toBe("invalid_limit");
    }
    expect((await getJson(`/v1/streams/${sid}/chat/modlog?limit=200`, ownerToken)).status).toBe(200);
  });
});

describe("purge skips staff messages, also when the owner purges", () => {
  it("an owner's purge-and-ban leaves a moderator who quoted the phrase alone", async () => {
    const sid = newStreamId();
    const ownerToken = await staffToken(sid, "owner");
    const owner = await connect(sid, { token: ownerToken });
    const modId = newUserId();
    const mod = await connect(sid, { token: await staffToken(sid, "moderator", modId) });
    const raider = await viewer(sid);
    const quoted = await okay(mod, { type: "message", text: "stop posting raidword please" });
    const raid = await okay(raider.c, { type: "message", text: "RAIDWORD" });
    await okay(owner, { type: "purge", phrase: "raidword", seconds: 60, then: "ban" });
    const e = await moderation(owner, "purge");
    expect(e.deleted).toEqual([raid.id]);
    expect(e.users).toEqual([raider.userId]);
    expect(e.deleted).not.toContain(quoted.id);
    // The moderator can still moderate: not banned.
    await okay(mod, { type: "slow_mode", seconds: 3 });
    await Promise.all([owner, mod, raider.c].map((c) => c.close()));
  });
});
