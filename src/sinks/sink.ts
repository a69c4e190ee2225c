/**
 * A durable home for chat events. Each queue has exactly one sink (src/consumer.ts QUEUE_SINKS:
 * chat-events → Kafka, chat-history → Redis history); the consumer hands it the batch's valid
 * events and acknowledges a queue message only when that sink stored it, otherwise retries it.
 */
import type { QueueEvent } from "../protocol";

export interface Sink {
  /** Short name for logs and metrics ("redis-history", "kafka"). */
  readonly name: string;
  /**
   * Stores the events (sorted by stream, then seq). Resolves with one flag per event: true when
   * that event is durably stored. Must be idempotent: a redelivered event may arrive again.
   * A rejection means none of them is known to be stored.
   */
  deliver(events: readonly QueueEvent[]): Promise<boolean[]>;
}
