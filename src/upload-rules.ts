/**
 * The server's rules for image uploads, framework-free (issue 17 §2): what an upload id is, where
 * an upload lives in R2 and under which URL it is served, how long an unattached upload lives, how
 * many a user may hold, and the headers a served image carries. The upload route (src/uploads.ts,
 * Hono), the ChatRoom (src/room.ts) and its upload table (src/upload-store.ts) import these from here,
 * so the room never loads the route module (hono, its request types) to learn a constant.
 *
 * Why a module of its own and not src/rules/images.ts: rules/images.ts is what the client SDK ships
 * (accepted types, the default size, the magic-byte check, via src/client/uploads.ts); the R2 key
 * layout, the room's caps and the served headers are the server's business and stay out of the SDK's
 * bundle. Both are pure: no I/O, no package imports (test/unit/layering.test.ts holds that).
 */
import { isUploadContentType, type UploadContentType } from "./rules/images";

export { UPLOAD_CONTENT_TYPES, isUploadContentType, sniffImageType, type UploadContentType } from "./rules/images";

/** An upload never attached to a message is deleted after this long (ms), by its room's alarm. */
export const UPLOAD_TTL_MS = 24 * 60 * 60 * 1000;
/** Uploads one user may hold unattached in one stream; more → 429 `too_many_uploads`. */
export const MAX_PENDING_UPLOADS = 50;
/** An upload id: 16 random bytes, base64url without padding (22 characters). */
export const UPLOAD_ID_RE = /^[A-Za-z0-9_-]{22}$/;
/** `Cache-Control` of a served image: its bytes never change under its URL. */
export const UPLOAD_CACHE_CONTROL = "public, max-age=31536000, immutable";
/** `Content-Security-Policy` of a served image: even opened as a document, nothing may load or run. */
export const UPLOAD_CSP = "default-src 'none'; sandbox";

/**
 * A new upload id (see UPLOAD_ID_RE): 16 bytes from the platform's CSPRNG, base64url (RFC 4648 §5)
 * without padding — unguessable, so the URL can be the capability to read the image.
 */
export function newUploadId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The R2 key of an upload: `uploads/{stream_id}/{upload_id}` (stream id lower-case). */
export function uploadKey(streamId: string, uploadId: string): string {
  return `uploads/${streamId}/${uploadId}`;
}

/** The URL a comment carries for an upload: a path on the chat server (relative to its origin). */
export function uploadUrl(streamId: string, uploadId: string): string {
  return `/v1/uploads/${streamId}/${uploadId}`;
}

/**
 * The image type a `Content-Type` header declares (parameters and case ignored), or null when it
 * is absent or not one of UPLOAD_CONTENT_TYPES (`image/svg+xml`, `text/html`, `image/jpg`, …).
 */
export function declaredImageType(header: string | undefined | null): UploadContentType | null {
  const type = header?.split(";")[0]?.trim().toLowerCase();
  return isUploadContentType(type) ? type : null;
}
