/**
 * Slow consumers end to end (issue 19 §3): a real SDK client (ChatClient over the `ws` package,
 * against the worker under `wrangler dev`) whose socket stops reading (`ws._socket.pause()`: its TCP
 * window fills, as a frozen tab's would) while a sender broadcasts 1,000 messages. The room must
 * close it 4408 `slow_consumer` (the SDK reported what it read; its reports stop), another viewer
 * must keep getting everything, and once the paused socket is read again the client must drain
 * what was queued, see the 4408, reconnect with its last seq and end with every message exactly once.
 *
 * The test resumes reading as soon as the worker logs the close (it cannot see it while paused):
 * what the client then misses is what is broadcast between the close and its reconnect, well
 * within the 200-event ring at 100 messages/s.
 */
import type { Socket } from "node:net";
import WS from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatClient, type StateChange } from "../../src/client/index.js";
import { CLOSE_SLOW_CONSUMER } from "../../src/rules/consumers.js";
import { devToken, startWorker, type RunningWorker } from "../support/worker.js";

const MESSAGES = 1_000;
const RATE_PER_SEC = 100;

let worker: RunningWorker;

beforeAll(async () => {
  // The sender alone posts 100 messages/s: the per-user, per-stream and per-socket limits are lifted; the slow-consumer bound is the default.
  worker = await startWorker({ vars: { RATE_LIMIT_PER_SEC: "1000", ROOM_MAX_MESSAGES_PER_SEC: "1000", SOCKET_MAX_FRAMES_PER_SEC: "1000" } });
}, 90_000);

afterAll(async () => {
  await worker?.stop();
});

/** The TCP socket under a `ws` WebSocket (a private field of the package; what pausing a reader needs). */
const tcp = (ws: WS): Socket => (ws as unknown as { _socket: Socket })._socket;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, what: string, state: () => unknown, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; state: ${JSON.stringify(state())}`);
    await sleep(20);
  }
}

/** An SDK viewer over `ws` (so its socket can be paused), counting every comment it delivers. */
async function viewer(name: string, streamId: string) {
  const { token } = await devToken(worker.url, name);
  const sockets: WS[] = [];
  class Tracked extends WS {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  const client = new ChatClient({ baseUrl: worker.url, streamId, credentials: () => ({ token }), WebSocket: Tracked, network: false, backoff: { baseMs: 50, maxMs: 500 } });
  const v = { client, sockets, counts: new Map<number, number>(), states: [] as StateChange[], resets: 0 };
  const see = (seq: number) => v.counts.set(seq, (v.counts.get(seq) ?? 0) + 1);
  client.on("history", (h) => h.comments.forEach((c) => see(c.seq)));
  client.on("reset", () => v.resets++);
  client.on("comment", (c) => see(c.seq));
  client.on("state", (s) => v.states.push(s));
  client.on("error", () => {});
  client.connect();
  await client.ready();
  return v;
}

describe("slow consumer: a real SDK client that stops reading", () => {
  it("is closed 4408 while 1,000 messages are broadcast, resumes, and ends with every message exactly once; the other viewer is untouched", async () => {
    const streamId = crypto.randomUUID();
    const slow = await viewer("slow", streamId);
    const other = await viewer("other", streamId);
    const { token } = await devToken(worker.url, "sender");
    const sender = new WS(`${worker.url.replace("http", "ws")}/ws/streams/${streamId}/chat`, { headers: { authorization: `Bearer ${token}` } });
    const acked: number[] = [];
    sender.on("message", (d) => {
      const f = JSON.parse(String(d)) as { type: string; seq?: number };
      if (f.type === "ack" && typeof f.seq === "number") acked.push(f.seq);
    });
    await new Promise((r) => sender.once("open", r));

    expect(slow.sockets[0]!.url).toContain("seen=1");
    const logsBefore = worker.logs().length;
    tcp(slow.sockets[0]!).pause(); // stops reading: the kernel buffers fill, then workerd queues

    let resumedAt = -1;
    for (let i = 0; i < MESSAGES; i++) {
      sender.send(JSON.stringify({ type: "message", text: `message ${i} ${"x".repeat(200)}`, client_msg_id: `m${i}` }));
      await sleep(1000 / RATE_PER_SEC);
      if (resumedAt < 0 && worker.logs().slice(logsBefore).includes("closing slow consumer")) {
        resumedAt = i;
        tcp(slow.sockets[0]!).resume();
      }
    }
    const state = () => ({ acked: acked.length, slow: slow.counts.size, other: other.counts.size, resumedAt, states: slow.states.slice(-4) });
    expect(resumedAt, "the room closed the paused socket while the messages flowed").toBeGreaterThan(0);
    await waitFor(() => acked.length === MESSAGES, "every ack", state);
    const seqs = [...acked].sort((a, b) => a - b);
    const last = seqs[seqs.length - 1]!;
    await waitFor(() => other.counts.has(last) && slow.counts.has(last), "the last message at both viewers", state);

    // The slow one was closed 4408 and came back (state reconnecting, reason slow_consumer), resumed exactly.
    const drop = slow.states.find((s) => s.state === "reconnecting");
    expect(drop).toMatchObject({ reason: "slow_consumer", closeCode: CLOSE_SLOW_CONSUMER });
    expect(slow.sockets.length).toBe(2);
    expect(new URL(slow.sockets[1]!.url).searchParams.get("since")).not.toBeNull();
    expect(slow.resets).toBe(0);
    for (const v of [slow, other]) {
      const missing = seqs.filter((s) => v.counts.get(s) !== 1);
      expect(missing, "every message exactly once").toEqual([]);
    }
    // The other viewer never dropped.
    expect(other.states.filter((s) => s.state === "reconnecting")).toEqual([]);
    sender.close();
    slow.client.close();
    other.client.close();
  }, 120_000);
});
