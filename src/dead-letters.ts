/**
 * DeadLetters: the one Durable Object (binding CHAT_DEAD_LETTERS, name "dead-letters") where the
 * messages of the dead letter queues chat-events-dlq and chat-history-dlq are parked until an
 * operator replays or discards them (issue 19 §7; README "Dead letters"). Wiring only: the table is
 * src/dead-letter-store.ts, the states and bounds src/dead-letter-rules.ts.
 *
 *   queue consumer (src/consumer.ts), last attempt failed ──report(final_failure)──▶ ┐
 *   dead letter queue consumer (src/consumer.ts)          ──report(dead)──────────▶ ├─ this object (SQLite)
 *   admin routes (src/worker.ts) / npm run dlq: list, get, claim → sinks → settle, discard ┘
 *
 * Why a Durable Object's SQLite and not R2: parking must dedupe copies of one event atomically
 * (upsert by key), replays must claim rows so two never hand the same event to a sink, and the
 * operator pages and counts by state, sink and stream — a transaction, a lease and indexes, which
 * R2 (per-object writes, prefix listing) does not give. The rows are small (a queue message is at
 * most 128 KB; ours are a few KB) and bounded (MAX_PARKED_ROWS, MAX_PARKED_BYTES), far within an
 * object's storage. One object: dead letters are rare by construction (an event dies after
 * max_retries, ≈ 1.6 h of failures), and one report per batch of up to 100 messages keeps even a
 * mass dying (a sink down for hours) at a few requests per second.
 *
 * Requests come only from this worker (the consumer, the admin routes after checking the caller is
 * an admin): a Durable Object is not reachable from the Internet.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env";
import { DeadLetterStore, type ClaimedRow, type DeadLetter, type DeadLetterPage, type ParkOutcome, type ParkReport, type SettleResult } from "./dead-letter-store";
import type { ListQuery, ReplayQuery } from "./dead-letter-rules";

// Callers reach the object with deadLetters(env) (src/dead-letter-store.ts), which needs no
// `cloudflare:workers` import, so the consumer stays loadable in plain Node (test/unit).
export { DEAD_LETTERS_NAME, deadLetters } from "./dead-letter-store";

export class DeadLetters extends DurableObject<Env> {
  private readonly store: DeadLetterStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new DeadLetterStore(ctx.storage);
  }

  /** Records the consumers' reports; one outcome per report, in order (src/dead-letter-store.ts ParkOutcome). */
  report(reports: ParkReport[]): ParkOutcome[] {
    return this.store.report(reports, Date.now());
  }

  /** One page of the listing, `limit` rows at most (the caller bounds it: LIST_MAX). */
  list(q: ListQuery, limit: number): DeadLetterPage {
    return this.store.list(q, limit);
  }

  /** One row with its body, or null. */
  get(id: number): DeadLetter | null {
    return this.store.get(id);
  }

  /** Claims parked rows for a replay (REPLAY_LEASE_MS); `limit` bounded by the caller (REPLAY_MAX). */
  claim(q: ReplayQuery, limit: number): ClaimedRow[] {
    return this.store.claim(q, limit, Date.now());
  }

  /** Records a replay's outcome per claimed row. */
  settle(results: SettleResult[]): void {
    this.store.settle(results, Date.now());
  }

  /** Deletes rows that are not tombstones; returns how many. */
  discard(ids: number[]): number {
    return this.store.discard(ids);
  }
}
