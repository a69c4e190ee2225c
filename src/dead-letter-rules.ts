/**
 * Dead letters (issue 19 §7), framework-free: what a parked message is, its states and how a
 * report moves it between them, the store's bounds, and the operator's query limits. Pure (no I/O,
 * no packages): the store (src/dead-letter-store.ts), the consumer (src/consumer.ts), the replay
 * (src/replay.ts), the admin routes (src/worker.ts) and the CLI (src/cli/dlq.ts) share it.
 *
 * Life of a dead message, per sink and event (the key is `{sink}/{stream_id}/{seq}`: seq is unique
 * in its stream, so two copies of one event — the outbox's at-least-once, a Queues redelivery —
 * are one row):
 *
 *   queue consumer, last attempt fails ──report "final_failure"──▶ dying   (error, attempts, time)
 *   the message arrives in chat-*-dlq ──report "dead"──▶ parked            (keeps the error)
 *   replay stores it in its sink ──▶ replayed   (a tombstone without the body: a later copy of the
 *                                                same event, dead or replayed again, is skipped)
 *   replay fails ──▶ parked, with the new error (replays + 1)
 *   a body that is not a queue event ──▶ malformed (listed, never replayed; discard it)
 *
 * `dying` waits for the message's own arrival through the dead letter queue: only Queues knows the
 * message will not be delivered again, so only `parked` rows are replayed.
 */

/** The sinks whose queues have dead letter queues (QUEUE_SINKS). */
export type DeadLetterSink = "kafka" | "redis-history";
export const DEAD_LETTER_SINKS: readonly DeadLetterSink[] = ["kafka", "redis-history"];

/** Which sink drains which queue (queue names as in wrangler.toml; src/consumer.ts picks the sink by it). */
export const QUEUE_SINKS = {
  "chat-events": "kafka",
  "chat-history": "redis-history",
} as const satisfies Record<string, DeadLetterSink>;

/** Each dead letter queue and the queue whose dead messages it receives (wrangler.toml `dead_letter_queue`). */
export const DEAD_LETTER_QUEUES = {
  "chat-events-dlq": "chat-events",
  "chat-history-dlq": "chat-history",
} as const satisfies Record<string, keyof typeof QUEUE_SINKS>;

/** Where a row is in its life (see the module comment). */
export type DeadLetterState = "dying" | "parked" | "replayed" | "malformed";
export const DEAD_LETTER_STATES: readonly DeadLetterState[] = ["dying", "parked", "replayed", "malformed"];

/**
 * Who reports a message: the queue consumer after its last attempt failed (`final_failure`, with the
 * sink's error and the attempt count), or the dead letter queue's consumer on its arrival (`dead`).
 */
export type ReportKind = "final_failure" | "dead";

// ---------------------------------------------------------------------------------------------
// Bounds (README "Dead letters": the limits table quotes these)
// ---------------------------------------------------------------------------------------------

/** Rows the store holds that are not tombstones (dying + parked + malformed); new ones past it are refused. */
export const MAX_PARKED_ROWS = 50_000;
/** UTF-8 bytes of the bodies those rows hold together; new rows past it are refused. */
export const MAX_PARKED_BYTES = 256 * 1024 * 1024;
/** A malformed body is kept up to this many UTF-8 bytes (cut at a character boundary). */
export const MAX_MALFORMED_BODY_BYTES = 16 * 1024;
/** A replayed row (tombstone, no body) is kept this long (ms): longer than Queues' longest retention, 14 days. */
export const REPLAYED_RETENTION_MS = 30 * 24 * 3_600_000;
/** And at most this many tombstones; the oldest go first. */
export const MAX_REPLAYED_ROWS = 200_000;
/** A `dying` row whose message never arrives through the dead letter queue is dropped after this long (ms). */
export const DYING_RETENTION_MS = 14 * 24 * 3_600_000;
/** Rows per page of a listing: default and most. */
export const LIST_DEFAULT = 20;
export const LIST_MAX = 100;
/** Rows per replay call: default and most (each call is one claim; see REPLAY_SINK_BATCH). */
export const REPLAY_DEFAULT = 100;
export const REPLAY_MAX = 500;
/** Events per sink delivery within a replay call: the queue consumers' max_batch_size, so a replay's requests are no larger than theirs. */
export const REPLAY_SINK_BATCH = 100;
/** Ids per discard call. */
export const DISCARD_MAX = 500;
/**
 * A replay claims its rows for this long (ms): a second replay meanwhile skips them, so two replays
 * never hand the same event to a sink at once. A replay that dies leaves them claimable after it.
 */
export const REPLAY_LEASE_MS = 60_000;
/**
 * Delay, seconds, before the dead letter queue's consumer tries again a message the full store
 * refused: the message waits in the dead letter queue (up to its retention) for an operator to make room.
 */
export const FULL_RETRY_DELAY_S = 3_600;
/** The error a row gets when the consumer's last attempt was not recorded (crash, timeout, mismatched SINK_MAX_RETRIES). */
export const NO_ERROR_RECORDED = "not recorded: the message reached the dead letter queue without the consumer's last error";

// ---------------------------------------------------------------------------------------------
// Keys and transitions
// ---------------------------------------------------------------------------------------------

/** The dedupe key of an event's row: one per (sink, stream, seq). */
export function deadLetterKey(sink: DeadLetterSink, streamId: string, seq: number): string {
  return `${sink}/${streamId}/${seq}`;
}

/** The key of a body that is not a queue event: one per (sink, queue message id). */
export function malformedKey(sink: DeadLetterSink, messageId: string): string {
  return `${sink}/malformed/${messageId}`;
}

/** What a report does to the row of its key. */
export type ParkStep =
  /** a new row in `state`; the report's error/attempts are recorded */
  | { write: "insert"; state: DeadLetterState; takeError: boolean }
  /** the row moves to `state`; takeError: the report's error/attempts replace the row's */
  | { write: "update"; state: DeadLetterState; takeError: boolean }
  /** nothing changes (a copy of a row already parked or replayed) */
  | { write: "none"; state: DeadLetterState };

/**
 * The transition of a report (pure). `existing` is the row's state (null: no row), `malformed`
 * whether the body is not a queue event.
 *
 *   existing \ report   final_failure             dead
 *   none                insert dying (error)      insert parked | malformed
 *   dying               dying, new error          parked (keeps the error)
 *   parked              parked, new error         nothing (another copy)
 *   malformed           nothing                   nothing
 *   replayed            nothing                   nothing (already delivered by a replay)
 */
export function parkStep(existing: DeadLetterState | null, report: ReportKind, malformed: boolean): ParkStep {
  if (existing === null) {
    if (report === "final_failure") return { write: "insert", state: "dying", takeError: true };
    return { write: "insert", state: malformed ? "malformed" : "parked", takeError: false };
  }
  switch (existing) {
    case "dying":
      return report === "final_failure"
        ? { write: "update", state: "dying", takeError: true }
        : { write: "update", state: "parked", takeError: false };
    case "parked":
      return report === "final_failure" ? { write: "update", state: "parked", takeError: true } : { write: "none", state: "parked" };
    case "malformed":
    case "replayed":
      return { write: "none", state: existing };
  }
}

// ---------------------------------------------------------------------------------------------
// Operator queries
// ---------------------------------------------------------------------------------------------

/** A listing's filter and page (all optional; `after` = the last id of the previous page). */
export interface ListQuery {
  state?: DeadLetterState;
  sink?: DeadLetterSink;
  streamId?: string;
  after?: number;
  /** 1 … LIST_MAX (default LIST_DEFAULT) */
  limit?: number;
}

/** What a replay takes: ids, or the oldest parked rows matching sink/stream; at most `limit`. */
export interface ReplayQuery {
  ids?: number[];
  sink?: DeadLetterSink;
  streamId?: string;
  /** 1 … REPLAY_MAX (default REPLAY_DEFAULT) */
  limit?: number;
}

export const isDeadLetterSink = (v: unknown): v is DeadLetterSink => DEAD_LETTER_SINKS.includes(v as DeadLetterSink);
export const isDeadLetterState = (v: unknown): v is DeadLetterState => DEAD_LETTER_STATES.includes(v as DeadLetterState);

/** A whole number within [min, max], or null. Accepts numbers and decimal strings ("20"). */
export function boundedInt(v: unknown, min: number, max: number): number | null {
  const n = typeof v === "string" && /^\d{1,16}$/.test(v) ? Number(v) : typeof v === "number" ? v : NaN;
  return Number.isInteger(n) && n >= min && n <= max ? n : null;
}

/** The UTF-8 prefix of `text` of at most `maxBytes` bytes, never splitting a character. */
export function utf8Prefix(text: string, maxBytes: number): string {
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + n > maxBytes) break;
    bytes += n;
    end += ch.length;
  }
  return text.slice(0, end);
}

/** UTF-8 length of `text` in bytes (lone surrogates count 3, as TextEncoder writes U+FFFD). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return bytes;
}
