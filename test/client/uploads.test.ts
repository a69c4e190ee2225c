/**
 * chat.upload() and images in comments, against a fake fetch and the fake socket: what is checked
 * before a byte leaves, what is sent, how every server answer maps to a ChatError, what is retried
 * (only a short `rate_limited`), aborts and close(), an image alone as a message, and attachment
 * URLs made absolute in every frame that carries them. (Against the real worker: integration.test.ts.)
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ChatClient,
  ChatError,
  DEFAULT_MAX_UPLOAD_BYTES,
  UPLOAD_CONTENT_TYPES,
  sniffImageType,
  type ChatClientOptions,
  type Credentials,
  type StreamComment,
} from "../../src/client/index.js";
import { DEFAULT_MAX_UPLOAD_BYTES as SERVER_DEFAULT_MAX } from "../../src/env.js";
import { UPLOAD_CONTENT_TYPES as SERVER_TYPES, sniffImageType as serverSniff } from "../../src/upload-rules.js";
import { paddedGif, paddedPng } from "../support/crafted-images.js";
import { gif, jpeg, png, webp } from "../support/images.js";
import { fakeWebSockets } from "./fake-websocket.js";

const STREAM = "7d0a5f5e-4a57-4d2b-9a39-0f5b7a4c2e11";
const ME = { id: "11111111-1111-4111-8111-111111111111", username: "me" };
const UPLOAD_ID = "AAAAAAAAAAAAAAAAAAAAAA";
const BASE = "https://chat.example:8443";

interface Sent {
  url: string;
  method: string;
  headers: Headers;
  body: Uint8Array;
}

/** A scripted fetch: answers the queued responses in order and records what was sent. */
function fakeFetch() {
  const sent: Sent[] = [];
  const answers: Array<(req: Sent, signal: AbortSignal | undefined) => Response | Promise<Response>> = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req: Sent = {
      url: String(input),
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      body: new Uint8Array(await new Response(init?.body ?? null).arrayBuffer()),
    };
    sent.push(req);
    const answer = answers.shift();
    if (!answer) throw new Error(`unexpected request ${req.method} ${req.url}`);
    return answer(req, init?.signal ?? undefined);
  }) as typeof globalThis.fetch;
  return {
    fetch,
    sent,
    answer(status: number, body: unknown, headers: Record<string, string> = {}) {
      answers.push(() => new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } }));
    },
    stored(contentType = "image/png", size = 0) {
      answers.push((req) => Response.json({ upload_id: UPLOAD_ID, url: `/v1/uploads/${STREAM}/${UPLOAD_ID}`, content_type: contentType, size: size || req.body.byteLength }, { status: 201 }));
    },
    raw(fn: (req: Sent, signal: AbortSignal | undefined) => Response | Promise<Response>) {
      answers.push(fn);
    },
  };
}

function client(f: ReturnType<typeof fakeFetch>, extra: Partial<ChatClientOptions> = {}) {
  const ws = fakeWebSockets();
  const c = new ChatClient({
    baseUrl: BASE,
    streamId: STREAM,
    credentials: () => ({ token: "tok-1" }),
    WebSocket: ws.WebSocket,
    fetch: f.fetch,
    network: false,
    ...extra,
  });
  return { c, ws };
}

/** The ChatError a promise rejects with (fails the test when it resolves or rejects otherwise). */
async function refusal(p: Promise<unknown>): Promise<ChatError> {
  const err = await p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ChatError);
  return err as ChatError;
}

const html = new TextEncoder().encode("<!doctype html><script>alert(1)</script>");
const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');

describe("the SDK's rules are the server's", () => {
  it("same types, same default limit", () => {
    expect([...UPLOAD_CONTENT_TYPES]).toEqual([...SERVER_TYPES]);
    expect(DEFAULT_MAX_UPLOAD_BYTES).toBe(SERVER_DEFAULT_MAX);
  });

  it("sniffs every input the way the server does", async () => {
    const riff = new Uint8Array([...new TextEncoder().encode("RIFF"), 0, 0, 0, 0, ...new TextEncoder().encode("WAVE")]);
    const cases: Array<[string, Uint8Array]> = [
      ["png", await png()],
      ["gif", gif()],
      ["jpeg", jpeg()],
      ["webp", webp()],
      ["gif87a", new TextEncoder().encode("GIF87a……")],
      ["html", html],
      ["svg", svg],
      ["riff wave", riff],
      ["truncated png", (await png()).slice(0, 7)],
      ["empty", new Uint8Array(0)],
    ];
    for (const [name, bytes] of cases) expect(sniffImageType(bytes), name).toBe(serverSniff(bytes));
    expect(cases.map(([, b]) => sniffImageType(b))).toEqual(["image/png", "image/gif", "image/jpeg", "image/webp", "image/gif", null, null, null, null, null]);
  });
});

describe("upload()", () => {
  it("POSTs the bytes to the stream's uploads route with the token and the type the bytes show", async () => {
    const f = fakeFetch();
    const { c } = client(f);
    const bytes = await png();
    f.stored();
    const result = await c.upload(bytes);
    expect(result).toEqual({
      uploadId: UPLOAD_ID,
      url: `${BASE}/v1/uploads/${STREAM}/${UPLOAD_ID}`,
      contentType: "image/png",
      size: bytes.byteLength,
    });
    expect(f.sent).toHaveLength(1);
    const req = f.sent[0]!;
    expect(req.method).toBe("POST");
    expect(req.url).toBe(`${BASE}/v1/streams/${STREAM}/chat/uploads`);
    expect(req.headers.get("authorization")).toBe("Bearer tok-1");
    expect(req.headers.get("content-type")).toBe("image/png");
    expect([...req.body]).toEqual([...bytes]);
  });

  it("takes a File/Blob, an ArrayBuffer or a view into a larger buffer (only the view's bytes go)", async () => {
    const f = fakeFetch();
    const { c } = client(f);
    const g = gif();
    const padded = new Uint8Array(g.byteLength + 10);
    padded.set(g, 5);
    const inputs = [new Blob([g]), g.buffer, padded.subarray(5, 5 + g.byteLength)];
    if (typeof File === "function") inputs.push(new File([g], "a.gif", { type: "image/gif" }));
    for (const input of inputs) {
      f.stored("image/gif");
      expect((await c.upload(input)).contentType).toBe("image/gif");
      const req = f.sent[f.sent.length - 1]!;
      expect(req.headers.get("content-type")).toBe("image/gif");
      expect([...req.body]).toEqual([...g]);
    }
  });

  it("declares what the bytes are, not a Blob's type guessed from its name (a .jpg that is a PNG)", async () => {
    const f = fakeFetch();
    const { c } = client(f);
    f.stored();
    await c.upload(new Blob([await png()], { type: "image/jpeg" }));
    expect(f.sent[0]!.headers.get("content-type")).toBe("image/png");
  });

  it("accepts a matching contentType in any case, with parameters", async () => {
    const f = fakeFetch();
    const { c } = client(f);
    f.stored("image/webp");
    await c.upload(webp(), { contentType: "IMAGE/WebP; q=1" });
    expect(f.sent[0]!.headers.get("content-type")).toBe("image/webp");
  });

  describe("refuses locally what the server would refuse, sending nothing", () => {
    const cases: Array<[string, () => Promise<Parameters<ChatClient["upload"]>>, string]> = [
      ["0 bytes", async () => [new Uint8Array(0)], "empty_upload"],
      ["an empty Blob", async () => [new Blob([], { type: "image/png" })], "empty_upload"],
      ["HTML", async () => [html], "unsupported_media_type"],
      ["HTML in a Blob typed image/png", async () => [new Blob([html], { type: "image/png" })], "unsupported_media_type"],
      ["an SVG Blob", async () => [new Blob([svg], { type: "image/svg+xml" })], "unsupported_media_type"],
      ["contentType image/svg+xml", async () => [await png(), { contentType: "image/svg+xml" }], "unsupported_media_type"],
      ["contentType image/jpg (not a type)", async () => [jpeg(), { contentType: "image/jpg" }], "unsupported_media_type"],
      ["contentType empty", async () => [jpeg(), { contentType: "" }], "unsupported_media_type"],
      ["a PNG declared as JPEG", async () => [await png(), { contentType: "image/jpeg" }], "unsupported_media_type"],
    ];
    for (const [name, args, code] of cases) {
      it(`${name} → ${code}`, async () => {
        const f = fakeFetch();
        const { c } = client(f);
        const err = await refusal(c.upload(...(await args())));
        expect(err.code).toBe(code);
        expect(err.message.length).toBeGreaterThan(5);
        expect(f.sent).toHaveLength(0);
      });
    }

    it("over maxUploadBytes → upload_too_large; exactly the limit goes", async () => {
      const f = fakeFetch();
      const limit = 100;
      const { c } = client(f, { maxUploadBytes: limit });
      expect(c.maxUploadBytes).toBe(limit);
      const image = paddedGif;
      const err = await refusal(c.upload(image(limit + 1)));
      expect(err.code).toBe("upload_too_large");
      expect(err.message).toContain(String(limit));
      expect(f.sent).toHaveLength(0);
      f.stored("image/gif");
      await c.upload(image(limit));
      expect(f.sent).toHaveLength(1);
    });

    it("the default limit is the server's 5 MiB", async () => {
      const f = fakeFetch();
      const { c } = client(f);
      expect(c.maxUploadBytes).toBe(5 * 1024 * 1024);
      const big = new Uint8Array(5 * 1024 * 1024 + 1);
      big.set(jpeg().subarray(0, 3));
      expect((await refusal(c.upload(big))).code).toBe("upload_too_large");
      expect(f.sent).toHaveLength(0);
    });

    it("something that is not bytes is a TypeError", async () => {
      const f = fakeFetch();
      const { c } = client(f);
      await expect(c.upload("not bytes" as unknown as Blob)).rejects.toThrow(TypeError);
    });

    it("maxUploadBytes must be a positive integer", () => {
      const f = fakeFetch();
      for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => client(f, { maxUploadBytes: bad })).toThrow(RangeError);
    });
  });

  describe("maps the server's refusals to ChatError codes", () => {
    const cases: Array<[string, number, unknown, Record<string, string>, string, number | undefined]> = [
      ["413", 413, { error: "upload_too_large", message: "An upload may have at most 65536 bytes", max_bytes: 65536 }, {}, "upload_too_large", undefined],
      ["415", 415, { error: "unsupported_media_type", message: "The file is image/gif, not image/png" }, {}, "unsupported_media_type", undefined],
      ["400 empty", 400, { error: "empty_upload", message: "The body is empty" }, {}, "empty_upload", undefined],
      ["401", 401, { error: "unauthorized", message: "bad token" }, {}, "unauthorized", undefined],
      ["403 banned", 403, { error: "banned", message: "You are banned" }, {}, "banned", undefined],
      ["403 origin", 403, { error: "forbidden_origin", message: "Origin not allowed" }, {}, "forbidden", undefined],
      ["429 too many", 429, { error: "too_many_uploads", message: "50 unattached", retry_after_ms: 3_600_000 }, { "retry-after": "3600" }, "too_many_uploads", 3_600_000],
      ["429 long rate limit", 429, { error: "rate_limited", message: "slow down", retry_after_ms: 30_000 }, { "retry-after": "30" }, "rate_limited", 30_000],
      ["429 header only", 429, { error: "rate_limited" }, { "retry-after": "45" }, "rate_limited", 45_000],
      ["503", 503, { error: "upload_failed", message: "Image storage is unavailable" }, {}, "upload_failed", undefined],
      ["500 not JSON", 500, "<html>oops</html>", {}, "upload_failed", undefined],
    ];
    for (const [name, status, body, headers, code, retryAfterMs] of cases) {
      it(`${name} → ${code}, not retried`, async () => {
        const f = fakeFetch();
        const { c } = client(f);
        f.answer(status, body, headers);
        const err = await refusal(c.upload(await png()));
        expect(err.code).toBe(code);
        expect(err.retryAfterMs).toBe(retryAfterMs);
        expect(f.sent).toHaveLength(1);
      });
    }

    it("a 413 teaches the client the server's max_bytes: the next large image is refused locally", async () => {
      const f = fakeFetch();
      const { c } = client(f);
      f.answer(413, { error: "upload_too_large", message: "at most 65536 bytes", max_bytes: 65536 });
      const big = paddedPng(await png(), 70_000);
      expect((await refusal(c.upload(big))).code).toBe("upload_too_large");
      expect(c.maxUploadBytes).toBe(65536);
      expect((await refusal(c.upload(big))).code).toBe("upload_too_large");
      expect(f.sent).toHaveLength(1);
    });

    it("a 201 whose body is not an upload → upload_failed", async () => {
      const f = fakeFetch();
      const { c } = client(f);
      f.answer(201, { upload_id: UPLOAD_ID, url: "/x", content_type: "image/svg+xml", size: 1 });
      expect((await refusal(c.upload(await png()))).code).toBe("upload_failed");
    });

    it("a request that fails on the network → network_error, not retried (the image may be stored)", async () => {
      const f = fakeFetch();
      const { c } = client(f);
      f.raw(() => {
        throw new TypeError("fetch failed");
      });
      const err = await refusal(c.upload(await png()));
      expect(err.code).toBe("network_error");
      expect(f.sent).toHaveLength(1);
    });
  });

  describe("credentials", () => {
    it("calls the provider for each upload and uses its current token", async () => {
      const f = fakeFetch();
      let n = 0;
      const { c } = client(f, { credentials: () => ({ token: `tok-${++n}` }) });
      f.stored();
      f.stored();
      await c.upload(await png());
      await c.upload(await png());
      expect(f.sent.map((r) => r.headers.get("authorization"))).toEqual(["Bearer tok-1", "Bearer tok-2"]);
    });

    it("a provider that gives only tickets cannot upload → unauthorized, nothing sent", async () => {
      const f = fakeFetch();
      const { c } = client(f, { credentials: (): Credentials => ({ ticket: "t1" }) });
      const err = await refusal(c.upload(await png()));
      expect(err.code).toBe("unauthorized");
      expect(err.message).toContain("ticket");
      expect(f.sent).toHaveLength(0);
    });

    it("a provider's ChatError passes through; other failures are auth_failed / network_error", async () => {
      const f = fakeFetch();
      const throwing = (e: unknown) => client(f, { credentials: () => Promise.reject(e) }).c;
      expect((await refusal(throwing(new ChatError("unauthorized", "signed out")).upload(await png()))).code).toBe("unauthorized");
      expect((await refusal(throwing(new Error("boom")).upload(await png()))).code).toBe("auth_failed");
      expect((await refusal(throwing(new TypeError("offline")).upload(await png()))).code).toBe("network_error");
      expect(f.sent).toHaveLength(0);
    });
  });

  describe("retries, aborts, close", () => {
    beforeEach(() => {
      vi.useFakeTimers();
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it("a short rate_limited is retried after the server's wait (nothing was stored)", async () => {
      const f = fakeFetch();
      const { c } = client(f);
      f.answer(429, { error: "rate_limited", message: "slow down", retry_after_ms: 4000 }, { "retry-after": "4" });
      f.stored();
      let done = false;
      const p = c.upload(await png()).then((r) => {
        done = true;
        return r;
      });
      await vi.advanceTimersByTimeAsync(3999);
      expect(f.sent).toHaveLength(1);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect((await p).uploadId).toBe(UPLOAD_ID);
      expect(f.sent).toHaveLength(2);
    });

    it("at most twice: the third rate_limited rejects", async () => {
      const f = fakeFetch();
      const { c } = client(f);
      for (let i = 0; i < 3; i++) f.answer(429, { error: "rate_limited", message: "slow down", retry_after_ms: 1000 });
      const p = refusal(c.upload(await png()));
      await vi.advanceTimersByTimeAsync(5000);
      const err = await p;
      expect(err.code).toBe("rate_limited");
      expect(err.retryAfterMs).toBe(1000);
      expect(f.sent).toHaveLength(3);
    });

    it("the caller's signal aborts a request in flight → aborted", async () => {
      const f = fakeFetch();
      const { c } = client(f);
      f.raw((_req, signal) => new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason))));
      const ctl = new AbortController();
      const p = refusal(c.upload(await png(), { signal: ctl.signal }));
      await vi.advanceTimersByTimeAsync(0);
      ctl.abort();
      expect((await p).code).toBe("aborted");
    });

    it("the caller's signal aborts the wait before a retry; an aborted signal sends nothing", async () => {
      const f = fakeFetch();
      const { c } = client(f);
      f.answer(429, { error: "rate_limited", retry_after_ms: 5000 });
      const ctl = new AbortController();
      const p = refusal(c.upload(await png(), { signal: ctl.signal }));
      await vi.advanceTimersByTimeAsync(1000);
      ctl.abort();
      expect((await p).code).toBe("aborted");
      await vi.advanceTimersByTimeAsync(10_000);
      expect(f.sent).toHaveLength(1);
      expect(vi.getTimerCount()).toBe(0);

      const already = AbortSignal.abort();
      expect((await refusal(c.upload(await png(), { signal: already }))).code).toBe("aborted");
      expect(f.sent).toHaveLength(1);
    });

    it("close() aborts uploads in flight (closed) and refuses new ones", async () => {
      const f = fakeFetch();
      const { c } = client(f);
      f.raw((_req, signal) => new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason))));
      const p = refusal(c.upload(await png()));
      await vi.advanceTimersByTimeAsync(0);
      c.close();
      expect((await p).code).toBe("closed");
      expect((await refusal(c.upload(await png()))).code).toBe("closed");
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});

describe("images in messages", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const comment = (seq: number, extra: Partial<StreamComment> = {}): StreamComment => ({
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
    stream_id: STREAM,
    user_id: ME.id,
    username: "me",
    message: `m${seq}`,
    created_at: "2026-01-01T00:00:00.000Z",
    ...extra,
  });
  const attachment = (id: string) => ({ upload_id: id, url: `/v1/uploads/${STREAM}/${id}`, content_type: "image/png", size: 68 });
  const abs = (id: string) => `${BASE}/v1/uploads/${STREAM}/${id}`;
  const ID_A = "a".repeat(22);
  const ID_B = "b".repeat(22);

  async function connected(opts: { pinned?: StreamComment; history?: StreamComment[] } = {}) {
    const f = fakeFetch();
    const { c, ws } = client(f, { credentials: () => ({ ticket: "t" }) });
    const events: unknown[] = [];
    c.on("comment", (e) => events.push(e));
    c.on("history", (e) => events.push(e));
    c.connect();
    await vi.advanceTimersByTimeAsync(0);
    const s = ws.last();
    s.open();
    const n = opts.history?.length ?? 0;
    s.receive({ type: "welcome", stream_id: STREAM, user: ME, seq: n, epoch: "e1", ...(opts.pinned ? { pinned: opts.pinned } : {}) });
    s.receive({ type: "history", comments: (opts.history ?? []).map((cm, i) => ({ seq: i + 1, comment: cm })), recovered: false });
    return { c, s, ws, events };
  }

  it("an image alone (empty text) is a message: sent with its attachments", async () => {
    const { c, s } = await connected();
    const p = c.send("", { attachments: [ID_A] });
    await vi.advanceTimersByTimeAsync(0);
    const frame = s.frames.find((x) => x.type === "message")!;
    expect(frame).toMatchObject({ type: "message", text: "", attachments: [ID_A] });
    s.receive({ type: "ack", client_msg_id: frame.client_msg_id, id: comment(1).id, seq: 1 });
    expect((await p).seq).toBe(1);
  });

  it("empty text without attachments is still empty_message; more than 4 attachments is invalid_frame", async () => {
    const { c, s } = await connected();
    expect((await refusal(c.send("  ", { attachments: [] }))).code).toBe("empty_message");
    expect((await refusal(c.send("hi", { attachments: ["1", "2", "3", "4", "5"] }))).code).toBe("invalid_frame");
    await vi.advanceTimersByTimeAsync(0);
    expect(s.frames.filter((x) => x.type === "message")).toHaveLength(0);
  });

  it("attachment URLs are absolute in live comments, history, the pin and the store", async () => {
    const { c, s, events } = await connected({
      history: [comment(1, { attachments: [attachment(ID_A)] })],
      pinned: comment(1, { attachments: [attachment(ID_A)] }),
    });
    expect(c.comments[0]!.comment.attachments![0]!.url).toBe(abs(ID_A));
    expect(c.pinned!.attachments![0]!.url).toBe(abs(ID_A));
    s.receive({ type: "batch", frames: [{ type: "comment", seq: 2, comment: comment(2, { message: "", attachments: [attachment(ID_B), attachment(ID_A)] }) }] });
    expect(c.comments[1]!.comment.attachments!.map((a) => a.url)).toEqual([abs(ID_B), abs(ID_A)]);
    expect(c.comments[1]!.comment.attachments![0]).toEqual({ ...attachment(ID_B), url: abs(ID_B) });
    s.receive({ type: "pinned", seq: 3, comment: comment(2, { attachments: [attachment(ID_B)] }), by: ME.id });
    expect(c.pinned!.attachments![0]!.url).toBe(abs(ID_B));
    const urls = JSON.stringify(events).match(/"url":"[^"]*"/g) ?? [];
    expect(urls.length).toBeGreaterThan(0);
    for (const u of urls) expect(u).toContain(BASE);
    // A comment without attachments keeps its shape (no empty array added).
    s.receive({ type: "comment", seq: 4, comment: comment(4) });
    expect(c.comments.map((x) => x.seq)).toEqual([1, 2, 4]);
    expect("attachments" in c.comments[2]!.comment).toBe(false);
    expect(c.resolveUrl("/v1/uploads/x/y")).toBe(`${BASE}/v1/uploads/x/y`);
  });

  it("a resume's missed events carry absolute URLs too", async () => {
    const { c, ws } = await connected({ history: [comment(1)] });
    c.reconnect();
    await vi.advanceTimersByTimeAsync(0);
    const s2 = ws.last();
    expect(s2.params.get("since")).toBe("1");
    s2.open();
    s2.receive({ type: "welcome", stream_id: STREAM, user: ME, seq: 2, epoch: "e1" });
    const missed = { type: "comment", seq: 2, comment: comment(2, { attachments: [attachment(ID_A)] }) };
    s2.receive({ type: "history", comments: [{ seq: 2, comment: missed.comment }], events: [missed], recovered: true });
    expect(c.comments.map((x) => x.seq)).toEqual([1, 2]);
    expect(c.comments[1]!.comment.attachments![0]!.url).toBe(abs(ID_A));
  });
});
