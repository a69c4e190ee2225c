/**
 * Reconnect delays: exponential backoff with "full jitter" — each delay is uniform in
 * [0, min(maxMs, baseMs · 2^attempt)]. Full jitter spreads a crowd of viewers that lost the same
 * edge at the same moment, so they do not all knock on the Durable Object in lock-step
 * (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/). The arithmetic is
 * the server's (src/rules/backoff.ts); this module keeps the SDK's defaults, names and counter.
 */
import { backoffCeilingMs, backoffMs } from "../rules/backoff.js";

export interface BackoffOptions {
  /** Ceiling of the first delay. Default 250 ms. */
  baseMs?: number;
  /** Largest ceiling, however many attempts failed. Default 15 s. */
  maxMs?: number;
  /** Source of randomness in [0, 1); injectable so tests are deterministic. */
  random?: () => number;
}

export const DEFAULT_BACKOFF_BASE_MS = 250;
export const DEFAULT_BACKOFF_MAX_MS = 15_000;

/** The ceiling for a given attempt (0-based): min(maxMs, baseMs · 2^attempt). */
export function backoffCeiling(attempt: number, baseMs = DEFAULT_BACKOFF_BASE_MS, maxMs = DEFAULT_BACKOFF_MAX_MS): number {
  return backoffCeilingMs(attempt, { minMs: baseMs, maxMs });
}

/** A delay for a given attempt (0-based), in whole ms uniform in [0, ceiling]. */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const policy = { minMs: opts.baseMs ?? DEFAULT_BACKOFF_BASE_MS, maxMs: opts.maxMs ?? DEFAULT_BACKOFF_MAX_MS, jitter: "full" } as const;
  return backoffMs(attempt, policy, opts.random);
}

/** Attempt counter + delays. `reset()` once a connection has proved stable. */
export class Backoff {
  #attempt = 0;
  readonly #opts: Required<BackoffOptions>;

  constructor(opts: BackoffOptions = {}) {
    const baseMs = opts.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
    const maxMs = opts.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
    if (!(baseMs > 0) || !(maxMs >= baseMs)) {
      throw new RangeError(`backoff: need 0 < baseMs <= maxMs, got baseMs=${baseMs} maxMs=${maxMs}`);
    }
    this.#opts = { baseMs, maxMs, random: opts.random ?? Math.random };
  }

  /** The largest delay ceiling (options.maxMs). */
  get maxMs(): number {
    return this.#opts.maxMs;
  }

  /** Failed attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; counts one more failed attempt. */
  next(): number {
    const delay = backoffDelay(this.#attempt, this.#opts);
    this.#attempt++;
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
