/**
 * A durable home for chat events. Each queue has exactly one sink (QUEUE_SINKS in src/dead-letter-rules.ts:
 * chat-events → Kafka, chat-history → Redis history); the consumer hands it the batch's valid
 * events and acknowledges a queue message only when that sink stored it, otherwise retries it.
 * A replay of parked dead letters (src/replay.ts) hands them to the same sinks the same way.
 */
import type { QueueEvent } from "../protocol";

/**
 * One event's outcome: `true` = durably stored; `false` or a string = not stored, the string saying
 * why (one line, for the dead letter store and the logs: `proxy answered 503: …`).
 */
export type Outcome = boolean | string;

/** Whether an outcome means stored. */
export const isStored = (o: Outcome | undefined): boolean => o === true;

/** The reason of a failed outcome, for the dead letter store. */
export function failureReason(o: Outcome | undefined, sink: string): string {
  return typeof o === "string" && o !== "" ? o : `sink ${sink} did not store it (no reason given)`;
}

export interface Sink {
  /** Short name for logs and metrics ("redis-history", "kafka"). */
  readonly name: string;
  /**
   * Stores the events (sorted by stream, then seq). Resolves with one outcome per event: true when
   * that event is durably stored, otherwise false or the reason. Must be idempotent: a redelivered
   * or replayed event may arrive again. A rejection means none of them is known to be stored.
   */
  deliver(events: readonly QueueEvent[]): Promise<Outcome[]>;
}
