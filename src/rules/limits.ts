/**
 * Rate policy: every rate and cap a stream's room, its shards and its sockets enforce — the numbers,
 * where each comes from, and the formulas that combine them — in one file, so one place answers
 * "what are the limits" (README "Limits and socket errors"). The mechanism, token buckets, is
 * src/rules/budget.ts; the variables and their defaults are parsed in src/env.ts.
 *
 *   per user per stream   RATE_LIMIT_PER_SEC (burst = rate)             → `rate_limited`; not abuse
 *   per stream            min(ROOM_MAX_MESSAGES_PER_SEC,
 *                             ROOM_MAX_DELIVERIES_PER_SEC ÷ unbatched)   → `room_busy` (roomMessageRate)
 *   per socket            SOCKET_MAX_FRAMES_PER_SEC,
 *                         burst × FRAME_BURST_FACTOR                     → frame dropped unread (frameBurst)
 *                         more than FRAME_BURST_FACTOR × burst dropped
 *                         within STRIKE_WINDOW_MS                        → closed 1008 (framesDroppedBeforeClose)
 *                         more than MAX_STRIKES rejected frames
 *                         within STRIKE_WINDOW_MS                        → closed 1008
 *   per user, at a shard  SHED_FACTOR × RATE_LIMIT_PER_SEC              → `rate_limited` before the room (shedding)
 *   viewer joins per stream  ROOM_MAX_JOINS_PER_SEC (burst = rate)      → closed 1013 `joins_busy` + retry_after_ms (src/rules/joins.ts)
 *   image uploads         UPLOADS_PER_MIN per user per stream, burst the same → 429 `rate_limited`
 *   slow consumers        a `?seen=1` socket over SLOW_CONSUMER_MAX_BEHIND events behind its
 *                         last report for SLOW_CONSUMER_GRACE_MS           → closed 4408 `slow_consumer` (src/rules/consumers.ts)
 *   batched delivery      coalescing window 0 … BATCH_MAX_WINDOW_MS (25 ms), adapted to the load (coalescingWindowMs)
 *
 * Pure: no Workers APIs; time is passed in by the callers of the buckets.
 */
import { BucketMap } from "./budget";
import type { ConsumerBound } from "./consumers";

/**
 * Per socket, frames of any kind (issue 9): SOCKET_MAX_FRAMES_PER_SEC, with a burst of
 * FRAME_BURST_FACTOR × that. Frames over budget are dropped unread; a socket with more than
 * FRAME_BURST_FACTOR × burst frames dropped within STRIKE_WINDOW_MS is closed with 1008.
 */
export const FRAME_BURST_FACTOR = 2;
/**
 * A socket that sends more than MAX_STRIKES rejected frames (invalid, too long, too large, binary,
 * `invalid_text`) within STRIKE_WINDOW_MS (ms) is closed with 1008. Rate limits, `room_busy` and rule
 * refusals (`forbidden`, `muted`, …) are not strikes: such a client is slowed down, not disconnected.
 */
export const MAX_STRIKES = 20;
export const STRIKE_WINDOW_MS = 10_000;

/**
 * Shedding before the room (capacity model: thousands of sockets must not turn into thousands of
 * RPC items the room refuses anyway): a user's commands past SHED_FACTOR × RATE_LIMIT_PER_SEC
 * (burst the same) are answered `rate_limited` by their fan-out shard itself. Below that the room
 * decides (its own per-user limit, dedupe first), so a client within its limit never sees the difference.
 */
export const SHED_FACTOR = 2;

/** The settings the limits are made from (src/env.ts Config; README "Configuration"). */
export interface LimitSettings {
  RATE_LIMIT_PER_SEC: number;
  ROOM_MAX_MESSAGES_PER_SEC: number;
  ROOM_MAX_DELIVERIES_PER_SEC: number;
  SOCKET_MAX_FRAMES_PER_SEC: number;
  MAX_SOCKETS_PER_USER: number;
  EDIT_WINDOW_S: number;
  UPLOADS_PER_MIN: number;
  MAX_VIEWERS_PER_STREAM: number;
  BATCH_MAX_WINDOW_MS: number;
  ROOM_MAX_JOINS_PER_SEC: number;
  SLOW_CONSUMER_MAX_BEHIND: number;
  SLOW_CONSUMER_GRACE_MS: number;
}

/** A room's rates and caps, from the worker's configuration (README "Limits"). */
export interface RoomLimits {
  /** Per user per stream: RATE_LIMIT_PER_SEC, burst = rate. */
  user: BucketMap;
  /** Per stream: ROOM_MAX_MESSAGES_PER_SEC, burst = rate. */
  roomPerSec: number;
  /**
   * Per stream: ROOM_MAX_DELIVERIES_PER_SEC, sends to unbatched sockets per second. The room's
   * message rate is {@link roomMessageRate}: the work of a broadcast grows with its viewers, so
   * 100 msg/s is fine for 300 unbatched viewers and not for 1,000 (BENCHMARKS.md).
   */
  deliveriesPerSec: number;
  /** Per socket, frames of any kind: SOCKET_MAX_FRAMES_PER_SEC, burst = {@link frameBurst}. */
  framesPerSec: number;
  /** MAX_SOCKETS_PER_USER. */
  socketsPerUser: number;
  /** EDIT_WINDOW_S, ms. */
  editWindowMs: number;
  /** Image uploads per user per stream: UPLOADS_PER_MIN per minute, burst = UPLOADS_PER_MIN. */
  uploads: BucketMap;
  /** MAX_VIEWERS_PER_STREAM: open sockets past which viewers get 503 `stream_full`. */
  maxViewers: number;
  /** ROOM_MAX_JOINS_PER_SEC: viewer joins per second (burst the same) before 1013 `joins_busy` (src/rules/joins.ts). */
  joinsPerSec: number;
  /** BATCH_MAX_WINDOW_MS: the longest coalescing window for `?batch=1` sockets, ms ({@link coalescingWindowMs}). */
  batchMaxWindowMs: number;
  /** The modelled CPU of one send, µs: {@link SEND_COST_US} (a test raises it to make a small room coalesce). */
  sendCostUs: number;
  /** SLOW_CONSUMER_MAX_BEHIND / SLOW_CONSUMER_GRACE_MS: the bound on sockets that report what they read (src/rules/consumers.ts). */
  slowConsumer: ConsumerBound;
}

/** The limits for a configuration (src/env.ts). */
export function roomLimits(c: LimitSettings): RoomLimits {
  return {
    uploads: new BucketMap(c.UPLOADS_PER_MIN / 60, c.UPLOADS_PER_MIN),
    user: new BucketMap(c.RATE_LIMIT_PER_SEC, c.RATE_LIMIT_PER_SEC),
    roomPerSec: c.ROOM_MAX_MESSAGES_PER_SEC,
    deliveriesPerSec: c.ROOM_MAX_DELIVERIES_PER_SEC,
    framesPerSec: c.SOCKET_MAX_FRAMES_PER_SEC,
    socketsPerUser: c.MAX_SOCKETS_PER_USER,
    editWindowMs: c.EDIT_WINDOW_S * 1000,
    maxViewers: c.MAX_VIEWERS_PER_STREAM,
    joinsPerSec: c.ROOM_MAX_JOINS_PER_SEC,
    batchMaxWindowMs: c.BATCH_MAX_WINDOW_MS,
    sendCostUs: SEND_COST_US,
    slowConsumer: { maxBehind: c.SLOW_CONSUMER_MAX_BEHIND, graceMs: c.SLOW_CONSUMER_GRACE_MS },
  };
}

/**
 * The stream's message budget (messages and edits per second, also its burst): the smaller of
 * ROOM_MAX_MESSAGES_PER_SEC and ROOM_MAX_DELIVERIES_PER_SEC ÷ `unbatched` (the unbatched sockets one
 * object sends each broadcast to: the room's own, or the fullest shard's, since shards send in
 * parallel), at least 1. Moderation commands are exempt (a raid is when moderators must act).
 */
export function roomMessageRate(limits: Pick<RoomLimits, "roomPerSec" | "deliveriesPerSec">, unbatched: number): number {
  return Math.max(1, Math.min(limits.roomPerSec, limits.deliveriesPerSec / Math.max(1, unbatched)));
}

/** A socket's frame burst (frames) for SOCKET_MAX_FRAMES_PER_SEC = `framesPerSec`. */
export function frameBurst(framesPerSec: number): number {
  return framesPerSec * FRAME_BURST_FACTOR;
}

/** Frames over budget a socket may have dropped within STRIKE_WINDOW_MS before it is closed with 1008. */
export function framesDroppedBeforeClose(framesPerSec: number): number {
  return frameBurst(framesPerSec) * FRAME_BURST_FACTOR;
}

/** A shard's shedding buckets for `limits` ({@link SHED_FACTOR} × the per-user rate, burst the same). */
export function shedding(limits: Pick<RoomLimits, "user">): BucketMap {
  const rate = limits.user.ratePerSec * SHED_FACTOR;
  return new BucketMap(rate, rate);
}

// ---------------------------------------------------------------------------------------------
// Adaptive coalescing for `?batch=1` sockets (issue 20; DESIGN.md "Batched delivery")
// ---------------------------------------------------------------------------------------------

/**
 * CPU one WebSocket send of a lone frame costs the object, µs, measured on local workerd when
 * every frame goes at once (BENCHMARKS.md "Latency", sweepbatch at 10–25 msg/s × 1,000 sockets:
 * the room 37–49 µs per send, a bare Durable Object 31–33). The first guess of the window; the
 * room lengthens it with the busy time it can measure (CoalescingLoad.lagMs).
 */
export const SEND_COST_US = 40;
/** The share of a core the sends may take before frames are coalesced (the rest is for commands and joins). */
export const CPU_TARGET = 0.6;

/** What the coalescing window is decided from. */
export interface CoalescingLoad {
  /** Frames broadcast in the last second (src/rules/budget.ts RateMeter). */
  perSec: number;
  /** Sockets without `?batch=1` (one send per frame each) and with it (one send per flush each). */
  unbatched: number;
  batched: number;
  /**
   * How late the last window's timer fired, ms (0 = on time, or no window yet). workerd's clock
   * stands still while code runs, so this is the busy time the object cannot read otherwise: the
   * sends of the flush that opened the window, and whatever ran before the timer could.
   */
  lagMs: number;
  /** BATCH_MAX_WINDOW_MS, ms. */
  maxMs: number;
  /** The modelled CPU of one send, µs (default {@link SEND_COST_US}). */
  sendCostUs?: number;
}

/**
 * The coalescing window after a frame went out at once to the batched sockets, ms (0 = none: the
 * next frame also goes at once). The sends may take {@link CPU_TARGET} of a core:
 *   - modelled ({@link SEND_COST_US} per send): every frame at once fits (perSec × (unbatched +
 *     batched) sends) → 0 whatever was measured, so a quiet room has no delay; else the flush interval that brings the
 *     batched sends (`batched` per flush) within what the unbatched sends leave of the target,
 *     1,000 × batched × cost ÷ (target − perSec × unbatched × cost) ms, and maxMs when nothing is left;
 *   - measured: a flush that kept the object busy `lagMs` needs a window of lagMs × (1 − target) ÷ target
 *     after it for the object to stay within the target;
 * the larger of the two, within 0 … maxMs (BATCH_MAX_WINDOW_MS; DESIGN.md: ≤ 25 ms by default). A
 * lone frame is never held back: a window opens only after a frame that went at once.
 */
export function coalescingWindowMs(load: CoalescingLoad): number {
  const { perSec, unbatched, batched, lagMs, maxMs, sendCostUs = SEND_COST_US } = load;
  if (maxMs <= 0 || batched === 0) return 0;
  const cost = sendCostUs / 1e6;
  if (perSec * (unbatched + batched) * cost <= CPU_TARGET) return 0;
  const left = CPU_TARGET - perSec * unbatched * cost;
  const modelled = left > 0 ? (1000 * batched * cost) / left : maxMs;
  const measured = (Math.max(0, lagMs) * (1 - CPU_TARGET)) / CPU_TARGET;
  return Math.min(maxMs, Math.ceil(Math.max(modelled, measured)));
}
