/**
 * The SDK's side of slow consumers (issue 19 §3, src/rules/consumers.ts): it asks for `?seen=1`,
 * reports what it read after 50 events and at least 1 s apart (none in a quiet stream), and on a
 * 4408 close reconnects with the usual backoff (state reconnecting, reason slow_consumer) and
 * resumes from the last seq it read. ChatClient against the fake socket and fake timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ChatClient, type ChatClientOptions, type StateChange } from "../../src/client/index.js";
import { describeState } from "../../src/client/page-words.js";
import { CLOSE_SLOW_CONSUMER, SLOW_CONSUMER_REASON } from "../../src/rules/consumers.js";
import { fakeWebSockets, type FakeSocket } from "./fake-websocket.js";

const STREAM = "7d0a5f5e-4a57-4d2b-9a39-0f5b7a4c2e11";
const ME = { id: "11111111-1111-4111-8111-111111111111", username: "me" };
const settle = () => vi.advanceTimersByTimeAsync(0);

function harness(overrides: Partial<ChatClientOptions> = {}) {
  const ws = fakeWebSockets();
  let n = 0;
  const states: StateChange[] = [];
  const client = new ChatClient({
    baseUrl: "http://chat.test",
    streamId: STREAM,
    credentials: () => ({ ticket: `t${++n}` }),
    WebSocket: ws.WebSocket,
    backoff: { random: () => 0.5 },
    network: false,
    ...overrides,
  });
  client.on("state", (s) => states.push(s));
  const accept = async (seq = 0) => {
    await settle();
    const s = ws.last();
    s.open();
    s.receive({ type: "welcome", stream_id: STREAM, user: ME, seq, epoch: "e1" });
    s.receive({ type: "history", comments: [], recovered: seq === 0 ? false : true });
    return s;
  };
  return { client, last: ws.last, sockets: ws.sockets, states, accept };
}

const comment = (seq: number) => ({
  type: "comment",
  seq,
  comment: { id: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`, stream_id: STREAM, user_id: ME.id, username: "x", message: `m${seq}`, created_at: new Date(0).toISOString() },
});
const seenFrames = (s: FakeSocket) => s.frames.filter((f) => f.type === "seen");

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("SDK: seen reports", () => {
  it("asks for ?seen=1 by default, and not with reportSeen: false", async () => {
    const a = harness();
    a.client.connect();
    expect((await a.accept()).params.get("seen")).toBe("1");
    a.client.close();
    const b = harness({ reportSeen: false });
    b.client.connect();
    const s = await b.accept();
    expect(s.params.get("seen")).toBeNull();
    for (let seq = 1; seq <= 200; seq++) s.receive(comment(seq));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(seenFrames(s)).toEqual([]);
    b.client.close();
  });

  it("reports after 50 events and at least 1 s after the last report (whichever is later), none while fewer are unreported", async () => {
    const { client, accept } = harness();
    client.connect();
    const s = await accept();
    for (let seq = 1; seq <= 49; seq++) s.receive(comment(seq));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(seenFrames(s)).toEqual([]); // 49 unreported: a quiet stream sends nothing
    s.receive(comment(50));
    expect(seenFrames(s)).toEqual([{ type: "seen", seq: 50 }]); // 10 s since the history: at once
    for (let seq = 51; seq <= 120; seq++) s.receive(comment(seq)); // a burst within the second
    expect(seenFrames(s)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(seenFrames(s)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(seenFrames(s)).toEqual([{ type: "seen", seq: 50 }, { type: "seen", seq: 120 }]); // the timer, with the newest seq
    client.close();
  });

  it("the first report on a connection counts from where its history left it", async () => {
    const { client, accept } = harness();
    client.connect();
    const s = await accept(500); // resumed at 500
    for (let seq = 501; seq <= 549; seq++) s.receive(comment(seq));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(seenFrames(s)).toEqual([]);
    s.receive(comment(550));
    expect(seenFrames(s)).toEqual([{ type: "seen", seq: 550 }]);
    client.close();
  });
});

describe("SDK: a 4408 close", () => {
  it("reconnects with reason slow_consumer and resumes from the last seq read; the page says why", async () => {
    const { client, accept, states, sockets } = harness();
    client.connect();
    const s = await accept();
    for (let seq = 1; seq <= 30; seq++) s.receive(comment(seq));
    s.serverClose(CLOSE_SLOW_CONSUMER, SLOW_CONSUMER_REASON);
    const r = states.at(-1)!;
    expect(r).toMatchObject({ state: "reconnecting", reason: "slow_consumer", closeCode: 4408, detail: "slow_consumer" });
    expect(describeState(r)).toBe("This page fell behind the chat — catching up…");
    await vi.advanceTimersByTimeAsync(r.retryInMs!);
    await settle();
    expect(sockets).toHaveLength(2);
    expect(sockets[1]!.params.get("since")).toBe("30");
    expect(sockets[1]!.params.get("epoch")).toBe("e1");
    expect(sockets[1]!.params.get("seen")).toBe("1");
    expect(client.state).not.toBe("closed");
    client.close();
  });
});
