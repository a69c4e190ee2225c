/**
 * The produce dedupe window (README "The bridge": "Duplicates"): records this bridge has written,
 * or is writing, remembered by their bytes, so that a caller's retry of a record Kafka already has
 * is answered with the first write's offset instead of being written again.
 *
 * Why: a produce can succeed after its caller gave up — the worker's Kafka sink timed out (10 s),
 * or the queue consumer crashed after the write, before its ack — and the queue then redelivers
 * the same event. Kafka's idempotent producer dedupes only the retries of one producer session;
 * a new request for the same event is new to it. The chat's records are unique by their bytes
 * (the value holds the stream id, the seq and the event's own time), so identical bytes under the
 * same key on the same topic are the same event. Only requests that ask for it (the header
 * {@link DEDUPE_HEADER}, which the worker's sink sends) are deduped: to a general REST proxy
 * client, two identical records may be two events.
 *
 * States per fingerprint: `pending` (a produce holds it: a retry waits for that produce's outcome
 * instead of writing again) and `written` (answered from memory). A failed produce forgets its
 * records, so a retry writes them. Bounded: the oldest entries go past `maxRecords` (a retry later
 * than that many newer records, or after a bridge restart, can write a duplicate: at least once).
 */
import { createHash } from "node:crypto";

/** Request header that asks the bridge to dedupe this request's records against the window. */
export const DEDUPE_HEADER = "x-kafka-dedupe";
/** The one value {@link DEDUPE_HEADER} takes: dedupe by topic, key and value bytes. */
export const DEDUPE_BY_BYTES = "record-bytes";
/** Default window, records (KAFKA_DEDUPE_WINDOW): ~40 min of the seed load (100 events/s). */
export const DEFAULT_DEDUPE_WINDOW = 250_000;

/** Where a record landed. */
export interface Landed {
  partition: number;
  offset: number;
}

type Entry = { state: "pending"; outcome: Promise<Landed | null> } | { state: "written"; at: Landed };

/** A record's identity: SHA-256 over topic, key and value (a null key or value differs from an empty one). */
export function recordFingerprint(topic: string, key: Uint8Array | null, value: Uint8Array | null): string {
  const h = createHash("sha256");
  h.update(topic);
  h.update(key === null ? "\u0000k-" : "\u0000k+");
  if (key) h.update(key);
  h.update(value === null ? "\u0000v-" : "\u0000v+");
  if (value) h.update(value);
  return h.digest("base64url");
}

/** What the window knows of one record: new (write it), pending (wait for it) or written. */
export type Known = { state: "new" } | { state: "pending"; outcome: Promise<Landed | null> } | { state: "written"; at: Landed };

export class ProducedWindow {
  private readonly entries = new Map<string, Entry>();

  /** @param maxRecords the window's size, records (≥ 1). */
  constructor(readonly maxRecords: number = DEFAULT_DEDUPE_WINDOW) {
    if (!Number.isInteger(maxRecords) || maxRecords < 1) throw new RangeError(`maxRecords must be a positive integer, got ${maxRecords}`);
  }

  get size(): number {
    return this.entries.size;
  }

  lookup(fp: string): Known {
    return this.entries.get(fp) ?? { state: "new" };
  }

  /**
   * Records `fps` as being written by `produce`, which resolves with one Landed per fingerprint in
   * order (or rejects: nothing known to be written, they are forgotten). Returns `produce` itself.
   */
  track<T extends Landed[]>(fps: readonly string[], produce: Promise<T>): Promise<T> {
    const outcome = produce.then(
      (landed) => landed,
      () => null,
    );
    fps.forEach((fp, i) => {
      const mine: Entry = { state: "pending", outcome: outcome.then((l) => l?.[i] ?? null) };
      this.entries.delete(fp); // re-inserted: newest
      this.entries.set(fp, mine);
      void outcome.then((landed) => {
        if (this.entries.get(fp) !== mine) return; // evicted or replaced meanwhile
        if (landed?.[i]) {
          this.entries.delete(fp);
          this.entries.set(fp, { state: "written", at: landed[i]! });
        } else this.entries.delete(fp);
      });
    });
    this.evict();
    return produce;
  }

  private evict(): void {
    while (this.entries.size > this.maxRecords) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
