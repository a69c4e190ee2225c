/**
 * Exponential backoff, the one rule behind every retry loop: the room's outbox to the Queues
 * (src/outbox.ts), the room's deliveries to its shards (src/shard-links.ts), the queue consumer's
 * message retries (src/consumer.ts) and the SDK's reconnects (src/client/backoff.ts). Each caller
 * keeps its own bounds and jitter; this module only computes. Pure, no framework imports: the SDK
 * bundle imports it too.
 *
 *   ceiling(attempt) = min(maxMs, minMs · 2^attempt)      attempt 0 = the first retry
 *
 * Jitter (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/):
 *   "none"   the ceiling itself: 1 s, 2 s, 4 s … (deterministic; for callers whose delays are
 *            documented and tested exactly, or that retry alone)
 *   "full"   uniform over the whole milliseconds of [0, ceiling]: spreads a crowd that failed at
 *            the same moment the most (the SDK's viewers after an edge drops them all)
 *   "equal"  ⌊ceiling/2⌋ plus uniform over [0, ceiling − ⌊ceiling/2⌋]: still spread, but never
 *            sooner than half the ceiling, so a failing peer gets at least half the pause
 */
import { assertNever } from "./never";

/** How the delay is drawn below the ceiling (see the module comment). */
export type Jitter = "none" | "full" | "equal";

/** One caller's backoff: bounds in milliseconds and its jitter. */
export interface BackoffPolicy {
  /** The first ceiling (attempt 0), ms; ≥ 0. */
  minMs: number;
  /** The largest ceiling, ms; ≥ 0 (Infinity: no cap). When below `minMs`, it wins: every ceiling is `maxMs`. */
  maxMs: number;
  jitter: Jitter;
}

/** A source of randomness in [0, 1), like Math.random. */
export type RandomSource = () => number;

/**
 * The ceiling of the delay before retry number `attempt` (0-based: 0 after the first failure):
 * min(maxMs, minMs · 2^attempt), in ms. A negative attempt counts as 0; a huge one (2^attempt
 * overflowing) gives maxMs. Throws RangeError when `attempt` is NaN, `minMs` is negative or not
 * finite, or `maxMs` is negative or NaN.
 */
export function backoffCeilingMs(attempt: number, policy: Pick<BackoffPolicy, "minMs" | "maxMs">): number {
  const { minMs, maxMs } = policy;
  if (Number.isNaN(attempt)) throw new RangeError("backoff: attempt is NaN");
  if (!(Number.isFinite(minMs) && minMs >= 0 && maxMs >= 0)) {
    throw new RangeError(`backoff: need a finite minMs >= 0 and maxMs >= 0, got minMs=${minMs} maxMs=${maxMs}`);
  }
  // The exponent is clamped so that 0 · 2^attempt stays 0 instead of 0 · Infinity = NaN.
  return Math.min(maxMs, minMs * 2 ** Math.min(Math.max(0, attempt), 1023));
}

/**
 * The delay before retry number `attempt` (0-based: 0 after the first failure), in ms, drawn per
 * `policy.jitter` below backoffCeilingMs(attempt, policy). With jitter "full" or "equal" the
 * result is a whole number of ms within [0, ceiling] (resp. [⌊ceiling/2⌋, ceiling]); with "none"
 * it is the ceiling. `random` (default Math.random) must return values in [0, 1): pass a fixed
 * one and the result is deterministic (tests). Throws RangeError as backoffCeilingMs does.
 */
export function backoffMs(attempt: number, policy: BackoffPolicy, random: RandomSource = Math.random): number {
  const ceiling = backoffCeilingMs(attempt, policy);
  switch (policy.jitter) {
    case "none":
      return ceiling;
    case "full":
      return uniformMs(ceiling, random);
    case "equal": {
      const half = Math.floor(ceiling / 2);
      return half + uniformMs(ceiling - half, random);
    }
    default:
      return assertNever(policy.jitter, "backoffMs jitter");
  }
}

/** A whole number of ms uniform over [0, span] (each whole value equally likely). */
function uniformMs(span: number, random: RandomSource): number {
  return Math.floor(random() * (Math.floor(span) + 1));
}
