/**
 * Issue 18's "replays exactly", through the real worker and room, sharded and unsharded: purge in
 * one event; a client that resumes (since/epoch, also across an eviction, also on a shard) ends in
 * the live client's state — comments, pin, slow mode, chat modes, lockdown, title; and the room's
 * moderation state (modes, preset, review queue, warnings, hidden users, mod log) survives a restart.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ServerFrame } from "../../src/protocol";
import type { ChatRoom } from "../../src/room";
import { apply, emptyState, type RoomState } from "../../src/rules/room-state";
import { Client, SHARDED, connect, newStreamId, roomStub, setLimits, shardStubs } from "./helpers";
import { act, getJson, heldFor, moderation, okay, refusal, staffed, viewer } from "./tools-helpers";

/** What a client shows after the frames it received (over one or more connections), by the rules' own reducer. */
function view(frames: ServerFrame[], sid: string): { state: RoomState; seqs: number[] } {
  const state = emptyState(sid);
  const seqs: number[] = [];
  for (const f of frames) {
    if (f.type === "welcome") {
      state.pinned = f.pinned ?? null;
      state.slowModeS = f.slow_mode_s ?? 0;
      if (f.modes) state.modes = { ...f.modes };
      state.lockdown = f.lockdown ? { ...state.modes, slow_mode_s: 0 } : null;
      state.title = f.title ?? "";
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
/** The room's last seq. */
const roomSeq = (sid: string) => runInDurableObject(roomStub(sid), (room: ChatRoom) => (room as unknown as { state: RoomState }).state.seq);
const lastSeen = (frames: ServerFrame[], sid: string) => Math.max(0, ...view(frames, sid).seqs);

function summary({ state: s }: { state: RoomState }) {
  return {
    comments: [...s.comments.values()].map((e) => [e.seq, e.comment.id, e.comment.message]),
    pinned: s.pinned?.id ?? null,
    slowModeS: s.slowModeS,
    modes: s.modes,
    lockdown: s.lockdown !== null,
    title: s.title,
  };
}

describe("purge", () => {
  it("removes every recent message with the phrase in one event, times out their authors, and clears the pin", async () => {
    const sid = newStreamId();
    const { owner, mod, modToken } = await staffed(sid);
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1_000 });
    const raiders = await Promise.all([0, 1, 2].map(() => viewer(sid)));
    const bystander = await viewer(sid);
    const ids: string[] = [];
    for (const r of raiders) ids.push((await okay(r.c, { type: "message", text: `FOLLOW ME at spam.example ${ids.length}` })).id!);
    const keep = await okay(bystander.c, { type: "message", text: "hello everyone" });
    const modsOwn = await okay(mod, { type: "message", text: "do not follow me at spam.example" });
    await okay(mod, { type: "pin", id: ids[0] });
    const r = await act(sid, modToken, { type: "purge", phrase: "follow me", seconds: 300, then: "timeout", timeout_s: 60, reason: "raid" });
    expect(r.status).toBe(200);
    const [purge, unpin] = r.body.events as Array<Record<string, unknown>>;
    expect(purge).toMatchObject({ type: "moderation", action: "purge", phrase: "follow me", then: "timeout", reason: "raid" });
    expect(purge!.deleted).toEqual(ids);
    expect([...(purge!.users as string[])].sort()).toEqual(raiders.map((x) => x.userId).sort());
    expect(unpin).toMatchObject({ type: "pinned", comment: null });
    await bystander.c.until((x) => x.of("pinned").length === 2, "the unpin");
    const seen = view(bystander.c.frames, sid);
    expect(summary(seen).comments.map((c) => c[1])).toEqual([keep.id, modsOwn.id]);
    for (const x of raiders) expect((await refusal(x.c, { type: "message", text: "again" })).code).toBe("muted");
    // Over the socket too, now with `ban`: nothing left to match, so nothing happens.
    expect((await okay(mod, { type: "purge", phrase: "follow me", seconds: 300, then: "ban" })).seq).toBeUndefined();
    await Promise.all([owner, mod, bystander.c, ...raiders.map((x) => x.c)].map((c) => c.close()));
  });
});

describe("resume reaches the live client's state, issue 18's events included", () => {
  /** Each step one command (or a held message and its review), from staff and viewers. */
  async function script(s: Awaited<ReturnType<typeof staffed>>, a: Client, b: Client, steps: number[], ids: string[]) {
    for (const step of steps) {
      switch (step) {
        case 0: ids.push((await okay(a, { type: "message", text: `raid ${ids.length}` })).id!); break;
        case 1: ids.push((await okay(b, { type: "message", text: `hello ${ids.length}` })).id!); break;
        case 2: await okay(s.mod, { type: "chat_mode", mode: "unique", on: true, seconds: 60 }); break;
        case 3: await okay(s.owner, { type: "title", title: `Title ${ids.length}` }); break;
        case 4: await okay(s.mod, { type: "lockdown", on: true }); break;
        case 5: await okay(s.mod, { type: "lockdown", on: false }); break;
        case 6: await okay(s.mod, { type: "purge", phrase: "raid", seconds: 600 }); break;
        case 7: await okay(s.owner, { type: "pin", id: ids.at(-1)! }); break;
        case 8: {
          const h = await heldFor(b, { type: "message", text: `a link ${ids.length}` });
          await okay(s.mod, { type: "review", id: h.id, decision: "allow" });
          ids.push(h.id);
          break;
        }
        case 9: await okay(s.mod, { type: "chat_mode", mode: "emote_only", on: true }); break;
        case 10: await okay(s.mod, { type: "chat_mode", mode: "emote_only", on: false }); break;
      }
    }
  }
  /** Messages, unique mode, title, pin, a held message allowed, lockdown, emote-only, purge, lockdown off, … */
  const STEPS = [0, 1, 0, 2, 3, 7, 8, 4, 1, 9, 10, 6, 5, 3, 1];

  for (const cut of [0, 4, 8, 12]) {
    it(`disconnecting after step ${cut} and resuming gives the same comments, pin, slow mode, modes, lockdown and title`, async () => {
      const sid = newStreamId();
      const s = await staffed(sid);
      await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1_000 });
      await okay(s.mod, { type: "blocked_terms", add: ["link"], action: "hold" });
      await okay(s.owner, { type: "lockdown_preset", preset: { emote_only: false, unique_s: 30, members_only: false, account_age_s: 0, first_time_hold: false, slow_mode_s: 0 } });
      const a = await viewer(sid, { username: "raider" });
      const b = await viewer(sid, { username: "regular" });
      const watcher = await viewer(sid);
      const stayer = await connect(sid, { token: watcher.token });
      const leaver = await connect(sid, { token: watcher.token });
      const ids: string[] = [];
      await script(s, a.c, b.c, STEPS.slice(0, cut), ids);
      const upTo = await roomSeq(sid);
      await leaver.until((x) => lastSeen(x.frames, sid) >= upTo, "leaver caught up");
      const before = [...leaver.frames];
      const w = leaver.of("welcome")[0]!;
      const last = lastSeen(before, sid);
      await leaver.close();
      await script(s, a.c, b.c, STEPS.slice(cut), ids);
      if (cut === 8) await evictDurableObject(roomStub(sid)); // resume across an eviction too
      const total = await roomSeq(sid);
      const back = await connect(sid, { token: watcher.token, query: `?since=${last}&epoch=${w.epoch}` });
      expect(back.of("history")[0]!.recovered).toBe(true);
      await stayer.until((x) => lastSeen(x.frames, sid) >= total, "stayer has everything");
      await back.until((x) => lastSeen([...before, ...x.frames], sid) >= total, "the resumed client has everything");
      const resumed = view([...before, ...back.frames], sid);
      const stayed = view(stayer.frames, sid);
      expect(summary(resumed)).toEqual(summary(stayed));
      expect(resumed.seqs).toEqual([...new Set(resumed.seqs)].sort((x, y) => x - y));
      // And a fresh join shows the same.
      const fresh = await connect(sid);
      expect(summary(view(fresh.frames, sid))).toEqual(summary(stayed));
      expect(summary(stayed).comments.some(([, , m]) => String(m).startsWith("raid"))).toBe(false);
      await Promise.all([s.owner, s.mod, a.c, b.c, watcher.c, stayer, back, fresh].map((c) => c.close()));
    });
  }
});

describe("the room's moderation state survives a restart", () => {
  it("modes, preset, lockdown, the review queue, warnings, hidden users and the mod log come back from storage", async () => {
    const sid = newStreamId();
    const { owner, mod, ownerToken, modToken } = await staffed(sid);
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1_000 });
    const preset = { emote_only: false, unique_s: 90, members_only: false, account_age_s: 0, first_time_hold: false, slow_mode_s: 7 };
    await okay(owner, { type: "lockdown_preset", preset });
    await okay(mod, { type: "chat_mode", mode: "emote_only", on: true });
    await okay(mod, { type: "blocked_terms", add: ["🦀"], action: "hold" });
    const warned = await viewer(sid);
    const hidden = await viewer(sid);
    const sender = await viewer(sid);
    const h = await heldFor(sender.c, { type: "message", text: "🦀🦀" });
    await okay(mod, { type: "warn", user_id: warned.userId, reason: "read the rules" });
    await okay(mod, { type: "hide_user", user_id: hidden.userId });
    await okay(mod, { type: "lockdown", on: true });
    await okay(owner, { type: "title", title: "After the restart" });
    const logBefore = (await getJson<{ entries: unknown[] }>(`/v1/streams/${sid}/chat/modlog`, ownerToken)).body.entries;
    await Promise.all([owner, mod, warned.c, hidden.c, sender.c].map((c) => c.close()));
    await evictDurableObject(roomStub(sid));

    const state = (await getJson<Record<string, unknown>>(`/v1/streams/${sid}/chat/state`, ownerToken)).body;
    const { slow_mode_s, ...lockModes } = preset;
    expect(state).toMatchObject({ lockdown: true, modes: lockModes, slow_mode_s, title: "After the restart", lockdown_preset: preset, hidden: [hidden.userId], held: 1, hold_terms: ["🦀"] });
    expect((await getJson<{ entries: unknown[] }>(`/v1/streams/${sid}/chat/modlog`, ownerToken)).body.entries).toEqual(logBefore);
    const staff = await connect(sid, { token: modToken });
    await staff.until((x) => x.of("review_queue").length === 1, "the review queue");
    expect(staff.of("review_queue")[0]!.items.map((i) => i.id)).toEqual([h.id]);
    const w = await connect(sid, { token: warned.token });
    expect(w.of("welcome")[0]!.warning).toMatchObject({ reason: "read the rules" });
    expect((await refusal(w, { type: "message", text: "hi" })).code).toBe("warning_pending");
    // Off restores what lockdown replaced (emote-only on, no slow mode) — remembered across the restart.
    await okay(staff, { type: "lockdown", on: false });
    expect(await moderation(staff, "lockdown", (m) => m.on === false)).toMatchObject({ modes: { emote_only: true, unique_s: 0 }, seconds: 0 });
    const hid = await connect(sid, { token: hidden.token });
    const bystander = await viewer(sid);
    const ack = await okay(hid, { type: "message", text: "🙈" });
    await staff.until((x) => x.of("hidden_comment").some((c) => c.comment.id === ack.id), "the hidden comment, to staff");
    await okay(staff, { type: "review", id: h.id, decision: "allow" });
    await bystander.c.until((x) => x.comments().some((c) => c.comment.id === h.id), "the allowed comment");
    expect(bystander.c.comments().map((c) => c.comment.message)).toEqual(["🦀🦀"]);
    await Promise.all([staff, w, hid, bystander.c].map((c) => c.close()));
  });

  it("a held message that expires leaves the queue on the alarm; reviewing it then is already_reviewed", async () => {
    const sid = newStreamId();
    const { owner, mod, modToken } = await staffed(sid);
    await okay(mod, { type: "blocked_terms", add: ["link"], action: "hold" });
    const v = await viewer(sid);
    const h = await heldFor(v.c, { type: "message", text: "link" });
    await runInDurableObject(roomStub(sid), async (room: ChatRoom) => {
      const held = (room as unknown as { state: RoomState }).state.held.get(h.id)!;
      held.expiresAt = Date.now() - 1;
      await room.alarm();
    });
    expect((await act(sid, modToken, { type: "review", id: h.id, decision: "allow" })).body.error).toBe("already_reviewed");
    const late = await connect(sid, { token: modToken });
    await late.until((x) => x.of("review_queue").length === 1, "the review queue");
    expect(late.of("review_queue")[0]!.items).toEqual([]);
    // Gone from storage too: a restart does not bring it back.
    await evictDurableObject(roomStub(sid));
    expect((await getJson<{ held: number }>(`/v1/streams/${sid}/chat/state`, modToken)).body.held).toBe(0);
    await Promise.all([owner, mod, v.c, late].map((c) => c.close()));
  });
});

describe.skipIf(!SHARDED)("a shard's mirror after its eviction", () => {
  it("a join through an evicted shard gets the modes, lockdown, title and grants from a new snapshot", async () => {
    const sid = newStreamId();
    const { owner, mod } = await staffed(sid);
    const v = await viewer(sid);
    const promoted = await viewer(sid);
    await okay(mod, { type: "chat_mode", mode: "unique", on: true, seconds: 45 });
    await okay(mod, { type: "lockdown", on: true });
    await okay(owner, { type: "title", title: "Still here" });
    await okay(owner, { type: "role", user_id: promoted.userId, role: "moderator" });
    const seen = await connect(sid);
    const expected = seen.of("welcome")[0]!;
    await Promise.all([owner, mod, v.c, promoted.c, seen].map((c) => c.close()));
    for (const shard of await shardStubs(sid)) await evictDurableObject(shard);
    const back = await connect(sid);
    expect(back.of("welcome")[0]).toMatchObject({ modes: expected.modes, lockdown: true, title: "Still here", slow_mode_s: expected.slow_mode_s });
    const again = await connect(sid, { token: promoted.token });
    expect(again.of("welcome")[0]!.role).toBe("moderator");
    await again.until((x) => x.of("review_queue").length === 1, "the review queue for a granted moderator");
    await Promise.all([back, again].map((c) => c.close()));
  });
});
