/**
 * Who receives the staff-only frames (`held`, `review_queue`, `modlog`, `hidden_comment`) when a
 * role changes under them, sharded and unsharded: the room's grants count like the token's roles,
 * and a banned moderator is a reader like any banned user (src/rules/standing.ts seesStaffState).
 * With SHARD_MAX_SOCKETS=3 the connection order below decides the shards: the first three sockets
 * share a shard, the next ones go to another.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ChatShard } from "../../src/shard";
import { Client, SHARDED, connect, newStreamId, newUserId, roomStub, staffToken } from "./helpers";
import { act, heldFor, moderation, okay, viewer } from "./tools-helpers";

/** Resolves once every frame the server sent `c` before now has arrived (the pong of an exact ping comes after them). */
async function drained(c: Client): Promise<void> {
  const pongs = c.of("pong").length;
  c.send('{"type":"ping"}');
  await c.until((x) => x.of("pong").length > pongs, "pong");
}

describe("staff-only frames follow the room's view of who is staff", () => {
  it("a moderator banned before their shard took its snapshot gets no held messages, log entries or hidden comments", async () => {
    const sid = newStreamId();
    const ownerId = newUserId();
    const ownerToken = await staffToken(sid, "owner", ownerId);
    const bannedModId = newUserId();
    const bannedToken = await staffToken(sid, "moderator", bannedModId);
    // Banned over HTTP before any socket (and so before any shard) exists.
    expect((await act(sid, ownerToken, { type: "ban", user_id: bannedModId, reason: "abuse of power" })).status).toBe(200);
    const owner = await connect(sid, { token: ownerToken });
    const banned = await connect(sid, { token: bannedToken });
    const mod = await connect(sid, { token: await staffToken(sid, "moderator") });
    expect(banned.of("welcome")[0]).toMatchObject({ role: "moderator", banned: true });
    await okay(mod, { type: "blocked_terms", add: ["link"], action: "hold" });
    const sender = await viewer(sid);
    const h = await heldFor(sender.c, { type: "message", text: "a link" });
    await okay(mod, { type: "hide_user", user_id: sender.userId });
    const hidden = await okay(sender.c, { type: "message", text: "psst" });
    for (const c of [owner, mod]) {
      await c.until((x) => x.of("held").some((f) => f.id === h.id), "the held message");
      await c.until((x) => x.of("modlog").some((f) => f.entry.action === "hide"), "the hide's log entry");
      await c.until((x) => x.of("hidden_comment").some((f) => f.comment.id === hidden.id), "the hidden comment");
    }
    await drained(banned);
    expect(banned.of("held")).toEqual([]);
    expect(banned.of("modlog")).toEqual([]);
    expect(banned.of("hidden_comment")).toEqual([]);
    expect(banned.of("review_queue")).toEqual([]);
    // Unbanned, they are staff again: live, and on their next join.
    await okay(owner, { type: "unban", user_id: bannedModId });
    await moderation(banned, "unban");
    const sender2 = await viewer(sid); // (the first one is hidden: their messages are never held)
    const h2 = await heldFor(sender2.c, { type: "message", text: "another link" });
    await banned.until((x) => x.of("held").some((f) => f.id === h2.id), "a held message after the unban");
    const back = await connect(sid, { token: bannedToken });
    await back.until((x) => x.of("review_queue").length === 1, "the review queue");
    expect(back.of("review_queue")[0]!.items.map((i) => i.id)).toEqual([h.id, h2.id]);
    await Promise.all([owner, banned, mod, sender.c, sender2.c, back].map((c) => c.close()));
  });

  it("a moderator banned while connected stops receiving them at once", async () => {
    const sid = newStreamId();
    const ownerToken = await staffToken(sid, "owner");
    const owner = await connect(sid, { token: ownerToken });
    const modId = newUserId();
    const mod = await connect(sid, { token: await staffToken(sid, "moderator", modId) });
    const other = await connect(sid, { token: await staffToken(sid, "moderator") });
    await okay(owner, { type: "blocked_terms", add: ["link"], action: "hold" });
    await okay(owner, { type: "ban", user_id: modId });
    await moderation(mod, "ban");
    const sender = await viewer(sid);
    const h = await heldFor(sender.c, { type: "message", text: "link" });
    await owner.until((x) => x.of("held").some((f) => f.id === h.id), "the held message");
    await other.until((x) => x.of("held").some((f) => f.id === h.id), "the held message");
    await drained(mod);
    expect(mod.of("held")).toEqual([]);
    await Promise.all([owner, mod, other, sender.c].map((c) => c.close()));
  });

  it("a viewer the owner makes a moderator in the room gets them live, also alone on their shard, and the queue on join", async () => {
    const sid = newStreamId();
    const { owner, mod } = await (async () => {
      const o = await connect(sid, { token: await staffToken(sid, "owner") });
      const m = await connect(sid, { token: await staffToken(sid, "moderator") });
      return { owner: o, mod: m };
    })();
    const filler = await viewer(sid); // third socket: the next ones go to another shard
    const promoted = await viewer(sid, { username: "soon-a-mod" });
    const sender = await viewer(sid);
    await okay(owner, { type: "blocked_terms", add: ["link"], action: "hold" });
    await okay(owner, { type: "role", user_id: promoted.userId, role: "moderator" });
    await moderation(promoted.c, "role");
    const h = await heldFor(sender.c, { type: "message", text: "my link" });
    await promoted.c.until((x) => x.of("held").some((f) => f.id === h.id && f.comment !== undefined), "the held message, to the new moderator");
    await okay(mod, { type: "slow_mode", seconds: 2 });
    await promoted.c.until((x) => x.of("modlog").some((f) => f.entry.action === "slow_mode"), "a log entry, to the new moderator");
    const again = await connect(sid, { token: promoted.token });
    await again.until((x) => x.of("review_queue").length === 1, "the review queue on join");
    expect(again.of("review_queue")[0]!.items.map((i) => i.id)).toEqual([h.id]);
    await drained(sender.c);
    await drained(filler.c);
    expect(filler.c.of("held")).toEqual([]);
    expect(filler.c.of("modlog")).toEqual([]);
    // Demoted again: no more.
    await okay(owner, { type: "role", user_id: promoted.userId, role: "viewer" });
    await moderation(promoted.c, "role", (m) => m.role === "viewer");
    const h2 = await heldFor(sender.c, { type: "message", text: "link 2" });
    await owner.until((x) => x.of("held").some((f) => f.id === h2.id), "the second held message");
    await drained(promoted.c);
    expect(promoted.c.of("held").some((f) => f.id === h2.id)).toBe(false);
    await Promise.all([owner, mod, filler.c, promoted.c, sender.c, again].map((c) => c.close()));
  });
});

describe.skipIf(!SHARDED)("a shard does not bring decided held messages back", () => {
  it("a `held` frame or a review queue that reaches the shard after the review is dropped or pruned", async () => {
    const sid = newStreamId();
    const owner = await connect(sid, { token: await staffToken(sid, "owner") });
    const mod = await connect(sid, { token: await staffToken(sid, "moderator") });
    await okay(owner, { type: "blocked_terms", add: ["link"], action: "hold" });
    const sender = await viewer(sid);
    const h = await heldFor(sender.c, { type: "message", text: "a link" });
    const h2 = await heldFor(sender.c, { type: "message", text: "a second link" });
    await owner.until((x) => x.of("held").filter((f) => f.comment).length === 2, "both held messages");
    const late = owner.of("held").find((f) => f.id === h.id)!;
    await okay(mod, { type: "review", id: h.id, decision: "deny" });
    await moderation(owner, "review"); // the shard's mirror has applied it
    const [key] = await roomStub(sid).shardKeys();
    const shard = env.CHAT_SHARD.get(env.CHAT_SHARD.idFromName(key!));
    // As if the room's frames had been overtaken by the review's delivery:
    const sent = await runInDurableObject(shard, (s: ChatShard) => s.direct(sid, key!, JSON.stringify(late), { staff: true }));
    expect(sent).toBe(0);
    const queue = await runInDurableObject(shard, (s: ChatShard) => {
      const pruned = (s as unknown as { pruneQueue(f: string): string }).pruneQueue(
        JSON.stringify({ type: "review_queue", items: [h, h2].map((x) => ({ id: x.id, comment: owner.of("held").find((f) => f.id === x.id)!.comment, reason: "blocked_term", held_at: x.expires_at, expires_at: x.expires_at })) }),
      );
      return (JSON.parse(pruned) as { items: Array<{ id: string }> }).items.map((i) => i.id);
    });
    expect(queue).toEqual([h2.id]);
    await Promise.all([owner, mod, sender.c].map((c) => c.close()));
  });
});
