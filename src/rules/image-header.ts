/**
 * How large an image is, read from its header and structure without decoding a pixel (issue 22 §1):
 * width and height in px, and for animations the number of frames. Every viewer's browser decodes
 * every image a comment carries, so a small file that declares a huge canvas (a deflate bomb: 0.78 MB
 * that inflates to 768 MiB) or thousands of frames is refused at upload, by the worker
 * (src/uploads.ts) and already by the SDK (src/client/uploads.ts), against the bounds below.
 *
 * Pure (no I/O, no dependencies), so the worker and the SDK run the same code. Where each format keeps
 * its size:
 *   PNG   IHDR, the first chunk (PNG spec §11.2.2); APNG frames: acTL num_frames, before the first
 *         IDAT, which must equal the number of fcTL chunks (APNG spec); chunks walked up to IEND.
 *   JPEG  the first SOFn frame header (ITU T.81 B.2.2), found by walking the marker segments.
 *   GIF   the logical screen (GIF89a §18), grown to every image descriptor's extent (§20), one frame
 *         per image descriptor; extensions and image data skipped as sub-blocks, up to the trailer.
 *   WebP  VP8 key-frame header (RFC 6386 §9.1), VP8L header (RFC 9649 §3.2), or VP8X canvas (RFC 9649
 *         §2.7) with its ANMF frames (each one's bitstream read too) or its still bitstream.
 * A file whose structure disagrees with itself — truncated, a length running past the end, a chunk
 * out of place, a zero or inconsistent size, a missing frame header — is refused as `invalid_image`:
 * the reader never throws on any input, and every loop advances through the file (bounded by its
 * length).
 */
import type { UploadContentType } from "./images";

/** Longest side accepted, px: browsers' texture limits start at 8,192, and it is 4× a 4K screen's width. */
export const MAX_IMAGE_SIDE_PX = 8_192;
/** Pixels of one frame accepted: 40 MP ≈ 160 MB of RGBA once decoded — a large phone photo fits. */
export const MAX_IMAGE_PIXELS = 40_000_000;
/** Frames of an animation (GIF, APNG, animated WebP) accepted. */
export const MAX_IMAGE_FRAMES = 500;
/**
 * Canvas pixels × frames accepted: what a browser composites to play an animation once (each frame
 * is drawn onto the full canvas). 100 M = e.g. 100 frames of 1000×1000, 300 of 640×480.
 */
export const MAX_ANIMATION_PIXELS = 100_000_000;

/** An image's size as its header declares it: `width`×`height` px, `frames` ≥ 1 (1 = still). */
export interface ImageSize {
  width: number;
  height: number;
  frames: number;
}

/** The codes an image is refused with: over a bound (HTTP 422) or malformed/inconsistent (HTTP 400). */
export type ImageRefusalCode = "image_too_large" | "invalid_image";

/** A refused image: the code and a sentence naming the bound or the inconsistency. */
export interface ImageRefusal {
  ok: false;
  code: ImageRefusalCode;
  message: string;
}

/** The outcome of {@link checkImage}. */
export type ImageCheck = ({ ok: true } & ImageSize) | ImageRefusal;

/** Thrown inside this module only, for a malformed file; turned into an `invalid_image` refusal. */
class Malformed extends Error {}
const fail = (message: string): never => {
  throw new Malformed(message);
};

/** Fails unless `n` bytes from `at` lie inside `b` (`end` = where the enclosing structure stops). */
function need(b: Uint8Array, at: number, n: number, what: string, end = b.length): void {
  if (at + n > end) fail(`${what} runs past the end of the file (truncated, or a length that lies)`);
}
const be16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const be32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const le16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const le24 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
const le32 = (b: Uint8Array, at: number) => (le24(b, at) | (b[at + 3]! << 24)) >>> 0;
const tag = (b: Uint8Array, at: number) => String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
const hex = (n: number) => n.toString(16).toUpperCase().padStart(2, "0");
/** `40000000` → "40,000,000" (no Intl: the same text in every runtime). */
const grouped = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

// ---------------------------------------------------------------------------------------------
// PNG / APNG
// ---------------------------------------------------------------------------------------------

let crcTable: Uint32Array | null = null;
/** CRC-32 of `b[from, to)` (ISO 3309, the PNG chunk CRC). */
function crc32(b: Uint8Array, from: number, to: number): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = ~0;
  for (let i = from; i < to; i++) c = crcTable[(c ^ b[i]!) & 255]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** Bit depths PNG allows per colour type (PNG spec §11.2.2, table 11.1). */
const PNG_DEPTHS: Record<number, readonly number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
const PNG_MAX = 2 ** 31 - 1;

function readPng(b: Uint8Array): ImageSize {
  if (!(b[0] === 0x89 && tag(b, 1) === "PNG\r" && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a)) fail("not a PNG (no PNG signature)");
  let width = 0;
  let height = 0;
  let declaredFrames: number | null = null;
  let fctls = 0;
  let idat = false;
  for (let at = 8, index = 0; ; index++) {
    need(b, at, 8, "a chunk header (the file ends before IEND)");
    const length = be32(b, at);
    const type = tag(b, at + 4);
    if (length > PNG_MAX) fail(`chunk ${type} declares ${length} bytes (PNG allows at most 2^31-1)`);
    need(b, at + 8, length + 4, `chunk ${type} (${length} bytes)`);
    const data = at + 8;
    const crcOk = () => crc32(b, at + 4, data + length) === be32(b, data + length);
    if (index === 0) {
      if (type !== "IHDR") fail(`the first chunk is ${type}, not IHDR`);
      if (length !== 13) fail(`IHDR has ${length} bytes, not 13`);
      if (!crcOk()) fail("IHDR's CRC does not match its contents");
      width = be32(b, data);
      height = be32(b, data + 4);
      if (width === 0 || height === 0 || width > PNG_MAX || height > PNG_MAX) fail(`IHDR declares ${width}×${height} px (PNG allows 1 … 2^31-1 per side)`);
      const [depth, colour] = [b[data + 8]!, b[data + 9]!];
      if (!PNG_DEPTHS[colour]?.includes(depth)) fail(`bit depth ${depth} is not allowed for colour type ${colour}`);
      if (b[data + 10] !== 0 || b[data + 11] !== 0 || b[data + 12]! > 1) fail("IHDR declares an unknown compression, filter or interlace method");
    } else if (type === "IHDR") {
      fail("a second IHDR chunk");
    } else if (type === "acTL" && !idat) {
      // After the first IDAT an acTL is not APNG (decoders ignore it): a still image.
      if (length !== 8 || !crcOk()) fail("acTL is malformed (length or CRC)");
      if (declaredFrames !== null) fail("a second acTL chunk");
      declaredFrames = be32(b, data);
      if (declaredFrames === 0) fail("acTL declares 0 frames");
    } else if (type === "fcTL" && declaredFrames !== null) {
      if (length !== 26 || !crcOk()) fail("fcTL is malformed (length or CRC)");
      const [w, h, x, y] = [be32(b, data + 4), be32(b, data + 8), be32(b, data + 12), be32(b, data + 16)];
      fctls++;
      if (w === 0 || h === 0 || x + w > width || y + h > height) fail(`frame ${fctls} (${w}×${h} at ${x},${y}) lies outside the ${width}×${height} canvas`);
    } else if (type === "IDAT") {
      idat = true;
    } else if (type === "IEND") {
      break;
    }
    at = data + length + 4;
  }
  if (!idat) fail("no IDAT chunk: the file has no image data");
  if (declaredFrames !== null && declaredFrames !== fctls) fail(`acTL declares ${declaredFrames} frames but the file has ${fctls} fcTL chunks`);
  return { width, height, frames: declaredFrames ?? 1 };
}

// ---------------------------------------------------------------------------------------------
// JPEG
// ---------------------------------------------------------------------------------------------

/** SOF0 … SOF15 except DHT (C4), JPG (C8) and DAC (CC): the markers of a frame header. */
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

function readJpeg(b: Uint8Array): ImageSize {
  if (!(b[0] === 0xff && b[1] === 0xd8)) fail("not a JPEG (no SOI marker)");
  let at = 2;
  for (;;) {
    need(b, at, 2, "a marker");
    if (b[at] !== 0xff) fail(`no marker at byte ${at} where a segment should start`);
    while (b[at + 1] === 0xff) need(b, ++at, 2, "a marker after fill bytes"); // FF fill bytes (T.81 B.1.1.2)
    const marker = b[at + 1]!;
    at += 2;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // TEM, RSTn: no length
    if (marker === 0xd9) fail("EOI comes before any frame header (SOF): no image");
    if (marker === 0xda) fail("a scan (SOS) comes before any frame header (SOF)");
    if (marker === 0xd8 || marker === 0x00) fail(`marker FF${hex(marker)} out of place at byte ${at - 2}`);
    need(b, at, 2, `segment FF${hex(marker)}'s length`);
    const length = be16(b, at);
    if (length < 2) fail(`segment FF${hex(marker)} has length ${length}`);
    need(b, at, length, `segment FF${hex(marker)} (${length} bytes)`);
    if (isSof(marker)) {
      const name = `SOF${marker - 0xc0}`;
      if (length < 8 || length !== 8 + 3 * b[at + 7]!) fail(`${name} has length ${length}, which does not fit its ${b[at + 7] ?? 0} components`);
      const [height, width] = [be16(b, at + 3), be16(b, at + 5)];
      if (b[at + 7] === 0) fail(`${name} declares no components`);
      if (width === 0 || height === 0) fail(`${name} declares ${width}×${height} px (a height of 0, to be set later by DNL, is not accepted)`);
      return { width, height, frames: 1 };
    }
    at += length;
  }
}

// ---------------------------------------------------------------------------------------------
// GIF
// ---------------------------------------------------------------------------------------------

/** Skips a chain of data sub-blocks from `at` (size byte + data, … , 0); returns the offset after it. */
function skipSubBlocks(b: Uint8Array, at: number): number {
  for (;;) {
    need(b, at, 1, "a sub-block");
    const n = b[at]!;
    at += 1;
    if (n === 0) return at;
    need(b, at, n, `a sub-block of ${n} bytes`);
    at += n;
  }
}

/** Bytes of a colour table flagged in `packed` (bit 7), 3 × 2^(size+1) (GIF89a §18, §20). */
const colourTable = (packed: number) => (packed & 0x80 ? 3 * (1 << ((packed & 7) + 1)) : 0);

function readGif(b: Uint8Array): ImageSize {
  if (!(tag(b, 0) === "GIF8" && (b[4] === 0x37 || b[4] === 0x39) && b[5] === 0x61)) fail("not a GIF (no GIF87a/GIF89a header)");
  need(b, 6, 7, "the logical screen descriptor");
  // Browsers grow the canvas to a frame that extends past the logical screen: the extent counts.
  let width = le16(b, 6);
  let height = le16(b, 8);
  let at = 13;
  need(b, at, colourTable(b[10]!), "the global colour table");
  at += colourTable(b[10]!);
  let frames = 0;
  for (;;) {
    need(b, at, 1, "a block (the file ends before the GIF trailer)");
    const introducer = b[at]!;
    at += 1;
    if (introducer === 0x3b) break;
    if (introducer === 0x21) {
      need(b, at, 1, "an extension label");
      at = skipSubBlocks(b, at + 1);
    } else if (introducer === 0x2c) {
      need(b, at, 9, "an image descriptor");
      const [x, y, w, h] = [le16(b, at), le16(b, at + 2), le16(b, at + 4), le16(b, at + 6)];
      frames++;
      if (w === 0 || h === 0) fail(`frame ${frames} is ${w}×${h} px`);
      width = Math.max(width, x + w);
      height = Math.max(height, y + h);
      const table = colourTable(b[at + 8]!);
      at += 9;
      need(b, at, table + 1, "a local colour table and LZW code size");
      at = skipSubBlocks(b, at + table + 1);
    } else {
      fail(`unknown block 0x${hex(introducer)} at byte ${at - 1}`);
    }
  }
  if (frames === 0) fail("no image in the file (no image descriptor before the trailer)");
  return { width, height, frames };
}

// ---------------------------------------------------------------------------------------------
// WebP
// ---------------------------------------------------------------------------------------------

interface Chunk {
  fourcc: string;
  /** offset of the payload */
  at: number;
  size: number;
}

/** The RIFF chunks in `b[from, to)`, each checked to lie inside it (RFC 9649 §2.4: even-padded). */
function* riffChunks(b: Uint8Array, from: number, to: number): Generator<Chunk> {
  for (let at = from; at + 8 <= to; ) {
    const fourcc = tag(b, at);
    const size = le32(b, at + 4);
    need(b, at + 8, size, `chunk ${fourcc} (${size} bytes)`, to);
    yield { fourcc, at: at + 8, size };
    at += 8 + size + (size & 1);
  }
}

/** The size of a VP8 or VP8L bitstream chunk (RFC 6386 §9.1, RFC 9649 §3.2); null for another chunk. */
function bitstreamSize(b: Uint8Array, c: Chunk): { width: number; height: number } | null {
  if (c.fourcc === "VP8 ") {
    if (c.size < 10) fail(`VP8 frame header has ${c.size} bytes, needs 10`);
    if (b[c.at]! & 1) fail("the VP8 bitstream does not start with a key frame");
    if (b[c.at + 3] !== 0x9d || b[c.at + 4] !== 0x01 || b[c.at + 5] !== 0x2a) fail("the VP8 start code is missing");
    const width = le16(b, c.at + 6) & 0x3fff;
    const height = le16(b, c.at + 8) & 0x3fff;
    if (width === 0 || height === 0) fail(`VP8 declares ${width}×${height} px`);
    return { width, height };
  }
  if (c.fourcc === "VP8L") {
    if (c.size < 5) fail(`VP8L header has ${c.size} bytes, needs 5`);
    if (b[c.at] !== 0x2f) fail("the VP8L signature (0x2F) is missing");
    const bits = le32(b, c.at + 1);
    if (bits >>> 29 !== 0) fail(`VP8L version ${bits >>> 29} is unknown (only 0 exists)`);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  return null;
}

/** The first VP8/VP8L bitstream among the chunks in `b[from, to)` (ALPH and others skipped). */
function firstBitstream(b: Uint8Array, from: number, to: number): { width: number; height: number } | null {
  for (const c of riffChunks(b, from, to)) {
    const s = bitstreamSize(b, c);
    if (s) return s;
  }
  return null;
}

function readWebp(b: Uint8Array): ImageSize {
  if (!(tag(b, 0) === "RIFF" && b.length >= 12 && tag(b, 8) === "WEBP")) fail("not a WebP (no RIFF/WEBP header)");
  const riff = le32(b, 4);
  if (riff < 12) fail(`RIFF size ${riff} is too small for a WebP`);
  if (8 + riff > b.length) fail(`the RIFF header declares ${8 + riff} bytes, the file has ${b.length}`);
  const end = 8 + riff;
  const chunks = riffChunks(b, 12, end);
  const first = chunks.next();
  if (first.done) fail("no chunk after the RIFF header");
  const head = first.value as Chunk;
  if (head.fourcc !== "VP8X") {
    const s = bitstreamSize(b, head);
    if (!s) fail(`the first chunk is ${head.fourcc.trim()}, not VP8, VP8L or VP8X`);
    return { ...s!, frames: 1 };
  }
  if (head.size < 10) fail(`VP8X has ${head.size} bytes, not 10`);
  const width = le24(b, head.at + 4) + 1;
  const height = le24(b, head.at + 7) + 1;
  if (width * height > 0xffffffff) fail(`the canvas ${width}×${height} px is over 2^32-1 pixels (RFC 9649)`);
  if (!(b[head.at]! & 0x02)) {
    const s = firstBitstream(b, head.at + head.size + (head.size & 1), end);
    if (!s) fail("a VP8X still image with no VP8 or VP8L bitstream");
    if (s!.width !== width || s!.height !== height) fail(`the canvas ${width}×${height} px but its bitstream is ${s!.width}×${s!.height}`);
    return { width, height, frames: 1 };
  }
  let frames = 0;
  for (const c of chunks) {
    if (c.fourcc !== "ANMF") continue;
    frames++;
    if (c.size < 16) fail(`frame ${frames}'s ANMF header has ${c.size} bytes, needs 16`);
    const [x, y] = [le24(b, c.at) * 2, le24(b, c.at + 3) * 2];
    const [w, h] = [le24(b, c.at + 6) + 1, le24(b, c.at + 9) + 1];
    if (x + w > width || y + h > height) fail(`frame ${frames} (${w}×${h} at ${x},${y}) lies outside the ${width}×${height} canvas`);
    const s = firstBitstream(b, c.at + 16, c.at + c.size);
    if (!s) fail(`frame ${frames} has no VP8 or VP8L bitstream`);
    if (s!.width !== w || s!.height !== h) fail(`frame ${frames} is ${w}×${h} px but its bitstream is ${s!.width}×${s!.height}`);
  }
  if (frames === 0) fail("an animated WebP (VP8X Animation flag) with no ANMF frame");
  return { width, height, frames };
}

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------

const READERS: Record<UploadContentType, (b: Uint8Array) => ImageSize> = {
  "image/png": readPng,
  "image/jpeg": readJpeg,
  "image/gif": readGif,
  "image/webp": readWebp,
};

/**
 * The size `bytes` declare as an image of `type` (the whole file: frame counts need it all), or an
 * `invalid_image` refusal saying what is malformed. Never throws for any input; reads no pixel data.
 */
export function readImageSize(bytes: Uint8Array, type: UploadContentType): ({ ok: true } & ImageSize) | ImageRefusal {
  try {
    return { ok: true, ...READERS[type](bytes) };
  } catch (err) {
    if (err instanceof Malformed) return { ok: false, code: "invalid_image", message: `Not a valid ${type} image: ${err.message}` };
    throw err;
  }
}

/**
 * Which bound `size` is over, as a sentence, or null when within all: a side over MAX_IMAGE_SIDE_PX,
 * pixels over MAX_IMAGE_PIXELS, frames (default 1) over MAX_IMAGE_FRAMES, canvas pixels × frames over
 * MAX_ANIMATION_PIXELS — checked in that order. A width, height or frame count that is not a positive
 * integer is "not a size" (the page uses this on sizes a comment carries).
 */
export function imageBoundsProblem(size: { width: number; height: number; frames?: number | undefined }): string | null {
  const { width, height, frames = 1 } = size;
  if (![width, height, frames].every((n) => Number.isSafeInteger(n) && n > 0)) return `${width}×${height} px, ${frames} frames is not a size`;
  const dims = `${width}×${height} px`;
  if (width > MAX_IMAGE_SIDE_PX || height > MAX_IMAGE_SIDE_PX) return `${dims}: a side may be at most ${MAX_IMAGE_SIDE_PX} px`;
  const pixels = width * height;
  if (pixels > MAX_IMAGE_PIXELS) return `${dims} is ${(pixels / 1e6).toFixed(1)} megapixels: at most ${MAX_IMAGE_PIXELS / 1e6} MP (${grouped(MAX_IMAGE_PIXELS)} px)`;
  if (frames > MAX_IMAGE_FRAMES) return `${frames} frames: an animation may have at most ${MAX_IMAGE_FRAMES}`;
  if (pixels * frames > MAX_ANIMATION_PIXELS) {
    return `${frames} frames of ${dims} = ${grouped(pixels * frames)} pixels to draw: at most ${grouped(MAX_ANIMATION_PIXELS)} per animation`;
  }
  return null;
}

/**
 * The checks an upload passes before it is stored (worker) or sent (SDK): {@link readImageSize},
 * then {@link imageBoundsProblem} → `image_too_large`. On success, the size to record.
 */
export function checkImage(bytes: Uint8Array, type: UploadContentType): ImageCheck {
  const read = readImageSize(bytes, type);
  if (!read.ok) return read;
  const problem = imageBoundsProblem(read);
  return problem ? { ok: false, code: "image_too_large", message: `The image is too large to show: ${problem}` } : read;
}
