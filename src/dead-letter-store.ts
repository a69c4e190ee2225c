/**
 * The parked dead letters, on the DeadLetters Durable Object's SQLite (src/dead-letters.ts): one
 * row per (sink, stream, seq), its state, the last error, the attempts and the times. States and
 * transitions are src/dead-letter-rules.ts; this class only stores them. Every method is
 * synchronous SQL run inside one `transactionSync`, so a call is atomic and concurrent calls (the
 * dead letter queue's consumer, a replay, an operator's listing) never see half of another.
 *
 * Table (times in ms since the epoch):
 *   dead_letters(id INTEGER PRIMARY KEY AUTOINCREMENT   the listing cursor and the operator's handle
 *                key TEXT UNIQUE                        {sink}/{stream_id}/{seq} or {sink}/malformed/{message id}
 *                sink, queue, state                     kafka | redis-history; the queue it died in; the state
 *                stream_id, seq, event_type, comment_id  from the body (NULL for a malformed one)
 *                message_id                             the queue message's id (the last copy seen)
 *                body TEXT, bytes INTEGER               the queue message's JSON and its UTF-8 size; NULL/0 once replayed
 *                error TEXT, attempts INTEGER           the last error (the consumer's, then each replay's) and the
 *                                                       consumer's delivery attempts (NULL: not recorded)
 *                replays INTEGER                        replay attempts so far
 *                enqueued_at, failed_at, parked_at,     sent to its queue; the consumer's last failure; arrival
 *                replay_at, replayed_at, lease_until    through the dead letter queue; the last replay attempt;
 *                                                       its success; a running replay's claim)
 */
import {
  DYING_RETENTION_MS,
  MAX_MALFORMED_BODY_BYTES,
  MAX_PARKED_BYTES,
  MAX_PARKED_ROWS,
  MAX_REPLAYED_ROWS,
  NO_ERROR_RECORDED,
  REPLAYED_RETENTION_MS,
  REPLAY_LEASE_MS,
  deadLetterKey,
  malformedKey,
  parkStep,
  utf8Length,
  utf8Prefix,
  type DeadLetterSink,
  type DeadLetterState,
  type ListQuery,
  type ReplayQuery,
  type ReportKind,
} from "./dead-letter-rules";
import type { DeadLetters } from "./dead-letters";
import type { Env } from "./env";
import { QueueEvent } from "./protocol";

/** The DeadLetters object's name: there is one per deployment. */
export const DEAD_LETTERS_NAME = "dead-letters";

/** The DeadLetters object (src/dead-letters.ts) of this deployment. */
export function deadLetters(env: Pick<Env, "CHAT_DEAD_LETTERS">): DurableObjectStub<DeadLetters> {
  return env.CHAT_DEAD_LETTERS.get(env.CHAT_DEAD_LETTERS.idFromName(DEAD_LETTERS_NAME));
}

/** One dead (or dying) queue message, as the consumers report it to the store. */
export interface ParkReport {
  kind: ReportKind;
  sink: DeadLetterSink;
  /** The queue it was consumed from: chat-events or chat-history. */
  queue: string;
  /** The queue message's id. */
  messageId: string;
  /** The queue message's body, as delivered (a queue event, or anything for a malformed one). */
  body: unknown;
  /** When it was sent to its queue (the message's timestamp), ms since the epoch. */
  enqueuedAt: number;
  /** final_failure: the sink's error of the last attempt. */
  error?: string;
  /** final_failure: that attempt's number (Queues counts from 1). */
  attempts?: number;
}

/**
 * What a report did: `noted` (a dying row made or updated), `parked` (a new parked or malformed row,
 * or a dying one now parked), `duplicate` (a copy of a row already parked), `replayed` (a copy of
 * an event a replay already delivered: skipped), `full` (a new row refused: the store is at
 * MAX_PARKED_ROWS or MAX_PARKED_BYTES).
 */
export type ParkOutcome = "noted" | "parked" | "duplicate" | "replayed" | "full";

/** A row as the listing shows it (JSON field names as the admin API answers; times RFC 3339). */
export interface DeadLetterSummary {
  id: number;
  sink: DeadLetterSink;
  queue: string;
  state: DeadLetterState;
  stream_id: string | null;
  seq: number | null;
  event_type: string | null;
  comment_id: string | null;
  message_id: string;
  /** The last error: the consumer's last attempt's, then each failed replay's. */
  error: string | null;
  /** The queue consumer's delivery attempts before the message died (null: not recorded). */
  attempts: number | null;
  replays: number;
  /** UTF-8 bytes of the stored body (0 once replayed). */
  bytes: number;
  enqueued_at: string;
  failed_at: string | null;
  parked_at: string | null;
  last_replay_at: string | null;
  replayed_at: string | null;
}

/** A row with its body: the queue message's JSON (null once replayed; text for a malformed one that is not JSON). */
export interface DeadLetter extends DeadLetterSummary {
  body: unknown;
}

/** Rows per state, per sink. */
export type DeadLetterCounts = Record<DeadLetterSink, Record<DeadLetterState, number>>;

/** One page of a listing: `next_after` is the `after` of the next page (null: this is the last). */
export interface DeadLetterPage {
  items: DeadLetterSummary[];
  next_after: number | null;
  counts: DeadLetterCounts;
}

/** A row a replay claimed: its id, sink and the queue message's JSON. */
export type ClaimedRow = {
  id: number;
  sink: DeadLetterSink;
  stream_id: string | null;
  seq: number | null;
  body: string;
};

/** A replay's result for one claimed row. */
export interface SettleResult {
  id: number;
  ok: boolean;
  /** Why it failed (ok = false). */
  error?: string;
}

export interface DeadLetterStoreOptions {
  maxRows?: number;
  maxBytes?: number;
  maxReplayedRows?: number;
  leaseMs?: number;
}

type Row = {
  id: number;
  key: string;
  sink: DeadLetterSink;
  queue: string;
  state: DeadLetterState;
  stream_id: string | null;
  seq: number | null;
  event_type: string | null;
  comment_id: string | null;
  message_id: string;
  body: string | null;
  bytes: number;
  error: string | null;
  attempts: number | null;
  replays: number;
  enqueued_at: number;
  failed_at: number | null;
  parked_at: number | null;
  replay_at: number | null;
  replayed_at: number | null;
  lease_until: number | null;
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
/** Pruning runs at most this often (ms): it counts tombstones, which costs a scan of their index. */
const PRUNE_EVERY_MS = 60_000;

/** JSON text of a body whatever it is (a malformed one may not be JSON-able), cut to `maxBytes`. */
function bodyText(body: unknown, maxBytes: number): string {
  let text: string;
  try {
    text = JSON.stringify(body) ?? String(body);
  } catch {
    text = String(body);
  }
  return utf8Length(text) > maxBytes ? utf8Prefix(text, maxBytes) : text;
}

export class DeadLetterStore {
  private readonly maxRows: number;
  private readonly maxBytes: number;
  private readonly maxReplayedRows: number;
  private readonly leaseMs: number;
  private prunedAt = 0;

  constructor(
    private readonly storage: Pick<DurableObjectStorage, "sql" | "transactionSync">,
    opts: DeadLetterStoreOptions = {},
  ) {
    this.maxRows = opts.maxRows ?? MAX_PARKED_ROWS;
    this.maxBytes = opts.maxBytes ?? MAX_PARKED_BYTES;
    this.maxReplayedRows = opts.maxReplayedRows ?? MAX_REPLAYED_ROWS;
    this.leaseMs = opts.leaseMs ?? REPLAY_LEASE_MS;
    storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,
        sink TEXT NOT NULL, queue TEXT NOT NULL, state TEXT NOT NULL,
        stream_id TEXT, seq INTEGER, event_type TEXT, comment_id TEXT, message_id TEXT NOT NULL,
        body TEXT, bytes INTEGER NOT NULL, error TEXT, attempts INTEGER, replays INTEGER NOT NULL DEFAULT 0,
        enqueued_at INTEGER NOT NULL, failed_at INTEGER, parked_at INTEGER,
        replay_at INTEGER, replayed_at INTEGER, lease_until INTEGER);
      CREATE INDEX IF NOT EXISTS dead_letters_state ON dead_letters(state, sink, id);
      CREATE INDEX IF NOT EXISTS dead_letters_held ON dead_letters(state, bytes) WHERE state != 'replayed';
      CREATE INDEX IF NOT EXISTS dead_letters_stream ON dead_letters(stream_id, seq);
      CREATE INDEX IF NOT EXISTS dead_letters_tombstones ON dead_letters(replayed_at) WHERE state = 'replayed';
      CREATE INDEX IF NOT EXISTS dead_letters_dying ON dead_letters(failed_at) WHERE state = 'dying';
    `);
  }

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  /**
   * Records reports (see src/dead-letter-rules.ts parkStep), one outcome per report, in order. A
   * report that would make a new row while the store holds MAX_PARKED_ROWS rows or MAX_PARKED_BYTES
   * of bodies (tombstones aside) is refused: `full`. `now` in ms since the epoch.
   */
  report(reports: readonly ParkReport[], now: number): ParkOutcome[] {
    return this.storage.transactionSync(() => {
      this.prune(now);
      const held = this.sql.exec<{ n: number; b: number }>("SELECT count(*) AS n, total(bytes) AS b FROM dead_letters WHERE state != 'replayed'").one();
      let rows = held.n;
      let bytes = held.b;
      return reports.map((r) => {
        const parsed = QueueEvent.safeParse(r.body);
        const event = parsed.success ? parsed.data : null;
        const key = event ? deadLetterKey(r.sink, event.stream_id, event.seq) : malformedKey(r.sink, r.messageId);
        const existing = this.sql.exec<{ id: number; state: DeadLetterState }>("SELECT id, state FROM dead_letters WHERE key = ?", key).toArray()[0];
        const step = parkStep(existing?.state ?? null, r.kind, event === null);
        if (step.write === "none") return step.state === "replayed" ? "replayed" : "duplicate";
        const error = step.takeError ? (r.error ?? null) : null;
        const attempts = step.takeError ? (r.attempts ?? null) : null;
        const failedAt = step.takeError ? now : null;
        const parkedAt = r.kind === "dead" ? now : null;
        if (step.write === "update") {
          this.sql.exec(
            `UPDATE dead_letters SET state = ?, message_id = ?,
               error = CASE WHEN ? THEN ? ELSE error END, attempts = CASE WHEN ? THEN ? ELSE attempts END,
               failed_at = coalesce(?, failed_at), parked_at = coalesce(parked_at, ?)
             WHERE id = ?`,
            step.state, r.messageId, step.takeError ? 1 : 0, error, step.takeError ? 1 : 0, attempts, failedAt, parkedAt, existing!.id,
          );
          return step.state === "dying" ? "noted" : existing!.state === "dying" ? "parked" : "noted";
        }
        const body = event ? JSON.stringify(r.body) : bodyText(r.body, MAX_MALFORMED_BODY_BYTES);
        const size = utf8Length(body);
        if (rows + 1 > this.maxRows || bytes + size > this.maxBytes) return "full";
        rows += 1;
        bytes += size;
        // A new row has the report's error, or says why it has none.
        const firstError = event
          ? (error ?? NO_ERROR_RECORDED)
          : `malformed: ${parsed.error?.issues[0]?.path.join(".") || "body"}: ${parsed.error?.issues[0]?.message ?? "not a queue event"}`;
        this.sql.exec(
          `INSERT INTO dead_letters (key, sink, queue, state, stream_id, seq, event_type, comment_id, message_id, body, bytes,
             error, attempts, enqueued_at, failed_at, parked_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          key, r.sink, r.queue, step.state, event?.stream_id ?? null, event?.seq ?? null, event?.event_type ?? null,
          event && "comment_id" in event ? (event.comment_id ?? null) : null, r.messageId, body, size,
          firstError, attempts, r.enqueuedAt, failedAt, parkedAt,
        );
        return step.state === "dying" ? "noted" : "parked";
      });
    });
  }

  /** One page of rows, oldest first (by id), filtered by state, sink and stream; with the counts of the whole store. */
  list(q: ListQuery, limit: number): DeadLetterPage {
    const where: string[] = ["id > ?"];
    const args: Array<string | number> = [q.after ?? 0];
    if (q.state) (where.push("state = ?"), args.push(q.state));
    if (q.sink) (where.push("sink = ?"), args.push(q.sink));
    if (q.streamId) (where.push("stream_id = ?"), args.push(q.streamId));
    const rows = this.sql.exec<Row>(`SELECT * FROM dead_letters WHERE ${where.join(" AND ")} ORDER BY id LIMIT ?`, ...args, limit + 1).toArray();
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    return { items: page.map(summary), next_after: more ? page[page.length - 1]!.id : null, counts: this.counts() };
  }

  /** One row with its body, or null. */
  get(id: number): DeadLetter | null {
    const row = this.sql.exec<Row>("SELECT * FROM dead_letters WHERE id = ?", id).toArray()[0];
    if (!row) return null;
    let body: unknown = row.body;
    if (row.body !== null) {
      try {
        body = JSON.parse(row.body);
      } catch {
        // a malformed body cut short: shown as the text it is
      }
    }
    return { ...summary(row), body };
  }

  /** Rows per sink and state (tombstones included). */
  counts(): DeadLetterCounts {
    const zero = (): Record<DeadLetterState, number> => ({ dying: 0, parked: 0, replayed: 0, malformed: 0 });
    const out: DeadLetterCounts = { kafka: zero(), "redis-history": zero() };
    for (const r of this.sql.exec<{ sink: DeadLetterSink; state: DeadLetterState; n: number }>("SELECT sink, state, count(*) AS n FROM dead_letters GROUP BY sink, state")) {
      if (out[r.sink]) out[r.sink][r.state] = r.n;
    }
    return out;
  }

  /**
   * Claims up to `limit` parked rows for a replay (not claimed by another within REPLAY_LEASE_MS):
   * those `q.ids` name, else the ones matching sink/stream — rows never replayed first, then the
   * longest since their last attempt, then by id. They stay parked; settle() records the outcome.
   */
  claim(q: ReplayQuery, limit: number, now: number): ClaimedRow[] {
    return this.storage.transactionSync(() => {
      const where: string[] = ["state = 'parked'", "(lease_until IS NULL OR lease_until <= ?)"];
      const args: Array<string | number> = [now];
      if (q.ids) (where.push("id IN (SELECT value FROM json_each(?))"), args.push(JSON.stringify(q.ids)));
      if (q.sink) (where.push("sink = ?"), args.push(q.sink));
      if (q.streamId) (where.push("stream_id = ?"), args.push(q.streamId));
      const rows = this.sql
        .exec<ClaimedRow>(
          `SELECT id, sink, stream_id, seq, body FROM dead_letters WHERE ${where.join(" AND ")}
           ORDER BY replay_at IS NOT NULL, replay_at, id LIMIT ?`,
          ...args,
          limit,
        )
        .toArray();
      if (rows.length > 0) {
        this.sql.exec("UPDATE dead_letters SET lease_until = ? WHERE id IN (SELECT value FROM json_each(?))", now + this.leaseMs, JSON.stringify(rows.map((r) => r.id)));
      }
      return rows;
    });
  }

  /**
   * Records a replay's results: ok → `replayed` (a tombstone: body dropped, kept REPLAYED_RETENTION_MS);
   * failed → stays parked with the new error. Rows no longer parked (discarded meanwhile) are skipped.
   */
  settle(results: readonly SettleResult[], now: number): void {
    this.storage.transactionSync(() => {
      for (const r of results) {
        if (r.ok) {
          this.sql.exec(
            `UPDATE dead_letters SET state = 'replayed', body = NULL, bytes = 0, replayed_at = ?, replay_at = ?,
               replays = replays + 1, lease_until = NULL WHERE id = ? AND state = 'parked'`,
            now, now, r.id,
          );
        } else {
          this.sql.exec(
            "UPDATE dead_letters SET error = ?, replay_at = ?, replays = replays + 1, lease_until = NULL WHERE id = ? AND state = 'parked'",
            r.error ?? "replay failed", now, r.id,
          );
        }
      }
      this.prune(now);
    });
  }

  /** Deletes the rows `ids` names that are not tombstones (a tombstone is what keeps a replay from repeating). Returns how many. */
  discard(ids: readonly number[]): number {
    return this.storage.transactionSync(
      () => this.sql.exec("DELETE FROM dead_letters WHERE id IN (SELECT value FROM json_each(?)) AND state != 'replayed'", JSON.stringify(ids)).rowsWritten,
    );
  }

  /**
   * Drops tombstones older than REPLAYED_RETENTION_MS or beyond MAX_REPLAYED_ROWS (oldest first),
   * and dying rows older than DYING_RETENTION_MS. At most once per PRUNE_EVERY_MS.
   */
  private prune(now: number): void {
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    this.sql.exec("DELETE FROM dead_letters WHERE state = 'replayed' AND replayed_at < ?", now - REPLAYED_RETENTION_MS);
    this.sql.exec("DELETE FROM dead_letters WHERE state = 'dying' AND failed_at < ?", now - DYING_RETENTION_MS);
    const tombstones = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM dead_letters WHERE state = 'replayed'").one().n;
    if (tombstones > this.maxReplayedRows) {
      this.sql.exec(
        "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE state = 'replayed' ORDER BY replayed_at LIMIT ?)",
        tombstones - this.maxReplayedRows,
      );
    }
  }
}

function summary(r: Row): DeadLetterSummary {
  return {
    id: r.id,
    sink: r.sink,
    queue: r.queue,
    state: r.state,
    stream_id: r.stream_id,
    seq: r.seq,
    event_type: r.event_type,
    comment_id: r.comment_id,
    message_id: r.message_id,
    error: r.error,
    attempts: r.attempts,
    replays: r.replays,
    bytes: r.bytes,
    enqueued_at: iso(r.enqueued_at)!,
    failed_at: iso(r.failed_at),
    parked_at: iso(r.parked_at),
    last_replay_at: iso(r.replay_at),
    replayed_at: iso(r.replayed_at),
  };
}
