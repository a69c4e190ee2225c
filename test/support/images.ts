/**
 * Tiny valid images, made here from their specifications (no fixture files): a 1×1 PNG, GIF89a,
 * baseline JPEG and lossless WebP. Runtime-neutral (workerd and Node), so a Node script can check
 * that a real decoder reads them. Used by test/worker (uploads), test/client and test/browser.
 */

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const u32be = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const u32le = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];

/** CRC-32 (ISO 3309, as PNG chunks use it). */
function crc32(bytes: readonly number[]): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** zlib stream of `data` (CompressionStream "deflate" is zlib-wrapped, as PNG's IDAT wants). */
async function zlib(data: Uint8Array<ArrayBuffer>): Promise<number[]> {
  const out = new Response(new Blob([data]).stream().pipeThrough(new CompressionStream("deflate")));
  return [...new Uint8Array(await out.arrayBuffer())];
}

/** A 1×1 RGBA PNG of the given colour (PNG spec: signature, IHDR, IDAT, IEND). */
export async function png(rgba: [number, number, number, number] = [255, 0, 0, 255]): Promise<Uint8Array<ArrayBuffer>> {
  const chunk = (type: string, data: number[]) => {
    const body = [...ascii(type), ...data];
    return [...u32be(data.length), ...body, ...u32be(crc32(body))];
  };
  // width 1, height 1, bit depth 8, colour type 6 (RGBA), compression 0, filter 0, interlace 0
  const ihdr = [...u32be(1), ...u32be(1), 8, 6, 0, 0, 0];
  const scanline = new Uint8Array([0, ...rgba]); // filter type 0, then the pixel
  return new Uint8Array([
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
    ...chunk("IHDR", ihdr),
    ...chunk("IDAT", await zlib(scanline)),
    ...chunk("IEND", []),
  ]);
}

/**
 * A 1×1 GIF89a: a 2-colour global table, one image whose LZW data (minimum code size 2) is the
 * codes clear (4), pixel 0, end (5) in 3 bits each, LSB first: 0x44 0x01.
 */
export function gif(): Uint8Array<ArrayBuffer> {
  return new Uint8Array([
    ...ascii("GIF89a"),
    1, 0, 1, 0, // logical screen 1×1
    0x80, 0, 0, // global colour table of 2 entries, background 0, aspect 0
    255, 0, 0, 0, 0, 255, // red, blue
    0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, // image descriptor: at 0,0, 1×1, no local table
    2, 2, 0x44, 0x01, 0, // LZW minimum code size 2, one 2-byte sub-block, terminator
    0x3b, // trailer
  ]);
}

/**
 * A 1×1 baseline greyscale JPEG (ITU T.81): quantisation table of ones, a DC and an AC Huffman
 * table with a single 1-bit code each (DC category 0, AC end-of-block), so the scan is the bits
 * `0 0`, padded with ones: 0x3F. Decodes to mid grey.
 */
export function jpeg(): Uint8Array<ArrayBuffer> {
  const seg = (marker: number, data: number[]) => [0xff, marker, ((data.length + 2) >> 8) & 255, (data.length + 2) & 255, ...data];
  const huffman = (tableClass: number) => [tableClass << 4, 1, ...new Array(15).fill(0), 0];
  return new Uint8Array([
    0xff, 0xd8, // SOI
    ...seg(0xe0, [...ascii("JFIF"), 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]), // APP0 JFIF 1.1, aspect 1:1, no thumbnail
    ...seg(0xdb, [0, ...new Array(64).fill(1)]), // DQT table 0, 8-bit
    ...seg(0xc0, [8, 0, 1, 0, 1, 1, 1, 0x11, 0]), // SOF0: 8-bit, 1×1, 1 component (id 1, 1×1 sampling, table 0)
    ...seg(0xc4, huffman(0)), // DHT DC 0
    ...seg(0xc4, huffman(1)), // DHT AC 0
    ...seg(0xda, [1, 1, 0x00, 0, 63, 0]), // SOS: component 1 uses DC 0 / AC 0, spectral 0..63
    0x3f, // the scan
    0xff, 0xd9, // EOI
  ]);
}

/**
 * A 1×1 lossless WebP (RFC 9649): RIFF/WEBP with one VP8L chunk — header (size 1×1, alpha used,
 * version 0), no transform, no colour cache, no meta prefix codes, five "simple" prefix codes of a
 * single symbol each (green 0, red 255, blue 0, alpha 255, distance 0), so the one pixel costs no bits.
 */
export function webp(): Uint8Array<ArrayBuffer> {
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
  const chunk = [...ascii("VP8L"), ...u32le(payload.length), ...payload];
  if (payload.length % 2 === 1) chunk.push(0); // a RIFF chunk is padded to even length (the pad is not in its size)
  return new Uint8Array([...ascii("RIFF"), ...u32le(4 + chunk.length), ...ascii("WEBP"), ...chunk]);
}
