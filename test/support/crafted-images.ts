/**
 * Hostile and broken images for the header checks (issue 22 §1), built from the pieces of
 * test/support/images.ts: pixel bombs (a real deflate bomb, headers declaring huge sizes), animations
 * with thousands of frames, and files whose header disagrees with their body. Runtime-neutral (Node
 * and workerd); whatever needs compression takes the compressed bytes as an argument or uses
 * CompressionStream, so the unit suite can use node:zlib and the workerd suite the platform's own.
 */
import {
  GIF_TRAILER,
  PNG_SIGNATURE,
  ascii,
  cat,
  gifHead,
  gifImage,
  ihdrData,
  pngChunk,
  riffChunk,
  riffWebp,
  u24le,
  u32be,
  u16le,
  vp8lPixel,
} from "./images";

/** A PNG of signature + the chunks given as [type, data] (each with its length and CRC). */
export const pngOf = (...chunks: Array<[string, ArrayLike<number>]>) => cat(PNG_SIGNATURE, ...chunks.map(([t, d]) => pngChunk(t, d)));

/**
 * A PNG whose IHDR declares `width`×`height` (8-bit RGB) and whose IDAT is `idat` (zlib data) — with
 * {@link zeroScanlinesZlib} of the same size, a genuine deflate bomb: a small file that decodes to
 * height × (1 + 3 × width) bytes of zeros.
 */
export const pngDeclaring = (width: number, height: number, idat: ArrayLike<number>, depth = 8, colour = 2) =>
  pngOf(["IHDR", ihdrData(width, height, depth, colour)], ["IDAT", idat], ["IEND", []]);

/**
 * zlib data of `height` all-zero scanlines of `rowBytes` bytes each (filter byte 0 + pixels), compressed
 * with CompressionStream from a stream of zero chunks, so the decoded size is never held in memory.
 */
export async function zeroScanlinesZlib(rowBytes: number, height: number): Promise<Uint8Array<ArrayBuffer>> {
  let left = rowBytes * height;
  const CHUNK = 1 << 20;
  const zeros = new ReadableStream<BufferSource>({
    pull(c) {
      if (left <= 0) return c.close();
      const n = Math.min(CHUNK, left);
      left -= n;
      c.enqueue(new Uint8Array(n));
    },
  });
  return new Uint8Array(await new Response(zeros.pipeThrough(new CompressionStream("deflate"))).arrayBuffer());
}

/** acTL data: `frames` frames, played `plays` times (APNG spec). */
export const actl = (frames: number, plays = 0) => [...u32be(frames), ...u32be(plays)];

/** fcTL data: frame `seq` of `w`×`h` at (`x`,`y`), delay 1/10 s, dispose 0, blend 0 (APNG spec). */
export const fctl = (seq: number, w: number, h: number, x = 0, y = 0) => [...u32be(seq), ...u32be(w), ...u32be(h), ...u32be(x), ...u32be(y), 0, 1, 0, 10, 0, 0];

/**
 * An APNG of a 1×1 canvas with `frames` frames (each the 1×1 pixel in `idat`), acTL saying
 * `declared` frames: fcTL 0 + IDAT, then fcTL + fdAT per further frame, sequence numbers in order.
 */
export function apng(frames: number, idat: ArrayLike<number>, declared = frames): Uint8Array<ArrayBuffer> {
  const chunks: Array<[string, ArrayLike<number>]> = [["IHDR", ihdrData(1, 1)], ["acTL", actl(declared)], ["fcTL", fctl(0, 1, 1)], ["IDAT", idat]];
  let seq = 1;
  for (let f = 1; f < frames; f++) {
    chunks.push(["fcTL", fctl(seq++, 1, 1)], ["fdAT", cat(u32be(seq++), idat)]);
  }
  chunks.push(["IEND", []]);
  return pngOf(...chunks);
}

/** A GIF with a `screen` logical screen and `frames` images of `frame` = [w, h, x, y], then the trailer. */
export function gifWith(frames: number, screen: [number, number] = [1, 1], frame: [number, number, number, number] = [1, 1, 0, 0]): Uint8Array<ArrayBuffer> {
  const image = gifImage(...frame);
  const out = new Uint8Array(13 + 6 + frames * image.length + 1);
  out.set(gifHead(...screen));
  for (let i = 0; i < frames; i++) out.set(image, 19 + i * image.length);
  out[out.length - 1] = GIF_TRAILER;
  return out;
}

/** A GIF graphic control extension (delay 1/10 s) — an extension block with one sub-block. */
export const gifControl = () => [0x21, 0xf9, 4, 0, 10, 0, 0, 0];

/** VP8X flags (RFC 9649 §2.7): the Animation bit. */
export const VP8X_ANIMATION = 0x02;

/** A VP8X chunk: `flags`, canvas `width`×`height` (px). */
export const vp8x = (width: number, height: number, flags = 0) => riffChunk("VP8X", [flags, 0, 0, 0, ...u24le(width - 1), ...u24le(height - 1)]);

/** An ANIM chunk: background colour 0, loop forever. */
export const anim = () => riffChunk("ANIM", [0, 0, 0, 0, 0, 0]);

/** An ANMF chunk: a `w`×`h` frame at (`x`,`y`) (even offsets), 100 ms, whose bitstream is `frameData`. */
export const anmf = (frameData: Uint8Array, w = 1, h = 1, x = 0, y = 0) =>
  riffChunk("ANMF", cat(u24le(x / 2), u24le(y / 2), u24le(w - 1), u24le(h - 1), u24le(100), [0], frameData));

/** An animated WebP: a `canvas` VP8X with the Animation bit, ANIM, and `frames` ANMF of the 1×1 VP8L pixel. */
export function webpAnimated(frames: number, canvas: [number, number] = [1, 1]): Uint8Array<ArrayBuffer> {
  const frame = anmf(vp8lPixel());
  const all = new Uint8Array(frames * frame.length);
  for (let i = 0; i < frames; i++) all.set(frame, i * frame.length);
  return riffWebp(vp8x(canvas[0], canvas[1], VP8X_ANIMATION), anim(), all);
}

/**
 * The header of a lossy VP8 key frame (RFC 6386 §9.1): frame tag (key frame, version 0, shown, a
 * first partition of 16 bytes), start code 9D 01 2A, 14-bit width and height; followed by 16 zero
 * bytes. Not decodable — a header for the dimension checks.
 */
export function vp8Header(width: number, height: number, startCode = [0x9d, 0x01, 0x2a]): Uint8Array<ArrayBuffer> {
  const tag = (16 << 5) | (1 << 4); // first_part_size 16, show_frame, version 0, key frame (bit 0 = 0)
  return riffChunk("VP8 ", [tag & 255, (tag >> 8) & 255, (tag >> 16) & 255, ...startCode, ...u16le(width & 0x3fff), ...u16le(height & 0x3fff), ...new Array(16).fill(0)]);
}

/** A VP8L chunk header declaring `width`×`height` (14 bits each), `version` (must be 0), then 8 zero bytes. */
export function vp8lHeader(width: number, height: number, version = 0, signature = 0x2f): Uint8Array<ArrayBuffer> {
  const bits = ((width - 1) & 0x3fff) | (((height - 1) & 0x3fff) << 14) | (1 << 28) | (version << 29);
  return riffChunk("VP8L", [signature, bits & 255, (bits >>> 8) & 255, (bits >>> 16) & 255, (bits >>> 24) & 255, ...new Array(8).fill(0)]);
}

/** `bytes` with the bytes at `at` replaced by `patch` (a copy). */
export function patched(bytes: Uint8Array, at: number, patch: ArrayLike<number>): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes);
  out.set(patch, at);
  return out;
}

/** The offset of the first occurrence of the ASCII `tag` in `bytes` (a chunk type, a FourCC), or -1. */
export function offsetOf(bytes: Uint8Array, tag: string): number {
  const t = ascii(tag);
  for (let i = 0; i + t.length <= bytes.length; i++) if (t.every((c, k) => bytes[i + k] === c)) return i;
  return -1;
}

/**
 * A valid PNG (`image`, ending in IEND) grown to exactly `size` bytes by an ancillary private chunk
 * (`prVt`, ignored by decoders) before its IEND.
 */
export function paddedPng(image: Uint8Array, size: number): Uint8Array<ArrayBuffer> {
  const iend = image.length - 12;
  const fill = size - image.length - 12;
  if (fill < 0) throw new Error(`cannot pad a ${image.length}-byte PNG to ${size} bytes`);
  return cat(image.subarray(0, iend), pngChunk("prVt", new Uint8Array(fill)), image.subarray(iend));
}

/**
 * A valid 1×1 GIF grown to exactly `size` bytes (≥ 39, not 40) by a comment extension (0x21 0xFE, ignored
 * by decoders) of sub-blocks before its trailer.
 */
export function paddedGif(size: number): Uint8Array<ArrayBuffer> {
  const head = cat(gifHead(), gifImage());
  let fill = size - head.length - 1 - 3; // trailer; extension introducer, label, terminator
  if (fill < 0) throw new Error(`cannot pad a GIF to ${size} bytes`);
  if (fill === 1) throw new Error(`cannot pad a GIF to ${size} bytes`);
  const blocks: number[] = [];
  while (fill > 0) {
    // Each sub-block is its size byte + 1…255 bytes; never leave 1 byte over (a block needs 2).
    let n = Math.min(255, fill - 1);
    if (fill - (n + 1) === 1) n--;
    blocks.push(n, ...new Array<number>(n).fill(0x20));
    fill -= n + 1;
  }
  return cat(head, [0x21, 0xfe], blocks, [0], [GIF_TRAILER]);
}
