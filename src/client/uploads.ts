/**
 * The client's half of images in chat (DESIGN.md "Images in chat", issue 11): what `chat.upload()`
 * checks before a byte leaves the device, how the server's answers map to ChatError codes, and how
 * upload URLs (paths on the chat server) become absolute URLs an app can put in an `<img>`.
 *
 * The accepted types, the default limit, the magic-byte check and the image header's bounds are the
 * worker's own (src/rules/images.ts, src/rules/image-header.ts: pure modules both sides import).
 */
import type { SingleServerFrame } from "../protocol.js";
import { checkImage, type ImageSize } from "../rules/image-header.js";
import { SNIFF_BYTES, isUploadContentType, sniffImageType, type UploadContentType } from "../rules/images.js";
import { exhaustive } from "../rules/never.js";

export {
  DEFAULT_MAX_UPLOAD_BYTES,
  SNIFF_BYTES,
  UPLOAD_CONTENT_TYPES,
  isUploadContentType,
  sniffImageType,
  type UploadContentType,
} from "../rules/images.js";
/** The image header's bounds and checks (MAX_IMAGE_*, checkImage, imageBoundsProblem, …): the server's. */
export * from "../rules/image-header.js";
import { ChatError, type ChatErrorCode } from "./errors.js";
import type { Attachment, StreamComment } from "./types.js";

/**
 * A `rate_limited` upload is sent again by the SDK when the server asks to wait at most this long
 * (ms), at most {@link UPLOAD_RATE_LIMIT_RETRIES} times. Safe: a throttled upload stored nothing.
 */
export const UPLOAD_RETRY_MAX_WAIT_MS = 10_000;
export const UPLOAD_RATE_LIMIT_RETRIES = 2;

/** What `chat.upload()` takes: a File or Blob (browsers, Node ≥ 20), or the raw bytes. */
export type UploadBody = Blob | ArrayBuffer | Uint8Array;

export interface UploadOptions {
  /**
   * The image's type (`image/png`, `image/jpeg`, `image/gif`, `image/webp`). Optional: the SDK
   * reads the file's first bytes anyway, and the type they show is what it declares. Given, it
   * must be one of the four and match those bytes, else `unsupported_media_type`.
   */
  contentType?: string;
  /** Aborts the upload (rejects with `aborted`). */
  signal?: AbortSignal;
}

/** A stored upload: put `uploadId` in `send(text, { attachments: [uploadId] })`. */
export interface UploadResult {
  /** 22 characters, base64url; valid for one message of yours in this stream, for 24 h. */
  uploadId: string;
  /** Absolute URL of the image (resolved against the client's `baseUrl`); no credentials needed. */
  url: string;
  contentType: UploadContentType;
  /** Bytes. */
  size: number;
}

/** `image/PNG; x=1` → `image/png`; empty → null. */
function mediaType(header: string | undefined): string | null {
  const t = header?.split(";")[0]?.trim().toLowerCase();
  return t ? t : null;
}

const TYPES_TEXT = "PNG, JPEG, GIF or WebP";

/** A ready request body: the bytes as a Blob and what they are. */
export interface PreparedUpload {
  body: Blob;
  contentType: UploadContentType;
  size: number;
  /** px and frames, as its header declares them */
  image: ImageSize;
}

/**
 * Checks an upload locally, refusing what the server would refuse, and returns its body and type.
 * In order: not a Blob/ArrayBuffer/Uint8Array → TypeError; 0 bytes → `empty_upload`; over
 * `maxBytes` → `upload_too_large`; first bytes not PNG/JPEG/GIF/WebP → `unsupported_media_type`
 * (an SVG or HTML file whatever its name); `contentType` given but not one of the four or not what
 * the bytes are → `unsupported_media_type`; then the header (src/rules/image-header.ts, the whole
 * file read: at most `maxBytes`): over a bound (side, pixels, frames) → `image_too_large`, malformed
 * → `invalid_image`. A Blob's own `type` is only a guess from the file name (a `.jpg` that is really
 * a PNG is common), so the bytes decide the declared type.
 */
export async function prepareUpload(file: UploadBody, options: UploadOptions, maxBytes: number): Promise<PreparedUpload> {
  let blob: Blob;
  if (typeof Blob !== "undefined" && file instanceof Blob) blob = file;
  else if (file instanceof ArrayBuffer || file instanceof Uint8Array) blob = new Blob([file as Uint8Array<ArrayBuffer>]);
  else throw new TypeError("upload() takes a File, a Blob, an ArrayBuffer or a Uint8Array");
  const size = blob.size;
  if (size === 0) throw new ChatError("empty_upload", "The file is empty");
  if (size > maxBytes) {
    throw new ChatError("upload_too_large", `The image has ${size} bytes; at most ${maxBytes} may be uploaded`);
  }
  const head = new Uint8Array(await blob.slice(0, SNIFF_BYTES).arrayBuffer());
  const actual = sniffImageType(head);
  const declared = options.contentType === undefined ? null : mediaType(options.contentType);
  if (options.contentType !== undefined && !isUploadContentType(declared)) {
    throw new ChatError("unsupported_media_type", `${options.contentType || "(empty)"} is not an image type the chat accepts (${TYPES_TEXT})`);
  }
  if (!actual) {
    const guessed = blob.type ? ` (${mediaType(blob.type) ?? blob.type})` : "";
    throw new ChatError("unsupported_media_type", `The file${guessed} is not a ${TYPES_TEXT} image`);
  }
  if (declared && declared !== actual) throw new ChatError("unsupported_media_type", `The file is ${actual}, not ${declared}`);
  const image = checkImage(new Uint8Array(await blob.arrayBuffer()), actual);
  if (!image.ok) throw new ChatError(image.code, image.message);
  return { body: blob, contentType: actual, size, image: { width: image.width, height: image.height, frames: image.frames } };
}

/** The JSON error body of the worker: `{error, message, max_bytes?, retry_after_ms?}`. */
export interface HttpErrorBody {
  error?: unknown;
  message?: unknown;
  max_bytes?: unknown;
  retry_after_ms?: unknown;
}

/**
 * The ChatError for a refused upload (README "Images"): 401 → `unauthorized`; 403 `banned` →
 * `banned` (other 403s → `forbidden`); 413 → `upload_too_large`; 415 → `unsupported_media_type`;
 * 400 `empty_upload`; 422 `image_too_large`; 400 `invalid_image`; 429 → `rate_limited` or `too_many_uploads` with `retryAfterMs` (from
 * `retry_after_ms`, else the Retry-After header's seconds); anything else → `upload_failed`.
 */
export function uploadHttpError(status: number, body: HttpErrorBody | null, retryAfterHeader: string | null): ChatError {
  const server = typeof body?.error === "string" ? body.error : undefined;
  const text = typeof body?.message === "string" ? body.message : `HTTP ${status}`;
  let code: ChatErrorCode;
  let retryAfterMs: number | undefined;
  if (status === 401) code = "unauthorized";
  else if (status === 403) code = server === "banned" ? "banned" : "forbidden";
  else if (status === 413) code = "upload_too_large";
  else if (status === 415) code = "unsupported_media_type";
  else if (status === 400 && server === "empty_upload") code = "empty_upload";
  else if (status === 422 && server === "image_too_large") code = "image_too_large";
  else if (status === 400 && server === "invalid_image") code = "invalid_image";
  else if (status === 429) {
    code = server === "too_many_uploads" ? "too_many_uploads" : "rate_limited";
    const ms = body?.retry_after_ms;
    const header = retryAfterHeader !== null && /^\d+$/.test(retryAfterHeader.trim()) ? Number(retryAfterHeader) * 1000 : undefined;
    retryAfterMs = typeof ms === "number" && Number.isFinite(ms) && ms >= 0 ? ms : header;
  } else code = "upload_failed";
  const message = code === "upload_failed" ? `The upload failed (HTTP ${status}: ${text})` : text;
  return new ChatError(code, message, { retryAfterMs });
}

/**
 * The server's answer to a stored upload as an {@link UploadResult}, `url` resolved against `base`;
 * null when the body is not `{upload_id, url, content_type, size}`.
 */
export function parseUploadResponse(json: unknown, base: URL): UploadResult | null {
  if (typeof json !== "object" || json === null) return null;
  const b = json as Record<string, unknown>;
  if (typeof b.upload_id !== "string" || typeof b.url !== "string" || !isUploadContentType(b.content_type) || typeof b.size !== "number") return null;
  return { uploadId: b.upload_id, url: resolveUrl(b.url, base), contentType: b.content_type, size: b.size };
}

/**
 * An upload's `url` (the server sends `/v1/uploads/{stream}/{id}`, a path on the chat server) as
 * an absolute URL against the chat server `base`. A URL that does not parse is returned unchanged;
 * apps should still accept only http(s) before using it (the demo page does).
 */
export function resolveUrl(url: string, base: URL | string): string {
  try {
    return new URL(url, base).href;
  } catch {
    return url;
  }
}

function resolveComment(c: StreamComment, base: URL): StreamComment {
  if (!c.attachments?.length) return c;
  const attachments: Attachment[] = c.attachments.map((a) => ({ ...a, url: resolveUrl(a.url, base) }));
  return { ...c, attachments };
}

/**
 * The same frame with every attachment URL absolute (comments, the pinned comment, a history's
 * comments and events, a welcome's pin, held and shadow-hidden comments, the review queue's). Frames without attachments are returned as they are.
 * The SDK applies this to every frame before anything else sees it, so `chat.comments`, the
 * `comment`/`history`/`event` events and `chat.pinned` all carry absolute URLs.
 */
export function resolveFrameUrls(frame: SingleServerFrame, base: URL): SingleServerFrame {
  switch (frame.type) {
    case "comment":
      return { ...frame, comment: resolveComment(frame.comment, base) };
    case "pinned":
      return frame.comment ? { ...frame, comment: resolveComment(frame.comment, base) } : frame;
    case "welcome":
      return frame.pinned ? { ...frame, pinned: resolveComment(frame.pinned, base) } : frame;
    case "history":
      return {
        ...frame,
        comments: frame.comments.map((sc) => ({ ...sc, comment: resolveComment(sc.comment, base) })),
        ...(frame.events ? { events: frame.events.map((e) => resolveFrameUrls(e, base) as typeof e) } : {}),
      };
    case "held":
      return frame.comment ? { ...frame, comment: resolveComment(frame.comment, base) } : frame;
    case "review_queue":
      return { ...frame, items: frame.items.map((h) => ({ ...h, comment: resolveComment(h.comment, base) })) };
    case "hidden_comment":
      return { ...frame, comment: resolveComment(frame.comment, base) };
    case "comment_edited":
    case "comment_deleted":
    case "moderation":
    case "modlog":
    case "ack":
    case "error":
    case "pong":
    case "viewers":
      return frame; // no comment, so no attachment
    default:
      exhaustive(frame);
      return frame;
  }
}
