/**
 * ChatClient against a scripted fake socket and fake timers: reconnects, resume, outbox,
 * heartbeat, gaps, close(). (The same behaviours against the real worker: integration.test.ts.)
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ChatClient,
  ChatError,
  type ChatClientOptions,
  type NetworkMonitor,
  type SeqComment,
  type StateChange,
} from "../../src/client/index.js";
import { fakeWebSockets, type FakeSocket } from "./fake-websocket.js";

const STREAM = "7d0a5f5e-4a57-4d2b-9a39-0f5b7a4c2e11";
const ME = { id: "11111111-1111-4111-8111-111111111111", username: "me" };

const sc = (seq: number): SeqComment => ({
  seq,
  comment: {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
    stream_id: STREAM,
    user_id: "22222222-2222-4222-8222-222222222222",
    username: "other",
    message: `m${seq}`,
    created_at: "2026-01-01T00:00:00.000Z",
  },
});
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => sc(from + i));
const commentFrame = (seq: number) => ({ type: "comment", ...sc(seq) });

/** Lets pending promise callbacks run (credentials, ticket) without moving the clock. */
const settle = () => vi.advanceTimersByTimeAsync(0);

interface Harness {
  client: ChatClient;
  sockets: FakeSocket[];
  last(): FakeSocket;
  states: StateChange[];
  delivered: number[];
  resets: Array<{ comments: SeqComment[] }>;
  errors: ChatError[];
  /** Walks the latest socket through open, welcome and history. */
  accept(opts?: { seq?: number; epoch?: string; comments?: SeqComment[]; recovered?: boolean }): Promise<FakeSocket>;
}

function harness(overrides: Partial<ChatClientOptions> = {}): Harness {
  const ws = fakeWebSockets();
  let n = 0;
  const client = new ChatClient({
    baseUrl: "http://chat.test",
    streamId: STREAM,
    credentials: () => ({ ticket: `t${++n}` }),
    WebSocket: ws.WebSocket,
    backoff: { random: () => 0.999_999 }, // always the ceiling: deterministic delays
    network: false,
    ...overrides,
  });
  const h: Harness = {
    client,
    sockets: ws.sockets,
    last: ws.last,
    states: [],
    delivered: [],
    resets: [],
    errors: [],
    async accept({ seq = 0, epoch = "e1", comments = [], recovered = false } = {}) {
      await settle();
      const s = ws.last();
      s.open();
      s.receive({ type: "welcome", stream_id: STREAM, user: ME, seq, epoch });
      s.receive({ type: "history", comments, recovered });
      return s;
    },
  };
  client.on("state", (s) => h.states.push(s));
  client.on("history", (e) => h.delivered.push(...e.comments.map((c) => c.seq)));
  client.on("reset", (e) => {
    h.resets.push(e);
    h.delivered.length = 0;
    h.delivered.push(...e.comments.map((c) => c.seq));
  });
  client.on("comment", (c) => h.delivered.push(c.seq));
  client.on("error", (e) => h.errors.push(e));
  return h;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("connecting", () => {
  it("opens the stream's socket with the ticket and batch=1, then goes open after the history", async () => {
    const h = harness();
    h.client.connect();
    expect(h.client.state).toBe("connecting");
    const s = await h.accept({ seq: 3, comments: range(1, 3) });
    const url = new URL(s.url);
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe(`ws://chat.test/ws/streams/${STREAM}/chat`);
    expect(s.params.get("ticket")).toBe("t1");
    expect(s.params.get("batch")).toBe("1");
    expect(s.params.has("since")).toBe(false);
    expect(h.client.state).toBe("open");
    expect(h.client.user).toEqual(ME);
    expect(h.delivered).toEqual([1, 2, 3]);
    s.receive(commentFrame(4));
    expect(h.delivered).toEqual([1, 2, 3, 4]);
    expect(h.states.map((x) => x.state)).toEqual(["connecting", "open"]);
    h.client.close();
  });

  it("exchanges a token for a ticket at the tickets endpoint (https → wss)", async () => {
    const calls: Array<{ url: string; auth: string | null; method: string | undefined }> = [];
    const fetchStub = (async (input: string | URL | Request, init?: RequestInit) => {
      calls.push({ url: String(input), auth: new Headers(init?.headers).get("authorization"), method: init?.method });
      return new Response(JSON.stringify({ ticket: "from-server", expires_in: 30 }), { status: 200 });
    }) as typeof fetch;
    const h = harness({ baseUrl: "https://chat.test", credentials: () => ({ token: "jwt-1" }), fetch: fetchStub });
    h.client.connect();
    await settle();
    expect(calls).toEqual([{ url: `https://chat.test/v1/streams/${STREAM}/chat/tickets`, auth: "Bearer jwt-1", method: "POST" }]);
    expect(h.last().url.startsWith(`wss://chat.test/ws/streams/${STREAM}/chat?ticket=from-server`)).toBe(true);
    h.client.close();
  });

  it("reports a refused token as `unauthorized` and keeps retrying with backoff", async () => {
    const fetchStub = (async () =>
      new Response(JSON.stringify({ error: "unauthorized", message: "Invalid token: expired" }), { status: 401 })) as typeof fetch;
    const h = harness({ credentials: () => ({ token: "old" }), fetch: fetchStub });
    h.client.connect();
    await settle();
    expect(h.errors.map((e) => [e.code, e.message])).toEqual([["unauthorized", "The server refused our credentials (Invalid token: expired)"]]);
    expect(h.states.at(-1)).toMatchObject({ state: "reconnecting", reason: "unauthorized", retryInMs: 250 });
    expect(h.sockets).toHaveLength(0);
    h.client.close();
  });

  it("gives up an attempt that does not reach the history within the connect timeout", async () => {
    const h = harness({ connectTimeoutMs: 5000 });
    h.client.connect();
    await settle();
    const s = h.last();
    s.open(); // TCP fine, but the server never says welcome
    await vi.advanceTimersByTimeAsync(4999);
    expect(h.client.state).toBe("connecting");
    await vi.advanceTimersByTimeAsync(1);
    expect(s.closedWith?.code).toBe(4000);
    expect(h.states.at(-1)).toMatchObject({ state: "reconnecting", reason: "connect_timeout" });
    h.client.close();
  });

  it("an admitted socket gets the connect timeout afresh for its welcome and history (a slow join is not redone)", async () => {
    const h = harness({ connectTimeoutMs: 5000 });
    h.client.connect();
    await settle();
    const s = h.last();
    await vi.advanceTimersByTimeAsync(4000);
    s.open(); // the upgrade took 4 s (a crowd after a redeploy); the room has us now
    await vi.advanceTimersByTimeAsync(4999);
    expect(h.client.state).toBe("connecting");
    expect(s.closedWith).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(s.closedWith?.code).toBe(4000);
    expect(h.states.at(-1)).toMatchObject({ state: "reconnecting", reason: "connect_timeout" });
    h.client.close();
  });

  it("validates its options at once", () => {
    const WebSocket = fakeWebSockets().WebSocket;
    expect(() => new ChatClient({ baseUrl: "http://x", streamId: "nope", credentials: () => ({ ticket: "t" }), WebSocket })).toThrow(/UUID/);
    expect(() => new ChatClient({ baseUrl: "ftp://x", streamId: STREAM, credentials: () => ({ ticket: "t" }), WebSocket })).toThrow(/http/);
    expect(() => new ChatClient({ baseUrl: "http://x", streamId: STREAM, credentials: () => ({ ticket: "t" }), WebSocket, gapTimeoutMs: 0 })).toThrow(
      /gapTimeoutMs/,
    );
  });
});

describe("reconnecting", () => {
  it("backs off exponentially while attempts fail, and resets after a stable connection", async () => {
    const h = harness();
    h.client.connect();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      await settle();
      h.last().serverClose(1006); // refused before any welcome
      const st = h.states.at(-1)!;
      expect(st.state).toBe("reconnecting");
      delays.push(st.retryInMs!);
      await vi.advanceTimersByTimeAsync(st.retryInMs!);
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 4000]);
    const s = await h.accept();
    await vi.advanceTimersByTimeAsync(5000); // stable for stableAfterMs
    s.serverClose(1006); // (1001/1012 spread the first retry instead: reconnect.test.ts)
    expect(h.states.at(-1)).toMatchObject({ state: "reconnecting", retryInMs: 250, reason: "connection_lost", closeCode: 1006 });
    h.client.close();
  });

  it("resumes with since/epoch and delivers each missed comment once, in order", async () => {
    const h = harness();
    h.client.connect();
    const s1 = await h.accept({ seq: 2, epoch: "ep", comments: range(1, 2) });
    s1.receive(commentFrame(3));
    s1.serverClose(1006);
    await vi.advanceTimersByTimeAsync(250);
    await settle();
    const s2 = h.last();
    expect(s2).not.toBe(s1);
    expect(s2.params.get("since")).toBe("3");
    expect(s2.params.get("epoch")).toBe("ep");
    expect(s2.params.get("ticket")).toBe("t2"); // credentials asked again on every attempt
    s2.open();
    s2.receive({ type: "welcome", stream_id: STREAM, user: ME, seq: 6, epoch: "ep" });
    s2.receive(commentFrame(7)); // a live comment racing the history
    s2.receive({ type: "history", comments: range(3, 6), recovered: true }); // 3 again: a duplicate
    s2.receive(commentFrame(7)); // and 7 again
    s2.receive(commentFrame(8));
    expect(h.delivered).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(h.resets).toEqual([]);
    h.client.close();
  });

  it("emits `reset` when the server could not recover what was missed", async () => {
    const h = harness();
    h.client.connect();
    const s1 = await h.accept({ seq: 5, comments: range(1, 5) });
    s1.serverClose(1006);
    await vi.advanceTimersByTimeAsync(250);
    await h.accept({ seq: 400, comments: range(351, 400), recovered: false });
    expect(h.resets).toHaveLength(1);
    expect(h.delivered).toEqual(range(351, 400).map((c) => c.seq));
    h.client.close();
  });

  it("resyncs when a hole in the sequence does not fill in time", async () => {
    const h = harness({ gapTimeoutMs: 2000 });
    h.client.connect();
    const s1 = await h.accept({ seq: 2, comments: range(1, 2) });
    s1.receive(commentFrame(3));
    s1.receive(commentFrame(5)); // 4 lost
    expect(h.delivered).toEqual([1, 2, 3]);
    await vi.advanceTimersByTimeAsync(1999);
    expect(h.sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(s1.closedWith?.code).toBe(4000);
    const s2 = h.last();
    expect(s2).not.toBe(s1);
    expect(s2.params.get("since")).toBe("3");
    await h.accept({ seq: 5, comments: range(4, 5), recovered: true });
    expect(h.delivered).toEqual([1, 2, 3, 4, 5]);
  });

  it("does not resync when the hole fills in time", async () => {
    const h = harness({ gapTimeoutMs: 2000 });
    h.client.connect();
    const s1 = await h.accept();
    s1.receive(commentFrame(2));
    await vi.advanceTimersByTimeAsync(1000);
    s1.receive(commentFrame(1));
    await vi.advanceTimersByTimeAsync(5000);
    expect(h.sockets).toHaveLength(1);
    expect(h.delivered).toEqual([1, 2]);
    h.client.close();
  });

  it("reconnects at once on reconnect(), resuming", async () => {
    const h = harness();
    h.client.connect();
    const s1 = await h.accept({ seq: 4, comments: range(1, 4) });
    h.client.reconnect();
    await settle();
    expect(s1.closedWith?.code).toBe(4000);
    expect(h.last().params.get("since")).toBe("4");
    h.client.close();
  });

  it("reports a 1008 close as policy_violation and reconnects no sooner than the backoff ceiling, even after a stable connection", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    await vi.advanceTimersByTimeAsync(5000); // stable: a plain drop would be retried within 250 ms
    s.serverClose(1008, "too many rejected frames");
    expect(h.errors.map((e) => e.code)).toEqual(["policy_violation"]);
    expect(h.states.at(-1)).toMatchObject({ state: "reconnecting", reason: "policy_violation", closeCode: 1008, retryInMs: 15_000 + 250 });
    await vi.advanceTimersByTimeAsync(15_000);
    expect(h.sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(250);
    await settle();
    expect(h.sockets).toHaveLength(2);
    // A second 1008 right away: again the ceiling on top of a growing backoff, never a tight loop.
    const s2 = await h.accept();
    s2.serverClose(1008, "again");
    expect(h.states.at(-1)).toMatchObject({ state: "reconnecting", reason: "policy_violation", retryInMs: 15_000 + 500 });
    h.client.close();
  });

  it("stops on a 4429 close (too many sockets): closed with a clear reason, no reconnect, pending sends fail", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    const pending = h.client.send("unanswered", { clientMsgId: "p1" });
    s.serverClose(4429, "too many sockets for this user");
    expect(h.client.state).toBe("closed");
    expect(h.states.at(-1)).toMatchObject({ state: "closed", previous: "open", reason: "too_many_sockets", closeCode: 4429 });
    expect(h.errors.map((e) => e.code)).toEqual(["too_many_sockets"]);
    await expect(pending).rejects.toMatchObject({ code: "too_many_sockets", clientMsgId: "p1" });
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(h.sockets).toHaveLength(1);
    await expect(h.client.ready()).rejects.toMatchObject({ code: "closed" });
    await expect(h.client.send("later")).rejects.toMatchObject({ code: "closed" });
  });
});

describe("heartbeat", () => {
  it("pings an idle connection and reconnects when nothing answers", async () => {
    const h = harness({ heartbeatIntervalMs: 20_000, heartbeatTimeoutMs: 10_000 });
    h.client.connect();
    const s = await h.accept();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(s.sent).toEqual(['{"type":"ping"}']); // the exact string the room auto-answers
    s.receive({ type: "pong" });
    await vi.advanceTimersByTimeAsync(15_000);
    expect(h.client.state).toBe("open");
    await vi.advanceTimersByTimeAsync(5_000); // second ping
    expect(s.sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(10_000); // no pong
    expect(h.states.at(-1)).toMatchObject({ state: "reconnecting", reason: "heartbeat_timeout" });
    expect(s.closedWith?.code).toBe(4000);
    h.client.close();
  });

  it("does not ping a connection that is receiving frames", async () => {
    const h = harness({ heartbeatIntervalMs: 20_000 });
    h.client.connect();
    const s = await h.accept();
    for (let seq = 1; seq <= 10; seq++) {
      await vi.advanceTimersByTimeAsync(5_000);
      s.receive(commentFrame(seq));
    }
    expect(s.sent).toEqual([]);
    h.client.close();
  });
});

describe("sending", () => {
  it("sends with a client_msg_id and resolves on the ack", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    const p = h.client.send("hello", { clientMsgId: "c1" });
    expect(s.frames).toEqual([{ type: "message", text: "hello", client_msg_id: "c1" }]);
    expect(h.client.pending).toEqual([{ clientMsgId: "c1", command: { type: "message", text: "hello" } }]);
    s.receive({ type: "ack", client_msg_id: "c1", id: sc(1).comment.id, seq: 1 });
    await expect(p).resolves.toEqual({ clientMsgId: "c1", id: sc(1).comment.id, seq: 1 });
    expect(h.client.pending).toEqual([]);
    const q = h.client.send("generated id");
    const id = s.frames[1]!.client_msg_id as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    s.receive({ type: "ack", client_msg_id: id, id: sc(2).comment.id, seq: 2 });
    await expect(q).resolves.toMatchObject({ clientMsgId: id, seq: 2 });
    h.client.close();
  });

  it("keeps sends made while disconnected and delivers them on the next connection; unacked ones are resent with the same id", async () => {
    const h = harness();
    h.client.connect();
    const early = h.client.send("before connect", { clientMsgId: "a" });
    const s1 = await h.accept();
    expect(s1.frames).toEqual([{ type: "message", text: "before connect", client_msg_id: "a" }]);
    s1.serverClose(1006); // no ack: did the server get it? The resend settles it.
    const offline = h.client.send("while reconnecting", { clientMsgId: "b" });
    await vi.advanceTimersByTimeAsync(250);
    const s2 = await h.accept();
    expect(s2.frames).toEqual([
      { type: "message", text: "before connect", client_msg_id: "a" },
      { type: "message", text: "while reconnecting", client_msg_id: "b" },
    ]);
    s2.receive({ type: "ack", client_msg_id: "a", id: sc(1).comment.id, seq: 1 });
    s2.receive({ type: "ack", client_msg_id: "b", id: sc(2).comment.id, seq: 2 });
    await expect(early).resolves.toMatchObject({ seq: 1 });
    await expect(offline).resolves.toMatchObject({ seq: 2 });
    h.client.close();
  });

  it("rejects with the server's error code; errors not about a pending message go to `error`", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    const p = h.client.send("x".repeat(10), { clientMsgId: "r1" });
    s.receive({ type: "error", code: "message_too_long", message: "Message too long (max 500 chars)", client_msg_id: "r1" });
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChatError);
    expect(err).toMatchObject({ code: "message_too_long", clientMsgId: "r1", message: "Message too long (max 500 chars)" });
    expect(h.errors).toEqual([]); // a send's error goes to its promise, not to `error`
    s.receive({ type: "error", code: "invalid_frame", message: "Unknown or malformed frame" });
    expect(h.errors.map((e) => e.code)).toEqual(["invalid_frame"]);
    h.client.close();
  });

  it("refuses empty, too long, and over-the-limit messages before sending anything", async () => {
    const h = harness({ outboxLimit: 2 });
    h.client.connect();
    await expect(h.client.send("   \n ")).rejects.toMatchObject({ code: "empty_message" });
    // Visually empty by the room's rule: zero-width and filler characters only (attack report 7).
    await expect(h.client.send("\u200B\u3164\u2800")).rejects.toMatchObject({ code: "empty_message" });
    await expect(h.client.send("é".repeat(501))).rejects.toMatchObject({ code: "message_too_long" });
    const ok = h.client.send(` ${"😀".repeat(500)} `); // 500 code points after trim: fine
    const ok2 = h.client.send("two");
    await expect(h.client.send("three")).rejects.toMatchObject({ code: "outbox_full" });
    expect(h.client.pending).toHaveLength(2);
    h.client.close();
    await expect(ok).rejects.toMatchObject({ code: "closed" });
    await expect(ok2).rejects.toMatchObject({ code: "closed" });
  });

  it("unpacks batch frames", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    const p = h.client.send("x", { clientMsgId: "b1" });
    s.receive({
      type: "batch",
      frames: [commentFrame(1), commentFrame(2), { type: "ack", client_msg_id: "b1", id: sc(2).comment.id, seq: 2 }, commentFrame(3)],
    });
    expect(h.delivered).toEqual([1, 2, 3]);
    await expect(p).resolves.toMatchObject({ seq: 2 });
    h.client.close();
  });

  it("reports frames outside the protocol as protocol_error and keeps going", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    s.receive("not json");
    s.receive({ type: "surprise" });
    s.receive({ type: "batch", frames: [{ type: "surprise" }, commentFrame(1)] });
    expect(h.errors.map((e) => e.code)).toEqual(["protocol_error", "protocol_error", "protocol_error"]);
    expect(h.delivered).toEqual([1]);
    expect(h.client.state).toBe("open");
    h.client.close();
  });
});

describe("pacing and throttling (issue 9 item 3)", () => {
  const ack = (s: FakeSocket, id: string, seq: number) => s.receive({ type: "ack", client_msg_id: id, id: sc(seq).comment.id, seq });

  /**
   * Token-bucket conformance: in any stretch of sends i..j, at most burst + rate · (t_j − t_i)
   * messages. (The server's bucket is the same shape, so a conforming client is never limited.)
   */
  function expectConforms(times: number[], rate: number, burst: number): void {
    for (let i = 0; i < times.length; i++) {
      for (let j = i; j < times.length; j++) {
        const allowed = burst + (rate * (times[j]! - times[i]!)) / 1000;
        if (j - i + 1 > allowed + 1e-9) {
          throw new Error(`sends ${i}..${j} (${j - i + 1}) within ${times[j]! - times[i]!} ms exceed ${rate}/s with burst ${burst}`);
        }
      }
    }
  }

  it("flushes 40 sends queued while disconnected at no more than the rate the server advertised", async () => {
    const h = harness();
    h.client.connect();
    const s1 = await h.accept();
    s1.serverClose(1006);
    const ids = Array.from({ length: 40 }, (_, i) => `q${i}`);
    const results = ids.map((id) => h.client.send(`queued ${id}`, { clientMsgId: id }));
    await vi.advanceTimersByTimeAsync(250);
    await settle();
    const s2 = h.last();
    s2.open();
    s2.receive({ type: "welcome", stream_id: STREAM, user: ME, seq: 0, epoch: "e1", limits: { messages_per_sec: 5, frames_per_sec: 20 } });
    s2.receive({ type: "history", comments: [], recovered: false });
    const start = Date.now();
    expect(s2.sent).toHaveLength(5); // the burst goes at once...
    for (let t = 0; t < 10_000 && s2.sent.length < 40; t += 50) await vi.advanceTimersByTimeAsync(50);
    // ...the rest at 5/s: all 40, oldest first, each once, and never faster than advertised.
    expect(s2.frames.map((f) => f.client_msg_id)).toEqual(ids);
    expectConforms(s2.sentAt, 5, 5);
    expect(s2.sentAt.at(-1)! - start).toBeLessThanOrEqual(((40 - 5) / 5) * 1000 + 50); // and no slower
    s2.frames.forEach((f, i) => ack(s2, f.client_msg_id as string, i + 1));
    expect((await Promise.all(results)).map((r) => r.seq)).toEqual(ids.map((_, i) => i + 1));
    h.client.close();
  });

  it("paces at 10/s with a burst of 10 when the welcome gives no limits", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    for (let i = 0; i < 25; i++) void h.client.send(`m${i}`, { clientMsgId: `m${i}` }).catch(() => {});
    expect(s.sent).toHaveLength(10);
    await vi.advanceTimersByTimeAsync(99);
    expect(s.sent).toHaveLength(10);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.sent).toHaveLength(11);
    await vi.advanceTimersByTimeAsync(1400);
    expect(s.sent).toHaveLength(25);
    expectConforms(s.sentAt, 10, 10);
    h.client.close();
  });

  it("resends a rate_limited message after retry_after_ms with the same client_msg_id, and resolves", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    const p = h.client.send("hello", { clientMsgId: "c1" });
    s.receive({ type: "error", code: "rate_limited", message: "Too many messages, slow down", retry_after_ms: 300, client_msg_id: "c1" });
    const later = h.client.send("typed meanwhile", { clientMsgId: "c2" });
    await vi.advanceTimersByTimeAsync(299);
    expect(s.frames.map((f) => f.client_msg_id)).toEqual(["c1"]); // nothing before the server's time
    await vi.advanceTimersByTimeAsync(1);
    expect(s.frames.map((f) => f.client_msg_id)).toEqual(["c1", "c1"]); // the same message again, first
    await vi.advanceTimersByTimeAsync(100);
    expect(s.frames.map((f) => f.client_msg_id)).toEqual(["c1", "c1", "c2"]); // then the normal pace
    ack(s, "c1", 1);
    ack(s, "c2", 2);
    await expect(p).resolves.toEqual({ clientMsgId: "c1", id: sc(1).comment.id, seq: 1 });
    await expect(later).resolves.toMatchObject({ seq: 2 });
    expect(h.errors).toEqual([]);
    h.client.close();
  });

  it("room_busy is retried the same way; after throttleRetries answers the send rejects with the server's error", async () => {
    const h = harness({ throttleRetries: 2 });
    h.client.connect();
    const s = await h.accept();
    const p = h.client.send("busy", { clientMsgId: "b1" });
    const busy = { type: "error", code: "room_busy", message: "The chat is too busy right now, try again shortly", retry_after_ms: 1000, client_msg_id: "b1" };
    for (let i = 1; i <= 2; i++) {
      s.receive(busy);
      await vi.advanceTimersByTimeAsync(1000);
      expect(s.frames).toHaveLength(i + 1);
    }
    s.receive(busy); // the third answer is past the bound
    await expect(p).rejects.toMatchObject({ code: "room_busy", retryAfterMs: 1000, clientMsgId: "b1" });
    expect(h.client.pending).toEqual([]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(s.frames).toHaveLength(3);
    expect(h.errors).toEqual([]);
    h.client.close();
  });

  it("internal_error (e.g. a shard that could not reach the room) is resent after 1 s with the same client_msg_id; the room's repeat ack resolves it", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    const p = h.client.send("maybe applied", { clientMsgId: "i1" });
    s.receive({ type: "error", code: "internal_error", message: "Internal error", client_msg_id: "i1" });
    await vi.advanceTimersByTimeAsync(999);
    expect(s.frames.map((f) => f.client_msg_id)).toEqual(["i1"]);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.frames.map((f) => f.client_msg_id)).toEqual(["i1", "i1"]);
    ack(s, "i1", 1);
    await expect(p).resolves.toMatchObject({ clientMsgId: "i1", seq: 1 });
    expect(h.errors).toEqual([]);
    h.client.close();
  });

  it("a throttled message still waiting is rejected by close(), and nothing is sent after it", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    const p = h.client.send("hello", { clientMsgId: "c1" });
    s.receive({ type: "error", code: "rate_limited", message: "slow down", retry_after_ms: 500, client_msg_id: "c1" });
    h.client.close();
    await expect(p).rejects.toMatchObject({ code: "closed" });
    expect(vi.getTimerCount()).toBe(0);
    expect(s.sent).toHaveLength(1);
  });
});

describe("network events", () => {
  function fakeNetwork(): NetworkMonitor & { set(online: boolean): void } {
    let online = true;
    let listener: ((online: boolean) => void) | null = null;
    return {
      isOnline: () => online,
      subscribe(fn) {
        listener = fn;
        return () => {
          listener = null;
        };
      },
      set(v) {
        online = v;
        listener?.(v);
      },
    };
  }

  it("drops the socket when the device goes offline and reconnects as soon as it is back", async () => {
    const net = fakeNetwork();
    const h = harness({ network: net });
    h.client.connect();
    const s1 = await h.accept({ seq: 1, comments: range(1, 1) });
    net.set(false);
    expect(s1.closedWith?.code).toBe(4000);
    expect(h.states.at(-1)).toMatchObject({ state: "reconnecting", reason: "offline" });
    expect(h.states.at(-1)!.retryInMs).toBeUndefined();
    await vi.advanceTimersByTimeAsync(5000);
    expect(h.sockets).toHaveLength(1); // no attempts while offline
    net.set(true);
    await settle();
    expect(h.sockets).toHaveLength(2);
    expect(h.last().params.get("since")).toBe("1");
    h.client.close();
  });
});

describe("close()", () => {
  it("really stops: socket closed with 1000, no timers left, nothing reconnects", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    const pending = h.client.send("never acked");
    s.receive(commentFrame(2)); // leaves a gap timer running
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    h.client.close();
    expect(s.closedWith).toEqual({ code: 1000, reason: "client closed" });
    expect(vi.getTimerCount()).toBe(0);
    await expect(pending).rejects.toMatchObject({ code: "closed" });
    s.serverClose(1000); // a late close event must not revive it
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.sockets).toHaveLength(1);
    expect(h.client.state).toBe("closed");
    await expect(h.client.send("after")).rejects.toMatchObject({ code: "closed" });
    await expect(h.client.ready()).rejects.toMatchObject({ code: "closed" });
  });

  it("during a slow credentials call: the late answer opens no socket", async () => {
    let release!: (c: { ticket: string }) => void;
    const h = harness({ credentials: () => new Promise((r) => (release = r)) });
    h.client.connect();
    await settle();
    h.client.close();
    release({ ticket: "late" });
    await settle();
    expect(h.sockets).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("while waiting to reconnect: clears the backoff timer", async () => {
    const h = harness();
    h.client.connect();
    await settle();
    h.last().serverClose(1006);
    expect(vi.getTimerCount()).toBe(1);
    h.client.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(h.states.map((s) => s.state)).toEqual(["connecting", "reconnecting", "closed"]);
  });
});

describe("room events (issue 10): commands and the state store", () => {
  const W = (seq: number, extra: Record<string, unknown> = {}) => ({ type: "welcome", stream_id: STREAM, user: ME, seq, epoch: "e1", ...extra });

  it("keeps chat.comments current through edits, deletions, pins and moderation, live and across a resume", async () => {
    const h = harness();
    const changes: number[] = [];
    const events: string[] = [];
    h.client.on("change", (v) => changes.push(v.seq));
    h.client.on("event", (e) => events.push(`${e.seq}:${e.type}`));
    h.client.connect();
    await settle();
    const s1 = h.last();
    s1.open();
    s1.receive(W(2, { role: "viewer", viewers: 2, slow_mode_s: 0, pinned: null }));
    s1.receive({ type: "history", comments: range(1, 2), recovered: false });
    expect(h.client.comments.map((c) => c.seq)).toEqual([1, 2]);
    expect(h.client.viewers).toBe(2);
    expect(h.client.role).toBe("viewer");

    // Live: an edit (seq 3) then a comment (seq 4): no hole, both applied in order.
    s1.receive({ type: "comment_edited", seq: 3, id: sc(1).comment.id, message: "m1 fixed", entities: [], edited_at: "2026-01-01T00:01:00.000Z" });
    s1.receive(commentFrame(4));
    s1.receive({ type: "viewers", count: 5 });
    expect(h.client.comments.map((c) => c.comment.message)).toEqual(["m1 fixed", "m2", "m4"]);
    expect(h.client.comments[0]!.comment.edited_at).toBe("2026-01-01T00:01:00.000Z");
    expect(h.client.viewers).toBe(5);
    expect(events).toEqual(["3:comment_edited", "4:comment"]);
    expect(h.delivered).toEqual([1, 2, 4]); // `comment` events as before
    await vi.advanceTimersByTimeAsync(5000);
    expect(h.sockets).toHaveLength(1); // no gap resync: the edit filled seq 3

    // Disconnect; meanwhile seq 5 deletes m2, 6 pins m4, 7 times us out, 8 is a new comment.
    s1.serverClose(1006);
    await vi.advanceTimersByTimeAsync(250);
    await settle();
    const s2 = h.last();
    expect(s2.params.get("since")).toBe("4");
    s2.open();
    const until = "2999-01-01T00:00:00.000Z";
    s2.receive(W(8, { role: "viewer", viewers: 4, pinned: sc(4).comment, muted_until: until }));
    s2.receive({
      type: "history",
      comments: [sc(8)],
      recovered: true,
      events: [
        { type: "comment_deleted", seq: 5, id: sc(2).comment.id, by: "mod" },
        { type: "pinned", seq: 6, comment: sc(4).comment, by: "mod" },
        { type: "moderation", seq: 7, action: "timeout", user_id: ME.id, seconds: 600, until, by: "mod" },
      ],
    });
    expect(h.client.comments.map((c) => c.comment.message)).toEqual(["m1 fixed", "m4", "m8"]);
    expect(h.client.pinned).toEqual(sc(4).comment);
    expect(h.client.mutedUntil).toBe(until);
    expect(h.client.viewers).toBe(4);
    expect(h.client.room.seq).toBe(8);
    expect(events).toEqual(["3:comment_edited", "4:comment"]); // history frames are not repeated as `event`
    expect(changes.at(-1)).toBe(8);
    h.client.close();
  });

  it("sends each command with a client_msg_id and resolves with the ack's optional id/seq", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept({ seq: 1, comments: [sc(1)] });
    const id = sc(1).comment.id;
    const calls = [
      h.client.edit(id, "new text", { clientMsgId: "e" }),
      h.client.delete(id, { clientMsgId: "d" }),
      h.client.pin(id, { clientMsgId: "p" }),
      h.client.unpin({ clientMsgId: "u" }),
      h.client.timeout(ME.id, 600, "calm down", { clientMsgId: "t" }),
      h.client.ban(ME.id, undefined, { clientMsgId: "b" }),
      h.client.unban(ME.id, { clientMsgId: "ub" }),
      h.client.slowMode(30, { clientMsgId: "s" }),
      h.client.blockTerms({ add: ["spam"], remove: ["ok"] }, { clientMsgId: "bt" }),
      h.client.setRole(ME.id, "moderator", { clientMsgId: "r" }),
    ];
    const reply = h.client.reply(id, "answer", { clientMsgId: "re" });
    const withFiles = h.client.send("look", { clientMsgId: "at", attachments: ["up-1"] });
    // Same pacing as messages (10/s, burst 10 without welcome.limits): the last two wait.
    expect(s.frames).toHaveLength(10);
    await vi.advanceTimersByTimeAsync(250);
    expect(s.frames).toEqual([
      { type: "edit", id, text: "new text", client_msg_id: "e" },
      { type: "delete", id, client_msg_id: "d" },
      { type: "pin", id, client_msg_id: "p" },
      { type: "unpin", client_msg_id: "u" },
      { type: "timeout", user_id: ME.id, seconds: 600, reason: "calm down", client_msg_id: "t" },
      { type: "ban", user_id: ME.id, client_msg_id: "b" },
      { type: "unban", user_id: ME.id, client_msg_id: "ub" },
      { type: "slow_mode", seconds: 30, client_msg_id: "s" },
      { type: "blocked_terms", add: ["spam"], remove: ["ok"], client_msg_id: "bt" },
      { type: "role", user_id: ME.id, role: "moderator", client_msg_id: "r" },
      { type: "message", text: "answer", reply_to: id, client_msg_id: "re" },
      { type: "message", text: "look", attachments: ["up-1"], client_msg_id: "at" },
    ]);
    s.receive({ type: "ack", client_msg_id: "e", id, seq: 2 });
    s.receive({ type: "ack", client_msg_id: "bt" });
    await expect(calls[0]).resolves.toEqual({ clientMsgId: "e", id, seq: 2 });
    await expect(calls[8]).resolves.toEqual({ clientMsgId: "bt" });
    // A message ack without a comment: the room found the text visually empty and posted nothing.
    s.receive({ type: "ack", client_msg_id: "re" });
    await expect(reply).rejects.toMatchObject({ code: "empty_message", clientMsgId: "re" });
    h.client.close();
    await Promise.allSettled([...calls, withFiles]);
  });

  it("rejects with the server's muted/slow_mode/forbidden errors, carrying until and retryAfterMs", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    const muted = h.client.send("hi", { clientMsgId: "m" });
    const slow = h.client.send("again", { clientMsgId: "s" });
    const pin = h.client.pin(sc(1).comment.id, { clientMsgId: "p" });
    s.receive({ type: "error", code: "muted", message: "You are timed out", until: "2999-01-01T00:00:00.000Z", client_msg_id: "m" });
    s.receive({ type: "error", code: "slow_mode", message: "Slow mode", retry_after_ms: 12_000, client_msg_id: "s" });
    s.receive({ type: "error", code: "forbidden", message: "No", client_msg_id: "p" });
    await expect(muted).rejects.toMatchObject({ code: "muted", until: "2999-01-01T00:00:00.000Z" });
    await expect(slow).rejects.toMatchObject({ code: "slow_mode", retryAfterMs: 12_000 });
    await expect(pin).rejects.toMatchObject({ code: "forbidden" });
    // slow_mode is not retried like rate_limited: nothing was resent.
    await vi.advanceTimersByTimeAsync(15_000);
    expect(s.frames.map((f) => f.client_msg_id)).toEqual(["m", "s", "p"]);
    h.client.close();
  });

  it("refuses malformed commands locally with invalid_frame, sending nothing", async () => {
    const h = harness();
    h.client.connect();
    const s = await h.accept();
    await expect(h.client.timeout(ME.id, 5)).rejects.toMatchObject({ code: "invalid_frame", message: expect.stringMatching(/seconds/) });
    await expect(h.client.slowMode(3601)).rejects.toMatchObject({ code: "invalid_frame" });
    await expect(h.client.pin("not-a-uuid")).rejects.toMatchObject({ code: "invalid_frame", message: expect.stringMatching(/^Invalid pin command: id/) });
    await expect(h.client.edit(sc(1).comment.id, "  ")).rejects.toMatchObject({ code: "empty_message" });
    await expect(h.client.reply("nope", "text")).rejects.toMatchObject({ code: "invalid_frame" });
    expect(s.sent).toEqual([]);
    h.client.close();
  });
});
