/**
 * The one backoff rule (src/rules/backoff.ts) and the four callers' schedules built on it: the
 * outbox (1 s … 60 s, exact), the shard deliveries (50 ms … 5 s, equal jitter), the queue consumer
 * (2 s … SINK_RETRY_MAX_DELAY_S, exact) and the SDK's reconnects (250 ms … 15 s, full jitter).
 */
import { describe, expect, it } from "vitest";
import { backoffDelay } from "../../src/client/backoff";
import { retryDelaySeconds } from "../../src/consumer";
import { OUTBOX_RETRY_MAX_MS, OUTBOX_RETRY_MIN_MS } from "../../src/outbox";
import { backoffCeilingMs, backoffMs, type BackoffPolicy } from "../../src/rules/backoff";
import { RETRY_MAX_MS, RETRY_MIN_MS } from "../../src/shard-links";

const policy = (jitter: BackoffPolicy["jitter"]): BackoffPolicy => ({ minMs: 100, maxMs: 1_000, jitter });
const low = () => 0;
const high = () => 0.999_999_9;

describe("backoffCeilingMs", () => {
  it("is minMs at attempt 0, doubles per attempt, and stops at maxMs", () => {
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffCeilingMs(a, policy("none")))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it("treats a negative attempt as 0 and survives 2^attempt overflowing", () => {
    expect(backoffCeilingMs(-3, policy("none"))).toBe(100);
    expect(backoffCeilingMs(5_000, policy("none"))).toBe(1_000);
    expect(backoffCeilingMs(5_000, { minMs: 0, maxMs: 1_000 })).toBe(0); // 0 · 2^huge, not NaN
    expect(backoffCeilingMs(5_000, { minMs: 1, maxMs: Infinity })).toBe(2 ** 1023);
  });

  it("lets maxMs win when it is below minMs", () => {
    expect(backoffCeilingMs(0, { minMs: 2_000, maxMs: 1_000 })).toBe(1_000);
  });

  it("throws RangeError on a NaN attempt or a negative, NaN or infinite minMs, or a negative or NaN maxMs", () => {
    expect(() => backoffCeilingMs(Number.NaN, policy("none"))).toThrow(RangeError);
    for (const bad of [{ minMs: -1, maxMs: 10 }, { minMs: Number.NaN, maxMs: 10 }, { minMs: Infinity, maxMs: 10 }, { minMs: 1, maxMs: -1 }, { minMs: 1, maxMs: Number.NaN }]) {
      expect(() => backoffCeilingMs(1, bad)).toThrow(RangeError);
    }
  });
});

describe("backoffMs", () => {
  it('"none" is the ceiling itself and ignores the random source', () => {
    expect(backoffMs(2, policy("none"), () => 0.5)).toBe(400);
    expect(backoffMs(9, policy("none"))).toBe(1_000);
  });

  it('"full" is a whole number of ms uniform over [0, ceiling]', () => {
    expect(backoffMs(2, policy("full"), low)).toBe(0);
    expect(backoffMs(2, policy("full"), () => 0.5)).toBe(200); // ⌊0.5 · 401⌋
    expect(backoffMs(2, policy("full"), high)).toBe(400);
  });

  it('"equal" is ⌊ceiling/2⌋ plus a whole number of ms uniform over the other half', () => {
    expect(backoffMs(2, policy("equal"), low)).toBe(200);
    expect(backoffMs(2, policy("equal"), high)).toBe(400);
    expect(backoffMs(0, { minMs: 5, maxMs: 5, jitter: "equal" }, low)).toBe(2); // odd ceiling: ⌊5/2⌋
    expect(backoffMs(0, { minMs: 5, maxMs: 5, jitter: "equal" }, high)).toBe(5);
  });

  it("stays within its bounds for any draw (Math.random by default)", () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const ceiling = backoffCeilingMs(attempt, policy("full"));
      const full = backoffMs(attempt, policy("full"));
      const equal = backoffMs(attempt, policy("equal"));
      expect(Number.isInteger(full) && full >= 0 && full <= ceiling).toBe(true);
      expect(Number.isInteger(equal) && equal >= Math.floor(ceiling / 2) && equal <= ceiling).toBe(true);
    }
  });

  it("is deterministic for a given random source", () => {
    let n = 0;
    const seq = () => [0.1, 0.7, 0.3][n++ % 3]!;
    const a = [0, 1, 2, 3].map((i) => backoffMs(i, policy("full"), seq));
    n = 0;
    expect([0, 1, 2, 3].map((i) => backoffMs(i, policy("full"), seq))).toEqual(a);
  });

  it("throws TypeError on a jitter it does not know (a JavaScript caller)", () => {
    expect(() => backoffMs(0, { minMs: 1, maxMs: 2, jitter: "half" as never })).toThrow(/backoffMs jitter: unexpected "half"/);
  });
});

describe("the callers' schedules", () => {
  it("outbox: 1 s, 2 s, 4 s … 60 s, exactly", () => {
    const p = { minMs: OUTBOX_RETRY_MIN_MS, maxMs: OUTBOX_RETRY_MAX_MS, jitter: "none" } as const;
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((a) => backoffMs(a, p))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
  });

  it("queue consumer: 2, 4, 8 … s from Queues' 1-based attempts, capped at SINK_RETRY_MAX_DELAY_S (1 … 43,200)", () => {
    expect([0, 1, 2, 3, 6, 7].map((n) => retryDelaySeconds(n, 60))).toEqual([2, 2, 4, 8, 60, 60]);
    expect(retryDelaySeconds(1, 1)).toBe(1);
    expect(retryDelaySeconds(100, 43_200)).toBe(43_200);
  });

  it("shard deliveries: 50 ms doubling to 5 s, each wait between half and all of it", () => {
    const p = { minMs: RETRY_MIN_MS, maxMs: RETRY_MAX_MS, jitter: "equal" } as const;
    expect([0, 1, 7, 20].map((a) => backoffMs(a, p, high))).toEqual([50, 100, 5_000, 5_000]);
    expect([0, 1, 7, 20].map((a) => backoffMs(a, p, low))).toEqual([25, 50, 2_500, 2_500]);
  });

  it("SDK reconnects: full jitter below 250 ms … 15 s", () => {
    expect(backoffDelay(0, { random: high })).toBe(250);
    expect(backoffDelay(10, { random: high })).toBe(15_000);
    expect(backoffDelay(10, { random: low })).toBe(0);
  });
});
