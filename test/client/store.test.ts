/**
 * The SDK's state store (src/client/store.ts): every event kind, resume merge, idempotence — and
 * the guarantee of DESIGN.md "Room events": a client that disconnects at any point and resumes
 * ends in exactly the state of one that stayed connected, and both equal the room's own state.
 * The event stream comes from the room's real rules (src/rules/room-state.ts decide/apply), not
 * from hand-written frames, so the reducer is checked against what the server really sends.
 */
import { describe, expect, it } from "vitest";
import {
  applyEvent,
  applyEvents,
  emptyView,
  historyFrames,
  isMuted,
  MODES_OFF,
  resetView,
  setViewers,
  welcomeView,
  type RoomEvent,
  type RoomView,
  type SeqComment,
  type StreamComment,
  type WelcomeFrame,
} from "../../src/client/index.js";
import { apply, decide, emptyState, type Actor, type RoomState } from "../../src/rules/room-state.js";
import type { Command } from "../../src/protocol.js";

const STREAM = "7d0a5f5e-4a57-4d2b-9a39-0f5b7a4c2e11";
const OWNER: Actor = { userId: "00000000-0000-4000-8000-0000000000a0", username: "owner", role: "owner" };
const MOD: Actor = { userId: "00000000-0000-4000-8000-0000000000b0", username: "mod", role: "moderator" };
const ME: Actor = { userId: "00000000-0000-4000-8000-0000000000c0", username: "me", role: "viewer" };
const OTHER: Actor = { userId: "00000000-0000-4000-8000-0000000000d0", username: "other", role: "viewer" };

const cid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const comment = (n: number, user = OTHER, message = `m${n}`): StreamComment => ({
  id: cid(n),
  stream_id: STREAM,
  user_id: user.userId,
  username: user.username,
  message,
  created_at: "2026-01-01T00:00:00.000Z",
});
const welcome = (seq: number, extra: Partial<WelcomeFrame> = {}): WelcomeFrame => ({
  type: "welcome",
  stream_id: STREAM,
  user: { id: ME.userId, username: ME.username },
  seq,
  epoch: "e1",
  ...extra,
});
/** A connected client at seq 0 of an empty stream. */
const fresh = (): RoomView => resetView(emptyView(), welcome(0, { role: "viewer", viewers: 1 }), []);
const texts = (v: RoomView) => v.comments.map((c) => c.comment.message);

describe("store: each event kind", () => {
  it("comment appends in seq order; a repeated seq changes nothing (same object)", () => {
    const v1 = applyEvent(fresh(), { type: "comment", seq: 1, comment: comment(1) });
    const v2 = applyEvent(v1, { type: "comment", seq: 2, comment: comment(2) });
    expect(v2.comments).toEqual([
      { seq: 1, comment: comment(1) },
      { seq: 2, comment: comment(2) },
    ]);
    expect(v2.seq).toBe(2);
    expect(applyEvent(v2, { type: "comment", seq: 2, comment: comment(2) })).toBe(v2);
    expect(applyEvent(v2, { type: "comment", seq: 1, comment: comment(9) })).toBe(v2);
    expect(v1.comments).toHaveLength(1); // inputs are never mutated
  });

  it("comment_edited replaces text and entities, sets edited_at, also on the pinned copy", () => {
    const withLink: StreamComment = { ...comment(1), message: "see https://a.example", entities: [{ type: "url", offset: 4, length: 17, url: "https://a.example" }] };
    let v = applyEvents(fresh(), [
      { type: "comment", seq: 1, comment: withLink },
      { type: "pinned", seq: 2, comment: withLink, by: MOD.userId },
    ]);
    v = applyEvent(v, { type: "comment_edited", seq: 3, id: cid(1), message: "plain now", entities: [], edited_at: "2026-01-01T00:01:00.000Z" });
    const edited = { ...comment(1), message: "plain now", edited_at: "2026-01-01T00:01:00.000Z" };
    expect(v.comments).toEqual([{ seq: 1, comment: edited }]);
    expect(v.comments[0]!.comment).not.toHaveProperty("entities");
    expect(v.pinned).toEqual(edited);
    // An edit of a comment we do not hold (too old) only moves the seq.
    const v2 = applyEvent(v, { type: "comment_edited", seq: 4, id: cid(99), message: "x", entities: [], edited_at: "2026-01-01T00:02:00.000Z" });
    expect(v2.comments).toBe(v.comments);
    expect(v2.seq).toBe(4);
  });

  it("comment_deleted removes the comment; the pin is cleared by its own pinned event", () => {
    let v = applyEvents(fresh(), [
      { type: "comment", seq: 1, comment: comment(1) },
      { type: "comment", seq: 2, comment: comment(2) },
      { type: "pinned", seq: 3, comment: comment(1), by: OWNER.userId },
      { type: "comment_deleted", seq: 4, id: cid(1), by: OWNER.userId },
    ]);
    expect(texts(v)).toEqual(["m2"]);
    expect(v.pinned).toEqual(comment(1));
    v = applyEvent(v, { type: "pinned", seq: 5, comment: null, by: OWNER.userId });
    expect(v.pinned).toBeNull();
  });

  it("moderation: slow mode, timeout/ban/unban/role about us change our own state, about others do not", () => {
    let v = fresh();
    v = applyEvent(v, { type: "moderation", seq: 1, action: "slow_mode", seconds: 30, by: MOD.userId });
    expect(v.slowModeS).toBe(30);
    v = applyEvent(v, { type: "moderation", seq: 2, action: "timeout", user_id: OTHER.userId, seconds: 60, until: "2999-01-01T00:00:00.000Z", by: MOD.userId });
    expect(v.mutedUntil).toBeNull();
    v = applyEvent(v, { type: "moderation", seq: 3, action: "timeout", user_id: ME.userId, seconds: 600, until: "2999-01-01T00:00:00.000Z", by: MOD.userId });
    expect(v.mutedUntil).toBe("2999-01-01T00:00:00.000Z");
    expect(isMuted(v, Date.parse("2998-12-31T23:59:59.000Z"))).toBe(true);
    expect(isMuted(v, Date.parse("2999-01-01T00:00:00.000Z"))).toBe(false);
    v = applyEvent(v, { type: "moderation", seq: 4, action: "role", user_id: ME.userId, role: "moderator", by: OWNER.userId });
    expect(v.role).toBe("moderator");
    v = applyEvent(v, { type: "moderation", seq: 5, action: "role", user_id: OTHER.userId, role: "moderator", by: OWNER.userId });
    expect(v.role).toBe("moderator");
    v = applyEvent(v, { type: "moderation", seq: 6, action: "ban", user_id: ME.userId, deleted: [], by: OWNER.userId });
    expect(v.banned).toBe(true);
    // An unban from before `lifted` existed lifted the ban only; `lifted` says what goes.
    v = applyEvent(v, { type: "moderation", seq: 7, action: "unban", user_id: ME.userId, by: OWNER.userId });
    expect(v.banned).toBe(false);
    expect(v.mutedUntil).toBe("2999-01-01T00:00:00.000Z");
    v = applyEvent(v, { type: "moderation", seq: 8, action: "slow_mode", seconds: 0, by: MOD.userId });
    expect(v.slowModeS).toBe(0);
    v = applyEvent(v, { type: "moderation", seq: 9, action: "ban", user_id: ME.userId, deleted: [], by: OWNER.userId });
    v = applyEvent(v, { type: "moderation", seq: 10, action: "unban", user_id: ME.userId, lifted: ["ban", "timeout"], by: OWNER.userId });
    expect([v.banned, v.mutedUntil]).toEqual([false, null]);
  });

  it("a ban removes the comments listed in `deleted`", () => {
    const v = applyEvents(fresh(), [
      { type: "comment", seq: 1, comment: comment(1, OTHER) },
      { type: "comment", seq: 2, comment: comment(2, MOD) },
      { type: "comment", seq: 3, comment: comment(3, OTHER) },
      { type: "moderation", seq: 4, action: "ban", user_id: OTHER.userId, deleted: [cid(1), cid(3)], by: MOD.userId },
    ]);
    expect(texts(v)).toEqual(["m2"]);
    expect(v.banned).toBe(false);
  });

  it("an owner's role is not changed by a role event", () => {
    const owner = resetView(emptyView(), welcome(0, { role: "owner" }), []);
    expect(applyEvent(owner, { type: "moderation", seq: 1, action: "role", user_id: ME.userId, role: "viewer", by: OWNER.userId }).role).toBe("owner");
  });

  it("viewers: a new count makes a new view, the same count keeps the object", () => {
    const v = fresh();
    expect(setViewers(v, 1)).toBe(v);
    expect(setViewers(v, 7).viewers).toBe(7);
  });

  it("keeps at most maxComments, dropping the oldest", () => {
    const frames: RoomEvent[] = Array.from({ length: 5 }, (_, i) => ({ type: "comment", seq: i + 1, comment: comment(i + 1) }));
    expect(texts(applyEvents(fresh(), frames, 3))).toEqual(["m3", "m4", "m5"]);
  });
});

describe("store: histories", () => {
  it("a fresh join takes the backlog and the welcome's pin, slow mode, mute and ban; frames after the welcome apply on top", () => {
    const backlog: RoomEvent[] = historyFrames([
      { seq: 2, comment: comment(2) },
      { seq: 5, comment: { ...comment(5), edited_at: "2026-01-01T00:00:30.000Z" } },
    ]);
    const w = welcome(6, { role: "moderator", pinned: comment(5), slow_mode_s: 10, viewers: 3, muted_until: "2999-01-01T00:00:00.000Z", banned: false });
    const v = resetView(applyEvent(fresh(), { type: "comment", seq: 1, comment: comment(1) }), w, [
      ...backlog,
      { type: "comment_deleted", seq: 7, id: cid(2), by: MOD.userId },
    ]);
    expect(v).toEqual({
      comments: [{ seq: 5, comment: { ...comment(5), edited_at: "2026-01-01T00:00:30.000Z" } }],
      pinned: comment(5),
      slowModeS: 10,
      viewers: 3,
      userId: ME.userId,
      role: "moderator",
      mutedUntil: "2999-01-01T00:00:00.000Z",
      banned: false,
      seq: 7,
      modes: MODES_OFF,
      lockdown: false,
      title: null,
      warning: null,
      held: [],
      reviewQueue: [],
      modlog: [],
      hiddenUsers: [],
    });
  });

  it("historyFrames merges a resume's comments and events by seq", () => {
    const frames = historyFrames(
      [
        { seq: 4, comment: comment(4) },
        { seq: 2, comment: comment(2) },
      ],
      [
        { type: "comment_deleted", seq: 3, id: cid(2), by: OTHER.userId },
        { type: "pinned", seq: 5, comment: comment(4), by: MOD.userId },
      ],
    );
    expect(frames.map((f) => `${f.seq}:${f.type}`)).toEqual(["2:comment", "3:comment_deleted", "4:comment", "5:pinned"]);
  });

  it("welcomeView takes our id, role and the viewer count, and keeps the object when nothing changed", () => {
    const v = fresh();
    expect(welcomeView(v, welcome(0, { role: "viewer", viewers: 1 }))).toBe(v);
    const w = welcomeView(v, welcome(9, { role: "moderator", viewers: 4, pinned: comment(1), slow_mode_s: 5 }));
    expect(w).toMatchObject({ role: "moderator", viewers: 4, pinned: null, slowModeS: 0, seq: 0 });
  });
});

// ---------------------------------------------------------------------------------------------
// Resume at any point = stayed connected = the room's own state
// ---------------------------------------------------------------------------------------------

/** Runs commands through the room's real rules; returns every sequenced frame and the final state. */
function runRoom(script: Array<[Actor, Command]>): { frames: RoomEvent[]; state: RoomState } {
  const state = emptyState(STREAM);
  state.ownerId = OWNER.userId;
  let n = 0;
  let now = Date.parse("2026-01-01T00:00:00.000Z");
  const frames: RoomEvent[] = [];
  for (const [actor, cmd] of script) {
    now += 1000;
    const out = decide(state, actor, cmd, now, { editWindowMs: 300_000, newId: () => cid(++n) });
    if (out.kind !== "ok") throw new Error(`script step ${JSON.stringify(cmd)} by ${actor.username}: ${out.kind} ${out.kind === "error" ? out.code : ""}`);
    for (const e of out.events) {
      apply(state, e, now);
      frames.push(e);
    }
  }
  return { frames, state };
}

describe("store: a client that resumes at any point ends where a connected one is", () => {
  const say = (text: string, extra: { reply_to?: string } = {}) => ({ type: "message" as const, text, ...extra });
  const { frames, state } = runRoom([
    [OTHER, say("hello")], // c1
    [ME, say("hi @other, see https://example.com")], // c2
    [MOD, { type: "pin", id: cid(1) }],
    [OTHER, say("reply", { reply_to: cid(2) })], // c3
    [ME, { type: "edit", id: cid(2), text: "hi all" }],
    [OWNER, { type: "slow_mode", seconds: 30 }],
    [MOD, { type: "timeout", user_id: ME.userId, seconds: 600, reason: "calm down" }],
    [OWNER, say("owner speaks")], // c4
    [OTHER, { type: "edit", id: cid(1), text: "hello (edited while pinned)" }],
    [MOD, { type: "delete", id: cid(3) }],
    // A timed-out user cannot be made a moderator (issue 22): the unban lifts the timeout first.
    [OWNER, { type: "unban", user_id: ME.userId }],
    [OWNER, { type: "role", user_id: ME.userId, role: "moderator" }],
    [OWNER, { type: "timeout", user_id: ME.userId, seconds: 900 }],
  ]);
  const tail = runRoomTail(state);
  const all = [...frames, ...tail];
  const n = all.length;

  /** The ban, pin change and unban that follow (the room's state object continues). */
  function runRoomTail(s: RoomState): RoomEvent[] {
    const out: RoomEvent[] = [];
    let now = Date.parse("2026-01-01T00:01:00.000Z");
    let k = 100;
    for (const [actor, cmd] of [
      [OTHER, say("another one")],
      [MOD, { type: "pin", id: cid(4) }],
      [OWNER, { type: "ban", user_id: OTHER.userId, reason: "spam" }],
      [OWNER, { type: "unban", user_id: OTHER.userId }],
      [OWNER, { type: "ban", user_id: ME.userId }],
      [OWNER, say("after the ban")],
    ] as Array<[Actor, Command]>) {
      now += 1000;
      const r = decide(s, actor, cmd, now, { editWindowMs: 300_000, newId: () => cid(++k) });
      if (r.kind !== "ok") throw new Error(`tail step ${cmd.type}: ${r.kind}`);
      for (const e of r.events) {
        apply(s, e, now);
        out.push(e);
      }
    }
    return out;
  }

  const connected = applyEvents(fresh(), all);

  it("the script covers every event kind", () => {
    expect(new Set(all.map((f) => (f.type === "moderation" ? `moderation:${f.action}` : f.type)))).toEqual(
      new Set(["comment", "comment_edited", "comment_deleted", "pinned", "moderation:slow_mode", "moderation:timeout", "moderation:role", "moderation:ban", "moderation:unban"]),
    );
  });

  it("a connected client's view equals the room's state", () => {
    const roomComments: SeqComment[] = [...state.comments.values()].map((e) => ({ seq: e.seq, comment: e.comment }));
    expect(connected.comments).toEqual(roomComments);
    expect(connected.pinned).toEqual(state.pinned);
    expect(connected.slowModeS).toBe(state.slowModeS);
    expect(connected.banned).toBe(state.bans.has(ME.userId));
    expect(connected.mutedUntil).toBe(new Date(state.timeouts.get(ME.userId)!.until).toISOString());
    expect(connected.role).toBe("moderator");
    expect(connected.seq).toBe(n);
    // Spot checks of the story: the edit while pinned reached the pin; the ban took OTHER's comments.
    expect(applyEvents(fresh(), frames).pinned?.message).toBe("hello (edited while pinned)");
    expect(connected.pinned?.message).toBe("owner speaks");
    expect(connected.comments.some((c) => c.comment.user_id === OTHER.userId)).toBe(false);
    expect(connected.banned).toBe(true);
  });

  it("a client that disconnected after any seq k and resumed (comments + events > k, merged) ends in the same view", () => {
    for (let k = 0; k <= n; k++) {
      const before = applyEvents(fresh(), all.slice(0, k));
      const missed = all.slice(k);
      // As the room sends it: missed comments in `comments`, everything else in `events`.
      const comments = missed.flatMap((f) => (f.type === "comment" ? [{ seq: f.seq, comment: f.comment }] : []));
      const events = missed.filter((f) => f.type !== "comment");
      const resumed = applyEvents(welcomeView(before, welcome(n, { role: "moderator", viewers: 1 })), historyFrames(comments, events));
      expect(resumed, `resumed after seq ${k}`).toEqual(connected);
    }
  });

  it("applying the whole stream again (a replayed history) changes nothing", () => {
    expect(applyEvents(connected, all)).toBe(connected);
    expect(applyEvents(connected, [all[3]!, all[3]!])).toBe(connected);
  });
});
