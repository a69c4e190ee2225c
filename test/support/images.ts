/**
 * Tiny valid images, made here from their specifications (no fixture files): a 1×1 PNG, GIF89a,
 * baseline JPEG and lossless WebP. Runtime-neutral (workerd and Node), so a Node script can check
 * that a real decoder reads them. Used by test/worker (uploads), test/client and test/browser.
 * The pieces they are made of (chunks, segments, blocks) are exported for test/support/crafted-images.ts,
 * which builds hostile and broken variants from them.
 */

export const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
export const u16le = (n: number) => [n & 255, (n >>> 8) & 255];
export const u24le = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255];
export const u32be = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
export const u32le = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];

/** The parts, end to end, as one byte array. */
export function cat(...parts: ArrayLike<number>[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The 8-byte PNG signature (PNG spec §5.2). */
export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** CRC-32 (ISO 3309, as PNG chunks use it). */
export function crc32(bytes: ArrayLike<number>): number {
  let c = ~0;
  for (let i = 0; i < bytes.length; i++) {
    c ^= bytes[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** zlib stream of `data` (CompressionStream "deflate" is zlib-wrapped, as PNG's IDAT wants). */
export async function zlib(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const out = new Response(new Blob([data]).stream().pipeThrough(new CompressionStream("deflate")));
  return new Uint8Array(await out.arrayBuffer());
}

/** One PNG chunk: length, type, data, CRC of type + data (PNG spec §5.3). */
export function pngChunk(type: string, data: ArrayLike<number>): Uint8Array<ArrayBuffer> {
  const body = cat(ascii(type), data);
  return cat(u32be(data.length), body, u32be(crc32(body)));
}

/** An IHDR's 13 bytes: width, height (px), bit depth, colour type, compression 0, filter 0, interlace 0. */
export const ihdrData = (width: number, height: number, depth = 8, colour = 6) => [...u32be(width), ...u32be(height), depth, colour, 0, 0, 0];

/** The zlib-compressed scanline of a 1×1 RGBA image: filter type 0, then the pixel. */
export const pixelIdat = (rgba: [number, number, number, number] = [255, 0, 0, 255]) => zlib(new Uint8Array([0, ...rgba]));

/** A 1×1 RGBA PNG of the given colour (PNG spec: signature, IHDR, IDAT, IEND). */
export async function png(rgba: [number, number, number, number] = [255, 0, 0, 255]): Promise<Uint8Array<ArrayBuffer>> {
  return cat(PNG_SIGNATURE, pngChunk("IHDR", ihdrData(1, 1)), pngChunk("IDAT", await pixelIdat(rgba)), pngChunk("IEND", []));
}

/** A GIF's header and logical screen (`width`×`height`) with a 2-colour global table (red, blue). */
export const gifHead = (width = 1, height = 1) => [...ascii("GIF89a"), ...u16le(width), ...u16le(height), 0x80, 0, 0, 255, 0, 0, 0, 0, 255];

/**
 * One GIF image: descriptor at (`x`,`y`) of `width`×`height`, no local table, then LZW data
 * (minimum code size 2) of the codes clear (4), pixel 0, end (5) in 3 bits each, LSB first: 0x44 0x01.
 */
export const gifImage = (width = 1, height = 1, x = 0, y = 0) => [0x2c, ...u16le(x), ...u16le(y), ...u16le(width), ...u16le(height), 0, 2, 2, 0x44, 0x01, 0];

/** The GIF trailer. */
export const GIF_TRAILER = 0x3b;

/** A 1×1 GIF89a: a 2-colour global table, one image (see gifImage), the trailer. */
export function gif(): Uint8Array<ArrayBuffer> {
  return cat(gifHead(), gifImage(), [GIF_TRAILER]);
}

/** A JPEG segment: marker, 2-byte big-endian length (counting itself), data (ITU T.81 B.1.1). */
export const jpegSegment = (marker: number, data: number[]) => [0xff, marker, ((data.length + 2) >> 8) & 255, (data.length + 2) & 255, ...data];

/**
 * A baseline greyscale JPEG (ITU T.81) whose frame header (`sof`, SOF0 by default) says
 * `width`×`height`: quantisation table of ones, a DC and an AC Huffman table with a single 1-bit code
 * each (DC category 0, AC end-of-block), so one 8×8 block's scan is the bits `0 0`, padded with ones:
 * 0x3F. At 1×1 (jpeg()) it decodes to mid grey; larger sizes are headers for the bound checks.
 */
export function jpegWith(width: number, height: number, sof = 0xc0): Uint8Array<ArrayBuffer> {
  const huffman = (tableClass: number) => [tableClass << 4, 1, ...new Array(15).fill(0), 0];
  return cat(
    [0xff, 0xd8], // SOI
    jpegSegment(0xe0, [...ascii("JFIF"), 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]), // APP0 JFIF 1.1, aspect 1:1, no thumbnail
    jpegSegment(0xdb, [0, ...new Array(64).fill(1)]), // DQT table 0, 8-bit
    jpegSegment(sof, [8, (height >> 8) & 255, height & 255, (width >> 8) & 255, width & 255, 1, 1, 0x11, 0]), // 8-bit, 1 component (id 1, 1×1 sampling, table 0)
    jpegSegment(0xc4, huffman(0)), // DHT DC 0
    jpegSegment(0xc4, huffman(1)), // DHT AC 0
    jpegSegment(0xda, [1, 1, 0x00, 0, 63, 0]), // SOS: component 1 uses DC 0 / AC 0, spectral 0..63
    [0x3f], // the scan
    [0xff, 0xd9], // EOI
  );
}

/** A 1×1 baseline greyscale JPEG that decodes to mid grey (see jpegWith). */
export const jpeg = () => jpegWith(1, 1);

/** A RIFF chunk: FourCC, little-endian size, payload, a pad byte when the size is odd (RFC 9649 §2.4). */
export function riffChunk(fourcc: string, payload: ArrayLike<number>): Uint8Array<ArrayBuffer> {
  return cat(ascii(fourcc), u32le(payload.length), payload, payload.length % 2 === 1 ? [0] : []);
}

/** A WebP file: `RIFF` <size> `WEBP` and the chunks (RFC 9649 §2.5). */
export function riffWebp(...chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const body = cat(...chunks);
  return cat(ascii("RIFF"), u32le(4 + body.length), ascii("WEBP"), body);
}

/**
 * The VP8L chunk of a 1×1 lossless image (RFC 9649 §3): header (size 1×1, alpha used, version 0), no
 * transform, no colour cache, no meta prefix codes, five "simple" prefix codes of a single symbol each
 * (green 0, red 255, blue 0, alpha 255, distance 0), so the one pixel costs no bits.
 */
export function vp8lPixel(): Uint8Array<ArrayBuffer> {
  const bits: number[] = [];
  const put = (value: number, n: number) => {
    for (let i = 0; i < n; i++) bits.push((value >>> i) & 1);
  };
  put(0, 14); // width - 1
  put(0, 14); // height - 1
  put(1, 1); // alpha is used
  put(0, 3); // version
  put(0, 1); // no transform
  put(0, 1); // no colour cache
  put(0, 1); // no meta prefix codes
  const single = (symbol: number) => {
    put(1, 1); // simple code
    put(0, 1); // one symbol
    if (symbol < 2) {
      put(0, 1); // 1-bit symbol
      put(symbol, 1);
    } else {
      put(1, 1); // 8-bit symbol
      put(symbol, 8);
    }
  };
  single(0); // green
  single(255); // red
  single(0); // blue
  single(255); // alpha
  single(0); // distance
  const payload = [0x2f];
  for (let i = 0; i < bits.length; i += 8) payload.push(bits.slice(i, i + 8).reduce((byte, b, k) => byte | (b << k), 0));
  return riffChunk("VP8L", payload);
}

/** A 1×1 lossless WebP: RIFF/WEBP with one VP8L chunk (see vp8lPixel). */
export function webp(): Uint8Array<ArrayBuffer> {
  return riffWebp(vp8lPixel());
}
