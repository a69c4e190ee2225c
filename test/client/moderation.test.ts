/**
 * ChatClient and issue 18 (moderation under a raid), against a scripted fake socket and fake
 * timers: the new commands on the wire, the unsequenced frames (`held`, `review_queue`, `modlog`,
 * `hidden_comment`) and what they do to sends, the store and the sequence tracker, resume
 * equivalence through the client itself, and the staff reads over HTTP (modlog, user card).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ChatClient,
  ChatError,
  HELD_EXPIRY_GRACE_MS,
  type ChatClientOptions,
  type ModerationFrame,
  type RoomEvent,
  type RoomView,
  type StreamComment,
} from "../../src/client/index.js";
import { fakeWebSockets, type FakeSocket } from "./fake-websocket.js";

const STREAM = "7d0a5f5e-4a57-4d2b-9a39-0f5b7a4c2e11";
const ME = { id: "11111111-1111-4111-8111-111111111111", username: "me" };
const OTHER = "22222222-2222-4222-8222-222222222222";
const MOD = "33333333-3333-4333-8333-333333333333";

const cid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const comment = (n: number, user = OTHER, message = `m${n}`): StreamComment => ({
  id: cid(n),
  stream_id: STREAM,
  user_id: user,
  username: user === ME.id ? "me" : "other",
  message,
  created_at: "2026-01-01T00:00:00.000Z",
});
const commentFrame = (seq: number, n = seq, user = OTHER, message?: string) => ({ type: "comment" as const, seq, comment: comment(n, user, message) });
const mod = (seq: number, f: Omit<ModerationFrame, "type" | "seq" | "by">): ModerationFrame => ({ type: "moderation", seq, by: MOD, ...f });

const settle = () => vi.advanceTimersByTimeAsync(0);

function harness(overrides: Partial<ChatClientOptions> = {}) {
  const ws = fakeWebSockets();
  let n = 0;
  const client = new ChatClient({
    baseUrl: "http://chat.test",
    streamId: STREAM,
    credentials: () => ({ ticket: `t${++n}` }),
    WebSocket: ws.WebSocket,
    backoff: { random: () => 0.999_999 },
    network: false,
    ...overrides,
  });
  const errors: ChatError[] = [];
  client.on("error", (e) => errors.push(e));
  return {
    client,
    sockets: ws.sockets,
    errors,
    /** Opens the latest socket and plays welcome + history (then `after`, e.g. a review_queue). */
    async accept(opts: { seq?: number; role?: string; welcome?: Record<string, unknown>; comments?: Array<{ seq: number; comment: StreamComment }>; events?: RoomEvent[]; recovered?: boolean; after?: unknown[] } = {}): Promise<FakeSocket> {
      await settle();
      const s = ws.last();
      s.open();
      s.receive({ type: "welcome", stream_id: STREAM, user: ME, seq: opts.seq ?? 0, epoch: "e1", role: opts.role ?? "viewer", ...opts.welcome });
      s.receive({ type: "history", comments: opts.comments ?? [], recovered: opts.recovered ?? false, ...(opts.events ? { events: opts.events } : {}) });
      for (const f of opts.after ?? []) s.receive(f);
      return s;
    },
  };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(Date.parse("2026-01-01T00:00:00.000Z"));
});
afterEach(() => {
  vi.useRealTimers();
});

describe("issue 18 commands", () => {
  it("each method sends its frame with a client_msg_id and resolves with the ack", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept({ role: "owner" });
    const preset = { emote_only: false, unique_s: 600, members_only: true, account_age_s: 3600, first_time_hold: true, slow_mode_s: 30 };
    const calls = [
      h.client.setChatMode("unique", true, 120, { clientMsgId: "cm" }),
      h.client.setChatMode("emote_only", false, undefined, { clientMsgId: "cm2" }),
      h.client.review(cid(7), "allow", { clientMsgId: "rv" }),
      h.client.warn(OTHER, "be kind", { clientMsgId: "w" }),
      h.client.acknowledgeWarning({ clientMsgId: "aw" }),
      h.client.hideUser(OTHER, { clientMsgId: "hu" }),
      h.client.unhideUser(OTHER, { clientMsgId: "uh" }),
      h.client.lockdown(true, { clientMsgId: "ld" }),
      h.client.setLockdownPreset(preset, { clientMsgId: "lp" }),
      h.client.purge("follow my", 300, { then: "timeout", timeoutS: 3600, reason: "raid", clientMsgId: "pg" }),
      h.client.purge("spam", 60, { clientMsgId: "pg2" }),
      h.client.setTitle("Raid night", { clientMsgId: "ti" }),
      h.client.blockTerms({ add: ["spam"], action: "hold" }, { clientMsgId: "bt" }),
    ];
    await vi.advanceTimersByTimeAsync(1000); // the pacer lets them out at its rate
    expect(s.frames).toEqual([
      { type: "chat_mode", mode: "unique", on: true, seconds: 120, client_msg_id: "cm" },
      { type: "chat_mode", mode: "emote_only", on: false, client_msg_id: "cm2" },
      { type: "review", id: cid(7), decision: "allow", client_msg_id: "rv" },
      { type: "warn", user_id: OTHER, reason: "be kind", client_msg_id: "w" },
      { type: "acknowledge_warning", client_msg_id: "aw" },
      { type: "hide_user", user_id: OTHER, client_msg_id: "hu" },
      { type: "unhide_user", user_id: OTHER, client_msg_id: "uh" },
      { type: "lockdown", on: true, client_msg_id: "ld" },
      { type: "lockdown_preset", preset, client_msg_id: "lp" },
      { type: "purge", phrase: "follow my", seconds: 300, then: "timeout", timeout_s: 3600, reason: "raid", client_msg_id: "pg" },
      { type: "purge", phrase: "spam", seconds: 60, client_msg_id: "pg2" },
      { type: "title", title: "Raid night", client_msg_id: "ti" },
      { type: "blocked_terms", add: ["spam"], action: "hold", client_msg_id: "bt" },
    ]);
    for (const f of s.frames) s.receive({ type: "ack", client_msg_id: f.client_msg_id, ...(f.type === "lockdown" ? { seq: 1 } : {}) });
    const results = await Promise.all(calls);
    expect(results.map((r) => r.clientMsgId)).toEqual(s.frames.map((f) => f.client_msg_id));
    expect(results[7]).toEqual({ clientMsgId: "ld", seq: 1 });
    h.client.close();
  });

  it("refuses out-of-range arguments locally with invalid_frame, sending nothing", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    await expect(h.client.warn(OTHER, "")).rejects.toMatchObject({ code: "invalid_frame", message: expect.stringMatching(/^Invalid warn command: reason/) });
    await expect(h.client.purge("x", 0)).rejects.toMatchObject({ code: "invalid_frame", message: expect.stringMatching(/seconds/) });
    await expect(h.client.purge("", 60)).rejects.toMatchObject({ code: "invalid_frame" });
    await expect(h.client.purge("x", 60, { then: "timeout", timeoutS: 5 })).rejects.toMatchObject({ code: "invalid_frame" });
    await expect(h.client.setChatMode("unique", true, 0)).rejects.toMatchObject({ code: "invalid_frame" });
    await expect(h.client.review("nope", "allow")).rejects.toMatchObject({ code: "invalid_frame" });
    await expect(h.client.setTitle("x".repeat(281))).rejects.toMatchObject({ code: "invalid_frame" });
    await expect(h.client.setLockdownPreset({ emote_only: false, unique_s: 0, members_only: false, account_age_s: 0, first_time_hold: false, slow_mode_s: 99_999 })).rejects.toMatchObject({
      code: "invalid_frame",
    });
    expect(s.sent).toEqual([]);
    h.client.close();
  });

  it("the server's refusals of a message under the chat modes reach send() with their code", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    const codes = ["emote_only", "not_unique", "members_only", "account_too_new", "warning_pending"] as const;
    const sends = codes.map((code) => h.client.send(`hi ${code}`, { clientMsgId: code }));
    for (const code of codes) s.receive({ type: "error", code, message: "refused", client_msg_id: code });
    for (const [i, code] of codes.entries()) await expect(sends[i]).rejects.toMatchObject({ code, clientMsgId: code });
    h.client.close();
  });
});

describe("held for review: our own message", () => {
  it("the send stays pending as `held` (not failed, not resent after a reconnect) and resolves when the allowed comment arrives", async () => {
    const h = harness();
    h.client.connect();
    const s1 = await h.accept({ seq: 2, comments: [{ seq: 1, comment: comment(1) }, { seq: 2, comment: comment(2) }] });
    let settled: string | null = null;
    const sent = h.client.send("my first message", { clientMsgId: "c1" });
    sent.then(
      () => (settled = "resolved"),
      () => (settled = "rejected"),
    );
    s1.receive({ type: "held", id: cid(50), client_msg_id: "c1", expires_at: "2026-01-01T00:10:00.000Z" });
    await settle();
    expect(settled).toBeNull();
    expect(h.client.pending).toEqual([]); // out of the outbox
    expect(h.client.held).toEqual([{ id: cid(50), clientMsgId: "c1", text: "my first message", expiresAt: "2026-01-01T00:10:00.000Z", status: "held" }]);

    // A reconnect does not send it again; the decision came while we were away, replayed by the resume.
    s1.serverClose(1006);
    await vi.advanceTimersByTimeAsync(250);
    const s2 = await h.accept({
      seq: 4,
      recovered: true,
      comments: [{ seq: 4, comment: comment(50, ME.id, "my first message") }],
      events: [mod(3, { action: "review", id: cid(50), decision: "allow", user_id: ME.id })],
    });
    expect(s2.sent).toEqual([]);
    await expect(sent).resolves.toEqual({ clientMsgId: "c1", id: cid(50), seq: 4 });
    expect(h.client.held).toEqual([]);
    expect(h.client.comments.at(-1)!.comment.message).toBe("my first message");
    h.client.close();
  });

  it("a denial rejects the send with review_denied and leaves the row `denied`", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    const sent = h.client.send("bad words", { clientMsgId: "c1" });
    s.receive({ type: "held", id: cid(50), client_msg_id: "c1", expires_at: "2026-01-01T00:10:00.000Z" });
    s.receive(mod(1, { action: "review", id: cid(50), decision: "deny", user_id: ME.id }));
    await expect(sent).rejects.toMatchObject({ code: "review_denied", clientMsgId: "c1" });
    expect(h.client.held.map((m) => m.status)).toEqual(["denied"]);
    expect(h.errors).toEqual([]);
    h.client.close();
  });

  it("undecided past expires_at (+ the grace), the row is `expired` and the send rejects with review_expired", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    const sent = h.client.send("anyone?", { clientMsgId: "c1" });
    const outcome = sent.catch((e: ChatError) => e.code);
    s.receive({ type: "held", id: cid(50), client_msg_id: "c1", expires_at: "2026-01-01T00:01:00.000Z" });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.client.held[0]!.status).toBe("held"); // a decision may still be on its way
    await vi.advanceTimersByTimeAsync(HELD_EXPIRY_GRACE_MS);
    expect(await outcome).toBe("review_expired");
    expect(h.client.held[0]!.status).toBe("expired");
    h.client.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("held messages do not count against the outbox limit, and close() rejects them with `closed`", async () => {
    const h = harness({ outboxLimit: 1 });
    h.client.connect();
    const s = await h.accept();
    const first = h.client.send("one", { clientMsgId: "c1" });
    s.receive({ type: "held", id: cid(50), client_msg_id: "c1", expires_at: "2026-01-01T00:10:00.000Z" });
    const second = h.client.send("two", { clientMsgId: "c2" }); // would be outbox_full if c1 still counted
    s.receive({ type: "ack", client_msg_id: "c2", id: cid(51), seq: 1 });
    await expect(second).resolves.toMatchObject({ id: cid(51) });
    h.client.close();
    await expect(first).rejects.toMatchObject({ code: "closed", clientMsgId: "c1" });
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("staff: review queue, live held items, the mod log", () => {
  it("review_queue replaces the queue on every join; live `held` adds; a review event removes", async () => {
    const h = harness();
    h.client.connect();
    const item = (n: number) => ({ id: cid(n), comment: comment(n), reason: "first_time", held_at: "2026-01-01T00:00:00.000Z", expires_at: "2026-01-01T00:10:00.000Z" });
    const s1 = await h.accept({ role: "moderator", after: [{ type: "review_queue", items: [item(7), item(8)] }] });
    expect(h.client.reviewQueue.map((x) => x.id)).toEqual([cid(7), cid(8)]);
    s1.receive({ type: "held", id: cid(9), comment: comment(9), reason: "blocked_term", expires_at: "2026-01-01T00:10:00.000Z" });
    expect(h.client.reviewQueue.map((x) => [x.id, x.reason])).toEqual([
      [cid(7), "first_time"],
      [cid(8), "first_time"],
      [cid(9), "blocked_term"],
    ]);
    s1.receive(mod(1, { action: "review", id: cid(7), decision: "deny", user_id: OTHER }));
    s1.receive(mod(2, { action: "review", id: cid(8), decision: "allow", user_id: OTHER }));
    s1.receive(commentFrame(3, 8));
    expect(h.client.reviewQueue.map((x) => x.id)).toEqual([cid(9)]);
    // Reconnect: the server's queue is the truth again.
    s1.serverClose(1006);
    await vi.advanceTimersByTimeAsync(250);
    await h.accept({ seq: 3, role: "moderator", recovered: true, after: [{ type: "review_queue", items: [item(9), item(10)] }] });
    expect(h.client.reviewQueue.map((x) => x.id)).toEqual([cid(9), cid(10)]);
    h.client.close();
  });

  it("frames that come before the history wait for it (a shard may send them early)", async () => {
    const h = harness();
    h.client.connect();
    await settle();
    const s = h.sockets.at(-1)!;
    s.open();
    s.receive({ type: "welcome", stream_id: STREAM, user: ME, seq: 1, epoch: "e1", role: "owner" });
    s.receive({ type: "modlog", entry: { seq: 5, action: "ban", by: MOD, at: "2026-01-01T00:00:00.000Z", target: OTHER, details: {} } });
    s.receive({ type: "hidden_comment", comment: comment(60, OTHER, "hidden early") });
    s.receive({ type: "history", comments: [{ seq: 1, comment: comment(1) }], recovered: false });
    expect(h.client.modlog.map((e) => e.seq)).toEqual([5]);
    expect(h.client.comments.map((c) => [c.comment.message, (c as { hidden?: true }).hidden])).toEqual([
      ["m1", undefined],
      ["hidden early", true],
    ]);
    h.client.close();
  });

  it("modlog entries arrive live, once, in log order", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept({ role: "owner" });
    const changes: RoomView[] = [];
    h.client.on("change", (v) => changes.push(v));
    const e = (seq: number, action: string) => ({ type: "modlog", entry: { seq, action, by: MOD, at: "2026-01-01T00:00:00.000Z", details: { seconds: 60 } } });
    s.receive(e(2, "timeout"));
    s.receive(e(1, "warn"));
    s.receive(e(2, "timeout"));
    expect(h.client.modlog.map((x) => [x.seq, x.action])).toEqual([
      [1, "warn"],
      [2, "timeout"],
    ]);
    expect(changes).toHaveLength(2); // the repeat changed nothing
    expect(h.client.room.seq).toBe(0);
    h.client.close();
  });
});

describe("hidden comments do not touch the sequence", () => {
  it("a hidden_comment between seq 2 and 3 opens no hole and triggers no resync; staff see it marked", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept({ seq: 2, role: "moderator", comments: [{ seq: 1, comment: comment(1) }, { seq: 2, comment: comment(2) }] });
    const events: number[] = [];
    h.client.on("event", (e) => events.push(e.seq));
    s.receive({ type: "hidden_comment", comment: comment(60, OTHER, "only staff see this") });
    s.receive(commentFrame(3));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(h.sockets).toHaveLength(1);
    expect(events).toEqual([3]);
    expect(h.client.comments.map((c) => [c.seq, c.comment.message, (c as { hidden?: true }).hidden ?? false])).toEqual([
      [1, "m1", false],
      [2, "m2", false],
      [2, "only staff see this", true],
      [3, "m3", false],
    ]);
    expect(h.client.position).toEqual({ since: 3, epoch: "e1" });
    h.client.close();
  });

  it("a hidden sender's message is acked without a seq: send() resolves with the position it is shown at", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept({ seq: 4 });
    const sent = h.client.send("am I heard?", { clientMsgId: "c1" });
    s.receive({ type: "hidden_comment", comment: comment(60, ME.id, "am I heard?") });
    s.receive({ type: "ack", client_msg_id: "c1", id: cid(60) });
    await expect(sent).resolves.toEqual({ clientMsgId: "c1", id: cid(60), seq: 4 });
    // Its author's view shows it like any other comment.
    expect(h.client.comments.at(-1)).toEqual({ seq: 4, comment: comment(60, ME.id, "am I heard?") });
    h.client.close();
  });
});

describe("the welcome's issue 18 fields and resume equivalence through the client", () => {
  it("modes, lockdown, title and our warning come from the welcome; acknowledging clears the warning", async () => {
    const h = harness();
    h.client.connect();
    const modes = { emote_only: true, unique_s: 0, members_only: false, account_age_s: 0, first_time_hold: true };
    const warning = { reason: "no spam", by: MOD, at: "2026-01-01T00:00:00.000Z" };
    const s = await h.accept({ seq: 3, welcome: { modes, lockdown: true, title: "Raid night", warning } });
    expect([h.client.modes, h.client.room.lockdown, h.client.title, h.client.warning]).toEqual([modes, true, "Raid night", warning]);
    const ack = h.client.acknowledgeWarning({ clientMsgId: "a" });
    s.receive(mod(4, { action: "warning_acknowledged", user_id: ME.id }));
    s.receive({ type: "ack", client_msg_id: "a", seq: 4 });
    await ack;
    expect(h.client.warning).toBeNull();
    h.client.close();
  });

  it("a client that dropped after any event and resumed ends in the view of one that stayed (issue 18 events)", async () => {
    const until = "2999-01-01T00:00:00.000Z";
    const stream: RoomEvent[] = [
      commentFrame(1, 1, OTHER, "raid raid"),
      commentFrame(2, 2, ME.id, "hello"),
      mod(3, { action: "lockdown", on: true, modes: { emote_only: false, unique_s: 600, members_only: true, account_age_s: 3600, first_time_hold: true }, seconds: 30 }),
      mod(4, { action: "purge", phrase: "raid", seconds: 300, deleted: [cid(1)], then: "ban", users: [OTHER] }),
      mod(5, { action: "warn", user_id: ME.id, reason: "calm" }),
      mod(6, { action: "title", title: "After the raid" }),
      mod(7, { action: "chat_mode", mode: "emote_only", on: true }),
      mod(8, { action: "warning_acknowledged", user_id: ME.id }),
      mod(9, { action: "purge", phrase: "hello", seconds: 60, deleted: [cid(2)], then: "timeout", users: [ME.id], until }),
      mod(10, { action: "lockdown", on: false, modes: { emote_only: true, unique_s: 0, members_only: false, account_age_s: 0, first_time_hold: false }, seconds: 0 }),
    ];
    const stay = harness();
    stay.client.connect();
    const live = await stay.accept({ role: "moderator" });
    for (const f of stream) live.receive(f);
    const expected = stay.client.room;
    expect([expected.lockdown, expected.title, expected.warning, expected.mutedUntil, expected.comments.length]).toEqual([false, "After the raid", null, until, 0]);

    for (let k = 0; k <= stream.length; k++) {
      const h = harness();
      h.client.connect();
      const s1 = await h.accept({ role: "moderator" });
      for (const f of stream.slice(0, k)) s1.receive(f);
      s1.serverClose(1006);
      await vi.advanceTimersByTimeAsync(250);
      const missed = stream.slice(k);
      await h.accept({
        seq: stream.length,
        role: "moderator",
        recovered: true,
        comments: missed.flatMap((f) => (f.type === "comment" ? [{ seq: f.seq, comment: f.comment }] : [])),
        events: missed.filter((f) => f.type !== "comment"),
      });
      expect(h.client.room, `resumed after seq ${k}`).toEqual(expected);
      h.client.close();
    }
    stay.client.close();
  });
});

describe("staff reads over HTTP", () => {
  const card = {
    user_id: OTHER,
    username: "other",
    role: "viewer",
    messages: 12,
    first_message_at: "2026-01-01T00:00:00.000Z",
    account_created_at: "2025-12-31T00:00:00.000Z",
    banned: false,
    muted_until: null,
    hidden: false,
    warning_pending: true,
    history: [{ seq: 3, action: "warn", by: MOD, at: "2026-01-01T00:01:00.000Z", target: OTHER, reason: "spam", details: {} }],
  };

  function withFetch(answer: (url: URL) => Response) {
    const calls: Array<{ url: string; auth: string | null; method: string }> = [];
    const fetchStub = (async (input: string | URL | Request, init?: RequestInit) => {
      calls.push({ url: String(input), auth: new Headers(init?.headers).get("authorization"), method: init?.method ?? "GET" });
      return answer(new URL(String(input)));
    }) as typeof fetch;
    return { calls, fetchStub };
  }

  it("fetchModlog GETs the modlog route with the bearer token and the query, and returns the checked body", async () => {
    const body = { entries: [{ seq: 9, action: "purge", by: MOD, at: "2026-01-01T00:00:00.000Z", details: { phrase: "raid" }, event_seq: 40 }], next_before: 9 };
    const { calls, fetchStub } = withFetch(() => Response.json(body));
    const h = harness({ credentials: () => ({ token: "jwt" }), fetch: fetchStub });
    await expect(h.client.fetchModlog({ before: 20, limit: 50 })).resolves.toEqual(body);
    await expect(h.client.fetchModlog()).resolves.toEqual(body);
    expect(calls).toEqual([
      { url: `http://chat.test/v1/streams/${STREAM}/chat/modlog?before=20&limit=50`, auth: "Bearer jwt", method: "GET" },
      { url: `http://chat.test/v1/streams/${STREAM}/chat/modlog`, auth: "Bearer jwt", method: "GET" },
    ]);
    await expect(h.client.fetchModlog({ limit: 0 })).rejects.toThrow(RangeError);
    h.client.close();
  });

  it("fetchUserCard GETs the user route and returns the card", async () => {
    const { calls, fetchStub } = withFetch(() => Response.json(card));
    const h = harness({ credentials: () => ({ token: "jwt" }), fetch: fetchStub });
    await expect(h.client.fetchUserCard(OTHER)).resolves.toEqual(card);
    expect(calls[0]!.url).toBe(`http://chat.test/v1/streams/${STREAM}/chat/users/${OTHER}`);
    h.client.close();
  });

  it("maps refusals: 403 forbidden, 401 unauthorized, 404 not_found, 5xx and wrong shapes request_failed, no network network_error", async () => {
    const answers: Record<string, () => Response | Promise<Response>> = {
      "403": () => Response.json({ error: "forbidden", message: "Staff only" }, { status: 403 }),
      "401": () => Response.json({ error: "unauthorized", message: "Bad token" }, { status: 401 }),
      "404": () => Response.json({ error: "not_found", message: "No such user" }, { status: 404 }),
      "503": () => Response.json({ error: "internal_error", message: "down" }, { status: 503 }),
      shape: () => Response.json({ entries: "nope" }),
      offline: () => Promise.reject(new TypeError("fetch failed")),
    };
    const expected: Record<string, string> = { "403": "forbidden", "401": "unauthorized", "404": "not_found", "503": "request_failed", shape: "request_failed", offline: "network_error" };
    for (const [k, answer] of Object.entries(answers)) {
      const fetchStub = (async () => answer()) as typeof fetch;
      const h = harness({ credentials: () => ({ token: "jwt" }), fetch: fetchStub });
      await expect(h.client.fetchModlog(), k).rejects.toMatchObject({ code: expected[k] });
      h.client.close();
    }
  });

  it("a ticket-only credentials provider cannot make staff reads (unauthorized); a closed client refuses (closed)", async () => {
    const h = harness();
    await expect(h.client.fetchUserCard(OTHER)).rejects.toMatchObject({ code: "unauthorized", message: expect.stringMatching(/needs a token/) });
    h.client.close();
    await expect(h.client.fetchModlog()).rejects.toMatchObject({ code: "closed" });
  });
});
