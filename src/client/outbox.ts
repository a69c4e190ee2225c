/**
 * Commands the app sent that the server has not acknowledged yet: messages, and since issue 10
 * every other command too (edit, delete, pin, moderation), which the room acknowledges and
 * dedupes by `client_msg_id` the same way.
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
import type { Command } from "./types.js";
import { ChatError } from "./errors.js";

export const DEFAULT_OUTBOX_LIMIT = 100;

/** What a successful send() resolves to: the server's ack of the new comment. */
export interface SendResult {
  clientMsgId: string;
  /** The comment id the server assigned. */
  id: string;
  /** The comment's sequence number in the stream. */
  seq: number;
}

/**
 * What any other command resolves to: the server's ack. `id` is the comment acted on (edit,
 * delete, pin); `seq` the first event the command produced — absent when it produced none
 * (`blocked_terms`, which is not broadcast; `unpin` with nothing pinned; `unban` of someone not
 * banned).
 */
export interface ActionResult {
  clientMsgId: string;
  id?: string | undefined;
  seq?: number | undefined;
}

/** A command without its `client_msg_id` (the outbox adds it). */
export type CommandInput = Command extends infer C ? (C extends Command ? Omit<C, "client_msg_id"> : never) : never;

export interface OutboxEntry {
  readonly clientMsgId: string;
  readonly command: CommandInput;
}

/** An entry taken out of the outbox by `detach`, with its promise's settle functions. */
export interface DetachedEntry extends OutboxEntry {
  resolve(r: ActionResult): void;
  reject(e: ChatError): void;
}

interface Entry extends OutboxEntry {
  /** Still to be sent on the current connection. */
  queued: boolean;
  /** Throttle answers (rate_limited / room_busy) received for it so far. */
  throttled: number;
  readonly promise: Promise<ActionResult>;
  resolve(r: ActionResult): void;
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

  /** Unacknowledged commands, oldest first. */
  entries(): OutboxEntry[] {
    return [...this.#entries.values()].map(({ clientMsgId, command }) => ({ clientMsgId, command }));
  }

  /** The frames to (re)send, oldest first. */
  frames(): Command[] {
    return [...this.#entries.values()].map(frameOf);
  }

  /** The oldest queued command's frame, or null when everything is sent. */
  nextQueued(): Command | null {
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
   * Adds a command (a string: a message with that text). Adding an id that is already waiting
   * returns the same promise (idempotent). Throws ChatError("outbox_full") when `limit` commands
   * are already waiting.
   */
  add(clientMsgId: string, commandOrText: CommandInput | string): Promise<ActionResult> {
    const existing = this.#entries.get(clientMsgId);
    if (existing) return existing.promise;
    if (this.#entries.size >= this.limit) {
      throw new ChatError(
        "outbox_full",
        `${this.limit} messages are still waiting to be delivered; wait for the connection to come back before sending more`,
        { clientMsgId },
      );
    }
    let resolve!: (r: ActionResult) => void;
    let reject!: (e: ChatError) => void;
    const promise = new Promise<ActionResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const command: CommandInput = typeof commandOrText === "string" ? { type: "message", text: commandOrText } : commandOrText;
    this.#entries.set(clientMsgId, { clientMsgId, command, queued: true, throttled: 0, promise, resolve, reject });
    return promise;
  }

  /** Resolves and removes the entry acknowledged by the server. False if it was not waiting. */
  ack(ack: { client_msg_id: string; id?: string | undefined; seq?: number | undefined }): boolean {
    const e = this.#entries.get(ack.client_msg_id);
    if (!e) return false;
    this.#entries.delete(ack.client_msg_id);
    const result: ActionResult = { clientMsgId: ack.client_msg_id };
    if (ack.id !== undefined) result.id = ack.id;
    if (ack.seq !== undefined) result.seq = ack.seq;
    e.resolve(result);
    return true;
  }

  /**
   * Takes an entry out of the outbox without settling it, for the caller to settle later: the room
   * held the message for review (issue 18), so it must not be resent, and it no longer counts
   * against `limit`. Null if it was not waiting.
   */
  detach(clientMsgId: string): DetachedEntry | null {
    const e = this.#entries.get(clientMsgId);
    if (!e) return null;
    this.#entries.delete(clientMsgId);
    return { clientMsgId, command: e.command, resolve: e.resolve, reject: e.reject };
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

function frameOf(e: Entry): Command {
  return { ...e.command, client_msg_id: e.clientMsgId } as Command;
}
