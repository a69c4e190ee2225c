/**
 * Turns what the server sends over successive connections into what the app wants: every
 * sequenced frame exactly once, in `seq` order — or an explicit reset when that is impossible.
 *
 * One `seq` counter numbers every sequenced frame of a stream (comments, edits, deletions, pins,
 * moderation: DESIGN.md "Room events"), so the tracker works on anything with a `seq`; the client
 * feeds it RoomEvents, the unit tests plain comments.
 *
 * Per connection the server sends `welcome {seq, epoch}` then `history`, then live frames.
 * Across a reconnect the client asks for `since=<last seq>&epoch=<epoch>`: the room answers
 * `recovered: true` with exactly the frames after `since` (comments and `events`, which the
 * caller merges) when its ring still holds them, otherwise `recovered: false` with the latest
 * comments in their current state. On top of that:
 *
 * - duplicates (a frame seen on the old socket and again in the resumed history) are dropped
 *   by seq;
 * - frames that arrive before the history of their connection are held and merged into it;
 * - a live frame that skips a seq is held back until the missing ones arrive; the client
 *   resyncs (reconnects with `since`) if the hole does not fill in time — see `hasGap`;
 * - `recovered: false` on a reconnect is a reset (the app must drop what it shows and start from
 *   the backlog) unless the stream did not move at all: a backlog of comments cannot tell which
 *   edits, deletions or bans happened in between, even when it reaches back to our last seq.
 *
 * Pure: no sockets, no timers.
 */

/** Anything numbered by the stream's sequence. */
export interface Sequenced {
  readonly seq: number;
}

export interface HistoryOutcome<T extends Sequenced> {
  /**
   * "history": `items` continue what the app already has (or are the first backlog).
   * "reset": the app must discard what it shows; `items` are the new backlog.
   */
  kind: "history" | "reset";
  /** New items, in seq order, none delivered before (within this lineage). */
  items: T[];
  /** The welcome's seq: items at or below it are the history, later ones arrived live. */
  baseline: number;
  /** The server's `recovered` flag, as sent. */
  recovered: boolean;
  /** True when this connection resumed an earlier one (the client sent `since`). */
  resumed: boolean;
}

export interface ResumePoint {
  since: number;
  epoch: string;
}

export const DEFAULT_MAX_PENDING = 1000;

export class SequenceTracker<T extends Sequenced> {
  #epoch: string | null = null;
  /** Highest seq delivered to the app; everything up to it has been delivered or skipped. */
  #last = 0;
  /** Items received but not deliverable yet (before history, or after a hole). */
  readonly #pending = new Map<number, T>();
  #welcome: { epoch: string; seq: number } | null = null;
  #synced = false;
  #resumed = false;
  readonly maxPending: number;

  constructor(maxPending = DEFAULT_MAX_PENDING) {
    this.maxPending = maxPending;
  }

  /** The stream lineage of what the app has, or null before the first history. */
  get epoch(): string | null {
    return this.#epoch;
  }

  /** The last seq delivered to the app (0 before any). */
  get lastSeq(): number {
    return this.#last;
  }

  /** True once the current connection's history has been applied. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Synced, but holding comments behind a hole in the sequence. */
  get hasGap(): boolean {
    return this.#synced && this.#pending.size > 0;
  }

  /** Held items; past `maxPending` the client should resync at once. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** What to put in `?since=&epoch=` for the next connection; null on the very first one. */
  resumePoint(): ResumePoint | null {
    return this.#epoch === null ? null : { since: this.#last, epoch: this.#epoch };
  }

  /**
   * A new connection starts. Items held from the old one are dropped: they all have
   * seq > `lastSeq`, so the resumed history sends them again.
   */
  beginConnection(): void {
    this.#synced = false;
    this.#welcome = null;
    this.#pending.clear();
    this.#resumed = this.#epoch !== null;
  }

  welcome(epoch: string, seq: number): void {
    this.#welcome = { epoch, seq };
  }

  /** The connection's history (a resume: comments and events merged), in any order. */
  history(items: readonly T[], recovered: boolean): HistoryOutcome<T> {
    const top = items.reduce((m, c) => Math.max(m, c.seq), 0);
    // The welcome always comes first; without one, trust the history alone.
    const w = this.#welcome ?? { epoch: this.#epoch ?? "", seq: top };
    const first = this.#epoch === null;
    let kind: HistoryOutcome<T>["kind"] = "history";
    if (!first && !this.#continues(w, recovered)) kind = "reset";
    if (first || kind === "reset") this.#last = 0;
    this.#epoch = w.epoch;

    for (const c of items) if (!this.#pending.has(c.seq)) this.#pending.set(c.seq, c);
    const out: T[] = [];
    // Up to the welcome's seq, the history is all the server has: deliver it as is, holes
    // included (a hole there cannot be filled by anyone). Past it, only contiguous comments.
    for (const seq of [...this.#pending.keys()].sort((a, b) => a - b)) {
      if (seq > w.seq) break;
      const c = this.#pending.get(seq)!;
      this.#pending.delete(seq);
      if (seq <= this.#last) continue;
      out.push(c);
      this.#last = seq;
    }
    this.#last = Math.max(this.#last, w.seq);
    this.#synced = true;
    this.#drain(out);
    return { kind, items: out, baseline: w.seq, recovered, resumed: this.#resumed };
  }

  /** A live frame. Returns the frames now deliverable, in order (often just this one). */
  live(c: T): T[] {
    if (!this.#synced) {
      // Before the history we do not know the baseline (or even the epoch): hold everything.
      this.#pending.set(c.seq, c);
      return [];
    }
    if (c.seq <= this.#last) return [];
    this.#pending.set(c.seq, c);
    const out: T[] = [];
    this.#drain(out);
    return out;
  }

  #drain(out: T[]): void {
    for (;;) {
      const next = this.#pending.get(this.#last + 1);
      if (!next) break;
      this.#pending.delete(next.seq);
      out.push(next);
      this.#last = next.seq;
    }
    // Anything at or below #last left behind is a duplicate.
    for (const seq of this.#pending.keys()) if (seq <= this.#last) this.#pending.delete(seq);
  }

  #continues(w: { epoch: string; seq: number }, recovered: boolean): boolean {
    if (w.epoch !== this.#epoch) return false;
    // Not recovered: only continuous if nothing happened since our last seq.
    return recovered || w.seq === this.#last;
  }
}
