/**
 * Reconnects the server asks for (issue 19 §2): a 1013 `joins_busy` close waits the server's hint
 * plus jitter; a 1001/1012 close spreads the first reconnect over 0–3 s; then the normal backoff.
 * ChatClient against the fake socket and fake timers; the pure delays (src/client/reconnect.ts) too.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  advisedDelay,
  ChatClient,
  type ChatClientOptions,
  DEFAULT_BUSY_RETRY_MS,
  DEFAULT_RESTART_SPREAD_MS,
  restartDelay,
  type StateChange,
} from "../../src/client/index.js";
import { fakeWebSockets } from "./fake-websocket.js";

const STREAM = "7d0a5f5e-4a57-4d2b-9a39-0f5b7a4c2e11";
const ME = { id: "11111111-1111-4111-8111-111111111111", username: "me" };
const settle = () => vi.advanceTimersByTimeAsync(0);
const busy = (ms: number) => JSON.stringify({ error: "joins_busy", retry_after_ms: ms });

function harness(random: () => number, overrides: Partial<ChatClientOptions> = {}) {
  const ws = fakeWebSockets();
  let n = 0;
  const states: StateChange[] = [];
  const client = new ChatClient({
    baseUrl: "http://chat.test",
    streamId: STREAM,
    credentials: () => ({ ticket: `t${++n}` }),
    WebSocket: ws.WebSocket,
    backoff: { random },
    network: false,
    ...overrides,
  });
  client.on("state", (s) => states.push(s));
  const accept = async () => {
    await settle();
    const s = ws.last();
    s.open();
    s.receive({ type: "welcome", stream_id: STREAM, user: ME, seq: 0, epoch: "e1" });
    s.receive({ type: "history", comments: [], recovered: false });
    return s;
  };
  return { client, sockets: ws.sockets, last: ws.last, states, accept };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("advisedDelay and restartDelay", () => {
  it("advisedDelay is the hint plus uniform jitter in [0, hint]", () => {
    expect(advisedDelay(busy(2_000), () => 0)).toBe(2_000);
    expect(advisedDelay(busy(2_000), () => 0.999_999)).toBe(4_000);
    expect(advisedDelay(busy(2_000), () => 0.5)).toBe(3_000);
  });

  it("advisedDelay without a readable hint waits DEFAULT_BUSY_RETRY_MS plus jitter", () => {
    expect(advisedDelay("", () => 0)).toBe(DEFAULT_BUSY_RETRY_MS);
    expect(advisedDelay("overloaded", () => 0.999_999)).toBe(2 * DEFAULT_BUSY_RETRY_MS);
  });

  it("restartDelay is uniform over [0, DEFAULT_RESTART_SPREAD_MS]", () => {
    expect(restartDelay(() => 0)).toBe(0);
    expect(restartDelay(() => 0.999_999)).toBe(DEFAULT_RESTART_SPREAD_MS);
    expect(restartDelay(() => 0.5, 1_000)).toBe(500);
  });
});

describe("a 1013 joins_busy close", () => {
  it("is state reconnecting with reason server_busy, retried after the hint plus jitter — not the backoff's 250 ms", async () => {
    const h = harness(() => 0.5);
    h.client.connect();
    await settle();
    h.last().serverClose(1013, busy(3_000));
    expect(h.states.at(-1)).toMatchObject({ state: "reconnecting", reason: "server_busy", closeCode: 1013, retryInMs: 4_500 });
    await vi.advanceTimersByTimeAsync(4_499);
    expect(h.sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(h.sockets).toHaveLength(2);
    await h.accept();
    expect(h.client.state).toBe("open");
    h.client.close();
  });

  it("spreads a crowd refused with the same hint over [hint, 2·hint]", async () => {
    const delays: number[] = [];
    for (const r of [0, 0.25, 0.5, 0.75, 0.999_999]) {
      const h = harness(() => r);
      h.client.connect();
      await settle();
      h.last().serverClose(1013, busy(1_000));
      delays.push(h.states.at(-1)!.retryInMs!);
      h.client.close();
    }
    expect(delays).toEqual([1_000, 1_250, 1_500, 1_750, 2_000]);
  });
});

describe("a 1001 / 1012 close (the server restarting)", () => {
  for (const code of [1001, 1012]) {
    it(`${code}: the first reconnect is spread over 0–3 s, a failure after it backs off as usual`, async () => {
      const h = harness(() => 0.999_999);
      h.client.connect();
      const s = await h.accept();
      await vi.advanceTimersByTimeAsync(5_000); // stable
      s.serverClose(code, "restart");
      expect(h.states.at(-1)).toMatchObject({ state: "reconnecting", reason: "connection_lost", closeCode: code, retryInMs: DEFAULT_RESTART_SPREAD_MS });
      await vi.advanceTimersByTimeAsync(DEFAULT_RESTART_SPREAD_MS);
      await settle();
      expect(h.sockets).toHaveLength(2);
      // That attempt fails without a close code of ours: the normal backoff (attempt 1: ceiling 500 ms).
      h.last().serverClose(1006, "");
      expect(h.states.at(-1)).toMatchObject({ state: "reconnecting", reason: "connection_lost", closeCode: 1006, retryInMs: 500 });
      h.client.close();
    });
  }

  it("honours restartSpreadMs, and rejects a non-positive one", async () => {
    const h = harness(() => 0.999_999, { restartSpreadMs: 10_000 });
    h.client.connect();
    const s = await h.accept();
    s.serverClose(1012, "");
    expect(h.states.at(-1)).toMatchObject({ retryInMs: 10_000 });
    h.client.close();
    expect(() => harness(() => 0, { restartSpreadMs: 0 })).toThrow(RangeError);
  });

  it("a plain 1006 drop (what a workerd restart gives: no shutdown hook) keeps the fast backoff", async () => {
    const h = harness(() => 0.999_999);
    h.client.connect();
    const s = await h.accept();
    await vi.advanceTimersByTimeAsync(5_000);
    s.serverClose(1006, "");
    expect(h.states.at(-1)).toMatchObject({ state: "reconnecting", reason: "connection_lost", retryInMs: 250 });
    h.client.close();
  });
});
