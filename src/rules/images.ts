/**
 * Image upload rules shared by the worker (src/uploads.ts) and the client SDK (src/client/uploads.ts):
 * the accepted types, the default size limit, and recognising a file by its magic bytes. Pure (no
 * I/O, no dependencies), so the SDK can ship it without pulling in the worker's libraries.
 * DESIGN.md "Images in chat".
 */

/** The only types accepted and ever served: raster formats browsers render without running anything. */
export const UPLOAD_CONTENT_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"] as const;
export type UploadContentType = (typeof UPLOAD_CONTENT_TYPES)[number];

/** MAX_UPLOAD_BYTES default: 5 MiB = 5,242,880 bytes (DESIGN.md "Images in chat"). */
export const DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 * 1024;

/** True for one of {@link UPLOAD_CONTENT_TYPES}. */
export function isUploadContentType(v: unknown): v is UploadContentType {
  return typeof v === "string" && (UPLOAD_CONTENT_TYPES as readonly string[]).includes(v);
}

const bytesAt = (b: Uint8Array, offset: number, expected: readonly number[]) =>
  b.length >= offset + expected.length && expected.every((v, i) => b[offset + i] === v);
const ascii = (s: string) => [...s].map((ch) => ch.charCodeAt(0));

/** Bytes {@link sniffImageType} needs to see (WebP's `WEBP` ends at byte 12). */
export const SNIFF_BYTES = 12;

/**
 * The image type of a file by its magic bytes, or null when it is none of the four. Signatures:
 * PNG `89 50 4E 47 0D 0A 1A 0A` (PNG spec §5.2), JPEG `FF D8 FF` (SOI + a marker), GIF `GIF87a` /
 * `GIF89a`, WebP `RIFF` <4-byte size> `WEBP` (RFC 9649 §2.5).
 */
export function sniffImageType(b: Uint8Array): UploadContentType | null {
  if (bytesAt(b, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "image/png";
  if (bytesAt(b, 0, [0xff, 0xd8, 0xff])) return "image/jpeg";
  if (bytesAt(b, 0, ascii("GIF87a")) || bytesAt(b, 0, ascii("GIF89a"))) return "image/gif";
  if (bytesAt(b, 0, ascii("RIFF")) && bytesAt(b, 8, ascii("WEBP"))) return "image/webp";
  return null;
}
