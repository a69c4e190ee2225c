/**
 * The room's outbox: sequenced events waiting to be handed to Cloudflare Queues, one cursor per
 * queue, so each sink's queue advances on its own.
 *
 * Why one queue per sink: a queue message is acked or retried as a whole. With one queue feeding
 * both Redis history and Kafka, a Redis outage retried messages Kafka had already stored (and
 * vice versa), so Kafka got duplicates (issue 8 item 2). With a queue per sink, and this outbox
 * keeping a cursor per queue, an outage of one sink, or of one Queue, neither holds back nor
 * re-sends the other.
 *
 * Storage (the Durable Object's SQLite, passed in; all statements are synchronous):
 *   outbox(seq INTEGER PRIMARY KEY, body TEXT)   one row per event, body = the event's JSON
 *   outbox_cursor(target TEXT PRIMARY KEY, seq INTEGER)
 *                                                the last seq each target's queue accepted
 * A row is deleted once every target's cursor has passed it. The `outbox` table has the shape the
 * room used before this class existed, so rows a room left behind are sent to every target.
 *
 * Usage (in the ChatRoom):
 *   this.outbox = new Outbox(ctx.storage.sql, [
 *     { name: "kafka", queue: env.CHAT_EVENTS },
 *     { name: "history", queue: env.CHAT_HISTORY },
 *   ], { label: `stream=${streamId}` });
 *   // in the same event as the ring write (same implicit transaction, no await in between):
 *   this.outbox.add(seq, toQueueEvent(sc));
 *   // then, and from alarm(), and after a wake-up when outbox.pending():
 *   const { retryInMs } = await this.outbox.drain();
 *   if (retryInMs !== null) await ctx.storage.setAlarm(Date.now() + retryInMs);
 *
 * Delivery is at-least-once per queue: if the object dies after a queue accepted a batch but
 * before the cursor write, that batch is sent to that queue again (consumers are idempotent:
 * history by seq, Kafka readers by comment_id). Order: each queue receives a room's events in seq
 * order, in batches of at most `batchSize`; one send per queue is in flight at a time.
 */
import { describeError } from "./errors";
import { backoffMs } from "./rules/backoff";

/** Cloudflare Queues accept at most 100 messages and 256 KB per sendBatch; stay well below. */
export const OUTBOX_BATCH_SIZE = 50;
const OUTBOX_BATCH_BYTES = 192 * 1024;
/**
 * Retry backoff after a failed send to one queue: 1 s, 2 s, 4 s, … capped at 60 s, exactly (no
 * jitter, src/rules/backoff.ts "none"): one room retries alone, on its own alarm, and the README
 * and test/worker/outbox.test.ts quote these delays.
 */
export const OUTBOX_RETRY_MIN_MS = 1_000;
export const OUTBOX_RETRY_MAX_MS = 60_000;

/** A queue the outbox feeds. `name` keys its cursor in storage: keep it stable across deploys. */
export interface OutboxTarget {
  /** 1-64 of [a-z0-9_-]. */
  name: string;
  /** The Queue producer binding (only sendBatch is used). */
  queue: Pick<Queue<unknown>, "sendBatch">;
}

export interface OutboxOptions {
  /** Max events per sendBatch (1-100, default 50). */
  batchSize?: number;
  /** First retry delay after a failure, ms (default 1,000). */
  minRetryMs?: number;
  /** Retry delay cap, ms (default 60,000). */
  maxRetryMs?: number;
  /** Clock, ms since the epoch (tests). */
  now?: () => number;
  /** Prefix for log lines, e.g. `stream=<id>`. */
  label?: string;
}

interface TargetState {
  readonly name: string;
  readonly queue: OutboxTarget["queue"];
  /** Last seq this target's queue accepted (mirrors outbox_cursor). */
  cursor: number;
  /** Consecutive failed sends; 0 when healthy. */
  failures: number;
  /** No send before this time (ms since the epoch) after a failure. */
  retryAt: number;
  /** The running send loop, if any. */
  running: Promise<void> | null;
}

const NAME_RE = /^[a-z0-9_-]{1,64}$/;

export class Outbox {
  private readonly targets: TargetState[];
  private readonly batchSize: number;
  private readonly minRetryMs: number;
  private readonly maxRetryMs: number;
  private readonly now: () => number;
  private readonly label: string;

  /**
   * Creates the tables if needed and loads the cursors. A target seen for the first time starts
   * just before the oldest row still in the outbox, so it receives every pending event; cursors
   * of targets no longer listed are dropped (they would otherwise keep rows forever).
   * Throws on an empty or duplicate target list or bad options.
   */
  constructor(
    private readonly sql: SqlStorage,
    targets: readonly OutboxTarget[],
    opts: OutboxOptions = {},
  ) {
    if (targets.length === 0) throw new TypeError("Outbox: at least one target queue is required");
    const names = new Set<string>();
    for (const t of targets) {
      if (!NAME_RE.test(t.name)) throw new TypeError(`Outbox: target name ${JSON.stringify(t.name)} must be 1-64 of [a-z0-9_-]`);
      if (names.has(t.name)) throw new TypeError(`Outbox: duplicate target name ${JSON.stringify(t.name)}`);
      if (!t.queue || typeof t.queue.sendBatch !== "function") throw new TypeError(`Outbox: target ${t.name} has no queue binding`);
      names.add(t.name);
    }
    this.batchSize = opts.batchSize ?? OUTBOX_BATCH_SIZE;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > 100) {
      throw new RangeError("Outbox: batchSize must be an integer from 1 to 100 (the Queues sendBatch limit)");
    }
    this.minRetryMs = opts.minRetryMs ?? OUTBOX_RETRY_MIN_MS;
    this.maxRetryMs = opts.maxRetryMs ?? OUTBOX_RETRY_MAX_MS;
    if (!(this.minRetryMs > 0 && this.maxRetryMs >= this.minRetryMs)) {
      throw new RangeError("Outbox: need 0 < minRetryMs <= maxRetryMs");
    }
    this.now = opts.now ?? Date.now;
    this.label = opts.label ? ` ${opts.label}` : "";

    sql.exec(`
      CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS outbox_cursor (target TEXT PRIMARY KEY, seq INTEGER NOT NULL);
    `);
    const stored = new Map<string, number>();
    for (const r of sql.exec<{ target: string; seq: number }>("SELECT target, seq FROM outbox_cursor")) {
      if (names.has(r.target)) stored.set(r.target, r.seq);
      else sql.exec("DELETE FROM outbox_cursor WHERE target = ?", r.target);
    }
    const oldest = sql.exec<{ s: number | null }>("SELECT min(seq) AS s FROM outbox").one().s;
    const start = oldest === null ? 0 : oldest - 1;
    this.targets = targets.map((t) => {
      let cursor = stored.get(t.name);
      if (cursor === undefined) {
        cursor = start;
        sql.exec("INSERT INTO outbox_cursor (target, seq) VALUES (?, ?)", t.name, cursor);
      }
      return { name: t.name, queue: t.queue, cursor, failures: 0, retryAt: 0, running: null };
    });
    this.prune();
  }

  /**
   * Queues `event` (any JSON value; sent as the queue message body) under `seq`. Synchronous, so
   * it commits together with the caller's other writes of the same event (the ring row). `seq`
   * must be a positive safe integer above every seq already added; throws otherwise (a reused or
   * lower seq would be skipped by the cursors, silently).
   */
  add(seq: number, event: unknown): void {
    if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`Outbox.add: seq must be a positive integer, got ${seq}`);
    const behind = this.targets.find((t) => seq <= t.cursor);
    if (behind) throw new RangeError(`Outbox.add: seq ${seq} is not above target ${behind.name}'s cursor ${behind.cursor}`);
    const body = JSON.stringify(event);
    if (body === undefined) throw new TypeError("Outbox.add: event is not JSON-serialisable");
    this.sql.exec("INSERT INTO outbox (seq, body) VALUES (?, ?)", seq, body);
  }

  /** True when some target has events it has not sent yet (e.g. to set an alarm after a wake-up). */
  pending(): boolean {
    return this.targets.some((t) => this.hasRowsAfter(t.cursor));
  }

  /** Events not yet accepted by each target's queue, by target name (stats, tests). */
  backlog(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const t of this.targets) {
      out[t.name] = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox WHERE seq > ?", t.cursor).one().n;
    }
    return out;
  }

  /**
   * Sends what each target has pending, every target independently and concurrently: a target
   * whose queue fails backs off on its own (1 s, 2 s, … 60 s) while the others carry on. A target
   * in its backoff window is not tried. Never rejects. Resolves when every send loop started or
   * joined here has stopped, with `retryInMs`: when the caller should call drain() again (set the
   * Durable Object's alarm), or null when nothing is left to send.
   */
  async drain(): Promise<{ retryInMs: number | null }> {
    const now = this.now();
    await Promise.all(this.targets.map((t) => (t.retryAt <= now ? this.run(t) : t.running)));
    let retryInMs: number | null = null;
    const after = this.now();
    for (const t of this.targets) {
      if (!this.hasRowsAfter(t.cursor)) continue;
      // Pending and idle: in backoff (wait for it) or rows that arrived just now (retry at once).
      const wait = t.running ? null : Math.max(0, t.retryAt - after);
      if (wait !== null) retryInMs = retryInMs === null ? wait : Math.min(retryInMs, wait);
    }
    return { retryInMs };
  }

  // -- internals -----------------------------------------------------------------------------

  private hasRowsAfter(seq: number): boolean {
    return this.sql.exec("SELECT 1 FROM outbox WHERE seq > ? LIMIT 1", seq).toArray().length > 0;
  }

  /** The target's send loop: joins the running one, or starts one. Never rejects. */
  private run(t: TargetState): Promise<void> {
    if (!t.running) {
      t.running = this.sendLoop(t).finally(() => {
        t.running = null;
      });
    }
    return t.running;
  }

  private async sendLoop(t: TargetState): Promise<void> {
    for (;;) {
      const rows = this.nextBatch(t.cursor);
      if (rows.length === 0) return;
      try {
        await t.queue.sendBatch(rows.map((r) => ({ body: JSON.parse(r.body) as unknown, contentType: "json" as const })));
      } catch (err) {
        t.failures++;
        const delay = backoffMs(t.failures - 1, { minMs: this.minRetryMs, maxMs: this.maxRetryMs, jitter: "none" });
        t.retryAt = this.now() + delay;
        console.error(
          `outbox${this.label} queue=${t.name} send of seq ${rows[0]!.seq}..${rows.at(-1)!.seq} failed ` +
            `(attempt ${t.failures}, retry in ${delay} ms): ${describeError(err)}`,
        );
        return;
      }
      t.cursor = rows.at(-1)!.seq;
      t.failures = 0;
      t.retryAt = 0;
      this.sql.exec("UPDATE outbox_cursor SET seq = ? WHERE target = ?", t.cursor, t.name);
      this.prune();
    }
  }

  /** Rows after `cursor` in seq order: at most batchSize, and at most OUTBOX_BATCH_BYTES (always ≥ 1 row). */
  private nextBatch(cursor: number): Array<{ seq: number; body: string }> {
    const rows: Array<{ seq: number; body: string }> = [];
    let bytes = 0;
    for (const r of this.sql.exec<{ seq: number; body: string }>(
      "SELECT seq, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
      cursor,
      this.batchSize,
    )) {
      bytes += r.body.length * 3; // UTF-16 units → an upper bound on UTF-8 bytes
      if (rows.length > 0 && bytes > OUTBOX_BATCH_BYTES) break;
      rows.push(r);
    }
    return rows;
  }

  /** Deletes rows every target has sent. */
  private prune(): void {
    const min = Math.min(...this.targets.map((t) => t.cursor));
    this.sql.exec("DELETE FROM outbox WHERE seq <= ?", min);
  }
}
