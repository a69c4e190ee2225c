/**
 * Stream metrics (issue 12, DESIGN.md "Hot streams and global viewers", last paragraph): the
 * counters behind `GET /v1/streams/{id}/chat/stats` and the Workers Analytics Engine data points
 * (binding CHAT_METRICS). Pure: no Durable Object, no storage, no clock of its own (every call
 * takes `now`, ms since the epoch), so it is unit-tested in plain Node (test/unit/metrics.test.ts).
 *
 * Everything here lives in memory and costs O(1) per event: a hibernated or evicted room starts
 * again from zero, which is what a rate over the last minute and a sample of recent events mean.
 *
 * The layout of the data points and the SQL an operator runs over them are in the README,
 * "Stats and metrics". Analytics Engine limits (developers.cloudflare.com/analytics/analytics-engine/limits/):
 * ≤ 20 blobs, ≤ 20 doubles, 1 index of ≤ 96 bytes per point, ≤ 25 points per invocation.
 */
import { describeError } from "./errors";
import type { StatsResponse } from "./protocol";

// ---------------------------------------------------------------------------------------------
// Regions
// ---------------------------------------------------------------------------------------------

/** `request.cf.continent` values (Cloudflare's IncomingRequestCfProperties): the regions viewers are counted by. */
export const CONTINENTS = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"] as const;
/** The region of a request whose `cf` has no known continent (local development, tests, a worker-to-worker call). */
export const UNKNOWN_REGION = "unknown";

/**
 * A request's region from its `cf` object: one of CONTINENTS, or UNKNOWN_REGION for anything else
 * (missing `cf`, a placeholder, a value that is not a continent code). Never throws.
 */
export function regionOf(cf: unknown): string {
  const continent = (cf as { continent?: unknown } | null | undefined)?.continent;
  return typeof continent === "string" && (CONTINENTS as readonly string[]).includes(continent) ? continent : UNKNOWN_REGION;
}

// ---------------------------------------------------------------------------------------------
// Messages per second: a ring of per-second counters
// ---------------------------------------------------------------------------------------------

/** The window of `messages_per_sec`, seconds. */
export const RATE_WINDOW_S = 60;

/**
 * Events per second over the last `windowS` seconds (the current, partial second included), from
 * a ring of one counter per second: O(1) per record, O(windowS) per read, no allocation.
 */
export class RateWindow {
  private readonly counts: Float64Array;
  /** The epoch second each slot counts; a slot holding an older second is stale. */
  private readonly seconds: Float64Array;

  /** Throws a RangeError unless `windowS` is an integer from 1 to 3,600. */
  constructor(readonly windowS = RATE_WINDOW_S) {
    if (!Number.isInteger(windowS) || windowS < 1 || windowS > 3600) throw new RangeError(`RateWindow: windowS must be an integer from 1 to 3600, got ${windowS}`);
    this.counts = new Float64Array(windowS);
    this.seconds = new Float64Array(windowS).fill(-1);
  }

  /** Counts `n` events (a non-negative integer) at `now` (ms). Throws a RangeError on a bad `n` or `now`. */
  record(now: number, n = 1): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`RateWindow.record: n must be a non-negative integer, got ${n}`);
    const s = epochSecond(now, "RateWindow.record");
    const i = s % this.windowS;
    if (this.seconds[i] !== s) {
      this.seconds[i] = s;
      this.counts[i] = 0;
    }
    this.counts[i]! += n;
  }

  /** Events in the window ending at `now` (ms), divided by the window's length in seconds. */
  perSec(now: number): number {
    const s = epochSecond(now, "RateWindow.perSec");
    let sum = 0;
    for (let i = 0; i < this.windowS; i++) {
      const at = this.seconds[i]!;
      if (at > s - this.windowS && at <= s) sum += this.counts[i]!;
    }
    return sum / this.windowS;
  }
}

function epochSecond(now: number, where: string): number {
  if (!Number.isFinite(now) || now < 0) throw new RangeError(`${where}: now must be a time in ms since the epoch, got ${now}`);
  return Math.floor(now / 1000);
}

// ---------------------------------------------------------------------------------------------
// Fan-out latency: a bounded sample and its percentiles
// ---------------------------------------------------------------------------------------------

/** How many recent events the fan-out percentiles are computed over. */
export const FANOUT_SAMPLE_SIZE = 1000;

/**
 * The nearest-rank percentile `p` (0 < p ≤ 100) of `sorted` (ascending): the smallest value with
 * at least p % of the values at or below it. Null for an empty list; throws a RangeError on a bad `p`.
 */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile: p must be in (0, 100], got ${p}`);
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** The last `size` latencies (ms), in a ring; percentiles are computed on demand (sorting a copy). */
export class LatencySample {
  private readonly values: Float64Array;
  private next = 0;
  private filled = 0;

  /** Throws a RangeError unless `size` is an integer from 1 to 100,000. */
  constructor(readonly size = FANOUT_SAMPLE_SIZE) {
    if (!Number.isInteger(size) || size < 1 || size > 100_000) throw new RangeError(`LatencySample: size must be an integer from 1 to 100000, got ${size}`);
    this.values = new Float64Array(size);
  }

  /** Values held (at most `size`). */
  get count(): number {
    return this.filled;
  }

  /**
   * Adds one latency, ms. A negative value (a clock step backwards) counts as 0; a value that is
   * not a finite number throws a RangeError (it would poison every percentile after it).
   */
  add(ms: number): void {
    if (!Number.isFinite(ms)) throw new RangeError(`LatencySample.add: ms must be a finite number, got ${ms}`);
    this.values[this.next] = Math.max(0, ms);
    this.next = (this.next + 1) % this.size;
    if (this.filled < this.size) this.filled++;
  }

  /** p50 and p99 (nearest rank) of the values held; both null when there are none. */
  percentiles(): { p50: number | null; p99: number | null } {
    const sorted = Array.from(this.values.subarray(0, this.filled)).sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  }
}

// ---------------------------------------------------------------------------------------------
// One stream's counters, as its room keeps them
// ---------------------------------------------------------------------------------------------

/** How often a room writes its data points while active, ms (README "Stats and metrics"). */
export const METRICS_INTERVAL_MS = 60_000;

/**
 * The counters of one stream: sequenced events accepted (→ messages_per_sec) and, per event, the
 * time from the room's accept to the last socket send of its broadcast (→ fan-out p50/p99); plus
 * the throttle of the periodic data points.
 */
export class StreamMetrics {
  readonly events: RateWindow;
  readonly fanout: LatencySample;
  private nextReportAt = 0;

  constructor(
    private readonly intervalMs = METRICS_INTERVAL_MS,
    opts: { windowS?: number; sampleSize?: number } = {},
  ) {
    if (!(intervalMs > 0)) throw new RangeError(`StreamMetrics: intervalMs must be positive, got ${intervalMs}`);
    this.events = new RateWindow(opts.windowS);
    this.fanout = new LatencySample(opts.sampleSize);
  }

  /** `n` sequenced events accepted at `now` (ms). */
  accepted(now: number, n = 1): void {
    this.events.record(now, n);
  }

  /** An event accepted at `acceptedAt` reached its last socket at `sentAt` (ms). */
  sent(acceptedAt: number, sentAt: number): void {
    this.fanout.add(sentAt - acceptedAt);
  }

  /** True at most once per interval (the first call is due): the caller then writes its data points. */
  reportDue(now: number): boolean {
    if (now < this.nextReportAt) return false;
    this.nextReportAt = now + this.intervalMs;
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// The stats answer
// ---------------------------------------------------------------------------------------------

/** What one fan-out shard holds: its open sockets, distinct users, and sockets per region. */
export interface ShardCount {
  sockets: number;
  users: number;
  perRegion: Readonly<Record<string, number>>;
}

/** The shard name of the room itself while it holds every socket (no fan-out shards yet). */
export const ROOM_SHARD = "room";

/**
 * The stats answer of a stream at `now`. `shards` maps a shard name to its counts (today only
 * {@link ROOM_SHARD}); totals and regions are summed over them. `users` sums each shard's distinct
 * users, so a user connected through two shards counts twice (exact within one shard).
 */
export function streamStats(input: {
  streamId: string;
  now: number;
  shards: Readonly<Record<string, ShardCount>>;
  metrics: StreamMetrics;
  queueBacklog: Readonly<Record<string, number>>;
}): StatsResponse {
  const perShard: Record<string, number> = {};
  const perRegion: Record<string, number> = {};
  let total = 0;
  let users = 0;
  for (const [name, shard] of Object.entries(input.shards)) {
    perShard[name] = shard.sockets;
    total += shard.sockets;
    users += shard.users;
    for (const [region, n] of Object.entries(shard.perRegion)) perRegion[region] = (perRegion[region] ?? 0) + n;
  }
  const { p50, p99 } = input.metrics.fanout.percentiles();
  return {
    stream_id: input.streamId,
    at: new Date(input.now).toISOString(),
    viewers: { total, users, per_shard: perShard, per_region: perRegion },
    messages_per_sec: round3(input.metrics.events.perSec(input.now)),
    fanout_ms: { p50, p99, samples: input.metrics.fanout.count },
    queue_backlog: { ...input.queueBacklog },
  };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

// ---------------------------------------------------------------------------------------------
// Analytics Engine data points
// ---------------------------------------------------------------------------------------------

/** A data point as `AnalyticsEngineDataset.writeDataPoint` takes it. */
export interface DataPoint {
  indexes: string[];
  blobs: string[];
  doubles: number[];
}

/** Where data points go: the CHAT_METRICS binding, or a test double. */
export interface MetricsWriter {
  writeDataPoint(point: DataPoint): void;
}

/** At most this many points per write call: Analytics Engine takes ≤ 25 per invocation, leave room for others. */
export const MAX_POINTS_PER_REPORT = 20;

/**
 * A stream's data points (README "Stats and metrics"): one per (shard, region) with sockets, or
 * one with region "none" when nobody is connected; past MAX_POINTS_PER_REPORT pairs, one per region
 * summed over shards (shard ALL_SHARDS). blobs [stream_id, shard, region]; doubles
 * [sockets in that shard and region, messages_per_sec, fanout p50 ms, fanout p99 ms, queue backlog
 * (the largest of the queues'), sockets of the whole stream]; index stream_id (Analytics Engine
 * samples per index, so a busy stream cannot crowd out a quiet one). Absent percentiles are 0.
 */
export function streamDataPoints(stats: StatsResponse, shards: Readonly<Record<string, ShardCount>>): DataPoint[] {
  const backlog = Math.max(0, ...Object.values(stats.queue_backlog));
  const point = (shard: string, region: string, sockets: number): DataPoint => ({
    indexes: [stats.stream_id],
    blobs: [stats.stream_id, shard, region],
    doubles: [sockets, stats.messages_per_sec, stats.fanout_ms.p50 ?? 0, stats.fanout_ms.p99 ?? 0, backlog, stats.viewers.total],
  });
  const points: DataPoint[] = [];
  for (const [name, shard] of Object.entries(shards)) {
    for (const [region, n] of Object.entries(shard.perRegion)) if (n > 0) points.push(point(name, region, n));
  }
  if (points.length === 0) points.push(point(Object.keys(shards)[0] ?? ROOM_SHARD, "none", 0));
  if (points.length <= MAX_POINTS_PER_REPORT) return points;
  // More (shard, region) pairs than one report may carry: one point per region, summed over its
  // shards, with the shard ALL_SHARDS — nothing is dropped (CONTINENTS + unknown ≤ 8 points).
  const perRegion = new Map<string, number>();
  for (const shard of Object.values(shards)) {
    for (const [region, n] of Object.entries(shard.perRegion)) if (n > 0) perRegion.set(region, (perRegion.get(region) ?? 0) + n);
  }
  return [...perRegion].map(([region, n]) => point(ALL_SHARDS, region, n));
}

/** The shard blob of a region's point when a report has too many shards for a point each. */
export const ALL_SHARDS = "*";

/**
 * The queue consumer's point for one batch: blobs [sink, queue], doubles [events stored, events
 * that will be retried], index sink.
 */
export function sinkDataPoint(sink: string, queue: string, successes: number, failures: number): DataPoint {
  return { indexes: [sink], blobs: [sink, queue], doubles: [successes, failures] };
}

/**
 * Writes `points` to `writer`, if there is one. Metrics never break chat: a missing binding is a
 * no-op and a throwing one is logged (with `label`) and otherwise ignored.
 */
export function writePoints(writer: MetricsWriter | undefined | null, points: readonly DataPoint[], label: string): void {
  if (!writer) return;
  try {
    for (const p of points) writer.writeDataPoint(p);
  } catch (err) {
    console.warn(`metrics: writeDataPoint failed ${label}: ${describeError(err)}`);
  }
}
