/**
 * The room's join gate (issue 19 §2, "redeploy without a reconnect storm"): viewer joins per stream
 * per second, ROOM_MAX_JOINS_PER_SEC (default {@link DEFAULT_ROOM_MAX_JOINS_PER_SEC}), burst = rate.
 * When a worker restarts, every socket of a stream drops at the same moment and the whole audience
 * knocks again within the SDK's first backoff ceiling (≤ 250 ms). Each join costs the room a
 * welcome, a history frame and a socket; a thousand at once stall its commands and broadcasts. The
 * gate admits the first `burst` at once and then `rate` per second; the rest are closed with 1013
 * ("try again later", RFC 6455 §7.4.1 / IANA registry) and a reason JSON
 * `{"error":"joins_busy","retry_after_ms":N}` that tells each when to come back (the SDK waits N
 * plus jitter in [0, N], src/client/reconnect.ts advisedDelay).
 *
 * The hint grows with the crowd: N = ⌈(refused in the last second + 1) ÷ rate⌉ s, at least
 * {@link JOINS_BUSY_MIN_RETRY_MS}, at most {@link JOINS_BUSY_MAX_RETRY_MS}: a crowd of R refused
 * viewers is spread over about R ÷ rate seconds instead of coming back together.
 *
 * Staff (owner, moderators) are exempt: a storm is when they are needed. A refused join does not use
 * up a ticket (the gate acts before admission takes the nonce). Pure: time is passed in (ms).
 */
import { type Bucket, fullBucket, RateMeter, take } from "./budget";

/** ROOM_MAX_JOINS_PER_SEC default: viewer joins per stream per second (burst the same). */
export const DEFAULT_ROOM_MAX_JOINS_PER_SEC = 250;
/** The smallest `retry_after_ms` a refused join is told, ms. */
export const JOINS_BUSY_MIN_RETRY_MS = 1_000;
/** The largest `retry_after_ms` a refused join is told, ms. */
export const JOINS_BUSY_MAX_RETRY_MS = 30_000;
/** The WebSocket close code of a refused join (1013 Try Again Later). */
export const CLOSE_TRY_AGAIN_LATER = 1013;

/** The reason JSON of a 1013 close (≤ 123 bytes, the close frame's limit). */
export interface JoinsBusyReason {
  error: "joins_busy";
  /** Wait at least this long before the next join, ms. */
  retry_after_ms: number;
}

/** A gate's verdict: admitted, or refused with the wait to advise. */
export type JoinVerdict = { ok: true } | { ok: false; retryAfterMs: number };

/** One stream's join gate (a token bucket plus a meter of recent refusals). */
export class JoinGate {
  readonly #bucket: Bucket;
  readonly #refused = new RateMeter();

  /** `ratePerSec`: joins per second, also the burst; a positive integer (RangeError otherwise). */
  constructor(
    readonly ratePerSec: number,
    now: number,
  ) {
    if (!Number.isInteger(ratePerSec) || ratePerSec < 1) throw new RangeError(`joins: ratePerSec must be a positive integer, got ${ratePerSec}`);
    this.#bucket = fullBucket(ratePerSec, now);
  }

  /** A join at `now` (ms): staff always pass and take no token; a viewer takes one or is refused. */
  join(staff: boolean, now: number): JoinVerdict {
    if (staff) return { ok: true };
    if (take(this.#bucket, this.ratePerSec, this.ratePerSec, now) === 0) return { ok: true };
    this.#refused.tick(now);
    return { ok: false, retryAfterMs: joinsBusyRetryMs(this.#refused.perSec(now), this.ratePerSec) };
  }
}

/**
 * The advised wait for a refused join, ms: ⌈refusedLastSec ÷ ratePerSec⌉ seconds (the refusal being
 * answered counted in `refusedLastSec`), clamped to [JOINS_BUSY_MIN_RETRY_MS, JOINS_BUSY_MAX_RETRY_MS].
 */
export function joinsBusyRetryMs(refusedLastSec: number, ratePerSec: number): number {
  const ms = Math.ceil(Math.max(1, refusedLastSec) / ratePerSec) * 1000;
  return Math.min(JOINS_BUSY_MAX_RETRY_MS, Math.max(JOINS_BUSY_MIN_RETRY_MS, ms));
}

/** The close reason of a refused join: JSON {@link JoinsBusyReason}. */
export function joinsBusyReason(retryAfterMs: number): string {
  return JSON.stringify({ error: "joins_busy", retry_after_ms: retryAfterMs } satisfies JoinsBusyReason);
}

/**
 * Reads a 1013 close reason: the advised wait in ms, or null when the reason is not a
 * {@link JoinsBusyReason} (any other text, a negative or non-finite number). Used by the SDK.
 */
export function parseJoinsBusyReason(reason: string | undefined): number | null {
  if (!reason) return null;
  try {
    const v = JSON.parse(reason) as Partial<JoinsBusyReason> | null;
    const ms = v?.retry_after_ms;
    return v?.error === "joins_busy" && typeof ms === "number" && Number.isFinite(ms) && ms >= 0 ? Math.min(ms, JOINS_BUSY_MAX_RETRY_MS) : null;
  } catch {
    return null;
  }
}
