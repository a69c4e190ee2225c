/**
 * Image headers (src/rules/image-header.ts; issue 22 §1): dimensions and frame counts read from the
 * structure of PNG/APNG, JPEG, GIF and WebP without decoding a pixel, the bounds every viewer's
 * browser is protected by, and refusals — never a throw or a hang — for files whose header disagrees
 * with their body. Every input is a real file built here: a genuine 16384×16384 deflate bomb made with
 * node:zlib, headers declaring 100000×100000, 10,000-frame APNGs, thousand-frame GIFs and WebPs, and
 * the broken variants of each.
 */
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createDeflate, createInflate } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  MAX_ANIMATION_PIXELS,
  MAX_IMAGE_FRAMES,
  MAX_IMAGE_PIXELS,
  MAX_IMAGE_SIDE_PX,
  checkImage,
  imageBoundsProblem,
  readImageSize,
} from "../../src/rules/image-header";
import type { UploadContentType } from "../../src/rules/images";
import {
  actl,
  anim,
  anmf,
  apng,
  fctl,
  gifControl,
  gifWith,
  offsetOf,
  paddedPng,
  patched,
  pngDeclaring,
  pngOf,
  vp8Header,
  vp8lHeader,
  vp8x,
  VP8X_ANIMATION,
  webpAnimated,
} from "../support/crafted-images";
import { GIF_TRAILER, cat, gif, gifHead, gifImage, ihdrData, jpeg, jpegSegment, jpegWith, pixelIdat, png, riffChunk, riffWebp, vp8lPixel, webp } from "../support/images";

/** node:zlib data of `total` zero bytes, streamed from one reused 1 MiB buffer (never `total` in memory). */
async function nodeZlibZeros(total: number): Promise<Buffer> {
  const chunk = Buffer.alloc(1 << 20);
  async function* zeros() {
    for (let left = total; left > 0; left -= chunk.length) yield left >= chunk.length ? chunk : chunk.subarray(0, left);
  }
  const out: Buffer[] = [];
  await pipeline(Readable.from(zeros()), createDeflate({ level: 9 }), new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }));
  return Buffer.concat(out);
}

/** How many bytes `data` inflates to (counted as they stream, never held). */
async function inflatedSize(data: Uint8Array): Promise<number> {
  let n = 0;
  await pipeline(Readable.from([data]), createInflate(), new Writable({ write: (c: Buffer, _e, cb) => ((n += c.length), cb()) }));
  return n;
}

const refused = (bytes: Uint8Array, type: UploadContentType) => {
  const r = checkImage(bytes, type);
  return r.ok ? r : { ok: r.ok, code: r.code, message: r.message };
};
const size = (bytes: Uint8Array, type: UploadContentType) => {
  const r = checkImage(bytes, type);
  return r.ok ? { width: r.width, height: r.height, frames: r.frames } : r;
};

describe("valid images: their size and frames, read without decoding", () => {
  it("the tiny real PNG, GIF, JPEG and WebP are 1×1, one frame", async () => {
    const cases: Array<[UploadContentType, Uint8Array]> = [["image/png", await png()], ["image/gif", gif()], ["image/jpeg", jpeg()], ["image/webp", webp()]];
    for (const [type, bytes] of cases) expect(size(bytes, type), type).toEqual({ width: 1, height: 1, frames: 1 });
  });

  it("APNG: frames from acTL, matched by its fcTL chunks; a private chunk, bytes after IEND", async () => {
    const idat = await pixelIdat();
    expect(size(apng(3, idat), "image/png")).toEqual({ width: 1, height: 1, frames: 3 });
    expect(size(paddedPng(await png(), 4096), "image/png")).toEqual({ width: 1, height: 1, frames: 1 });
    expect(size(cat(await png(), [1, 2, 3]), "image/png")).toEqual({ width: 1, height: 1, frames: 1 });
    // An acTL after the first IDAT is not APNG (decoders ignore it): a still image.
    const late = pngOf(["IHDR", ihdrData(1, 1)], ["IDAT", idat], ["acTL", actl(9)], ["IEND", []]);
    expect(size(late, "image/png")).toEqual({ width: 1, height: 1, frames: 1 });
    expect(size(pngDeclaring(640, 480, idat, 16, 6), "image/png")).toEqual({ width: 640, height: 480, frames: 1 });
  });

  it("JPEG: the first SOFn after any APPn/DQT, progressive (SOF2) too, fill bytes before a marker", () => {
    expect(size(jpegWith(640, 480), "image/jpeg")).toEqual({ width: 640, height: 480, frames: 1 });
    expect(size(jpegWith(1920, 1080, 0xc2), "image/jpeg")).toEqual({ width: 1920, height: 1080, frames: 1 });
    const exif = cat([0xff, 0xd8], jpegSegment(0xe1, [...new Array(3000).fill(0xff)]), [0xff, 0xff, 0xff], jpegWith(800, 600).subarray(2));
    expect(size(exif, "image/jpeg")).toEqual({ width: 800, height: 600, frames: 1 });
  });

  it("GIF: the logical screen, one frame per image descriptor, extensions skipped", () => {
    const animated = cat(gifHead(4, 3), gifControl(), gifImage(4, 3), gifControl(), gifImage(2, 2, 1, 1), [GIF_TRAILER]);
    expect(size(animated, "image/gif")).toEqual({ width: 4, height: 3, frames: 2 });
    expect(size(gifWith(3), "image/gif")).toEqual({ width: 1, height: 1, frames: 3 });
  });

  it("WebP: VP8 and VP8L headers, a VP8X still, an animation (ANMF frames)", () => {
    expect(size(riffWebp(vp8Header(320, 240)), "image/webp")).toEqual({ width: 320, height: 240, frames: 1 });
    expect(size(riffWebp(vp8lHeader(300, 200)), "image/webp")).toEqual({ width: 300, height: 200, frames: 1 });
    expect(size(riffWebp(vp8x(1, 1), vp8lPixel()), "image/webp")).toEqual({ width: 1, height: 1, frames: 1 });
    expect(size(riffWebp(vp8x(300, 200, 0x10), riffChunk("ALPH", [0, 1, 2]), vp8Header(300, 200)), "image/webp")).toEqual({ width: 300, height: 200, frames: 1 });
    expect(size(webpAnimated(2, [4, 4]), "image/webp")).toEqual({ width: 4, height: 4, frames: 2 });
    const placed = riffWebp(vp8x(4, 4, VP8X_ANIMATION), anim(), anmf(vp8lPixel(), 1, 1, 2, 2));
    expect(size(placed, "image/webp")).toEqual({ width: 4, height: 4, frames: 1 });
  });
});

describe("pixel bombs and frame floods → image_too_large, the bound named", () => {
  // Building and checking the bomb (deflating and inflating 768 MiB in the test) takes seconds on a busy machine.
  it("a genuine 16384×16384 deflate bomb (well under 1 MB, 768 MiB decoded) is refused from its header", { timeout: 60_000 }, async () => {
    const side = 16384;
    const raw = side * (1 + 3 * side); // 8-bit RGB scanlines, each with its filter byte
    const bomb = pngDeclaring(side, side, await nodeZlibZeros(raw));
    expect(bomb.byteLength).toBeLessThan(1_000_000);
    expect(raw).toBeGreaterThan(768 * 1024 * 1024);
    expect(await inflatedSize(bomb.subarray(8 + 25 + 8, bomb.length - 12 - 4))).toBe(raw);
    const r = refused(bomb, "image/png");
    expect(r).toMatchObject({ ok: false, code: "image_too_large", message: expect.stringMatching(/16384×16384 px.*8192/) });
  });

  it("headers declaring 100000×100000 (PNG), 65000×65000 (JPEG SOF0), 16384×16384 (WebP VP8L)", async () => {
    const idat = await pixelIdat();
    expect(refused(pngDeclaring(100_000, 100_000, idat), "image/png")).toMatchObject({ code: "image_too_large", message: expect.stringContaining("100000×100000") });
    expect(refused(jpegWith(65_000, 65_000), "image/jpeg")).toMatchObject({ code: "image_too_large", message: expect.stringContaining("65000×65000") });
    expect(refused(riffWebp(vp8lHeader(16384, 16384)), "image/webp")).toMatchObject({ code: "image_too_large" });
    expect(refused(riffWebp(vp8Header(16383, 2)), "image/webp")).toMatchObject({ code: "image_too_large" });
  });

  it("many frames: APNG acTL 10,000 (10,000 real frames), a 1,000-frame GIF, WebP VP8X 1,000 ANMF", async () => {
    const idat = await pixelIdat();
    expect(refused(apng(10_000, idat), "image/png")).toMatchObject({ code: "image_too_large", message: expect.stringMatching(/10000 frames.*500/) });
    expect(refused(gifWith(1000), "image/gif")).toMatchObject({ code: "image_too_large", message: expect.stringMatching(/1000 frames/) });
    expect(refused(webpAnimated(1000), "image/webp")).toMatchObject({ code: "image_too_large", message: expect.stringMatching(/1000 frames/) });
  });

  it("a huge canvas: WebP VP8X 20000×20000 with 1×1 frames, a GIF frame far outside its 1×1 screen", () => {
    expect(refused(webpAnimated(2, [20_000, 20_000]), "image/webp")).toMatchObject({ code: "image_too_large", message: expect.stringContaining("20000×20000") });
    expect(refused(gifWith(1, [1, 1], [60_000, 1, 0, 0]), "image/gif")).toMatchObject({ code: "image_too_large", message: expect.stringContaining("60000×1") });
  });

  it("the bounds, exactly: side, pixels, frames, frames × pixels", () => {
    expect([MAX_IMAGE_SIDE_PX, MAX_IMAGE_PIXELS, MAX_IMAGE_FRAMES, MAX_ANIMATION_PIXELS]).toEqual([8192, 40_000_000, 500, 100_000_000]);
    expect(imageBoundsProblem({ width: 8192, height: 4882, frames: 1 })).toBeNull(); // 39,993,344 px
    expect(imageBoundsProblem({ width: 8193, height: 1 })).toMatch(/8193×1 px.*8192/);
    expect(imageBoundsProblem({ width: 1, height: 8193 })).toMatch(/8192/);
    expect(imageBoundsProblem({ width: 8192, height: 4883 })).toMatch(/40 MP/);
    expect(imageBoundsProblem({ width: 10, height: 10, frames: 500 })).toBeNull();
    expect(imageBoundsProblem({ width: 10, height: 10, frames: 501 })).toMatch(/501 frames.*500/);
    expect(imageBoundsProblem({ width: 1000, height: 1000, frames: 100 })).toBeNull();
    expect(imageBoundsProblem({ width: 1000, height: 1000, frames: 101 })).toMatch(/101,000,000.*100,000,000/);
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(imageBoundsProblem({ width: bad, height: 1 }), String(bad)).toMatch(/not a size/);
  });
});

describe("a header that disagrees with its body → invalid_image, never a throw", () => {
  const invalid = (bytes: Uint8Array, type: UploadContentType, message: RegExp) => {
    const r = readImageSize(bytes, type);
    expect(r.ok ? r : { code: r.code, message: r.message }).toEqual({ code: "invalid_image", message: expect.stringMatching(message) });
  };

  it("PNG", async () => {
    const good = await png();
    const idat = await pixelIdat();
    const ihdr = offsetOf(good, "IHDR");
    invalid(good.subarray(0, 20), "image/png", /IHDR.*past the end/);
    invalid(good.subarray(0, 8), "image/png", /past the end/);
    invalid(pngOf(["IHDR", ihdrData(1, 1).slice(0, 12)], ["IDAT", idat], ["IEND", []]), "image/png", /IHDR has 12 bytes/);
    invalid(pngOf(["tEXt", [...new TextEncoder().encode("a\0b")]], ["IHDR", ihdrData(1, 1)], ["IDAT", idat], ["IEND", []]), "image/png", /first chunk is tEXt/);
    invalid(pngDeclaring(0, 10, idat), "image/png", /0×10/);
    invalid(pngDeclaring(2 ** 31, 1, idat), "image/png", /2147483648×1/);
    invalid(patched(good, ihdr + 7, [2]), "image/png", /IHDR.*CRC/); // width 1 → 2 without a new CRC
    invalid(patched(good, offsetOf(good, "IDAT") - 4, [0x00, 0x7f, 0xff, 0xff]), "image/png", /IDAT.*past the end/);
    invalid(patched(good, offsetOf(good, "IDAT") - 4, [0xff, 0xff, 0xff, 0xff]), "image/png", /IDAT.*4294967295/);
    invalid(pngOf(["IHDR", ihdrData(1, 1)], ["IEND", []]), "image/png", /no IDAT/);
    invalid(good.subarray(0, good.length - 12), "image/png", /past the end|IEND/);
    invalid(pngOf(["IHDR", ihdrData(1, 1, 4, 2)], ["IDAT", idat], ["IEND", []]), "image/png", /bit depth 4.*colour type 2/);
    invalid(pngOf(["IHDR", ihdrData(1, 1)], ["IHDR", ihdrData(9000, 9000)], ["IDAT", idat], ["IEND", []]), "image/png", /second IHDR/);
    invalid(apng(2, idat, 0), "image/png", /acTL.*0 frames/);
    invalid(apng(2, idat, 10_000), "image/png", /acTL.*10000 frames.*2 fcTL/);
    const outside = pngOf(["IHDR", ihdrData(1, 1)], ["acTL", actl(1)], ["fcTL", fctl(0, 5000, 5000)], ["IDAT", idat], ["IEND", []]);
    invalid(outside, "image/png", /frame.*5000×5000.*outside/);
  });

  it("JPEG", () => {
    const good = jpegWith(2, 2);
    const sof = good.indexOf(0xc0, 2) - 1;
    invalid(good.subarray(0, 2), "image/jpeg", /past the end/);
    invalid(cat([0xff, 0xd8], jpegSegment(0xe0, [0, 0]), jpegSegment(0xda, [1, 1, 0, 0, 63, 0]), [0xff, 0xd9]), "image/jpeg", /SOS.*before.*SOF/);
    invalid(cat([0xff, 0xd8], jpegSegment(0xe0, [0, 0]), [0xff, 0xd9]), "image/jpeg", /EOI.*before.*SOF/);
    invalid(cat([0xff, 0xd8], [0xff, 0xe1, 0xff, 0xff, 1, 2, 3]), "image/jpeg", /segment FFE1.*past the end/);
    invalid(cat([0xff, 0xd8], [0xff, 0xe0, 0x00, 0x01]), "image/jpeg", /length 1/);
    invalid(cat([0xff, 0xd8], [0x12, 0x34, 0x56]), "image/jpeg", /no marker at byte 2/);
    invalid(cat([0xff, 0xd8], new Array(5000).fill(0xff)), "image/jpeg", /past the end/);
    invalid(patched(good, sof + 5, [0, 0]), "image/jpeg", /2×0|height 0/); // the height
    invalid(patched(good, sof + 7, [0, 0]), "image/jpeg", /0×2/); // the width
    invalid(patched(good, sof + 2, [0, 11 + 3]), "image/jpeg", /SOF0.*components/); // length says 2 components, 1 given
  });

  it("GIF", () => {
    const good = gif();
    invalid(good.subarray(0, 10), "image/gif", /logical screen.*past the end/);
    invalid(good.subarray(0, 16), "image/gif", /colour table.*past the end/);
    invalid(good.subarray(0, good.length - 1), "image/gif", /trailer|past the end/);
    invalid(cat(gifHead(), [0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 200, 1, 2], [GIF_TRAILER]), "image/gif", /sub-block.*past the end/);
    invalid(gifWith(1, [1, 1], [0, 0, 0, 0]), "image/gif", /frame 1 is 0×0/);
    invalid(cat(gifHead(), [0x99], [GIF_TRAILER]), "image/gif", /unknown block 0x99/);
    invalid(cat(gifHead(), [GIF_TRAILER]), "image/gif", /no image/);
    invalid(cat(gifHead(), [0x21], []), "image/gif", /past the end/);
  });

  it("WebP", () => {
    const good = webp();
    invalid(patched(good, 4, [0xff, 0xff, 0, 0]), "image/webp", /RIFF.*65543 bytes.*file has/);
    invalid(patched(good, 4, [3, 0, 0, 0]), "image/webp", /RIFF size 3/);
    invalid(patched(good, 16, [0xff, 0, 0, 0]), "image/webp", /VP8L.*past the end/);
    invalid(riffWebp(riffChunk("ICCP", [1, 2])), "image/webp", /first chunk is ICCP/);
    invalid(riffWebp(vp8Header(10, 10, [0, 0, 0])), "image/webp", /start code/);
    invalid(riffWebp(vp8lHeader(10, 10, 0, 0x2e)), "image/webp", /VP8L signature/);
    invalid(riffWebp(vp8lHeader(10, 10, 1)), "image/webp", /VP8L version 1/);
    invalid(riffWebp(riffChunk("VP8 ", [0, 0])), "image/webp", /VP8 .*2 bytes/);
    invalid(riffWebp(vp8x(20_000, 20_000), vp8lPixel()), "image/webp", /canvas 20000×20000.*1×1/);
    invalid(riffWebp(vp8x(4, 4)), "image/webp", /no VP8/);
    invalid(riffWebp(vp8x(4, 4, VP8X_ANIMATION), anim()), "image/webp", /no ANMF/);
    invalid(riffWebp(vp8x(4, 4, VP8X_ANIMATION), anim(), anmf(vp8lPixel(), 1, 1, 4, 0)), "image/webp", /frame 1.*outside/);
    invalid(riffWebp(vp8x(4, 4, VP8X_ANIMATION), anim(), anmf(vp8lPixel(), 2, 2)), "image/webp", /frame 1.*2×2.*1×1/);
    invalid(riffWebp(vp8x(4, 4, VP8X_ANIMATION), anim(), anmf(new Uint8Array(0))), "image/webp", /frame 1.*no VP8/);
    invalid(riffWebp(riffChunk("VP8X", [0, 0, 0])), "image/webp", /VP8X has 3 bytes/);
    invalid(cat(riffWebp(vp8x(1, 1)).subarray(0, 14)), "image/webp", /past the end|RIFF/);
  });

  it("a type the bytes are not: each reader refuses another format's bytes", async () => {
    invalid(await png(), "image/jpeg", /JPEG/);
    invalid(jpeg(), "image/gif", /GIF/);
    invalid(gif(), "image/webp", /RIFF|WebP/);
    invalid(webp(), "image/png", /PNG/);
  });
});

describe("robustness: every truncation and random corruption of real files is answered, fast", () => {
  it("never throws, always ok or a typed refusal, within a bounded time", async () => {
    const idat = await pixelIdat();
    const files: Array<[UploadContentType, Uint8Array]> = [
      ["image/png", await png()],
      ["image/png", apng(3, idat)],
      ["image/jpeg", jpegWith(64, 48)],
      ["image/gif", cat(gifHead(4, 3), gifControl(), gifImage(4, 3), gifImage(2, 2, 1, 1), [GIF_TRAILER])],
      ["image/webp", webp()],
      ["image/webp", webpAnimated(3, [4, 4])],
      ["image/webp", riffWebp(vp8x(300, 200, 0x10), riffChunk("ALPH", [0]), vp8Header(300, 200))],
    ];
    let seed = 22;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let runs = 0;
    for (const [type, bytes] of files) {
      const variants: Uint8Array[] = [];
      for (let n = 0; n <= bytes.length; n++) variants.push(bytes.subarray(0, n));
      for (let k = 0; k < 300; k++) {
        const v = new Uint8Array(bytes);
        for (let j = 0; j < 1 + Math.floor(random() * 4); j++) v[Math.floor(random() * v.length)] = Math.floor(random() * 256);
        variants.push(v);
      }
      for (const v of variants) {
        const r = checkImage(v, type);
        runs++;
        if (r.ok) expect(r.width > 0 && r.height > 0 && r.frames > 0).toBe(true);
        else expect(["invalid_image", "image_too_large"]).toContain(r.code);
      }
    }
    expect(runs).toBeGreaterThan(2000);
  });
});
