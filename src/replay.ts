/**
 * Replaying parked dead letters (issue 19 §7; README "Dead letters"): claim parked rows from the
 * DeadLetters object, hand their events to the same sinks the queue consumer uses
 * (src/sinks/*, through sinkFor), record each outcome. One call = one claim (≤ REPLAY_MAX rows),
 * delivered per sink in batches of ≤ REPLAY_SINK_BATCH (the consumers' batch size); the CLI (src/cli/dlq.ts) calls it again until nothing more
 * replays.
 *
 * Idempotence, what a second replay does (nothing is written twice that the worker can know of):
 *   - a row that replayed becomes a tombstone (`replayed`): no later claim takes it, and a later
 *     copy of the same event arriving in the dead letter queue is not parked again;
 *   - claims are leased (REPLAY_LEASE_MS), so two replays running at once never take the same row;
 *   - Redis history: the sink itself is idempotent (planHistory): an event it already holds — the
 *     same comment, an edit or deletion already applied, one older than the 200 kept — changes
 *     nothing and counts as stored;
 *   - Kafka: the proxy cannot be asked what it holds, so the row's state is the record. An event
 *     whose produce was answered with an error but written anyway (a timeout after the write), or
 *     whose other copy was produced by the queue consumer, is written again by its replay — as a
 *     redelivery would be (README "Pipeline guarantees": consumers dedupe by comment_id).
 * Concurrency: a replay writes to Redis beside the live chat-history consumer, outside its
 * one-batch-at-a-time (the history sink's read-then-write relies on it): a live change to the same
 * comment in the same instant can leave that comment stale (README "Dead letters" says when).
 * Order: the events of one call are sorted by stream and seq, as a queue batch is. A replayed event
 * is older than what its sink already has for the stream: Redis places it by seq (history ends as if
 * it had arrived in order), Kafka appends it after the stream's later records.
 */
import type { ClaimedRow, SettleResult } from "./dead-letter-store";
import { REPLAY_SINK_BATCH, type DeadLetterSink, type ReplayQuery } from "./dead-letter-rules";
import type { DeadLetters } from "./dead-letters";
import type { Config } from "./env";
import { describeError } from "./errors";
import { QueueEvent } from "./protocol";
import { sinkFor } from "./consumer";
import { failureReason, isStored, type Outcome, type Sink } from "./sinks/sink";

/** The part of the DeadLetters object a replay uses (its stub, or the object itself in tests). */
export type ReplayStore = Pick<DurableObjectStub<DeadLetters>, "claim" | "settle"> | Pick<DeadLetters, "claim" | "settle">;

/** One row's result, as the admin route answers it. */
export interface ReplayItem {
  id: number;
  sink: DeadLetterSink;
  stream_id: string | null;
  seq: number | null;
  ok: boolean;
  /** Why it failed (it stays parked with this error). */
  error?: string;
}

/** A replay call's answer: rows claimed, how many were stored and how many failed, and each row. */
export interface ReplayReport {
  claimed: number;
  replayed: number;
  failed: number;
  items: ReplayItem[];
}

/**
 * Replays up to `limit` parked rows matching `q` through their sinks. `sinks` picks the sink of a
 * name (default: sinkFor(name, cfg), the consumer's; null = not configured → the rows stay parked
 * with that reason). Resolves with one item per claimed row; rejects only if the DeadLetters object
 * cannot be reached (claimed rows then become claimable again after REPLAY_LEASE_MS).
 */
export async function replayDeadLetters(
  store: ReplayStore,
  cfg: Config,
  q: ReplayQuery,
  limit: number,
  sinks: (name: DeadLetterSink) => Sink | null = (name) => sinkFor(name, cfg),
): Promise<ReplayReport> {
  const claimed = (await store.claim(q, limit)) as ClaimedRow[];
  const bySink = new Map<DeadLetterSink, ClaimedRow[]>();
  for (const row of claimed) bySink.set(row.sink, [...(bySink.get(row.sink) ?? []), row]);
  const results: SettleResult[] = [];
  for (const [name, rows] of bySink) results.push(...(await replayToSink(name, rows, sinks(name))));
  await store.settle(results);
  const byId = new Map(claimed.map((r) => [r.id, r]));
  const items = results.map((r): ReplayItem => {
    const row = byId.get(r.id)!;
    return { id: r.id, sink: row.sink, stream_id: row.stream_id, seq: row.seq, ok: r.ok, ...(r.ok ? {} : { error: r.error }) };
  });
  const replayed = items.filter((i) => i.ok).length;
  if (claimed.length > 0) console.warn(`dead letters: replayed ${replayed}/${claimed.length} (${claimed.length - replayed} stay parked)`);
  return { claimed: claimed.length, replayed, failed: claimed.length - replayed, items };
}

/** Delivers one sink's claimed rows in stream/seq order; one result per row. */
async function replayToSink(name: DeadLetterSink, rows: readonly ClaimedRow[], sink: Sink | null): Promise<SettleResult[]> {
  if (!sink) return rows.map((r) => ({ id: r.id, ok: false, error: `sink ${name} is not configured (its variables are not set): not replayed` }));
  const events: Array<{ id: number; event: QueueEvent }> = [];
  const results: SettleResult[] = [];
  for (const r of rows) {
    let parsed: ReturnType<typeof QueueEvent.safeParse> | null = null;
    try {
      parsed = QueueEvent.safeParse(JSON.parse(r.body));
    } catch {
      // not JSON: cannot happen for a parked row (malformed ones are never claimed)
    }
    if (parsed?.success) events.push({ id: r.id, event: parsed.data });
    else results.push({ id: r.id, ok: false, error: "stored body is not a queue event" });
  }
  events.sort((a, b) => (a.event.stream_id < b.event.stream_id ? -1 : a.event.stream_id > b.event.stream_id ? 1 : a.event.seq - b.event.seq));
  // In deliveries of at most REPLAY_SINK_BATCH, one after the other (so a stream's events stay in order).
  for (let from = 0; from < events.length; from += REPLAY_SINK_BATCH) {
    const chunk = events.slice(from, from + REPLAY_SINK_BATCH);
    let outcomes: Outcome[];
    try {
      const r = await sink.deliver(chunk.map((e) => e.event));
      outcomes = r.length === chunk.length ? r : chunk.map(() => `sink ${name} answered ${r.length} outcomes for ${chunk.length} events`);
    } catch (err) {
      outcomes = chunk.map(() => `sink ${name} threw: ${describeError(err)}`);
    }
    chunk.forEach((e, i) => {
      const o = outcomes[i];
      results.push(isStored(o) ? { id: e.id, ok: true } : { id: e.id, ok: false, error: `replay: ${failureReason(o, name)}` });
    });
  }
  return results;
}
