/**
 * The rate policy (src/rules/limits.ts) and the rate meter it reads (src/rules/budget.ts RateMeter):
 * the room's message budget, the frame budget's thresholds, shedding, and the adaptive coalescing
 * window for `?batch=1` sockets (issue 20).
 */
import { describe, expect, it } from "vitest";
import { RateMeter } from "../../src/rules/budget";
import {
  CPU_TARGET,
  SEND_COST_US,
  coalescingWindowMs,
  frameBurst,
  framesDroppedBeforeClose,
  roomLimits,
  roomMessageRate,
  shedding,
} from "../../src/rules/limits";

const settings = {
  RATE_LIMIT_PER_SEC: 10,
  ROOM_MAX_MESSAGES_PER_SEC: 100,
  ROOM_MAX_DELIVERIES_PER_SEC: 30_000,
  SOCKET_MAX_FRAMES_PER_SEC: 20,
  MAX_SOCKETS_PER_USER: 5,
  EDIT_WINDOW_S: 300,
  UPLOADS_PER_MIN: 10,
  MAX_VIEWERS_PER_STREAM: 30_000,
  BATCH_MAX_WINDOW_MS: 25,
  ROOM_MAX_JOINS_PER_SEC: 250,
  SLOW_CONSUMER_MAX_BEHIND: 150,
  SLOW_CONSUMER_GRACE_MS: 3_000,
};

describe("rate policy", () => {
  it("builds the room's limits from the settings, in the units the room uses", () => {
    const l = roomLimits(settings);
    expect(l.user.ratePerSec).toBe(10);
    expect(l.user.burst).toBe(10);
    expect(l.uploads.ratePerSec).toBeCloseTo(10 / 60);
    expect(l.uploads.burst).toBe(10);
    expect(l.editWindowMs).toBe(300_000);
    expect(l.batchMaxWindowMs).toBe(25);
  });

  it("the stream's message budget follows its unbatched audience, at least 1/s", () => {
    const l = roomLimits(settings);
    expect(roomMessageRate(l, 0)).toBe(100);
    expect(roomMessageRate(l, 300)).toBe(100);
    expect(roomMessageRate(l, 1_000)).toBe(30);
    expect(roomMessageRate(l, 10_000_000)).toBe(1);
  });

  it("frame budget: burst 2 × rate, closed past 2 × burst dropped (80 at 20/s); shedding at 2 × the user's rate", () => {
    expect(frameBurst(20)).toBe(40);
    expect(framesDroppedBeforeClose(20)).toBe(80);
    const shed = shedding(roomLimits(settings));
    expect(shed.ratePerSec).toBe(20);
    expect(shed.burst).toBe(20);
  });
});

describe("coalescingWindowMs", () => {
  const load = { perSec: 100, unbatched: 0, batched: 1_000, lagMs: 0, maxMs: 25 };

  it("a quiet room gets no window: every frame goes at once", () => {
    expect(coalescingWindowMs({ ...load, perSec: 1 })).toBe(0);
    // 14 frames/s × 1,000 sockets × 40 µs = 0.56 of a core: still within the target; 16 is not.
    expect(coalescingWindowMs({ ...load, perSec: 14 })).toBe(0);
    expect(coalescingWindowMs({ ...load, perSec: 16 })).toBeGreaterThan(0);
    // whatever the last window measured
    expect(coalescingWindowMs({ ...load, perSec: 1, lagMs: 500 })).toBe(0);
  });

  it("under load the window is the flush interval that keeps the sends within the CPU target, capped", () => {
    const uncapped = Math.ceil((1000 * 1_000 * SEND_COST_US) / 1e6 / CPU_TARGET);
    expect(uncapped).toBe(67);
    expect(coalescingWindowMs({ ...load, maxMs: 100 })).toBe(uncapped);
    expect(coalescingWindowMs(load)).toBe(25);
    // fewer batched sockets: a shorter window
    expect(coalescingWindowMs({ ...load, batched: 250, perSec: 100, maxMs: 100 })).toBe(17); // 250 sends × 40 µs ÷ 0.6
  });

  it("unbatched sends take their share first; nothing left → the longest window", () => {
    const shared = coalescingWindowMs({ ...load, unbatched: 100, maxMs: 100 });
    expect(shared).toBeGreaterThan(coalescingWindowMs({ ...load, maxMs: 100 }));
    expect(coalescingWindowMs({ ...load, unbatched: 1_000, maxMs: 100 })).toBe(100);
  });

  it("a late timer (measured busy time) lengthens the window: lag × (1 − target) ÷ target", () => {
    expect(coalescingWindowMs({ ...load, batched: 100, perSec: 300, lagMs: 0, maxMs: 100 })).toBe(7); // 100 sends × 40 µs ÷ 0.6 = 6.7 ms
    expect(coalescingWindowMs({ ...load, batched: 100, perSec: 300, lagMs: 60, maxMs: 100 })).toBe(40);
    expect(coalescingWindowMs({ ...load, lagMs: 10_000, maxMs: 100 })).toBe(100);
  });

  it("no batched sockets, or BATCH_MAX_WINDOW_MS = 0: never a window", () => {
    expect(coalescingWindowMs({ ...load, batched: 0 })).toBe(0);
    expect(coalescingWindowMs({ ...load, maxMs: 0 })).toBe(0);
  });
});

describe("RateMeter", () => {
  it("counts the events of the last second in 100 ms buckets", () => {
    const m = new RateMeter();
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 50; i++) m.tick(t0 + i * 10); // 50 events over 500 ms
    expect(m.perSec(t0 + 499)).toBe(50);
    expect(m.perSec(t0 + 999)).toBe(50);
    // the first 100 ms bucket (10 events) has left the window
    expect(m.perSec(t0 + 1_050)).toBe(40);
    expect(m.perSec(t0 + 1_600)).toBe(0);
    m.tick(t0 + 10_000);
    expect(m.perSec(t0 + 10_000)).toBe(1);
  });

  it("ignores time going backwards (counts into the newest bucket)", () => {
    const m = new RateMeter();
    m.tick(5_000);
    m.tick(4_000);
    expect(m.perSec(5_000)).toBe(2);
  });
});
