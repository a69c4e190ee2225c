/**
 * Token buckets: the one mechanism behind every rate in the room (pure; time is passed in, in ms).
 *
 *   per user per stream   RATE_LIMIT_PER_SEC           → `rate_limited` (not abuse: the socket stays open)
 *   per socket            SOCKET_MAX_FRAMES_PER_SEC    → frame dropped; a socket that keeps exceeding it is closed
 *   per stream            ROOM_MAX_MESSAGES_PER_SEC    → `room_busy` (shed before any storage work)
 *
 * A bucket holds up to `burst` tokens and refills at `ratePerSec`; taking a token either succeeds
 * (0) or says how long until one is available (ms, ≥ 1).
 */

/** A bucket's state: plain data, so it can live in a Map or on a connection object. */
export interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date, ms. */
  updated: number;
}

/** A full bucket at time `now` (ms). */
export function fullBucket(burst: number, now: number): Bucket {
  return { tokens: burst, updated: now };
}

/**
 * Takes one token at `now` (ms). Returns 0 when taken, else the wait in ms until the next token
 * (the bucket is left unchanged apart from its refill). `ratePerSec` > 0, `burst` ≥ 1.
 */
export function take(b: Bucket, ratePerSec: number, burst: number, now: number): number {
  if (now > b.updated) {
    b.tokens = Math.min(burst, b.tokens + ((now - b.updated) * ratePerSec) / 1000);
    b.updated = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return Math.max(1, Math.ceil(((1 - b.tokens) * 1000) / ratePerSec));
}

/**
 * Gives back one token taken by {@link take} (up to `burst`): for a budget that must count only
 * what was accepted — the stream's message budget is taken before the rules decide, and a message
 * they refuse or ignore (blank, too long, muted, …) returns its token, so one socket's refused
 * frames cannot drain the room's budget for everyone (issue 19 §4).
 */
export function refund(b: Bucket, burst: number): void {
  b.tokens = Math.min(burst, b.tokens + 1);
}

/**
 * A map of buckets by key (users of one stream) that forgets idle ones, so a stream that has seen
 * a million users does not keep a million buckets: a bucket idle long enough to be full again is
 * indistinguishable from a new one, and is dropped when the map grows past `maxKeys`.
 */
export class BucketMap {
  readonly #buckets = new Map<string, Bucket>();
  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    private readonly maxKeys = 10_000,
  ) {}

  /** {@link take} for `key`'s bucket. */
  take(key: string, now: number): number {
    let b = this.#buckets.get(key);
    if (!b) {
      if (this.#buckets.size >= this.maxKeys) this.#prune(now);
      b = fullBucket(this.burst, now);
      this.#buckets.set(key, b);
    }
    return take(b, this.ratePerSec, this.burst, now);
  }

  get size(): number {
    return this.#buckets.size;
  }

  #prune(now: number): void {
    const refillMs = (this.burst * 1000) / this.ratePerSec;
    for (const [key, b] of this.#buckets) if (now - b.updated >= refillMs) this.#buckets.delete(key);
  }
}

/**
 * Events per second over the last second (ten 100 ms buckets; pure, time passed in, ms): how fast a
 * socket layer is broadcasting, for its coalescing window (src/rules/limits.ts coalescingWindowMs).
 */
export class RateMeter {
  readonly #counts = new Array<number>(10).fill(0);
  /** The 100 ms slot (ms ÷ 100) the newest bucket counts. */
  #slot = 0;

  /** Counts one event at `now` (ms). */
  tick(now: number): void {
    this.#advance(now);
    this.#counts[this.#slot % 10]!++;
  }

  /** Events in the last 1,000 ms (≈ per second) at `now`. */
  perSec(now: number): number {
    this.#advance(now);
    let n = 0;
    for (const c of this.#counts) n += c;
    return n;
  }

  #advance(now: number): void {
    const slot = Math.floor(now / 100);
    if (slot <= this.#slot) return;
    for (let s = Math.max(this.#slot + 1, slot - 9); s <= slot; s++) this.#counts[s % 10] = 0;
    this.#slot = slot;
  }
}
