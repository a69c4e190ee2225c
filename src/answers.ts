/**
 * Answers to a socket's commands. {@link commandAnswer}: the frame a command's result is answered
 * with (ack, error or nothing) and whether it is a strike — one rule for the room's own sockets
 * (src/audience.ts) and a shard's (src/shard.ts).
 *
 * {@link AnswerQueue}: a fan-out shard's answers to its sockets, in the order their commands came: each
 * command takes a slot when it arrives; its answer fills the slot when known (at once for a refusal
 * the shard makes itself, later for one from the room); slots leave from the front only. An ack also
 * waits until the shard has broadcast the seq it acknowledges, so the sender sees its comment first
 * — at most `holdMs` (ACK_HOLD_MS), so a stalled feed never holds answers forever.
 *
 * No Workers APIs beyond a timer; generic over the connection type so it is unit-testable.
 */
import { errorFrame, type CommandError, type ServerFrame } from "./protocol";

/** A command's result as its socket is answered: the room's CommandResult, or a shard's ShardCommandResult. */
export type AnsweredResult = { kind: "ignored" } | CommandError | { kind: "ok"; id?: string; seq?: number } | { kind: "held"; id: string; expires_at: string };

/**
 * The answer to a command with client_msg_id `cmid`: `frame` is its `error` frame (src/protocol.ts
 * errorFrame), its `held` frame (held for review: always sent), its `ack` (only when the command had
 * a client_msg_id; the repeat of one gets the same ack), or "" (nothing to send); `seq` is the broadcast an ack must not overtake (0 = none);
 * `strike` is true for the refusals the fan-out counts as abuse (`message_too_long`, `invalid_text`:
 * src/rules/limits.ts MAX_STRIKES).
 */
export function commandAnswer(r: AnsweredResult, cmid: string | undefined): { frame: string; seq: number; strike: boolean } {
  if (r.kind === "error") return { frame: errorFrame(r, cmid), seq: 0, strike: r.code === "message_too_long" || r.code === "invalid_text" };
  // Held for review: the sender always hears so (with or without a client_msg_id), never which term.
  if (r.kind === "held") {
    const frame: ServerFrame = { type: "held", id: r.id, ...(cmid !== undefined ? { client_msg_id: cmid } : {}), expires_at: r.expires_at };
    return { frame: JSON.stringify(frame), seq: 0, strike: false };
  }
  if (r.kind === "ok" && cmid !== undefined) {
    return { frame: JSON.stringify({ type: "ack", client_msg_id: cmid, id: r.id, seq: r.seq } satisfies ServerFrame), seq: r.seq ?? 0, strike: false };
  }
  return { frame: "", seq: 0, strike: false };
}

/** One command's answer. */
export interface AnswerSlot {
  /** null = not answered yet; "" = nothing to send */
  frame: string | null;
  /** the seq the answer must not overtake (0 = none) */
  seq: number;
  /** when it was filled, ms */
  at: number;
}

export class AnswerQueue<C> {
  private readonly queues = new Map<C, AnswerSlot[]>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  /**
   * `send(conn, frame)` delivers one answer; `open(conn)` says whether a connection can still
   * receive (closed ones are forgotten); `broadcastSeq()` is the last seq the shard has broadcast;
   * `holdMs` (ms) the longest an answer waits for its seq.
   */
  constructor(
    private readonly send: (conn: C, frame: string) => void,
    private readonly open: (conn: C) => boolean,
    private readonly broadcastSeq: () => number,
    private readonly holdMs: number,
  ) {}

  /** True while `conn` has an answer not sent yet (pending or held back). */
  has(conn: C): boolean {
    return this.queues.has(conn);
  }

  /** A new place at the back of `conn`'s queue. */
  slot(conn: C): AnswerSlot {
    const slot: AnswerSlot = { frame: null, seq: 0, at: 0 };
    const q = this.queues.get(conn);
    if (q) q.push(slot);
    else this.queues.set(conn, [slot]);
    return slot;
  }

  /** Gives `slot` its answer (`""`: nothing to send; `seq`: the broadcast it must not overtake) and sends what is due. */
  fill(conn: C, slot: AnswerSlot, frame: string, seq: number, now = Date.now()): void {
    slot.frame = frame;
    slot.seq = seq;
    slot.at = now;
    this.releaseOne(conn, this.broadcastSeq(), now);
    this.arm();
  }

  /** Sends, for every connection, the answers now due (after a broadcast moved the seq on). */
  release(now = Date.now()): void {
    const seq = this.broadcastSeq();
    for (const conn of [...this.queues.keys()]) this.releaseOne(conn, seq, now);
  }

  private releaseOne(conn: C, seq: number, now: number): void {
    const q = this.queues.get(conn);
    if (!q) return;
    while (q.length > 0) {
      const h = q[0]!;
      if (h.frame === null || (h.seq > seq && now - h.at < this.holdMs)) break;
      q.shift();
      if (h.frame) this.send(conn, h.frame);
    }
    if (q.length === 0 || !this.open(conn)) this.queues.delete(conn);
  }

  /** While answers wait, a timer makes sure none waits past holdMs (re-armed while any is left). */
  private arm(): void {
    if (this.queues.size === 0 || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.release();
      this.arm();
    }, this.holdMs / 5);
  }
}
