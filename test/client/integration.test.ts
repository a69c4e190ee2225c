/**
 * The client SDK in Node against the real worker (`wrangler dev`): connections that drop, go
 * half-open, or lose the whole worker while another viewer keeps sending. The listener must end
 * up with every comment exactly once, in seq order; the sender's messages must each be accepted
 * exactly once, whatever happened to their acks. Images: upload() then send() through the real
 * worker and its local R2, as another viewer sees them.
 */
import WS from "ws";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChatClient, ChatError, type ChatClientOptions, type SendResult, type SeqComment, type StateChange } from "../../src/client/index.js";
import { DEFAULT_MAX_SOCKETS_PER_USER } from "../../src/protocol.js";
import { devToken, startWorker, type RunningWorker } from "../support/worker.js";
import { gif, png } from "../support/images.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

let worker: RunningWorker;
let proxy: TcpProxy;
const clients: ChatClient[] = [];

beforeAll(async () => {
  worker = await startWorker();
  proxy = await startTcpProxy(worker.port);
}, 90_000);

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  proxy.refuse(false);
  proxy.dropAll();
});

afterAll(async () => {
  await proxy?.close();
  await worker?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, what: string, describe: () => unknown, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; state: ${JSON.stringify(describe())}`);
    await sleep(20);
  }
}

/** A client plus a record of everything it delivered to the app. */
interface Viewer {
  client: ChatClient;
  delivered: SeqComment[];
  histories: Array<{ seqs: number[]; recovered: boolean; resumed: boolean }>;
  resets: number;
  states: StateChange[];
  errors: ChatError[];
}

async function viewer(name: string, streamId: string, baseUrl: string, extra: Partial<ChatClientOptions> = {}): Promise<Viewer> {
  const { token } = await devToken(worker.url, name);
  const client = new ChatClient({
    baseUrl,
    streamId,
    credentials: () => ({ token }),
    backoff: { baseMs: 50, maxMs: 500 }, // keep the test quick; the shape is unit-tested
    ...extra,
  });
  clients.push(client);
  const v: Viewer = { client, delivered: [], histories: [], resets: 0, states: [], errors: [] };
  client.on("history", (h) => {
    v.histories.push({ seqs: h.comments.map((c) => c.seq), recovered: h.recovered, resumed: h.resumed });
    v.delivered.push(...h.comments);
  });
  client.on("reset", (r) => {
    v.resets++;
    v.delivered = [...r.comments];
  });
  client.on("comment", (c) => v.delivered.push(c));
  client.on("state", (s) => v.states.push(s));
  client.on("error", (e) => v.errors.push(e));
  client.connect();
  await client.ready();
  return v;
}

/** Sends one by one, waiting for each ack; honours rate_limited by waiting retryAfterMs. */
async function sendAll(v: Viewer, texts: string[]): Promise<SendResult[]> {
  const out: SendResult[] = [];
  for (const text of texts) {
    for (;;) {
      try {
        out.push(await v.client.send(text));
        break;
      } catch (err) {
        if (err instanceof ChatError && err.code === "rate_limited") {
          await sleep(err.retryAfterMs ?? 100);
          continue;
        }
        throw err;
      }
    }
  }
  return out;
}

const texts = (prefix: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix} ${from + i}`);

/** Every comment exactly once, in seq order 1..n, with the texts the sender sent, in order. */
function expectExactlyOnce(v: Viewer, sent: string[]): void {
  expect(v.delivered.map((c) => c.seq)).toEqual(sent.map((_, i) => i + 1));
  expect(v.delivered.map((c) => c.comment.message)).toEqual(sent);
  expect(v.resets).toBe(0);
}

describe("client ↔ real worker", () => {
  it("a listener whose connection is reset mid-stream gets every comment once, in order", async () => {
    const stream = crypto.randomUUID();
    const a = await viewer("listener", stream, proxy.url);
    const b = await viewer("sender", stream, worker.url);

    const sent = texts("msg", 1, 10);
    await sendAll(b, sent);
    await waitFor(() => a.delivered.length === 10, "the first 10 at the listener", () => a.delivered.length);

    // The network under the listener goes down (and stays down for a while).
    proxy.refuse(true);
    proxy.dropAll();
    await waitFor(() => a.client.state !== "open", "the listener to notice", () => a.client.state);
    const missed = texts("msg", 11, 20);
    await sendAll(b, missed);
    sent.push(...missed);
    expect(a.delivered).toHaveLength(10); // it really missed them

    proxy.refuse(false);
    await a.client.ready();
    const after = texts("msg", 21, 30);
    await sendAll(b, after);
    sent.push(...after);
    await waitFor(() => a.delivered.length >= 30, "all 30 at the listener", () => a.delivered.map((c) => c.seq));
    await sleep(200); // anything extra (a duplicate) would arrive now
    expectExactlyOnce(a, sent);
    // The gap was filled by resuming: one history with exactly the missed comments.
    expect(a.histories.filter((h) => h.resumed && h.seqs.length > 0)).toEqual([
      { seqs: [11, 12, 13, 14, 15, 16, 17, 18, 19, 20], recovered: true, resumed: true },
    ]);
    expect(a.states.some((s) => s.state === "reconnecting" && s.reason === "connection_lost")).toBe(true);
    expectExactlyOnce(b, sent);
  });

  it("a half-open connection is noticed by the heartbeat, and the listener catches up", async () => {
    const stream = crypto.randomUUID();
    const a = await viewer("listener", stream, proxy.url, { heartbeatIntervalMs: 300, heartbeatTimeoutMs: 700 });
    const b = await viewer("sender", stream, worker.url);
    const sent = texts("hb", 1, 5);
    await sendAll(b, sent);
    await waitFor(() => a.delivered.length === 5, "the first 5", () => a.delivered.length);

    proxy.blackholeAll(); // the socket stays "open" but nothing gets through
    const during = texts("hb", 6, 10);
    await sendAll(b, during);
    sent.push(...during);

    await waitFor(() => a.delivered.length >= 10, "the listener to catch up", () => ({ n: a.delivered.length, states: a.states.slice(-3) }));
    await sleep(200);
    expectExactlyOnce(a, sent);
    expect(a.states.some((s) => s.state === "reconnecting" && s.reason === "heartbeat_timeout")).toBe(true);
  });

  it("sends cut off by a dropped connection are accepted exactly once (resent with the same client_msg_id)", async () => {
    const stream = crypto.randomUUID();
    const a = await viewer("listener", stream, worker.url);
    // Counts the message frames that leave the sender, to prove some really were resent.
    const frames: string[] = [];
    class CountingWS extends WS {
      override send(data: unknown, ...rest: unknown[]): void {
        const f = JSON.parse(String(data)) as { type: string; client_msg_id?: string };
        if (f.type === "message") frames.push(f.client_msg_id!);
        (super.send as (...a: unknown[]) => void)(data, ...rest);
      }
    }
    const b = await viewer("sender", stream, proxy.url, { WebSocket: CountingWS });
    const sent: string[] = [];
    const results: SendResult[] = [];
    for (const [round, delayMs] of [0, 2, 5, 10].entries()) {
      const batch = texts(`round ${round}`, 1, 4);
      sent.push(...batch);
      const pending = batch.map((t) => b.client.send(t));
      // Drop the sender's connection while the messages (or their acks) are in flight.
      if (delayMs > 0) await sleep(delayMs);
      proxy.dropAll();
      results.push(...(await Promise.all(pending)));
      await b.client.ready();
      await sleep(450); // stay under the rate limit (10/s) across rounds
    }
    // Each message was accepted once: distinct seqs, and the listener saw each text once.
    expect(new Set(results.map((r) => r.seq)).size).toBe(sent.length);
    await waitFor(() => a.delivered.length >= sent.length, "the listener to see every message", () => a.delivered.length);
    await sleep(200);
    expect(a.delivered.map((c) => c.seq)).toEqual(sent.map((_, i) => i + 1));
    expect([...a.delivered.map((c) => c.comment.message)].sort()).toEqual([...sent].sort());
    // Within one sender, order is kept.
    expect(a.delivered.map((c) => c.comment.message)).toEqual(sent);
    // The drops did interrupt messages in flight: some went out more than once.
    expect(new Set(frames).size).toBe(sent.length);
    expect(frames.length).toBeGreaterThan(sent.length);
  });

  it("a burst over the rate limit is paced by the SDK: every send accepted once, in order, none refused", async () => {
    const stream = crypto.randomUUID();
    const a = await viewer("listener", stream, worker.url);
    const b = await viewer("spammer", stream, worker.url);
    const burst = texts("burst", 1, 25); // 2.5 × the per-user limit (RATE_LIMIT_PER_SEC=10, burst 10)
    const settled = await Promise.allSettled(burst.map((t, i) => b.client.send(t, { clientMsgId: `burst-${i}` })));
    const refused = settled.flatMap((s) => (s.status === "rejected" ? [String((s.reason as Error).message)] : []));
    expect(refused).toEqual([]);
    const seqs = settled.map((s) => (s.status === "fulfilled" ? s.value.seq : -1));
    expect(seqs).toEqual(burst.map((_, i) => i + 1));
    await waitFor(() => a.delivered.length >= burst.length, "the burst at the listener", () => a.delivered.length);
    await sleep(200);
    expectExactlyOnce(a, burst);
    expect(b.client.pending).toEqual([]);
    expect(b.states.map((s) => s.state)).not.toContain("reconnecting"); // the socket was never closed
  });

  it("survives a worker restart (Node 20 path: the `ws` package as WebSocket)", async () => {
    const stream = crypto.randomUUID();
    const a = await viewer("listener", stream, worker.url, { WebSocket: WS });
    const b = await viewer("sender", stream, worker.url);
    const sent = texts("before", 1, 10);
    await sendAll(b, sent);
    await waitFor(() => a.delivered.length === 10, "the first 10", () => a.delivered.length);

    const restarting = worker.restart();
    await waitFor(() => a.client.state !== "open" && b.client.state !== "open", "both to lose the worker", () => [a.client.state, b.client.state]);
    // Sent while the worker is down: they wait in the outbox.
    const later = texts("after", 1, 10);
    const sending = sendAll(b, later);
    sent.push(...later);
    await restarting;
    const results = await sending;
    expect(results.map((r) => r.seq)).toEqual(later.map((_, i) => 11 + i));

    await waitFor(() => a.delivered.length >= 20, "all 20 at the listener", () => a.delivered.map((c) => c.seq));
    await sleep(200);
    expectExactlyOnce(a, sent);
    expect(a.histories.at(-1)).toMatchObject({ recovered: true, resumed: true });
  }, 120_000);

  it("the user's oldest socket, closed with 4429 for one too many, stays closed (no reconnect fight between tabs)", async () => {
    const stream = crypto.randomUUID();
    const tabs: Viewer[] = [];
    for (let i = 0; i < DEFAULT_MAX_SOCKETS_PER_USER; i++) tabs.push(await viewer("many-tabs", stream, worker.url));
    const oldest = tabs[0]!;
    const newest = await viewer("many-tabs", stream, worker.url); // one more than the cap
    await waitFor(() => oldest.client.state === "closed", "the oldest tab to be closed", () => oldest.states.slice(-2));
    expect(oldest.states.at(-1)).toMatchObject({ state: "closed", reason: "too_many_sockets", closeCode: 4429 });
    expect(oldest.errors.map((e) => e.code)).toEqual(["too_many_sockets"]);
    await sleep(1500); // a client that reconnected would have closed another tab by now
    expect(oldest.client.state).toBe("closed");
    for (const t of [...tabs.slice(1), newest]) expect(t.client.state).toBe("open");
    await expect(newest.client.send("still chatting")).resolves.toMatchObject({ seq: 1 });
  });

  it("close() ends the connection and further sends fail with `closed`", async () => {
    const stream = crypto.randomUUID();
    const a = await viewer("closer", stream, worker.url);
    a.client.close();
    expect(a.client.state).toBe("closed");
    await expect(a.client.send("late")).rejects.toMatchObject({ code: "closed" });
    expect(a.states.at(-1)).toMatchObject({ state: "closed", previous: "open" });
  });
});

describe("images through the real worker (local R2)", () => {
  it("upload() a PNG, send it with text: the other viewer gets an absolute URL that serves the same bytes", async () => {
    const stream = crypto.randomUUID();
    const a = await viewer("watcher", stream, worker.url);
    const b = await viewer("artist", stream, worker.url);
    const bytes = await png([0, 128, 255, 255]);

    const up = await b.client.upload(new Blob([bytes]));
    expect(up).toMatchObject({ contentType: "image/png", size: bytes.byteLength });
    expect(up.uploadId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(up.url).toBe(`${worker.url}/v1/uploads/${stream}/${up.uploadId}`);

    const sent = await b.client.send("my drawing", { attachments: [up.uploadId] });
    await waitFor(() => a.delivered.some((c) => c.seq === sent.seq), "the image comment at the watcher", () => a.delivered.length);
    const got = a.delivered.find((c) => c.seq === sent.seq)!.comment;
    expect(got.message).toBe("my drawing");
    expect(got.attachments).toEqual([{ upload_id: up.uploadId, url: up.url, content_type: "image/png", size: bytes.byteLength, width: 1, height: 1 }]);
    expect(a.client.comments.at(-1)!.comment.attachments![0]!.url).toBe(up.url);

    const res = await fetch(got.attachments![0]!.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
  });

  it("an image alone (raw bytes, empty text) is a message; another user's upload id is invalid_attachment", async () => {
    const stream = crypto.randomUUID();
    const a = await viewer("alone", stream, worker.url);
    const b = await viewer("thief", stream, worker.url);
    const up = await a.client.upload(gif());
    expect(up.contentType).toBe("image/gif");
    const sent = await a.client.send("", { attachments: [up.uploadId] });
    await waitFor(() => b.delivered.some((c) => c.seq === sent.seq), "the image-only comment", () => b.delivered.length);
    expect(b.delivered.find((c) => c.seq === sent.seq)!.comment).toMatchObject({ message: "", attachments: [{ upload_id: up.uploadId }] });

    const mine = await a.client.upload(gif());
    await expect(b.client.send("not mine", { attachments: [mine.uploadId] })).rejects.toMatchObject({ code: "invalid_attachment" });
  });

  it("a client told a larger limit than the server's gets the server's 413 as upload_too_large, then refuses locally", async () => {
    const stream = crypto.randomUUID();
    const serverMax = 5 * 1024 * 1024; // wrangler dev runs with the default MAX_UPLOAD_BYTES
    const a = await viewer("big", stream, worker.url, { maxUploadBytes: serverMax * 2 });
    const big = new Uint8Array(serverMax + 1);
    big.set(await png());
    await expect(a.client.upload(big)).rejects.toMatchObject({ code: "upload_too_large" });
    expect(a.client.maxUploadBytes).toBe(serverMax);
    await expect(a.client.upload(big)).rejects.toMatchObject({ code: "upload_too_large", message: expect.stringContaining(String(serverMax)) });
  });
});
