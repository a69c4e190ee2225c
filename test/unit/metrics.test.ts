/**
 * Stream metrics (src/metrics.ts): the per-second ring behind messages_per_sec, the bounded sample
 * behind the fan-out percentiles, the stats answer (checked against the protocol's StatsResponse),
 * the Analytics Engine data points and the guard that keeps a failing binding away from chat.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ALL_SHARDS,
  LatencySample,
  MAX_POINTS_PER_REPORT,
  RateWindow,
  ROOM_SHARD,
  StreamMetrics,
  UNKNOWN_REGION,
  percentile,
  regionOf,
  sinkDataPoint,
  streamDataPoints,
  streamStats,
  writePoints,
  type DataPoint,
  type ShardCount,
} from "../../src/metrics";
import { StatsResponse } from "../../src/protocol";

const SID = "6b5f0c1e-8a0b-4c59-9b5e-3f2a1d0c9e8f";
/** A fixed instant on a second boundary, ms. */
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);

afterEach(() => vi.restoreAllMocks());

describe("regionOf", () => {
  it("keeps the seven continent codes and calls everything else unknown", () => {
    for (const c of ["AF", "AN", "AS", "EU", "NA", "OC", "SA"]) expect(regionOf({ continent: c })).toBe(c);
    for (const cf of [undefined, null, {}, { continent: "eu" }, { continent: "XX" }, { continent: 3 }, { continent: "EU\n" }, "EU"]) {
      expect(regionOf(cf)).toBe(UNKNOWN_REGION);
    }
  });
});

describe("RateWindow (messages_per_sec)", () => {
  it("divides the events of the last 60 seconds, the current one included, by 60", () => {
    const w = new RateWindow(60);
    for (let s = 0; s < 30; s++) w.record(T0 + s * 1000 + 500, 4); // 120 events over 30 s
    expect(w.perSec(T0 + 29_999)).toBe(2);
  });

  it("forgets a second once it leaves the window, also when the ring slot is reused", () => {
    const w = new RateWindow(60);
    w.record(T0, 60);
    expect(w.perSec(T0 + 59_999)).toBe(1); // second 0 is still one of the last 60
    expect(w.perSec(T0 + 60_000)).toBe(0); // second 60: the window is 1..60
    w.record(T0 + 60_000, 6); // the same slot, a new second: the old count must not add up
    expect(w.perSec(T0 + 60_000)).toBe(0.1);
  });

  it("does not count seconds after the read, and is 0 when empty", () => {
    const w = new RateWindow(10);
    expect(w.perSec(T0)).toBe(0);
    w.record(T0 + 5_000, 10);
    expect(w.perSec(T0)).toBe(0);
    expect(w.perSec(T0 + 5_000)).toBe(1);
  });

  it("refuses bad arguments with the name of what is wrong", () => {
    expect(() => new RateWindow(0)).toThrow(/windowS/);
    expect(() => new RateWindow(1.5)).toThrow(/windowS/);
    const w = new RateWindow();
    expect(() => w.record(T0, -1)).toThrow(/n must be/);
    expect(() => w.record(T0, 0.5)).toThrow(/n must be/);
    expect(() => w.record(Number.NaN)).toThrow(/now must be/);
    expect(() => w.perSec(-1)).toThrow(/now must be/);
  });
});

describe("percentile and LatencySample (fanout_ms)", () => {
  it("nearest rank: the smallest value with at least p % at or below it", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2], 50)).toBe(1);
    expect(percentile([], 50)).toBeNull();
    expect(() => percentile(xs, 0)).toThrow(RangeError);
    expect(() => percentile(xs, 101)).toThrow(RangeError);
  });

  it("keeps only the last `size` values", () => {
    const s = new LatencySample(10);
    for (let i = 0; i < 10; i++) s.add(1000); // pushed out below
    for (let i = 1; i <= 10; i++) s.add(i);
    expect(s.count).toBe(10);
    expect(s.percentiles()).toEqual({ p50: 5, p99: 10 });
  });

  it("is null without values, clamps a clock step backwards to 0, refuses NaN and Infinity", () => {
    const s = new LatencySample(4);
    expect(s.percentiles()).toEqual({ p50: null, p99: null });
    s.add(-3);
    expect(s.percentiles()).toEqual({ p50: 0, p99: 0 });
    expect(() => s.add(Number.NaN)).toThrow(RangeError);
    expect(() => s.add(Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(s.count).toBe(1);
    expect(() => new LatencySample(0)).toThrow(/size/);
  });

  it("p50 ≤ p99 whatever the order the values came in", () => {
    const s = new LatencySample(1000);
    let x = 12345;
    for (let i = 0; i < 2500; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31; // a fixed pseudo-random sequence
      s.add(x % 500);
    }
    const { p50, p99 } = s.percentiles();
    expect(p50).not.toBeNull();
    expect(p50!).toBeLessThanOrEqual(p99!);
    expect(p99!).toBeLessThan(500);
  });
});

describe("StreamMetrics", () => {
  it("reports at most once per interval, the first call being due", () => {
    const m = new StreamMetrics(60_000);
    expect(m.reportDue(T0)).toBe(true);
    expect(m.reportDue(T0 + 1)).toBe(false);
    expect(m.reportDue(T0 + 59_999)).toBe(false);
    expect(m.reportDue(T0 + 60_000)).toBe(true);
    expect(m.reportDue(T0 + 60_001)).toBe(false);
    expect(() => new StreamMetrics(0)).toThrow(RangeError);
  });

  it("turns accept → last send into latencies", () => {
    const m = new StreamMetrics();
    m.accepted(T0, 2);
    m.sent(T0, T0);
    m.sent(T0, T0 + 25);
    expect(m.events.perSec(T0)).toBeCloseTo(2 / 60);
    expect(m.fanout.percentiles()).toEqual({ p50: 0, p99: 25 });
  });
});

describe("the stats answer and its data points", () => {
  const shards: Record<string, ShardCount> = {
    [ROOM_SHARD]: { sockets: 5, users: 4, perRegion: { EU: 3, NA: 1, unknown: 1 } },
  };

  function sample(): StreamMetrics {
    const m = new StreamMetrics();
    for (let i = 0; i < 90; i++) m.accepted(T0 + i * 500); // 90 events in the last 45 s
    for (let i = 0; i < 100; i++) m.sent(T0, T0 + i);
    return m;
  }

  it("sums shards and regions, and matches the protocol's StatsResponse", () => {
    const stats = streamStats({ streamId: SID, now: T0 + 45_000, shards, metrics: sample(), queueBacklog: { kafka: 3, history: 0 } });
    expect(StatsResponse.parse(stats)).toEqual(stats);
    expect(stats).toEqual({
      stream_id: SID,
      at: new Date(T0 + 45_000).toISOString(),
      viewers: { total: 5, users: 4, per_shard: { room: 5 }, per_region: { EU: 3, NA: 1, unknown: 1 } },
      messages_per_sec: 1.5,
      fanout_ms: { p50: 49, p99: 98, samples: 100 },
      queue_backlog: { kafka: 3, history: 0 },
    });
  });

  it("adds regions across shards (the shape fan-out shards will plug into)", () => {
    const two = { a: { sockets: 2, users: 2, perRegion: { EU: 2 } }, b: { sockets: 3, users: 3, perRegion: { EU: 1, AS: 2 } } };
    const stats = streamStats({ streamId: SID, now: T0, shards: two, metrics: new StreamMetrics(), queueBacklog: {} });
    expect(stats.viewers).toEqual({ total: 5, users: 5, per_shard: { a: 2, b: 3 }, per_region: { EU: 3, AS: 2 } });
    expect(stats.fanout_ms).toEqual({ p50: null, p99: null, samples: 0 });
    expect(StatsResponse.safeParse(stats).success).toBe(true);
  });

  it("one data point per (shard, region): blobs [stream, shard, region], doubles [sockets there, msg/s, p50, p99, largest backlog, total], index stream", () => {
    const stats = streamStats({ streamId: SID, now: T0 + 45_000, shards, metrics: sample(), queueBacklog: { kafka: 3, history: 7 } });
    const points = streamDataPoints(stats, shards);
    expect(points).toEqual([
      { indexes: [SID], blobs: [SID, "room", "EU"], doubles: [3, 1.5, 49, 98, 7, 5] },
      { indexes: [SID], blobs: [SID, "room", "NA"], doubles: [1, 1.5, 49, 98, 7, 5] },
      { indexes: [SID], blobs: [SID, "room", "unknown"], doubles: [1, 1.5, 49, 98, 7, 5] },
    ]);
  });

  it("an empty stream still gets one point (region none, zeros for absent percentiles), and never more than the cap", () => {
    const empty = { [ROOM_SHARD]: { sockets: 0, users: 0, perRegion: {} } };
    const stats = streamStats({ streamId: SID, now: T0, shards: empty, metrics: new StreamMetrics(), queueBacklog: {} });
    expect(streamDataPoints(stats, empty)).toEqual([{ indexes: [SID], blobs: [SID, "room", "none"], doubles: [0, 0, 0, 0, 0, 0] }]);
    const many: Record<string, ShardCount> = {};
    for (let i = 0; i < 30; i++) many[`s${i}`] = { sockets: 1, users: 1, perRegion: { EU: 1 } };
    const big = streamStats({ streamId: SID, now: T0, shards: many, metrics: new StreamMetrics(), queueBacklog: {} });
    // 30 shards × 1 region is past the cap: one point per region, summed, not 20 of the 30 (which undercounted).
    for (let i = 0; i < 5; i++) many[`a${i}`] = { sockets: 2, users: 2, perRegion: { AS: 2 } };
    const bigger = streamStats({ streamId: SID, now: T0, shards: many, metrics: new StreamMetrics(), queueBacklog: {} });
    const points = streamDataPoints(bigger, many);
    expect(points.length).toBeLessThanOrEqual(MAX_POINTS_PER_REPORT);
    expect(points.map((p) => [p.blobs[1], p.blobs[2], p.doubles[0]])).toEqual([
      [ALL_SHARDS, "EU", 30],
      [ALL_SHARDS, "AS", 10],
    ]);
    expect(big.viewers.total).toBe(30);
  });

  it("the consumer's point: blobs [sink, queue], doubles [successes, failures], index sink", () => {
    expect(sinkDataPoint("kafka", "chat-events", 98, 2)).toEqual({ indexes: ["kafka"], blobs: ["kafka", "chat-events"], doubles: [98, 2] });
  });
});

describe("writePoints: metrics never break chat", () => {
  const point: DataPoint = { indexes: ["x"], blobs: ["x"], doubles: [1] };

  it("writes every point, and does nothing without a binding", () => {
    const got: DataPoint[] = [];
    writePoints({ writeDataPoint: (p) => got.push(p) }, [point, point], "t");
    expect(got).toEqual([point, point]);
    expect(() => writePoints(undefined, [point], "t")).not.toThrow();
    expect(() => writePoints(null, [point], "t")).not.toThrow();
  });

  it("a throwing binding is logged with its label and swallowed", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(() =>
      writePoints(
        {
          writeDataPoint() {
            throw new Error("dataset gone");
          },
        },
        [point],
        "stream=abc",
      ),
    ).not.toThrow();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/stream=abc.*dataset gone/);
  });
});
