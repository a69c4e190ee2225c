/**
 * Messages the app sent that the server has not acknowledged yet.
 *
 * Each entry carries a `client_msg_id`. The room answers a repeated id with the same ack and
 * does not broadcast it twice, so after a reconnect the client simply sends every entry again:
 * a message that did reach the server before the socket died is acked, not duplicated.
 * Bounded, because a viewer who is offline for an hour should get a clear "outbox_full" error
 * instead of an ever-growing queue that floods the room (and its rate limit) on return.
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
    return [...this.#entries.values()].map((e) => ({ type: "message", text: e.text, client_msg_id: e.clientMsgId }));
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
    this.#entries.set(clientMsgId, { clientMsgId, text, promise, resolve, reject });
    return promise;
  }

  /** Resolves and removes the entry acknowledged by the server. False if it was not waiting. */
  ack(ack: { client_msg_id: string; id: string; seq: number }): boolean {
    const e = this.#entries.get(ack.client_msg_id);
    if (!e) return false;
    this.#entries.delete(ack.client_msg_id);
    e.resolve({ clientMsgId: ack.client_msg_id, id: ack.id, seq: ack.seq });
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
