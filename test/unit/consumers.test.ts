import { describe, expect, it } from "vitest";
import {
  CLOSE_SLOW_CONSUMER,
  DEFAULT_SLOW_CONSUMER_GRACE_MS,
  DEFAULT_SLOW_CONSUMER_MAX_BEHIND,
  SEEN_REPORT_EVENTS,
  SEEN_REPORT_INTERVAL_MS,
  HARD_BEHIND_FACTOR,
  deliveredOver,
  newConsumer,
  parseSeenFrame,
  reported,
  seenReportDelay,
} from "../../src/rules/consumers";

const bound = { maxBehind: 100, graceMs: 2_000 };

/** Delivers seq `from`..`to` at `now`, the way src/fanout.ts does: the rule only when the cheap check says over. */
function deliver(state: ReturnType<typeof newConsumer>, from: number, to: number, now: number): boolean {
  for (let seq = from; seq <= to; seq++) {
    if (seq - state.seen > bound.maxBehind && deliveredOver(state, seq, now, bound)) return true;
  }
  return false;
}

describe("slow consumers: the room's side", () => {
  it("has the documented defaults and close code", () => {
    expect(CLOSE_SLOW_CONSUMER).toBe(4408);
    expect(DEFAULT_SLOW_CONSUMER_MAX_BEHIND).toBe(150);
    expect(DEFAULT_SLOW_CONSUMER_GRACE_MS).toBe(3_000);
    // A healthy client reports at least every interval: the grace must outlast it.
    expect(DEFAULT_SLOW_CONSUMER_GRACE_MS).toBeGreaterThan(SEEN_REPORT_INTERVAL_MS);
    expect(DEFAULT_SLOW_CONSUMER_MAX_BEHIND).toBeGreaterThan(SEEN_REPORT_EVENTS);
  });

  it("takes the first delivery as the baseline of a socket that has not reported yet", () => {
    const s = newConsumer();
    expect(deliveredOver(s, 5_000, 0, bound)).toBe(false);
    expect(s.seen).toBe(4_999);
    expect(s.overSince).toBe(-1);
  });

  it("closes a socket that stays over the bound for the grace period, not before", () => {
    const s = newConsumer();
    deliveredOver(s, 1, 0, bound); // baseline 0
    expect(deliver(s, 2, 100, 0)).toBe(false); // 100 behind: within the bound
    expect(deliver(s, 101, 101, 10)).toBe(false); // 101 behind: over, the grace starts
    expect(s.overSince).toBe(10);
    expect(deliver(s, 102, 150, 2_009)).toBe(false); // 1,999 ms over
    expect(deliver(s, 151, 151, 2_010)).toBe(true); // 2,000 ms over
  });

  it("never closes a client whose reports keep it within the bound, however long it runs", () => {
    // 100 events/s, a report once a second (the SDK's cadence), 300 ms late: over the bound between reports, never for the grace.
    const s = newConsumer();
    let seq = 0;
    let closed = false;
    for (let ms = 0; ms < 120_000; ms += 10) {
      seq++;
      if (seq - s.seen > bound.maxBehind && deliveredOver(s, seq, ms, bound)) closed = true;
      if (ms % 1_000 === 300) reported(s, seq - 30, seq);
    }
    expect(closed).toBe(false);
  });

  it("a report that brings the socket within the bound clears its grace clock", () => {
    const s = newConsumer();
    deliveredOver(s, 1, 0, bound);
    deliver(s, 2, 150, 100);
    expect(s.overSince).toBe(100);
    reported(s, 140, 150);
    expect(s.overSince).toBe(-1);
    // Long after, one more delivery does not find it "over for 10 s".
    expect(deliver(s, 152, 152, 10_000)).toBe(false);
  });

  it("progress clears the clock even while still over the bound: a room whose reports arrive late does not close its viewers", () => {
    // Every report lands 250 events late (the room's input queue), once a second, at 200 events/s: always over the bound of 100.
    const s = newConsumer();
    deliveredOver(s, 1, 0, bound);
    let seq = 1;
    for (let ms = 5; ms <= 60_000; ms += 5) {
      seq++;
      expect(seq - s.seen > bound.maxBehind && deliveredOver(s, seq, ms, bound)).toBe(false);
      if (ms % 1_000 === 0) reported(s, seq - 250, seq);
    }
  });

  it("a stale report is no progress: the clock runs on", () => {
    const s = newConsumer();
    deliveredOver(s, 1, 0, bound);
    deliver(s, 2, 150, 100);
    reported(s, 0, 150); // older than what it reported before
    expect(s.overSince).toBe(100);
    expect(deliver(s, 151, 151, 2_100)).toBe(true);
  });

  it("closes a reader slower than the stream at the hard bound, however steadily it progresses", () => {
    // Reads (and reports) 1 event for every 2 broadcast.
    const s = newConsumer();
    deliveredOver(s, 1, 0, bound);
    let closedAt = -1;
    for (let seq = 2; seq < 100_000 && closedAt < 0; seq++) {
      if (seq - s.seen > bound.maxBehind && deliveredOver(s, seq, seq * 10, bound)) closedAt = seq;
      if (seq % 100 === 0) reported(s, Math.floor(seq / 2), seq);
    }
    expect(s.seen).toBeLessThan(closedAt - bound.maxBehind * HARD_BEHIND_FACTOR);
    expect(closedAt - s.seen).toBe(bound.maxBehind * HARD_BEHIND_FACTOR + 1);
  });

  it("ignores stale reports and caps reports beyond the last delivery", () => {
    const s = newConsumer();
    reported(s, 50, 80);
    expect(s.seen).toBe(50);
    reported(s, 40, 80);
    expect(s.seen).toBe(50);
    reported(s, 1_000_000, 80);
    expect(s.seen).toBe(80);
    reported(s, 90, null); // woken up: nothing delivered yet, the report is taken as is
    expect(s.seen).toBe(90);
  });

  it("does nothing when the bound is off (SLOW_CONSUMER_MAX_BEHIND=0)", () => {
    const off = { maxBehind: 0, graceMs: 0 };
    const s = newConsumer();
    deliveredOver(s, 1, 0, off);
    expect(deliveredOver(s, 10_000, 1_000_000, off)).toBe(false);
  });
});

describe("slow consumers: the seen frame", () => {
  it("reads the SDK's exact frame without a JSON parse", () => {
    expect(parseSeenFrame('{"type":"seen","seq":0}')).toBe(0);
    expect(parseSeenFrame('{"type":"seen","seq":1234}')).toBe(1234);
    expect(parseSeenFrame(JSON.stringify({ type: "seen", seq: Number.MAX_SAFE_INTEGER }))).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("leaves anything else to the ordinary parse", () => {
    for (const f of ['{"type":"seen","seq":-1}', '{"type":"seen","seq":01}', '{"type":"seen","seq":1.5}', '{"type":"seen","seq":1,"x":2}', '{"type":"seen","seq":}', '{"type":"seen","seq":99999999999999999}', '{"type":"ping"}', '{ "type":"seen","seq":1}'])
      expect(parseSeenFrame(f)).toBeNull();
  });
});

describe("slow consumers: the SDK's cadence", () => {
  it("reports after 50 events or 1 s, whichever is later, and not while fewer are unreported", () => {
    expect(seenReportDelay(49, 0, 0, 5_000)).toBeNull();
    expect(seenReportDelay(50, 0, 0, 5_000)).toBe(0);
    expect(seenReportDelay(500, 0, 0, 400)).toBe(600);
    expect(seenReportDelay(150, 100, 1_000, 1_500)).toBe(500);
    expect(seenReportDelay(149, 100, 1_000, 9_000)).toBeNull();
  });
});
