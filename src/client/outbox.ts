/**
 * Messages the app sent that the server has not acknowledged yet.
 *
 * Each entry carries a `client_msg_id`. The room answers a repeated id with the same ack and
 * does not broadcast it twice, so after a reconnect the client simply sends every entry again:
 * a message that did reach the server before the socket died is acked, not duplicated.
 * Bounded, because a viewer who is offline for an hour should get a clear "outbox_full" error
 * instead of an ever-growing queue that floods the room (and its rate limit) on return.
 *
 * Each entry is either *queued* (still to go out on the current connection) or *sent* (on the
 * wire, waiting for its ack). The client takes queued entries oldest first, at the pace of its
 * SendPacer; a new connection queues everything again (`requeueAll`), and a throttle answer from
 * the server (`rate_limited`, `room_busy`) queues that one entry again (`throttled`), up to a
 * bound after which the send is rejected with the server's error.
 */
import type { MessageFrame } from "./types.js";
import { ChatError } from "./errors.js";

export const DEFAULT_OUTBOX_LIMIT = 100;

/** What a successful send resolves to: the server's ack. */
export interface SendResult {
  clientMsgId: string;
  /** The comment id the server assigned. */
  id: string;
  /** The comment's sequence number in the stream. */
  seq: number;
}

export interface OutboxEntry {
  readonly clientMsgId: string;
  readonly text: string;
}

interface Entry extends OutboxEntry {
  /** Still to be sent on the current connection. */
  queued: boolean;
  /** Throttle answers (rate_limited / room_busy) received for it so far. */
  throttled: number;
  readonly promise: Promise<SendResult>;
  resolve(r: SendResult): void;
  reject(e: ChatError): void;
}

export class Outbox {
  // A Map keeps insertion order, so resends go out in the order the user typed them.
  readonly #entries = new Map<string, Entry>();
  readonly limit: number;

  constructor(limit = DEFAULT_OUTBOX_LIMIT) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`outbox limit must be a positive integer, got ${limit}`);
    this.limit = limit;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(clientMsgId: string): boolean {
    return this.#entries.has(clientMsgId);
  }

  /** Unacknowledged messages, oldest first. */
  entries(): OutboxEntry[] {
    return [...this.#entries.values()].map(({ clientMsgId, text }) => ({ clientMsgId, text }));
  }

  /** The frames to (re)send, oldest first. */
  frames(): MessageFrame[] {
    return [...this.#entries.values()].map(frameOf);
  }

  /** The oldest queued message's frame, or null when everything is sent. */
  nextQueued(): MessageFrame | null {
    for (const e of this.#entries.values()) if (e.queued) return frameOf(e);
    return null;
  }

  /** The entry went out on the wire: it waits for its ack now. */
  markSent(clientMsgId: string): void {
    const e = this.#entries.get(clientMsgId);
    if (e) e.queued = false;
  }

  /** A new connection: every waiting message goes out again (the room dedupes by id). */
  requeueAll(): void {
    for (const e of this.#entries.values()) e.queued = true;
  }

  /**
   * The server throttled this entry (rate_limited / room_busy): queue it again. Returns how many
   * throttle answers it has had, or 0 if it was not waiting (answered already, or failed).
   */
  throttled(clientMsgId: string): number {
    const e = this.#entries.get(clientMsgId);
    if (!e) return 0;
    e.queued = true;
    return ++e.throttled;
  }

  /**
   * Adds a message. Adding an id that is already waiting returns the same promise (idempotent).
   * Throws ChatError("outbox_full") when `limit` messages are already waiting.
   */
  add(clientMsgId: string, text: string): Promise<SendResult> {
    const existing = this.#entries.get(clientMsgId);
    if (existing) return existing.promise;
    if (this.#entries.size >= this.limit) {
      throw new ChatError(
        "outbox_full",
        `${this.limit} messages are still waiting to be delivered; wait for the connection to come back before sending more`,
        { clientMsgId },
      );
    }
    let resolve!: (r: SendResult) => void;
    let reject!: (e: ChatError) => void;
    const promise = new Promise<SendResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#entries.set(clientMsgId, { clientMsgId, text, queued: true, throttled: 0, promise, resolve, reject });
    return promise;
  }

  /**
   * Resolves and removes the entry acknowledged by the server. False if it was not waiting.
   * A message's ack always names the comment it created (`id`, `seq`); one without them is
   * rejected as a `protocol_error` rather than resolved with holes.
   */
  ack(ack: { client_msg_id: string; id?: string | undefined; seq?: number | undefined }): boolean {
    const e = this.#entries.get(ack.client_msg_id);
    if (!e) return false;
    this.#entries.delete(ack.client_msg_id);
    if (ack.id === undefined || ack.seq === undefined) {
      e.reject(new ChatError("protocol_error", "The server acknowledged the message without naming the comment", { clientMsgId: ack.client_msg_id }));
    } else {
      e.resolve({ clientMsgId: ack.client_msg_id, id: ack.id, seq: ack.seq });
    }
    return true;
  }

  /** Rejects and removes one entry. False if it was not waiting. */
  fail(clientMsgId: string, error: ChatError): boolean {
    const e = this.#entries.get(clientMsgId);
    if (!e) return false;
    this.#entries.delete(clientMsgId);
    e.reject(error);
    return true;
  }

  /** Rejects and removes every entry (on close). */
  failAll(error: (clientMsgId: string) => ChatError): void {
    const all = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of all) e.reject(error(e.clientMsgId));
  }
}

function frameOf(e: Entry): MessageFrame {
  return { type: "message", text: e.text, client_msg_id: e.clientMsgId };
}
