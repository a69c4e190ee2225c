import { describe, expect, it } from "vitest";
import { Backoff, backoffCeiling, backoffDelay } from "../../src/client/index.js";

describe("backoff: exponential ceiling with full jitter", () => {
  it("doubles the ceiling from 250 ms and caps it at 15 s", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((a) => backoffCeiling(a))).toEqual([250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000]);
    expect(backoffCeiling(10_000)).toBe(15_000); // 2^10000 is Infinity; still capped
  });

  it("draws each delay uniformly from [0, ceiling]", () => {
    expect(backoffDelay(3, { random: () => 0 })).toBe(0);
    expect(backoffDelay(3, { random: () => 0.5 })).toBe(1000);
    expect(backoffDelay(3, { random: () => 0.999_999_9 })).toBe(2000);
    for (let attempt = 0; attempt < 20; attempt++) {
      const d = backoffDelay(attempt);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(backoffCeiling(attempt));
    }
  });

  it("counts attempts and starts over after reset()", () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0.999_999_9 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000]);
    expect(b.attempt).toBe(5);
    b.reset();
    expect(b.attempt).toBe(0);
    expect(b.next()).toBe(100);
  });

  it("rejects nonsensical bounds at construction", () => {
    expect(() => new Backoff({ baseMs: 0 })).toThrow(RangeError);
    expect(() => new Backoff({ baseMs: 500, maxMs: 100 })).toThrow(/baseMs <= maxMs/);
  });
});
