/**
 * Images in chat (issue 11) through the real worker, room and Miniflare's R2: uploads checked by
 * type, magic bytes and size; attachments only of one's own uploads to the same stream; images of
 * deleted comments and never-attached uploads deleted; the GET route's headers. The test config
 * sets MAX_UPLOAD_BYTES = 65,536 (vitest.config.ts). Header bounds and lying lengths (issue 22): upload-checks.test.ts.
 */
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { loadConfig, type Env } from "../../src/env";
import type { Attachment, ServerFrame } from "../../src/protocol";
import type { ChatRoom } from "../../src/room";
import { roomLimits, type RoomLimits } from "../../src/rules/limits";
import { UPLOAD_PUT_GRACE_MS, type UploadStore } from "../../src/upload-store";
import { MAX_PENDING_UPLOADS, UPLOAD_CACHE_CONTROL, UPLOAD_CSP, UPLOAD_TTL_MS, newUploadId, uploadKey } from "../../src/upload-rules";
import type { UploadResponse } from "../../src/uploads";
import { Client, connect, fetchWorker, newStreamId, newUserId, roomStub, sleep, token } from "./helpers";
import { paddedPng } from "../support/crafted-images";
import { PNG_SIGNATURE, gif, jpeg, png, webp } from "./images";

type Frame<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

const LIMIT = Number(env.MAX_UPLOAD_BYTES);

const ownerToken = (sid: string, sub = newUserId()) => token({ sub, username: "streamer", claims: { stream_roles: { [sid]: "owner" } } });

function post(sid: string, tok: string | null, body: BodyInit | null, contentType: string | null, extra: RequestInit = {}) {
  const headers: Record<string, string> = {};
  if (tok) headers.authorization = `Bearer ${tok}`;
  if (contentType) headers["content-type"] = contentType;
  return fetchWorker(`/v1/streams/${sid}/chat/uploads`, { method: "POST", headers, body, ...extra });
}

async function uploaded(sid: string, tok: string, bytes: Uint8Array<ArrayBuffer>, type: string): Promise<UploadResponse> {
  const res = await post(sid, tok, bytes, type);
  if (res.status !== 201) throw new Error(`upload refused: ${res.status} ${await res.text()}`);
  return (await res.json()) as UploadResponse;
}

async function refusal(res: Response): Promise<{ status: number; error: string; message: string; retryAfter: string | null } & Record<string, unknown>> {
  const body = (await res.json()) as { error: string; message: string };
  return { status: res.status, retryAfter: res.headers.get("retry-after"), ...body };
}

const get = (url: string, headers: Record<string, string> = {}) => fetchWorker(url, { headers });

/** Waits until `check` holds, failing with `what` instead of hanging. */
async function eventually(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function answer(c: Client, frame: Record<string, unknown>): Promise<Frame<"ack"> | Frame<"error">> {
  const id = crypto.randomUUID();
  c.send({ ...frame, client_msg_id: id });
  const pick = (x: Client) => x.frames.find((f) => (f.type === "ack" || f.type === "error") && f.client_msg_id === id) as Frame<"ack"> | Frame<"error"> | undefined;
  await c.until((x) => pick(x) !== undefined, `answer to ${JSON.stringify(frame)}`);
  return pick(c)!;
}

async function sendOk(c: Client, frame: Record<string, unknown>): Promise<Frame<"ack">> {
  const r = await answer(c, frame);
  if (r.type !== "ack") throw new Error(`${JSON.stringify(frame)} refused: ${JSON.stringify(r)}`);
  return r;
}

const rows = (sid: string) =>
  runInDurableObject(roomStub(sid), (_room: ChatRoom, state) => ({
    uploads: state.storage.sql.exec<{ id: string; comment_id: string | null }>("SELECT id, comment_id FROM uploads ORDER BY created_at").toArray(),
    doomed: state.storage.sql.exec<{ id: string; attempts: number }>("SELECT id, attempts FROM doomed_uploads").toArray(),
  }));

const gone = async (url: string) => (await get(url)).status === 404;

describe("uploads: what is accepted", () => {
  it("every accepted type: 201 {upload_id,url,content_type,size,width,height}, stored in R2 with its metadata, served back byte for byte", async () => {
    const sid = newStreamId();
    const userId = newUserId();
    const tok = await token({ sub: userId });
    const files: Array<[string, Uint8Array<ArrayBuffer>]> = [
      ["image/png", await png()],
      ["image/gif", gif()],
      ["image/jpeg", jpeg()],
      ["image/webp", webp()],
    ];
    for (const [type, bytes] of files) {
      const before = Date.now();
      const res = await post(sid, tok, bytes, type);
      expect(res.status, type).toBe(201);
      const up = (await res.json()) as UploadResponse;
      expect(up.upload_id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(up).toEqual({ upload_id: up.upload_id, url: `/v1/uploads/${sid}/${up.upload_id}`, content_type: type, size: bytes.byteLength, width: 1, height: 1 });

      const head = await env.CHAT_UPLOADS.head(uploadKey(sid, up.upload_id));
      expect(head?.httpMetadata?.contentType).toBe(type);
      const meta = head!.customMetadata!;
      expect({ ...meta, created_at: undefined }).toEqual({
        user_id: userId,
        stream_id: sid,
        content_type: type,
        size: String(bytes.byteLength),
        width: "1",
        height: "1",
        created_at: undefined,
      });
      expect(Date.parse(meta.created_at!)).toBeGreaterThanOrEqual(before - 1000);

      const served = await get(up.url);
      expect(served.status).toBe(200);
      expect(served.headers.get("content-type")).toBe(type);
      expect(new Uint8Array(await served.arrayBuffer())).toEqual(bytes);
    }
    // A Content-Type with parameters and other case names the same type.
    expect((await post(sid, tok, await png(), "Image/PNG; charset=binary")).status).toBe(201);
  });

  it("exactly MAX_UPLOAD_BYTES is accepted", async () => {
    const sid = newStreamId();
    const body = paddedPng(await png(), LIMIT);
    const up = await uploaded(sid, await token(), body, "image/png");
    expect(up.size).toBe(65_536);
    expect((await env.CHAT_UPLOADS.head(uploadKey(sid, up.upload_id)))?.size).toBe(65_536);
  });
});

describe("uploads: what is refused", () => {
  it("a mismatched type: PNG declared as JPEG, HTML or SVG declared as PNG, SVG/HTML/no declared type → 415; nothing stored", async () => {
    const sid = newStreamId();
    const tok = await token();
    const html = new TextEncoder().encode("<!doctype html><script>alert(document.cookie)</script>");
    const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    const cases: Array<[string, Uint8Array<ArrayBuffer>, string | null, RegExp]> = [
      ["PNG declared as JPEG", await png(), "image/jpeg", /image\/png, not image\/jpeg/],
      ["GIF declared as WebP", gif(), "image/webp", /image\/gif, not image\/webp/],
      ["HTML declared as PNG", html, "image/png", /not a image\/png image/],
      ["SVG declared as PNG", svg, "image/png", /not a image\/png image/],
      ["SVG as itself", svg, "image/svg+xml", /Content-Type must be/],
      ["HTML as itself", html, "text/html", /Content-Type must be/],
      ["PNG with image/jpg (not a registered type)", await png(), "image/jpg", /Content-Type must be/],
      ["no Content-Type", await png(), null, /Content-Type must be/],
      ["a PNG signature cut short", new Uint8Array(PNG_SIGNATURE.slice(0, 7)), "image/png", /not a image\/png/],
    ];
    for (const [what, bytes, type, message] of cases) {
      const r = await refusal(await post(sid, tok, bytes, type));
      expect([what, r.status, r.error], what).toEqual([what, 415, "unsupported_media_type"]);
      expect(r.message, what).toMatch(message);
    }
    expect((await env.CHAT_UPLOADS.list({ prefix: `uploads/${sid}/` })).objects).toEqual([]);
  });

  it("0 bytes → 400 empty_upload, with Content-Length: 0 and as an empty stream", async () => {
    const sid = newStreamId();
    const tok = await token();
    const r = await refusal(await post(sid, tok, new Uint8Array(0), "image/png"));
    expect([r.status, r.error]).toEqual([400, "empty_upload"]);
    const emptyStream = new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    const s = await refusal(await post(sid, tok, emptyStream, "image/png"));
    expect([s.status, s.error]).toEqual([400, "empty_upload"]);
  });

  it("MAX_UPLOAD_BYTES + 1 → 413 upload_too_large, by Content-Length and by counting a stream without one", async () => {
    const sid = newStreamId();
    const tok = await token();
    const body = new Uint8Array(LIMIT + 1);
    body.set(PNG_SIGNATURE);
    const r = await refusal(await post(sid, tok, body, "image/png"));
    expect([r.status, r.error, r.max_bytes]).toEqual([413, "upload_too_large", LIMIT]);

    let sent = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent) return c.close();
        sent = true;
        c.enqueue(body);
      },
    });
    const req = new Request(`http://chat.test/v1/streams/${sid}/chat/uploads`, {
      method: "POST",
      headers: { authorization: `Bearer ${tok}`, "content-type": "image/png" },
      body: stream,
    });
    expect(req.headers.get("content-length")).toBeNull();
    const s = await refusal(await fetchWorker(`/v1/streams/${sid}/chat/uploads`, req));
    expect([s.status, s.error]).toEqual([413, "upload_too_large"]);
    expect((await env.CHAT_UPLOADS.list({ prefix: `uploads/${sid}/` })).objects).toEqual([]);
  });

  it("a body far over the limit without Content-Length is refused once past the limit, never read whole", async () => {
    const sid = newStreamId();
    const chunk = new Uint8Array(4096);
    chunk.set(PNG_SIGNATURE);
    // 64 × the limit (4 MiB here): a server that read it whole before checking would pull it all.
    // (With a body that never ends, such a server never answers at all.)
    const total = 64 * LIMIT;
    let pulled = 0;
    const huge = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled >= total) return c.close();
        pulled += chunk.byteLength;
        c.enqueue(chunk.slice());
      },
    });
    const r = await refusal(await post(sid, await token(), huge, "image/png"));
    expect([r.status, r.error]).toEqual([413, "upload_too_large"]);
    // Read up to the limit and a little past it (chunks in flight), then stopped.
    expect(pulled).toBeGreaterThan(LIMIT);
    expect(pulled).toBeLessThan(LIMIT * 4);
  });

  it("a bad stream id → 400, no or a bad token → 401, before the body is looked at", async () => {
    const tok = await token();
    expect((await refusal(await post("not-a-uuid", tok, await png(), "image/png"))).error).toBe("invalid_stream_id");
    const noAuth = await refusal(await post(newStreamId(), null, await png(), "image/png"));
    expect([noAuth.status, noAuth.error]).toEqual([401, "unauthorized"]);
    const badAuth = await refusal(await post(newStreamId(), await token({ secret: "another-secret-0123456789" }), new Uint8Array(LIMIT + 1), "text/html"));
    expect([badAuth.status, badAuth.error]).toEqual([401, "unauthorized"]);
  });

  it("rate limit: UPLOADS_PER_MIN per user per stream → 429 rate_limited with Retry-After; another user is not held back", async () => {
    const sid = newStreamId();
    await runInDurableObject(roomStub(sid), (room: ChatRoom) => {
      (room as unknown as { limits: RoomLimits }).limits = roomLimits({ ...loadConfig(env), UPLOADS_PER_MIN: 2 });
    });
    const tok = await token();
    await uploaded(sid, tok, await png(), "image/png");
    await uploaded(sid, tok, gif(), "image/gif");
    const r = await refusal(await post(sid, tok, jpeg(), "image/jpeg"));
    expect([r.status, r.error]).toEqual([429, "rate_limited"]);
    // Two per minute: the next token is up to 30 s away.
    expect(r.retry_after_ms).toBeGreaterThan(0);
    expect(r.retry_after_ms).toBeLessThanOrEqual(30_000);
    expect(r.retryAfter).toBe(String(Math.ceil((r.retry_after_ms as number) / 1000)));
    await uploaded(sid, await token(), jpeg(), "image/jpeg");
  });

  it(`more than ${MAX_PENDING_UPLOADS} uploads not attached → 429 too_many_uploads until the oldest expires`, async () => {
    const sid = newStreamId();
    const userId = newUserId();
    const tok = await token({ sub: userId });
    await uploaded(sid, tok, await png(), "image/png"); // binds the room to the stream
    await runInDurableObject(roomStub(sid), (room: ChatRoom) => {
      const store = (room as unknown as { uploads: UploadStore }).uploads;
      for (let i = 1; i < MAX_PENDING_UPLOADS; i++) store.register(`pending-${i}`.padEnd(22, "x"), userId, "image/png", 1, Date.now());
    });
    const r = await refusal(await post(sid, tok, await png(), "image/png"));
    expect([r.status, r.error]).toEqual([429, "too_many_uploads"]);
    expect(r.retry_after_ms).toBeGreaterThan(UPLOAD_TTL_MS - 60_000);
    expect(Number(r.retryAfter)).toBe(Math.ceil((r.retry_after_ms as number) / 1000));
  });

  it("a banned user's upload → 403 banned", async () => {
    const sid = newStreamId();
    const userId = newUserId();
    const owner = await connect(sid, { token: await ownerToken(sid) });
    await sendOk(owner, { type: "ban", user_id: userId });
    const r = await refusal(await post(sid, await token({ sub: userId }), await png(), "image/png"));
    expect([r.status, r.error]).toEqual([403, "banned"]);
    await owner.close();
  });
});

describe("attachments", () => {
  it("a message carries its uploads: the broadcast comment, a newcomer's history and the Kafka event have {upload_id,url,content_type,size,width,height}", async () => {
    const sid = newStreamId();
    const tok = await token({ username: "shooter" });
    const a = await uploaded(sid, tok, await png(), "image/png");
    const b = await uploaded(sid, tok, webp(), "image/webp");
    const sender = await connect(sid, { token: tok });
    const viewer = await connect(sid);
    const ack = await sendOk(sender, { type: "message", text: "two screenshots", attachments: [a.upload_id, b.upload_id] });
    const expected: Attachment[] = [a, b].map((u) => ({ upload_id: u.upload_id, url: u.url, content_type: u.content_type, size: u.size, width: 1, height: 1 }));
    await viewer.until((x) => x.comments().length === 1, "the comment");
    expect(viewer.comments()[0]!.comment.attachments).toEqual(expected);
    const late = await connect(sid);
    expect(late.of("history")[0]!.comments.find((c) => c.comment.id === ack.id)?.comment.attachments).toEqual(expected);
    expect((await rows(sid)).uploads).toEqual([
      { id: a.upload_id, comment_id: ack.id },
      { id: b.upload_id, comment_id: ack.id },
    ]);

    const unb64 = (s: string) => new TextDecoder().decode(Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0)));
    let event: { attachments?: unknown } | undefined;
    await eventually(async () => {
      const recorded = (await (await fetch("https://kafka-rest.test/_recorded")).json()) as Array<{ records: Array<{ value: string | null }> }>;
      event = recorded
        .flatMap((r) => r.records)
        .map((r) => (r.value ? (JSON.parse(unb64(r.value)) as { comment_id?: string; attachments?: unknown }) : {}))
        .find((e) => e.comment_id === ack.id);
      return event !== undefined;
    }, "the Kafka record of the comment");
    expect(event!.attachments).toEqual(expected);
    await Promise.all([sender.close(), viewer.close(), late.close()]);
  });

  it("someone else's upload, another stream's, a tampered or invented id, one already attached → invalid_attachment; 5 → invalid_frame", async () => {
    const sid = newStreamId();
    const other = newStreamId();
    const tok = await token();
    const mine = await uploaded(sid, tok, await png(), "image/png");
    const theirs = await uploaded(sid, await token(), await png(), "image/png");
    const elsewhere = await uploaded(other, tok, await png(), "image/png");
    const tampered = mine.upload_id.slice(0, -1) + (mine.upload_id.endsWith("A") ? "B" : "A");
    const c = await connect(sid, { token: tok });
    for (const [what, ids] of [
      ["someone else's", [theirs.upload_id]],
      ["another stream's (same user)", [elsewhere.upload_id]],
      ["tampered", [tampered]],
      ["invented", ["x"]],
      ["one good, one foreign", [mine.upload_id, theirs.upload_id]],
    ] as const) {
      const r = await answer(c, { type: "message", text: "look", attachments: ids });
      expect([what, r.type, r.type === "error" ? r.code : null]).toEqual([what, "error", "invalid_attachment"]);
    }
    expect((await rows(sid)).uploads.every((u) => u.comment_id === null)).toBe(true);
    await sendOk(c, { type: "message", text: "mine", attachments: [mine.upload_id] });
    const again = await answer(c, { type: "message", text: "mine again", attachments: [mine.upload_id] });
    expect(again.type === "error" && again.code).toBe("invalid_attachment");
    const five = await answer(c, { type: "message", text: "five", attachments: [1, 2, 3, 4, 5].map(() => mine.upload_id) });
    expect(five.type === "error" && five.code).toBe("invalid_frame");
    await c.close();
  });
});

describe("deleting a comment deletes its images", () => {
  it("author delete, moderator delete (HTTP action) and a ban: the images answer 404 and their rows are gone", async () => {
    const sid = newStreamId();
    const userId = newUserId();
    const tok = await token({ sub: userId });
    const ownerTok = await ownerToken(sid);
    const c = await connect(sid, { token: tok });
    const post3 = async (text: string) => {
      const up = await uploaded(sid, tok, await png(), "image/png");
      const ack = await sendOk(c, { type: "message", text, attachments: [up.upload_id] });
      expect((await get(up.url)).status).toBe(200);
      return { up, id: ack.id! };
    };
    const byAuthor = await post3("mine, deleted by me");
    const byMod = await post3("deleted by the streamer");
    const byBan1 = await post3("deleted by a ban");
    const byBan2 = await post3("also deleted by the ban");

    await sendOk(c, { type: "delete", id: byAuthor.id });
    await eventually(() => gone(byAuthor.up.url), "the author-deleted comment's image to go");
    expect((await get(byMod.up.url)).status).toBe(200);

    const action = (body: unknown) =>
      fetchWorker(`/v1/streams/${sid}/chat/actions`, {
        method: "POST",
        headers: { authorization: `Bearer ${ownerTok}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    expect((await action({ type: "delete", id: byMod.id })).status).toBe(200);
    await eventually(() => gone(byMod.up.url), "the moderator-deleted comment's image to go");
    expect((await get(byBan1.up.url)).status).toBe(200);

    expect((await action({ type: "ban", user_id: userId })).status).toBe(200);
    await eventually(async () => (await gone(byBan1.up.url)) && (await gone(byBan2.up.url)), "the banned user's images to go");
    const r = await get(byBan1.up.url);
    expect(await r.json()).toEqual({ error: "not_found", message: "No such upload" });
    await eventually(async () => (await rows(sid)).doomed.length === 0, "doomed rows to clear");
    expect(await rows(sid)).toEqual({ uploads: [], doomed: [] });
    await c.close();
  });

  it("a failed R2 delete is kept in doomed_uploads and retried by the alarm", async () => {
    const sid = newStreamId();
    const tok = await token();
    const up = await uploaded(sid, tok, await png(), "image/png");
    const c = await connect(sid, { token: tok });
    const ack = await sendOk(c, { type: "message", text: "soon gone", attachments: [up.upload_id] });
    let realEnv: Env | undefined;
    await runInDurableObject(roomStub(sid), (room: ChatRoom) => {
      const r = room as unknown as { env: Env };
      realEnv = r.env;
      const failing = { delete: async () => Promise.reject(new Error("R2 is down (test)")) } as unknown as R2Bucket;
      r.env = { ...realEnv, CHAT_UPLOADS: failing };
    });
    await sendOk(c, { type: "delete", id: ack.id });
    await eventually(async () => (await rows(sid)).doomed.some((d) => d.attempts === 1), "the failed delete to be recorded");
    expect((await get(up.url)).status).toBe(200);
    const alarm = await runInDurableObject(roomStub(sid), async (room: ChatRoom, state) => {
      (room as unknown as { env: Env }).env = realEnv!;
      const at = await state.storage.getAlarm();
      state.storage.sql.exec("UPDATE doomed_uploads SET next_at = 0");
      return at;
    });
    // The retry is scheduled (1 min after the failure).
    expect(alarm).not.toBeNull();
    expect(await runDurableObjectAlarm(roomStub(sid))).toBe(true);
    expect((await get(up.url)).status).toBe(404);
    expect((await rows(sid)).doomed).toEqual([]);
    await c.close();
  });
});

describe("a ban makes the user's uploads unreachable (issue 22 §4)", () => {
  it("unattached uploads answer 404 right after the ban, with the images of the comments it deleted; another user's stay", async () => {
    const sid = newStreamId();
    const userId = newUserId();
    const tok = await token({ sub: userId });
    const other = await uploaded(sid, await token(), await png(), "image/png");
    const pending = [await uploaded(sid, tok, await png(), "image/png"), await uploaded(sid, tok, gif(), "image/gif")];
    const c = await connect(sid, { token: tok });
    const sent = await uploaded(sid, tok, jpeg(), "image/jpeg");
    await sendOk(c, { type: "message", text: "with an image", attachments: [sent.upload_id] });
    for (const u of [...pending, sent]) expect((await get(u.url)).status).toBe(200);
    const owner = await connect(sid, { token: await ownerToken(sid) });
    await sendOk(owner, { type: "ban", user_id: userId });
    // Bounded wait for the R2 deletes the ban's event started (ctx.waitUntil), not a timing claim.
    await eventually(async () => (await Promise.all([...pending, sent].map((u) => gone(u.url)))).every(Boolean), "the banned user's uploads to answer 404");
    expect((await get(other.url)).status).toBe(200);
    const left = await rows(sid);
    expect(left.uploads.map((u) => u.id)).toEqual([other.upload_id]);
    // Young uploads stay doomed for one more delete once a put in flight would have landed.
    expect(left.doomed.map((d) => d.id).sort()).toEqual(pending.map((u) => u.upload_id).sort());
    await Promise.all([c.close(), owner.close()]);
  });

  it("an upload registered before the ban whose bytes reach R2 after it is deleted again by the alarm", async () => {
    const sid = newStreamId();
    const userId = newUserId();
    const id = newUploadId();
    const bytes = await png();
    // The worker's order (src/uploads.ts): register with the room, then put to R2 — here the ban comes between.
    expect(await roomStub(sid).registerUpload(sid, userId, { id, content_type: "image/png", size: bytes.byteLength, width: 1, height: 1, frames: 1 })).toEqual({ ok: true });
    const owner = await connect(sid, { token: await ownerToken(sid) });
    await sendOk(owner, { type: "ban", user_id: userId });
    await env.CHAT_UPLOADS.put(uploadKey(sid, id), bytes, { httpMetadata: { contentType: "image/png" } });
    const url = `/v1/uploads/${sid}/${id}`;
    expect((await get(url)).status).toBe(200); // the late put landed: only its banned uploader knows the id
    await eventually(async () => (await rows(sid)).doomed.some((d) => d.id === id && d.attempts === 0), "the first delete to be confirmed");
    const again = await runInDurableObject(roomStub(sid), (_room: ChatRoom, state) => {
      const { next_at } = state.storage.sql.exec<{ next_at: number }>("SELECT next_at FROM doomed_uploads WHERE id = ?", id).one();
      state.storage.sql.exec("UPDATE doomed_uploads SET next_at = 0"); // as if UPLOAD_PUT_GRACE_MS had passed
      return next_at;
    });
    expect(again).toBeGreaterThan(Date.now() + UPLOAD_PUT_GRACE_MS - 60_000);
    expect(await runDurableObjectAlarm(roomStub(sid))).toBe(true);
    expect((await get(url)).status).toBe(404);
    expect(await rows(sid)).toEqual({ uploads: [], doomed: [] });
    await owner.close();
  });
});

describe("the sweep: uploads never attached are deleted after 24 h by the room's alarm", () => {
  it("older than 24 h and unattached → deleted from R2 and the table; attached or younger → kept; the alarm re-armed for the next expiry", async () => {
    const sid = newStreamId();
    const tok = await token();
    const stale = await uploaded(sid, tok, await png(), "image/png");
    const attached = await uploaded(sid, tok, gif(), "image/gif");
    const young = await uploaded(sid, tok, jpeg(), "image/jpeg");
    const c = await connect(sid, { token: tok });
    const ack = await sendOk(c, { type: "message", text: "kept", attachments: [attached.upload_id] });
    const scheduled = await runInDurableObject(roomStub(sid), async (_room: ChatRoom, state) => {
      const sql = state.storage.sql;
      sql.exec("UPDATE uploads SET created_at = created_at - ? WHERE id IN (?, ?)", UPLOAD_TTL_MS + 1000, stale.upload_id, attached.upload_id);
      sql.exec("UPDATE uploads SET created_at = created_at - ? WHERE id = ?", UPLOAD_TTL_MS - 3_600_000, young.upload_id);
      return state.storage.getAlarm();
    });
    expect(scheduled).not.toBeNull();
    expect(await runDurableObjectAlarm(roomStub(sid))).toBe(true);

    expect((await get(stale.url)).status).toBe(404);
    expect((await get(attached.url)).status).toBe(200);
    expect((await get(young.url)).status).toBe(200);
    expect(await rows(sid)).toEqual({
      uploads: [
        { id: attached.upload_id, comment_id: ack.id },
        { id: young.upload_id, comment_id: null },
      ],
      doomed: [],
    });
    const { next, youngAt } = await runInDurableObject(roomStub(sid), async (_room: ChatRoom, state) => ({
      next: await state.storage.getAlarm(),
      youngAt: state.storage.sql.exec<{ t: number }>("SELECT created_at AS t FROM uploads WHERE id = ?", young.upload_id).one().t,
    }));
    expect(next).toBe(youngAt + UPLOAD_TTL_MS);
    // The stale id no longer attaches (its row is gone), though it was this user's.
    const r = await answer(c, { type: "message", text: "late", attachments: [stale.upload_id] });
    expect(r.type === "error" && r.code).toBe("invalid_attachment");
    await c.close();
  });
});

describe("serving: GET /v1/uploads/{stream_id}/{upload_id}", () => {
  it("headers: stored type, nosniff, CSP, inline, immutable caching, ETag; If-None-Match → 304", async () => {
    const sid = newStreamId();
    const bytes = await png();
    const up = await uploaded(sid, await token(), bytes, "image/png");
    const head = await env.CHAT_UPLOADS.head(uploadKey(sid, up.upload_id));
    const res = await get(up.url);
    expect(res.status).toBe(200);
    const h = Object.fromEntries(
      ["content-type", "content-length", "x-content-type-options", "content-security-policy", "content-disposition", "cache-control", "etag"].map((k) => [k, res.headers.get(k)]),
    );
    expect(h).toEqual({
      "content-type": "image/png",
      "content-length": String(bytes.byteLength),
      "x-content-type-options": "nosniff",
      "content-security-policy": "default-src 'none'; sandbox",
      "content-disposition": "inline",
      "cache-control": "public, max-age=31536000, immutable",
      etag: head!.httpEtag,
    });
    expect([UPLOAD_CSP, UPLOAD_CACHE_CONTROL]).toEqual([h["content-security-policy"], h["cache-control"]]);
    await res.arrayBuffer();

    const etag = head!.httpEtag;
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const r = await get(up.url, { "if-none-match": inm });
      expect([inm, r.status]).toEqual([inm, 304]);
      expect(r.headers.get("etag")).toBe(etag);
      expect(r.headers.get("cache-control")).toBe(UPLOAD_CACHE_CONTROL);
      expect(await r.text()).toBe("");
    }
    const headOnly = await fetchWorker(up.url, { method: "HEAD" });
    expect([headOnly.status, headOnly.headers.get("content-type"), headOnly.headers.get("etag"), await headOnly.text()]).toEqual([200, "image/png", etag, ""]);
    const miss = await get(up.url, { "if-none-match": '"something-else"' });
    expect(miss.status).toBe(200);
    expect(new Uint8Array(await miss.arrayBuffer())).toEqual(bytes);
  });

  it("unknown, malformed, or stored with a non-image type → 404 JSON; nothing active is ever served", async () => {
    const sid = newStreamId();
    const html = "<!doctype html><script>alert(1)</script>";
    for (const [id, type] of [
      ["htmlhtmlhtmlhtmlhtmlh1", "text/html"],
      ["svgsvgsvgsvgsvgsvgsvg1", "image/svg+xml"],
      ["untypeduntypeduntyped1", undefined],
    ] as const) {
      await env.CHAT_UPLOADS.put(uploadKey(sid, id), html, type ? { httpMetadata: { contentType: type } } : {});
    }
    const up = await uploaded(sid, await token(), await png(), "image/png");
    const urls = [
      `/v1/uploads/${sid}/htmlhtmlhtmlhtmlhtmlh1`,
      `/v1/uploads/${sid}/svgsvgsvgsvgsvgsvgsvg1`,
      `/v1/uploads/${sid}/untypeduntypeduntyped1`,
      `/v1/uploads/${sid}/AAAAAAAAAAAAAAAAAAAAAA`, // well-formed, unknown
      `/v1/uploads/${newStreamId()}/${up.upload_id}`, // another stream
      `/v1/uploads/not-a-uuid/${up.upload_id}`,
      `/v1/uploads/${sid}/${up.upload_id}x`, // too long
      `/v1/uploads/${sid}/${up.upload_id.slice(1)}`, // too short
      `/v1/uploads/${sid}/..%2F..%2Fx`,
      `/v1/uploads/${sid}`,
    ];
    for (const url of urls) {
      const r = await get(url);
      expect([url, r.status, r.headers.get("content-type")?.split(";")[0]]).toEqual([url, 404, "application/json"]);
      expect(((await r.json()) as { error: string }).error).toBe("not_found");
      if (url.split("/").length === 5) expect(r.headers.get("cache-control"), url).toBe("no-store");
    }
    // The stream id's case does not matter (the route lower-cases it, as the upload route does).
    expect((await get(`/v1/uploads/${sid.toUpperCase()}/${up.upload_id}`)).status).toBe(200);
  });
});
