/**
 * Paces the client's message sends to the rate the server enforces, so a burst (40 messages
 * queued while offline, flushed after the reconnect) goes out at the server's pace instead of
 * meeting its rate limit (issue 9 item 3).
 *
 * A token bucket like the room's (README "Limits and socket errors"): `ratePerSec` tokens a
 * second, at most `ratePerSec` stored (burst = rate), one token per message. It starts full and
 * lives as long as the client, not the connection: the server's bucket is per user and stream and
 * does not refill faster because we reconnected. When the server says `rate_limited` or
 * `room_busy` anyway (another tab of the same user shares the bucket; network jitter bunched
 * frames up), `hold(retryAfterMs)` stops everything until the server's time, then resumes with one
 * message and the normal pace.
 */

/** Messages per second when the server's welcome gives no `limits`: RATE_LIMIT_PER_SEC's default. */
export const DEFAULT_SEND_RATE_PER_SEC = 10;

export class SendPacer {
  #rate: number;
  #tokens: number;
  #updatedAt: number;
  #holdUntil = 0;
  readonly #now: () => number;

  /** @param now clock in ms (injectable for tests; default Date.now). */
  constructor(ratePerSec = DEFAULT_SEND_RATE_PER_SEC, now: () => number = Date.now) {
    this.#rate = checkRate(ratePerSec);
    this.#tokens = this.#rate;
    this.#now = now;
    this.#updatedAt = now();
  }

  /** Messages per second (also the burst). */
  get rate(): number {
    return this.#rate;
  }

  /** Adopts the server's rate (from `welcome.limits`); stored tokens are capped to the new burst. */
  setRate(ratePerSec: number): void {
    this.#refill();
    this.#rate = checkRate(ratePerSec);
    this.#tokens = Math.min(this.#tokens, this.#rate);
  }

  /** Milliseconds until a message may go out (0: now). */
  delay(): number {
    this.#refill();
    const now = this.#now();
    const held = Math.max(0, this.#holdUntil - now);
    if (this.#tokens >= 1) return held;
    const refill = Math.ceil(((1 - this.#tokens) * 1000) / this.#rate);
    return Math.max(held, refill);
  }

  /** Spends one token. Call only when delay() is 0. */
  take(): void {
    this.#refill();
    this.#tokens -= 1;
  }

  /**
   * The server refused and asked for `ms` (retry_after_ms): nothing goes out before then, and then
   * one message (the server's bucket has one token again at that time), then the normal pace.
   */
  hold(ms: number): void {
    this.#refill();
    this.#tokens = 1;
    this.#holdUntil = Math.max(this.#holdUntil, this.#now() + Math.max(0, ms));
  }

  #refill(): void {
    const now = this.#now();
    // No refill while held: the server's bucket starts refilling at the end of retry_after_ms.
    const from = Math.max(this.#updatedAt, this.#holdUntil);
    if (now > from) this.#tokens = Math.min(this.#rate, this.#tokens + ((now - from) * this.#rate) / 1000);
    this.#updatedAt = Math.max(this.#updatedAt, now);
  }
}

function checkRate(rate: number): number {
  if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`send rate must be a positive number of messages per second, got ${rate}`);
  return rate;
}
