/**
 * Images in chat, the worker's side (DESIGN.md "Images in chat", issue 11).
 *
 *   POST /v1/streams/{id}/chat/uploads      Bearer JWT; body = the image → 201 {upload_id, url, content_type, size}
 *   GET  /v1/uploads/{stream_id}/{upload_id}  the bytes, with the stored type and defensive headers
 *
 * An upload is checked here (declared type, size, magic bytes, the dimensions and frames its header
 * declares: issue 22), then registered with the stream's ChatRoom (`registerUpload`: rate limit, cap
 * on unattached uploads, bans), then put to R2 (binding CHAT_UPLOADS) under
 * `uploads/{stream_id}/{upload_id}` with the user, stream, type, size, width/height (frames) and
 * time as custom metadata. The room's table is what a message's `attachments` are checked against
 * (src/upload-store.ts), and the room's alarm deletes what is never attached or whose comment is
 * deleted.
 *
 * Upload ids are 16 random bytes, base64url (22 characters): unguessable, so the GET route needs no
 * credentials (an <img> cannot send a bearer token) — the URL is the capability, and it is shown
 * only to the stream's viewers, in the comment that carries it.
 *
 * The constants and key/URL helpers the room shares with this route live in src/upload-rules.ts
 * (no framework); this module imports them, never the other way.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Config, Env } from "./env";
import { describeError } from "./errors";
import { isUuid } from "./protocol";
import type { UploadRegistration } from "./room-api";
import { checkImage } from "./rules/image-header";
import {
  UPLOAD_CACHE_CONTROL,
  UPLOAD_CSP,
  UPLOAD_ID_RE,
  declaredImageType,
  isUploadContentType,
  newUploadId,
  sniffImageType,
  uploadKey,
  uploadUrl,
  type UploadContentType,
} from "./upload-rules";

/** What {@link readCapped} read: the bytes, more than the limit (abandoned), or a body that broke off. */
export type CappedBody = { kind: "ok"; bytes: Uint8Array } | { kind: "too_large" } | { kind: "broken"; error: unknown };

/**
 * Reads a request body, at most `max` bytes. Returns the bytes, or `too_large` as soon as more than
 * `max` have arrived — the rest is never read (the stream is cancelled), whatever Content-Length said
 * or whether it was sent at all — or `broken` when the stream errors before its end (the runtime's
 * "Network connection lost." when a client closes with fewer bytes than its Content-Length). A
 * missing body reads as 0 bytes.
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, max: number): Promise<CappedBody> {
  if (!body) return { kind: "ok", bytes: new Uint8Array(0) };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch (error) {
      return { kind: "broken", error };
    }
    if (next.done) break;
    total += next.value.byteLength;
    if (total > max) {
      await reader.cancel("upload too large").catch(() => {});
      return { kind: "too_large" };
    }
    chunks.push(next.value);
  }
  if (chunks.length === 1) return { kind: "ok", bytes: chunks[0]! };
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return { kind: "ok", bytes: out };
}

// ---------------------------------------------------------------------------------------------
// Routes (mounted by src/worker.ts, which has checked the stream id and the bearer token)
// ---------------------------------------------------------------------------------------------

type UploadContext = Context<{ Bindings: Env; Variables: { config: Config } }>;

/**
 * The body a client gets for a stored upload (DESIGN.md: `{"upload_id","url","content_type","size"}`,
 * extended with the size its header declares, README "Images").
 */
export interface UploadResponse {
  upload_id: string;
  url: string;
  content_type: UploadContentType;
  /** bytes */
  size: number;
  /** px, from the image's header (src/rules/image-header.ts) */
  width: number;
  height: number;
  /** frames of an animation; absent for a still image */
  frames?: number;
}

type Status = 400 | 403 | 404 | 413 | 415 | 422 | 429 | 503;

function refuse(status: Status, error: string, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): never {
  throw new HTTPException(status, {
    res: new Response(JSON.stringify({ error, message, ...extra }), {
      status,
      headers: { "content-type": "application/json; charset=utf-8", ...headers },
    }),
  });
}

const TYPES_TEXT = "image/png, image/jpeg, image/gif or image/webp";

/**
 * `POST /v1/streams/{id}/chat/uploads` for an authenticated `userId` in `streamId` (lower-case).
 * Checks, in order: declared type (415 `unsupported_media_type`), Content-Length when sent (413
 * `upload_too_large` before reading anything, 400 `empty_upload` for 0),
 * the body while it is read (413 past MAX_UPLOAD_BYTES; 400 `incomplete_upload` when it breaks off or
 * has fewer bytes than Content-Length said; 400 when empty), its magic bytes against the declared type
 * (415), its header (src/rules/image-header.ts: 422 `image_too_large` over a bound, 400
 * `invalid_image` when malformed), then the room (429 `rate_limited` / `too_many_uploads` with
 * Retry-After, 403 `banned`), then R2 (503 `upload_failed`). Nothing is stored before the room
 * admits it. Answers 201 with an {@link UploadResponse}.
 */
export async function postUpload(c: UploadContext, streamId: string, userId: string): Promise<Response> {
  const max = c.get("config").MAX_UPLOAD_BYTES;
  const declared = declaredImageType(c.req.header("content-type"));
  if (!declared) refuse(415, "unsupported_media_type", `Content-Type must be ${TYPES_TEXT}`);
  const tooLarge = [413, "upload_too_large", `An upload may have at most ${max} bytes`, { max_bytes: max }] as const;
  const empty = [400, "empty_upload", "The body is empty: send the image's bytes"] as const;
  // Refused from the header, the body is left unread — not cancelled: cancelling makes the runtime
  // drop the connection while an honest client is still sending, and it never reads the 413.
  const header = c.req.header("content-length")?.trim();
  const length = header !== undefined && /^\d{1,16}$/.test(header) ? Number(header) : null;
  if (length !== null && length > max) refuse(...tooLarge);
  if (length === 0) refuse(...empty);

  const body = await readCapped(c.req.raw.body, max);
  if (body.kind === "too_large") refuse(...tooLarge);
  if (body.kind === "broken" || (length !== null && body.bytes.byteLength !== length)) {
    const got = body.kind === "ok" ? `${body.bytes.byteLength} bytes arrived` : `the body broke off (${describeError(body.error)})`;
    refuse(400, "incomplete_upload", `Content-Length said ${length ?? "?"} bytes, but ${got}: send the whole file`);
  }
  const bytes = body.bytes;
  if (bytes.byteLength === 0) refuse(...empty);
  const actual = sniffImageType(bytes);
  if (actual !== declared) {
    refuse(415, "unsupported_media_type", actual ? `The file is ${actual}, not ${declared}` : `The file is not a ${declared} image (its first bytes say otherwise)`);
  }
  // Every viewer's browser decodes what a comment carries: its declared size must be within bounds.
  const image = checkImage(bytes, declared);
  if (!image.ok) refuse(image.code === "image_too_large" ? 422 : 400, image.code, image.message);
  const { width, height, frames } = image;

  const upload: UploadRegistration = { id: newUploadId(), content_type: declared, size: bytes.byteLength, width, height, frames };
  const room = c.env.CHAT_ROOM.get(c.env.CHAT_ROOM.idFromName(streamId));
  const verdict = await room.registerUpload(streamId, userId, upload);
  if (!verdict.ok) {
    const { code, message, retry_after_ms } = verdict;
    if (code === "banned") refuse(403, code, message);
    const retry = retry_after_ms ?? 1000;
    refuse(429, code, message, { retry_after_ms: retry }, { "retry-after": String(Math.ceil(retry / 1000)) });
  }

  const createdAt = new Date().toISOString();
  try {
    await c.env.CHAT_UPLOADS.put(uploadKey(streamId, upload.id), bytes, {
      httpMetadata: { contentType: declared },
      customMetadata: {
        user_id: userId,
        stream_id: streamId,
        content_type: declared,
        size: String(upload.size),
        width: String(width),
        height: String(height),
        ...(frames > 1 ? { frames: String(frames) } : {}),
        created_at: createdAt,
      },
    });
  } catch (err) {
    // The room's row stays and is swept after UPLOAD_TTL_MS like any upload never attached.
    console.error(`uploads: R2 put failed stream=${streamId} user=${userId} upload=${upload.id}: ${describeError(err)}`);
    refuse(503, "upload_failed", "Image storage is unavailable, try again shortly");
  }
  const answer: UploadResponse = { upload_id: upload.id, url: uploadUrl(streamId, upload.id), content_type: declared, size: upload.size, width, height };
  if (frames > 1) answer.frames = frames;
  return c.json(answer, 201);
}

const notFound = () =>
  new Response(JSON.stringify({ error: "not_found", message: "No such upload" }), {
    status: 404,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });

/**
 * `GET /v1/uploads/{stream_id}/{upload_id}`: the stored bytes with the stored type — one of the four
 * image types, or 404 (an object of any other type is never served, whatever it holds) — and
 * `X-Content-Type-Options: nosniff`, `Content-Security-Policy: default-src 'none'; sandbox`,
 * `Content-Disposition: inline`, immutable caching and R2's ETag (`If-None-Match` → 304). A
 * malformed or unknown stream or upload id → 404 JSON `not_found`. No credentials: see the header.
 */
export async function getUpload(c: UploadContext): Promise<Response> {
  const streamId = c.req.param("stream_id") ?? "";
  const uploadId = c.req.param("upload_id") ?? "";
  if (!isUuid(streamId) || !UPLOAD_ID_RE.test(uploadId)) return notFound();
  // R2 evaluates If-None-Match itself (only that header is passed: If-Match & co. are not ours to
  // answer) and then returns the object's metadata without its body.
  const inm = c.req.header("if-none-match");
  const obj = await c.env.CHAT_UPLOADS.get(uploadKey(streamId.toLowerCase(), uploadId), {
    onlyIf: inm === undefined ? undefined : new Headers({ "if-none-match": inm }),
  });
  if (!obj) return notFound();
  const type = obj.httpMetadata?.contentType;
  if (!isUploadContentType(type)) {
    if ("body" in obj) await obj.body.cancel();
    console.warn(`uploads: refusing to serve ${obj.key}: stored type ${JSON.stringify(type)} is not an image type`);
    return notFound();
  }
  const headers = new Headers({
    etag: obj.httpEtag,
    "cache-control": UPLOAD_CACHE_CONTROL,
    "x-content-type-options": "nosniff",
    "content-security-policy": UPLOAD_CSP,
  });
  if (!("body" in obj)) return new Response(null, { status: 304, headers });
  headers.set("content-type", type);
  headers.set("content-length", String(obj.size));
  headers.set("content-disposition", "inline");
  return new Response(obj.body, { headers });
}
