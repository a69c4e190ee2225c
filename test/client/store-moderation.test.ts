/**
 * The SDK's state store and issue 18's moderation under a raid: chat modes, lockdown, title,
 * warnings, shadow hide, purge and review as sequenced `moderation` events; `held`, `review_queue`,
 * `modlog` and `hidden_comment` as unsequenced frames that never move `seq`; and the guarantee of
 * DESIGN.md "Room events" for all of it — a client that disconnects after any event and resumes ends
 * in exactly the view of one that stayed connected.
 *
 * The events are written out here as the contract (src/protocol.ts ModerationFrame, issue 18)
 * describes them: the room's rules for them (src/rules/room-state.ts) are
 * being written in parallel. Once they are merged, the resume script below can be produced by
 * `decide`/`apply` like store.test.ts's.
 */
import { describe, expect, it } from "vitest";
import {
  addHiddenComment,
  addModlogEntry,
  applyEvent,
  applyEvents,
  applyHeld,
  emptyView,
  expireHeld,
  historyFrames,
  MAX_LIVE_MODLOG,
  MODES_OFF,
  nextHeldExpiry,
  resetView,
  setReviewQueue,
  welcomeView,
  type HeldItem,
  type ModerationFrame,
  type ModlogEntry,
  type RoomEvent,
  type RoomView,
  type StreamComment,
  type WelcomeFrame,
} from "../../src/client/index.js";
import { ACCOUNT_AGE_DEFAULT_S, UNIQUE_DEFAULT_S } from "../../src/protocol.js";

const STREAM = "7d0a5f5e-4a57-4d2b-9a39-0f5b7a4c2e11";
const OWNER = "00000000-0000-4000-8000-0000000000a0";
const MOD = "00000000-0000-4000-8000-0000000000b0";
const ME = "00000000-0000-4000-8000-0000000000c0";
const RAIDER = "00000000-0000-4000-8000-0000000000d0";
const RAIDER2 = "00000000-0000-4000-8000-0000000000e0";

const cid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const comment = (n: number, user = RAIDER, message = `m${n}`): StreamComment => ({
  id: cid(n),
  stream_id: STREAM,
  user_id: user,
  username: user === ME ? "me" : user === RAIDER ? "raider" : "someone",
  message,
  created_at: "2026-01-01T00:00:00.000Z",
});
const welcome = (seq: number, extra: Partial<WelcomeFrame> = {}): WelcomeFrame => ({
  type: "welcome",
  stream_id: STREAM,
  user: { id: ME, username: "me" },
  seq,
  epoch: "e1",
  ...extra,
});
const as = (role: "viewer" | "moderator" | "owner"): RoomView => resetView(emptyView(), welcome(0, { role, viewers: 1 }), []);
const mod = (seq: number, f: Omit<ModerationFrame, "type" | "seq" | "by"> & { by?: string }): ModerationFrame => ({ type: "moderation", seq, by: MOD, ...f });
const c = (seq: number, n = seq, user = RAIDER, message?: string): RoomEvent => ({ type: "comment", seq, comment: comment(n, user, message) });
const texts = (v: RoomView) => v.comments.map((x) => x.comment.message);
const held = (n: number, expires = "2026-01-01T00:10:00.000Z", user = RAIDER): HeldItem => ({
  id: cid(n),
  comment: comment(n, user),
  reason: "first_time",
  held_at: "2026-01-01T00:00:00.000Z",
  expires_at: expires,
});
const entry = (seq: number, action = "timeout"): ModlogEntry => ({ seq, action, by: MOD, at: "2026-01-01T00:00:00.000Z", target: RAIDER, details: {} });

describe("store: chat modes, lockdown and title", () => {
  it("chat_mode sets one mode each; unique/account_age take `seconds` or their defaults, and off is 0", () => {
    let v = as("viewer");
    expect(v.modes).toEqual(MODES_OFF);
    v = applyEvents(v, [
      mod(1, { action: "chat_mode", mode: "emote_only", on: true }),
      mod(2, { action: "chat_mode", mode: "members_only", on: true }),
      mod(3, { action: "chat_mode", mode: "first_time_hold", on: true }),
      mod(4, { action: "chat_mode", mode: "unique", on: true, seconds: 120 }),
      mod(5, { action: "chat_mode", mode: "account_age", on: true }),
    ]);
    expect(v.modes).toEqual({ emote_only: true, members_only: true, first_time_hold: true, unique_s: 120, account_age_s: ACCOUNT_AGE_DEFAULT_S });
    v = applyEvents(v, [
      mod(6, { action: "chat_mode", mode: "unique", on: true }),
      mod(7, { action: "chat_mode", mode: "emote_only", on: false }),
      mod(8, { action: "chat_mode", mode: "account_age", on: false, seconds: 3600 }),
    ]);
    expect(v.modes).toEqual({ emote_only: false, members_only: true, first_time_hold: true, unique_s: UNIQUE_DEFAULT_S, account_age_s: 0 });
    expect(v.seq).toBe(8);
  });

  it("lockdown takes every mode and slow mode from its event in one step, and off restores what the event says", () => {
    const before = applyEvents(as("viewer"), [
      mod(1, { action: "slow_mode", seconds: 5 }),
      mod(2, { action: "chat_mode", mode: "emote_only", on: true }),
    ]);
    const preset = { emote_only: false, unique_s: 600, members_only: true, account_age_s: 3600, first_time_hold: true };
    const on = applyEvent(before, mod(3, { action: "lockdown", on: true, modes: preset, seconds: 30 }));
    expect([on.lockdown, on.modes, on.slowModeS]).toEqual([true, preset, 30]);
    const off = applyEvent(on, mod(4, { action: "lockdown", on: false, modes: before.modes, seconds: 5 }));
    expect([off.lockdown, off.modes, off.slowModeS]).toEqual([false, before.modes, 5]);
  });

  it("title sets the stream's title; an empty one clears it", () => {
    const v = applyEvent(as("viewer"), mod(1, { action: "title", title: "Speedrun night" }));
    expect(v.title).toBe("Speedrun night");
    expect(applyEvent(v, mod(2, { action: "title", title: "" })).title).toBeNull();
  });
});

describe("store: warnings and shadow hide", () => {
  it("a warn about us is our pending warning until warning_acknowledged; about someone else it changes nothing", () => {
    let v = applyEvent(as("viewer"), mod(1, { action: "warn", user_id: RAIDER, reason: "no spam" }));
    expect(v.warning).toBeNull();
    v = applyEvent(v, mod(2, { action: "warn", user_id: ME, reason: "be kind" }));
    expect(v.warning).toEqual({ reason: "be kind", by: MOD, at: null });
    v = applyEvent(v, mod(3, { action: "warning_acknowledged", user_id: RAIDER, by: RAIDER }));
    expect(v.warning).not.toBeNull();
    v = applyEvent(v, mod(4, { action: "warning_acknowledged", user_id: ME, by: ME }));
    expect(v.warning).toBeNull();
  });

  it("hide/unhide are not room events (the hidden user would see them): staff keep the hidden users from the log's entries", () => {
    let v = as("moderator");
    v = addModlogEntry(v, { ...entry(1), action: "hide", target: RAIDER });
    v = addModlogEntry(v, { ...entry(2), action: "hide", target: RAIDER2 });
    expect(v.hiddenUsers).toEqual([RAIDER, RAIDER2]);
    v = addModlogEntry(v, { ...entry(3), action: "unhide", target: RAIDER });
    expect(v.hiddenUsers).toEqual([RAIDER2]);
    // A repeat of an entry already seen changes nothing.
    expect(addModlogEntry(v, { ...entry(1), action: "hide", target: RAIDER }).hiddenUsers).toEqual([RAIDER2]);
  });

  it("hidden_comment: staff see it marked hidden, its author unmarked; it sits where it arrived and never moves seq", () => {
    const staff = applyEvents(as("moderator"), [c(1), c(2)]);
    const withHidden = addHiddenComment(staff, comment(50, RAIDER, "hidden words"));
    expect(withHidden.seq).toBe(2);
    expect(withHidden.comments.at(-1)).toEqual({ seq: 2, comment: comment(50, RAIDER, "hidden words"), hidden: true });
    expect(addHiddenComment(withHidden, comment(50, RAIDER, "hidden words"))).toBe(withHidden); // once
    // The next sequenced comment follows it; seq 3 is not a hole.
    const next = applyEvent(withHidden, c(3));
    expect(texts(next)).toEqual(["m1", "m2", "hidden words", "m3"]);
    expect(next.seq).toBe(3);

    const author = addHiddenComment(applyEvents(as("viewer"), [c(1)]), comment(51, ME, "my words"));
    expect(author.comments.at(-1)).toEqual({ seq: 1, comment: comment(51, ME, "my words") });
    expect(author.comments.at(-1)).not.toHaveProperty("hidden");
  });

  it("a hidden comment keeps its mark through an edit and goes with a ban's `deleted` list", () => {
    const v = addHiddenComment(applyEvent(as("owner"), c(1)), comment(50, RAIDER, "hidden"));
    const edited = applyEvent(v, { type: "comment_edited", seq: 2, id: cid(50), message: "hidden, edited", entities: [], edited_at: "2026-01-01T00:01:00.000Z" });
    expect(edited.comments.at(-1)).toMatchObject({ hidden: true, comment: { message: "hidden, edited" } });
    const banned = applyEvent(edited, mod(3, { action: "ban", user_id: RAIDER, deleted: [cid(1), cid(50)] }));
    expect(banned.comments).toEqual([]);
  });
});

describe("store: purge", () => {
  const raid = [c(1, 1, RAIDER, "follow my spam"), c(2, 2, MOD, "hello"), c(3, 3, RAIDER2, "FOLLOW my spam"), c(4, 4, ME, "reply", )];

  it("removes the comments it lists (quotes of them emptied), and times out the authors in `users` like a timeout event", () => {
    const quoting: StreamComment = { ...comment(5, ME, "lol"), reply_to: { id: cid(1), user_id: RAIDER, username: "raider", excerpt: "follow my spam" } };
    const v = applyEvents(as("viewer"), [...raid, { type: "comment", seq: 5, comment: quoting }]);
    const until = "2999-01-01T00:00:00.000Z";
    const purged = applyEvent(v, mod(6, { action: "purge", phrase: "follow my spam", seconds: 300, deleted: [cid(1), cid(3)], then: "timeout", users: [RAIDER, RAIDER2], until }));
    expect(texts(purged)).toEqual(["hello", "reply", "lol"]);
    expect(purged.comments.at(-1)!.comment.reply_to?.excerpt).toBe("");
    expect(purged.mutedUntil).toBeNull(); // not about us
    const me = applyEvent(v, mod(6, { action: "purge", phrase: "reply", seconds: 60, deleted: [cid(4)], then: "timeout", users: [ME], until }));
    expect(me.mutedUntil).toBe(until);
    expect(me.banned).toBe(false);
  });

  it("`then: ban` bans the authors in `users` (never an owner); no `then` only removes", () => {
    const v = applyEvents(as("viewer"), raid);
    expect(applyEvent(v, mod(5, { action: "purge", phrase: "reply", seconds: 60, deleted: [cid(4)], then: "ban", users: [ME] })).banned).toBe(true);
    const onlyRemoved = applyEvent(v, mod(5, { action: "purge", phrase: "reply", seconds: 60, deleted: [cid(4)], users: [ME] }));
    expect([onlyRemoved.banned, onlyRemoved.mutedUntil, texts(onlyRemoved)]).toEqual([false, null, ["follow my spam", "hello", "FOLLOW my spam"]]);
    const owner = applyEvents(as("owner"), raid);
    expect(applyEvent(owner, mod(5, { action: "purge", phrase: "reply", seconds: 60, deleted: [cid(4)], then: "ban", users: [ME] })).banned).toBe(false);
  });
});

describe("store: purge beyond the room's ring", () => {
  it("also removes matching comments older than the ring (which `deleted` cannot name), and nothing else", () => {
    // 300 raid messages at the room budget: the ring (200 frames) holds only the last 200.
    const at = (i: number) => new Date(Date.parse("2026-01-01T01:00:00.000Z") + i * 10).toISOString();
    const frames: RoomEvent[] = [{ type: "comment", seq: 1, comment: { ...comment(1, ME, "raid talk is boring"), created_at: "2025-12-31T23:00:00.000Z" } }];
    for (let i = 2; i <= 301; i++) {
      const message = i % 50 === 0 ? "a normal message" : i % 2 ? "FOLLOW  the raid" : "follow the raid!!";
      frames.push({ type: "comment", seq: i, comment: { ...comment(i, RAIDER, message), created_at: at(i) } });
    }
    const v = applyEvents(as("viewer"), frames);
    expect(v.comments).toHaveLength(301);
    const inRing = frames.slice(-199).flatMap((f) => (f.type === "comment" && f.comment.message !== "a normal message" ? [f.comment.id] : []));
    const purged = applyEvent(v, mod(302, { action: "purge", phrase: "follow the raid", seconds: 300, deleted: inRing, then: "ban", users: [RAIDER] }));
    expect(new Set(texts(purged))).toEqual(new Set(["raid talk is boring", "a normal message"]));
    expect(texts(purged).filter((t) => t === "a normal message")).toHaveLength(6);
    // A purge while everything is still in the ring removes exactly what it lists.
    const small = applyEvents(as("viewer"), [c(1, 1, RAIDER, "follow the raid"), c(2, 2, RAIDER, "follow the raid")]);
    expect(texts(applyEvent(small, mod(3, { action: "purge", phrase: "follow the raid", seconds: 60, deleted: [cid(2)] })))).toEqual(["follow the raid"]);
  });
});

describe("store: hold for review", () => {
  it("held (to staff) adds a queue item, held_at its comment's created_at; once; review_queue replaces the queue", () => {
    let v = applyHeld(as("moderator"), { type: "held", id: cid(7), comment: comment(7), reason: "blocked_term", expires_at: "2026-01-01T00:10:00.000Z" });
    expect(v.reviewQueue).toEqual([{ id: cid(7), comment: comment(7), reason: "blocked_term", held_at: comment(7).created_at, expires_at: "2026-01-01T00:10:00.000Z" }]);
    expect(applyHeld(v, { type: "held", id: cid(7), comment: comment(7), reason: "blocked_term", expires_at: "2026-01-01T00:10:00.000Z" })).toBe(v);
    expect(v.seq).toBe(0);
    v = setReviewQueue(v, [held(8), held(9)]);
    expect(v.reviewQueue.map((h) => h.id)).toEqual([cid(8), cid(9)]);
    expect(setReviewQueue(as("moderator"), [])).toEqual(as("moderator"));
  });

  it("held (to us) is our held row with the text we sent; allow: the comment arrives and the row and queue item go", () => {
    let v = applyHeld(as("viewer"), { type: "held", id: cid(7), client_msg_id: "c1", expires_at: "2026-01-01T00:10:00.000Z" }, "my first words");
    expect(v.held).toEqual([{ id: cid(7), clientMsgId: "c1", text: "my first words", expiresAt: "2026-01-01T00:10:00.000Z", status: "held" }]);
    // The review event and the comment, in either order, leave the same view.
    const allow = mod(1, { action: "review", id: cid(7), decision: "allow", user_id: ME });
    const posted: RoomEvent = { type: "comment", seq: 2, comment: comment(7, ME, "my first words") };
    const a = applyEvents(v, [allow, { ...posted }]);
    const b = applyEvents(v, [{ ...posted, seq: 1 }, { ...allow, seq: 2 }]);
    expect(a.held).toEqual([]);
    expect(b.held).toEqual([]);
    expect(texts(a)).toEqual(["my first words"]);
    v = applyEvent(v, mod(1, { action: "review", id: cid(99), decision: "deny", user_id: RAIDER }));
    expect(v.held).toHaveLength(1); // someone else's decision
  });

  it("deny: the staff item leaves the queue and our held row becomes `denied`", () => {
    const staff = setReviewQueue(as("moderator"), [held(7), held(8)]);
    expect(applyEvent(staff, mod(1, { action: "review", id: cid(7), decision: "deny", user_id: RAIDER })).reviewQueue.map((h) => h.id)).toEqual([cid(8)]);
    const mine = applyHeld(as("viewer"), { type: "held", id: cid(7), client_msg_id: "c1", expires_at: "2026-01-01T00:10:00.000Z" }, "x");
    const denied = applyEvent(mine, mod(1, { action: "review", id: cid(7), decision: "deny", user_id: ME }));
    expect(denied.held).toEqual([{ ...mine.held[0], status: "denied" }]);
    expect(denied.comments).toEqual([]);
  });

  it("a staff held frame for a comment already posted (its decision came first) is not queued", () => {
    const v = applyEvent(as("moderator"), { type: "comment", seq: 1, comment: comment(7) });
    expect(applyHeld(v, { type: "held", id: cid(7), comment: comment(7), reason: "first_time", expires_at: "2026-01-01T00:10:00.000Z" })).toBe(v);
  });

  it("expireHeld: past `expires_at`, queue items leave and our waiting rows become `expired`; nextHeldExpiry says when", () => {
    let v = setReviewQueue(as("moderator"), [held(7, "2026-01-01T00:05:00.000Z"), held(8, "2026-01-01T00:10:00.000Z")]);
    v = applyHeld(v, { type: "held", id: cid(9), client_msg_id: "c9", expires_at: "2026-01-01T00:07:00.000Z" }, "mine");
    expect(nextHeldExpiry(v)).toBe(Date.parse("2026-01-01T00:05:00.000Z"));
    expect(expireHeld(v, Date.parse("2026-01-01T00:04:59.000Z"))).toBe(v);
    const later = expireHeld(v, Date.parse("2026-01-01T00:07:00.000Z"));
    expect(later.reviewQueue.map((h) => h.id)).toEqual([cid(8)]);
    expect(later.held.map((h) => h.status)).toEqual(["expired"]);
    expect(nextHeldExpiry(later)).toBe(Date.parse("2026-01-01T00:10:00.000Z"));
    expect(nextHeldExpiry(as("viewer"))).toBeNull();
  });
});

describe("store: the live moderation log", () => {
  it("keeps entries once, in log-seq order, the newest MAX_LIVE_MODLOG", () => {
    let v = as("moderator");
    v = addModlogEntry(v, entry(2));
    v = addModlogEntry(v, entry(1, "ban"));
    expect(addModlogEntry(v, entry(2))).toBe(v);
    expect(v.modlog.map((e) => e.seq)).toEqual([1, 2]);
    expect(v.seq).toBe(0);
    for (let i = 3; i <= MAX_LIVE_MODLOG + 5; i++) v = addModlogEntry(v, entry(i));
    expect(v.modlog).toHaveLength(MAX_LIVE_MODLOG);
    expect(v.modlog[0]!.seq).toBe(6);
  });

  it("losing the staff role drops what only staff are sent (queue, log, hidden users, others' hidden comments)", () => {
    let v = addModlogEntry(setReviewQueue(as("moderator"), [held(7)]), entry(1));
    v = addModlogEntry(v, { ...entry(2), action: "hide", target: RAIDER });
    v = addHiddenComment(v, comment(50, RAIDER, "hidden"));
    v = applyEvent(v, mod(2, { action: "role", user_id: ME, role: "viewer", by: OWNER }));
    expect([v.role, v.reviewQueue, v.modlog, v.hiddenUsers, v.comments]).toEqual(["viewer", [], [], [], []]);
  });
});

describe("store: the welcome's new fields", () => {
  const modes = { emote_only: false, unique_s: 600, members_only: true, account_age_s: 3600, first_time_hold: true };
  const warning = { reason: "be kind", by: MOD, at: "2026-01-01T00:00:00.000Z" };

  it("a fresh join takes modes, lockdown, title and our warning from the welcome", () => {
    const v = resetView(emptyView(), welcome(3, { role: "viewer", modes, lockdown: true, title: "Raid night", warning, slow_mode_s: 30 }), historyFrames([{ seq: 3, comment: comment(3) }]));
    expect([v.modes, v.lockdown, v.title, v.warning, v.slowModeS]).toEqual([modes, true, "Raid night", warning, 30]);
    expect(resetView(emptyView(), welcome(0, { title: "" }), []).title).toBeNull();
  });

  it("a resume's welcome leaves them to the replayed events (as pin and slow mode)", () => {
    const v = as("viewer");
    expect(welcomeView(v, welcome(9, { role: "viewer", viewers: 1, modes, lockdown: true, title: "x", warning }))).toBe(v);
  });

  it("a lost resume keeps our held rows (minus those the backlog shows posted) and a staff member's live log; drops hidden comments and the queue", () => {
    let v = addModlogEntry(setReviewQueue(as("moderator"), [held(7)]), entry(1));
    v = applyHeld(v, { type: "held", id: cid(20), client_msg_id: "a", expires_at: "2026-01-01T00:10:00.000Z" }, "a");
    v = applyHeld(v, { type: "held", id: cid(21), client_msg_id: "b", expires_at: "2026-01-01T00:10:00.000Z" }, "b");
    v = addHiddenComment(v, comment(50, RAIDER, "hidden"));
    const reset = resetView(v, welcome(30, { role: "moderator" }), historyFrames([{ seq: 29, comment: comment(20, ME, "a") }]));
    expect(reset.held.map((h) => h.id)).toEqual([cid(21)]);
    expect(reset.modlog).toEqual(v.modlog);
    expect(reset.reviewQueue).toEqual([]);
    expect(texts(reset)).toEqual(["a"]);
  });
});

// ---------------------------------------------------------------------------------------------
// Resume at any point = stayed connected, over every issue 18 action
// ---------------------------------------------------------------------------------------------

describe("store: a client that resumes after any event ends where a connected one is (issue 18 actions)", () => {
  const until = "2999-01-01T00:00:00.000Z";
  const preset = { emote_only: false, unique_s: 600, members_only: false, account_age_s: 3600, first_time_hold: true };
  const all: RoomEvent[] = [
    c(1, 1, RAIDER, "RAID PHRASE"),
    c(2, 2, ME, "hi"),
    mod(3, { action: "chat_mode", mode: "unique", on: true, seconds: 300 }),
    c(4, 4, RAIDER2, "raid phrase!!"),
    { type: "comment", seq: 5, comment: { ...comment(5, ME, "quoting"), reply_to: { id: cid(4), user_id: RAIDER2, username: "someone", excerpt: "raid phrase!!" } } },
    mod(6, { action: "lockdown", on: true, modes: preset, seconds: 30 }),
    mod(7, { action: "purge", phrase: "raid phrase", seconds: 300, deleted: [cid(1), cid(4)], then: "ban", users: [RAIDER, RAIDER2] }),
    mod(8, { action: "title", title: "Back to normal" }),
    mod(9, { action: "warn", user_id: ME, reason: "no links please" }),
    mod(10, { action: "chat_mode", mode: "members_only", on: true }),
    mod(11, { action: "review", id: cid(40), decision: "deny", user_id: ME }),
    mod(12, { action: "warning_acknowledged", user_id: ME, by: ME }),
    mod(13, { action: "review", id: cid(41), decision: "allow", user_id: ME }),
    c(14, 41, ME, "held then allowed"),
    mod(15, { action: "chat_mode", mode: "members_only", on: false }),
    mod(16, { action: "chat_mode", mode: "emote_only", on: true }),
    mod(17, { action: "warn", user_id: ME, reason: "second warning" }),
    mod(18, { action: "purge", phrase: "quoting", seconds: 60, deleted: [cid(5)], then: "timeout", users: [ME], until }),
    mod(19, { action: "lockdown", on: false, modes: { ...MODES_OFF, unique_s: 300, emote_only: true }, seconds: 0 }),
    mod(20, { action: "title", title: "" }),
  ];
  const n = all.length;

  for (const role of ["viewer", "moderator"] as const) {
    /** Our two held messages were held before any of this (the unsequenced frames of the connection). */
    const start = () =>
      setReviewQueue(
        applyHeld(applyHeld(as(role), { type: "held", id: cid(40), client_msg_id: "h40", expires_at: until }, "first"), { type: "held", id: cid(41), client_msg_id: "h41", expires_at: until }, "second"),
        role === "moderator" ? [held(40, until, ME), held(41, until, ME)] : [],
      );
    const connected = applyEvents(start(), all);

    it(`(${role}) the story ends as the contract says`, () => {
      expect(connected.seq).toBe(n);
      expect(texts(connected)).toEqual(["hi", "held then allowed"]);
      expect([connected.banned, connected.mutedUntil, connected.lockdown, connected.slowModeS, connected.title]).toEqual([false, until, false, 0, null]);
      expect(connected.modes).toEqual({ ...MODES_OFF, unique_s: 300, emote_only: true });
      expect(connected.warning).toEqual({ reason: "second warning", by: MOD, at: null });
      expect(connected.held).toEqual([{ id: cid(40), clientMsgId: "h40", text: "first", expiresAt: until, status: "denied" }]);
      expect(connected.reviewQueue).toEqual([]);
      expect(connected.hiddenUsers).toEqual([]);
    });

    it(`(${role}) resuming after any seq k (comments + events > k, merged) gives the same view`, () => {
      for (let k = 0; k <= n; k++) {
        const before = applyEvents(start(), all.slice(0, k));
        const missed = all.slice(k);
        const comments = missed.flatMap((f) => (f.type === "comment" ? [{ seq: f.seq, comment: f.comment }] : []));
        const events = missed.filter((f) => f.type !== "comment");
        const resumed = applyEvents(welcomeView(before, welcome(n, { role, viewers: 1 })), historyFrames(comments, events));
        expect(resumed, `resumed after seq ${k}`).toEqual(connected);
      }
    });

    it(`(${role}) a fresh join whose welcome states the same room shows the same modes, title, warning and comments`, () => {
      const w = welcome(n, {
        role,
        viewers: 1,
        modes: connected.modes,
        lockdown: connected.lockdown,
        warning: { reason: "second warning", by: MOD, at: "2026-01-01T00:00:00.000Z" },
        muted_until: until,
        slow_mode_s: 0,
      });
      const joined = resetView(emptyView(), w, historyFrames(connected.comments.map((x) => ({ seq: x.seq, comment: x.comment }))));
      expect([joined.modes, joined.lockdown, joined.title, joined.warning?.reason, joined.mutedUntil, joined.slowModeS, joined.comments]).toEqual([
        connected.modes,
        connected.lockdown,
        connected.title,
        connected.warning?.reason,
        connected.mutedUntil,
        connected.slowModeS,
        connected.comments,
      ]);
    });
  }

  it("the script covers every issue 18 moderation action", () => {
    const actions = new Set(all.flatMap((f) => (f.type === "moderation" ? [f.action] : [])));
    expect(actions).toEqual(new Set(["chat_mode", "lockdown", "purge", "title", "warn", "review", "warning_acknowledged"]));
  });
});
