/** The room's join gate (src/rules/joins.ts): a token bucket for viewer joins, staff exempt, a hint that grows with the crowd. */
import { describe, expect, it } from "vitest";
import {
  JOINS_BUSY_MAX_RETRY_MS,
  JOINS_BUSY_MIN_RETRY_MS,
  JoinGate,
  joinsBusyReason,
  joinsBusyRetryMs,
  parseJoinsBusyReason,
} from "../../src/rules/joins";

describe("JoinGate", () => {
  it("admits a burst of `rate` viewers at once, refuses the next, and refills at `rate` per second", () => {
    const gate = new JoinGate(10, 0);
    const first = Array.from({ length: 12 }, () => gate.join(false, 0));
    expect(first.filter((v) => v.ok)).toHaveLength(10);
    expect(first.slice(10)).toEqual([
      { ok: false, retryAfterMs: 1_000 },
      { ok: false, retryAfterMs: 1_000 },
    ]);
    // 100 ms later: one token back (10/s).
    expect(gate.join(false, 100)).toEqual({ ok: true });
    expect(gate.join(false, 100).ok).toBe(false);
  });

  it("lets staff in when the bucket is empty, without taking a token", () => {
    const gate = new JoinGate(1, 0);
    expect(gate.join(true, 0)).toEqual({ ok: true });
    expect(gate.join(false, 0)).toEqual({ ok: true }); // the staff join took nothing
    expect(gate.join(true, 0)).toEqual({ ok: true });
    expect(gate.join(false, 0).ok).toBe(false);
  });

  it("advises a longer wait the more joins it refused in the last second", () => {
    const gate = new JoinGate(5, 0);
    for (let i = 0; i < 5; i++) gate.join(false, 0);
    const hints = Array.from({ length: 20 }, () => gate.join(false, 0)).map((v) => (v.ok ? -1 : v.retryAfterMs));
    expect(hints[0]).toBe(1_000);
    expect(hints[19]).toBe(4_000); // 20 refused ÷ 5/s
    expect([...hints].sort((a, b) => a - b)).toEqual(hints); // never shrinks within the second
  });

  it("rejects a rate that is not a positive integer", () => {
    expect(() => new JoinGate(0, 0)).toThrow(RangeError);
    expect(() => new JoinGate(2.5, 0)).toThrow(RangeError);
    expect(() => new JoinGate(Number.NaN, 0)).toThrow(RangeError);
  });
});

describe("joinsBusyRetryMs", () => {
  it("is ⌈refused ÷ rate⌉ s within its bounds", () => {
    expect(joinsBusyRetryMs(1, 250)).toBe(JOINS_BUSY_MIN_RETRY_MS);
    expect(joinsBusyRetryMs(750, 250)).toBe(3_000);
    expect(joinsBusyRetryMs(751, 250)).toBe(4_000);
    expect(joinsBusyRetryMs(1_000_000, 250)).toBe(JOINS_BUSY_MAX_RETRY_MS);
  });
});

describe("the 1013 close reason", () => {
  it("round-trips and fits a close frame (≤ 123 bytes)", () => {
    const reason = joinsBusyReason(JOINS_BUSY_MAX_RETRY_MS);
    expect(new TextEncoder().encode(reason).length).toBeLessThanOrEqual(123);
    expect(JSON.parse(reason)).toEqual({ error: "joins_busy", retry_after_ms: JOINS_BUSY_MAX_RETRY_MS });
    expect(parseJoinsBusyReason(joinsBusyReason(2_500))).toBe(2_500);
  });

  it("reads anything else as no hint", () => {
    for (const r of [undefined, "", "busy", "{}", '{"error":"joins_busy"}', '{"error":"x","retry_after_ms":5}', '{"error":"joins_busy","retry_after_ms":-1}', '{"error":"joins_busy","retry_after_ms":"9"}', "null"]) {
      expect(parseJoinsBusyReason(r)).toBeNull();
    }
    expect(parseJoinsBusyReason('{"error":"joins_busy","retry_after_ms":1e12}')).toBe(JOINS_BUSY_MAX_RETRY_MS);
  });
});
