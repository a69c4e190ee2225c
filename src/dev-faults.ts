/**
 * Injected faults for the fault matrix (README "Faults"): development only. The worker's
 * `POST /dev/faults/queue` (404 unless DEV_TOKENS=true) arms a failure of the queue consumer's next
 * batch(es) of one queue; handleQueueBatch takes it. Isolate memory: `wrangler dev` runs the fetch
 * handler and the queue consumer in one isolate, which is where this is meant to work.
 *
 *   when "before": the batch throws before any sink is called (the whole batch is retried);
 *   when "after":  the sinks are called, then the batch throws (retried although it was written:
 *                  the at-least-once case, a crash after the write).
 */

/** When an armed failure strikes, relative to the sink's write. */
export type InjectedWhen = "before" | "after";

/** The queues a failure can be armed for (the two sink queues). */
export const FAULT_QUEUES = ["chat-events", "chat-history"] as const;
export type FaultQueue = (typeof FAULT_QUEUES)[number];

/** Most batches one call may arm (a typo must not break a queue for good). */
export const MAX_ARMED_BATCHES = 10;

const armed = new Map<string, { batches: number; when: InjectedWhen }>();

/** Arms `batches` (1..MAX_ARMED_BATCHES) failures of `queue`'s next batches; replaces an earlier arming. */
export function armQueueFailure(queue: FaultQueue, batches: number, when: InjectedWhen): void {
  armed.set(queue, { batches, when });
}

/** Takes one armed failure of `queue` (null when none is armed). */
export function takeQueueFailure(queue: string): InjectedWhen | null {
  const a = armed.get(queue);
  if (!a) return null;
  if (--a.batches <= 0) armed.delete(queue);
  return a.when;
}

/** Thrown by the queue consumer for an armed failure. */
export class InjectedQueueFailure extends Error {
  constructor(queue: string, when: InjectedWhen) {
    super(`injected queue consumer failure (${queue}, ${when} the sink's write)`);
    this.name = "InjectedQueueFailure";
  }
}
