/**
 * Slow consumers (issue 19 §3): a viewer that stops reading must not make the room hold its frames
 * without bound. Workers gives a Durable Object no `bufferedAmount` and no backpressure: `ws.send`
 * never throws and never waits, and workerd queues whatever the socket cannot take (README "Slow
 * consumers" has the measurement). So the bound is the application's: a client that opts in
 * (`?seen=1` on the upgrade) reports the last seq it has read with `{"type":"seen","seq":N}`, and
 * the socket layer (src/fanout.ts, the same in a room and in a shard) keeps, per socket, that seq and
 * when it first saw the socket too far behind. A socket is closed with {@link CLOSE_SLOW_CONSUMER}
 * (4408, reason {@link SLOW_CONSUMER_REASON}) when
 *   - it is more than `maxBehind` sequenced events behind its last report and has reported no
 *     progress for `graceMs` (a stuck reader: a frozen tab, a paused socket), or
 *   - it is more than {@link HARD_BEHIND_FACTOR} × `maxBehind` behind, progress or not (a reader
 *     slower than the stream: it would fall behind for ever).
 * The SDK reconnects with `since` and resumes from the ring.
 *
 * Why progress, not "within the bound", clears the clock: "behind" is measured when a report is
 * read, so it includes the report's own time in flight — the network, the client's event loop and
 * the room's input queue. On a loaded room every report arrives late and every viewer looks far
 * behind at once; closing them all would turn the room's overload into a reconnect storm
 * (bench/slow.mjs did exactly that with 50 viewers at 200 events/s when only a report back within
 * the bound cleared the clock). A client that keeps reporting progress is reading; only one that
 * stops is stuck. The hard bound holds the rest.
 *
 * What is bounded: sequenced frames (comments and room events) sent since the last report. Frames
 * that are not sequenced (`viewers`, acks, errors) are few and small and not counted. In bytes: a
 * sequenced frame is at most ~3 KiB (500 code points × 4 bytes + envelope, reply excerpt, four
 * attachments). A stuck socket is closed with about (maxBehind + graceMs × the stream's event rate)
 * frames queued for it: with the defaults and the room budget's 100 events/s, 450 frames, ≤ ~1.3 MiB,
 * typically (300-byte comments) ~135 KiB; a slow reader with at most 5 × 150 = 750 (≤ ~2.2 MiB).
 *
 * The resume stays exact either way: everything queued before the close is still delivered ahead of
 * the close frame, so the client misses only what is broadcast between the close and its reconnect
 * (ring: 200 events).
 *
 * Clients that never report (raw clients, the bench's load generator, older SDKs) are not bounded by
 * this: the room cannot tell a quiet reader from a stuck one without the report, and closing sockets
 * that never opted in would break them. Their bound is the platform's (the socket's TCP window and
 * workerd's buffers), as before.
 *
 * Cost: per delivery one subtraction and comparison per socket (`seq - seen > maxBehind`); the rule
 * below runs only for a socket already over the bound. No timers: time is read at deliveries, so a
 * stuck socket is closed at the first delivery after its grace ran out (no deliveries, nothing
 * queued, nothing to bound). Pure: time is passed in (ms).
 */

/** WebSocket close code for a socket closed as a slow consumer (4000–4999 are the application's; mnemonic: HTTP 408). */
export const CLOSE_SLOW_CONSUMER = 4408;
/** The close reason of a 4408 (≤ 123 bytes). */
export const SLOW_CONSUMER_REASON = "slow_consumer";
/** SLOW_CONSUMER_MAX_BEHIND default: sequenced events a reporting socket may be behind its last report (0 = no bound). */
export const DEFAULT_SLOW_CONSUMER_MAX_BEHIND = 150;
/** SLOW_CONSUMER_GRACE_MS default: how long a socket over the bound may go without progress before it is closed, ms. */
export const DEFAULT_SLOW_CONSUMER_GRACE_MS = 3_000;

/** A socket more than this × `maxBehind` behind its last report is closed whatever its progress. */
export const HARD_BEHIND_FACTOR = 5;

/**
 * The SDK's report cadence: a `seen` frame when at least {@link SEEN_REPORT_EVENTS} events arrived
 * since the last one and at least {@link SEEN_REPORT_INTERVAL_MS} ms passed (whichever is later), so
 * a socket sends at most one per second and none in a quiet stream. A healthy client is therefore at
 * most max(SEEN_REPORT_EVENTS, rate × 1 s) + rate × its round trip behind its report, and reports
 * progress every second while events flow: the grace (longer than the interval) is never reached.
 */
export const SEEN_REPORT_EVENTS = 50;
export const SEEN_REPORT_INTERVAL_MS = 1_000;

/** The bound a socket layer applies (README "Limits and socket errors"). */
export interface ConsumerBound {
  /** Sequenced events a socket may be behind its last `seen` report; 0 = the bound is off. */
  maxBehind: number;
  /** How long it may stay over `maxBehind` without reporting progress before it is closed, ms. */
  graceMs: number;
}

/** Per reporting socket: what it reported and since when it is over the bound. */
export interface ConsumerState {
  /** The last seq the client reported read; -1 = none yet (the first delivery sets a baseline). */
  seen: number;
  /** When the socket was first seen over the bound since its last progress (ms); -1 = not over. */
  overSince: number;
}

/** A fresh state for a socket that opted in (its first delivery sets the baseline). */
export function newConsumer(): ConsumerState {
  return { seen: -1, overSince: -1 };
}

/**
 * A delivery of sequenced event `seq` at `now` (ms) to a reporting socket. Callers check the cheap
 * condition first (`seq - state.seen > bound.maxBehind`) and call this only when it holds. Returns
 * true when the socket must be closed with {@link CLOSE_SLOW_CONSUMER}: over the hard bound, or over
 * the bound for `graceMs` without progress. A socket without a report yet (`seen` -1, just joined or
 * woken from hibernation) starts counting from this delivery: its welcome and history already told
 * it everything before `seq`.
 */
export function deliveredOver(state: ConsumerState, seq: number, now: number, bound: ConsumerBound): boolean {
  if (bound.maxBehind <= 0) return false;
  if (state.seen < 0) {
    state.seen = seq - 1;
    return false;
  }
  const behind = seq - state.seen;
  if (behind <= bound.maxBehind) {
    state.overSince = -1;
    return false;
  }
  if (behind > bound.maxBehind * HARD_BEHIND_FACTOR) return true;
  if (state.overSince < 0) {
    state.overSince = now;
    return false;
  }
  return now - state.overSince >= bound.graceMs;
}

/**
 * A `seen` report of `seq`, at the layer's `lastSeq` (the last sequenced event it delivered; null =
 * unknown). Reports only move forward (a stale or reordered one is ignored); one that moves forward
 * is progress and clears the grace clock (the next delivery over the bound starts it again). A report
 * beyond `lastSeq` is taken as `lastSeq` (a client cannot buy slack by claiming the future).
 */
export function reported(state: ConsumerState, seq: number, lastSeq: number | null): void {
  const capped = lastSeq === null ? seq : Math.min(seq, lastSeq);
  if (capped <= state.seen) return;
  state.seen = capped;
  state.overSince = -1;
}

/**
 * The fast path of a `seen` frame as the SDK writes it (`{"type":"seen","seq":N}`, exactly): its
 * seq, or null when `frame` is anything else (then the frame goes through the ordinary parse).
 */
export function parseSeenFrame(frame: string): number | null {
  if (!frame.startsWith(SEEN_PREFIX) || !frame.endsWith("}") || frame.length > SEEN_PREFIX.length + 17) return null;
  const digits = frame.slice(SEEN_PREFIX.length, -1);
  if (!/^(0|[1-9][0-9]{0,15})$/.test(digits)) return null;
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : null;
}

const SEEN_PREFIX = '{"type":"seen","seq":';

/**
 * The client side of the cadence: when the next `seen` report is due, given the newest seq read,
 * the last one reported (on a new connection: the seq its welcome/history brought it to) and when
 * (ms; on a new connection: when it opened), at `now`. Returns the delay in ms (0 = now), or null
 * while fewer than {@link SEEN_REPORT_EVENTS} events are unreported (a quiet stream sends none).
 */
export function seenReportDelay(readSeq: number, reportedSeq: number, reportedAt: number, now: number): number | null {
  if (readSeq - reportedSeq < SEEN_REPORT_EVENTS) return null;
  return Math.max(0, reportedAt + SEEN_REPORT_INTERVAL_MS - now);
}
