/**
 * The room's delivery to its fan-out shards, with its retries (DESIGN.md "Hot streams and global
 * viewers"): which shards the stream has, how full each is, and the delivery of sequenced entries
 * to each over Durable Object RPC. Used by the room through src/audience.ts ShardedAudience.
 *
 * Delivery is one RPC in flight per shard: entries accepted while one is in flight wait and go
 * together in the next (the batch grows with the load, and a lone message goes at once). Order is
 * seq order per shard. Retry: a failed or timed-out RPC (DELIVERY_TIMEOUT_MS) keeps its entries and
 * is retried with exponential backoff (RETRY_MIN_MS … RETRY_MAX_MS); a shard that cannot apply them
 * (new, evicted, behind) answers `need: "snapshot"` and gets the room's snapshot. A shard that falls
 * more than the ring behind gets a snapshot instead of the entries.
 *
 * The list of shards is kept in the room's SQLite (`shards` table) so a restarted room still feeds
 * them; the counts are in memory, refreshed by every delivery's answer and by the shards' reports.
 */
import { describeError, withTimeout } from "./errors";
import { UNKNOWN_REGION } from "./metrics";
import type { MirrorSnapshot, RingEntry } from "./mirror";
import { HISTORY_SIZE } from "./protocol";
import type { DeliveryAck, Recipients, ShardDelivery, ShardReport } from "./shard-api";
import { backoffMs } from "./rules/backoff";
import { pickShard, shardKey, type ShardLoad } from "./rules/placement";

/** Retry of a failed delivery: RETRY_MIN_MS doubling up to RETRY_MAX_MS, with equal jitter (src/rules/backoff.ts: half the wait fixed, half random), so shards failing together do not retry in the same tick. */
export const RETRY_MIN_MS = 50;
export const RETRY_MAX_MS = 5_000;
/** A shard whose sockets are all gone is dropped from the list after this long without an admission (ms). */
export const IDLE_SHARD_MS = 60_000;
/** A deliver() RPC not answered within this long counts as failed and is retried (ms). */
export const DELIVERY_TIMEOUT_MS = 5_000;
/** How long a starting room waits for one shard's counts (ms). */
export const REFRESH_TIMEOUT_MS = 3_000;
/** How often at most the room pushes a changed viewer count to its shards (ms). */
export const VIEWERS_PUSH_MS = 500;
/** Entries awaiting their last shard's confirmation that the latency sample keeps (the oldest are dropped). */
const MAX_OUTSTANDING = 4 * HISTORY_SIZE;
/** Users whose shard the room remembers (affinity), newest kept. */
const MAX_AFFINITY = 100_000;

/** What a shard's RPC stub offers the room (ChatShard). */
export interface ShardStub {
  deliver(d: ShardDelivery): Promise<DeliveryAck>;
  counts(): Promise<ShardReport>;
  direct(streamId: string, key: string, frame: string, to: Recipients): Promise<number>;
}

interface Link extends ShardReport {
  name: string;
  key: string;
  region: string;
  index: number;
  /** sockets and new users admitted since the last report */
  admitted: number;
  newUsers: number;
  lastAdmitAt: number;
  /** staff sockets admitted since the last report (the report's `staff` then counts them) */
  staffAdmitted: number;
  /** last seq this shard confirmed; −1 unknown */
  acked: number;
  /** entries not sent yet, seq order */
  pending: RingEntry[];
  needSnapshot: boolean;
  inflight: boolean;
  failures: number;
  timer: ReturnType<typeof setTimeout> | null;
  viewersSent: number;
  /** counts heard from the shard at least once (a restarted room knows none until then) */
  known: boolean;
}

/** What the links need from the room. */
export interface LinkHost {
  streamId(): string;
  epoch: string;
  /** The room's seq when it was loaded from storage. */
  loadedSeq: number;
  /** The room's last seq now. */
  seq(): number;
  /** The shard object for a key (CHAT_SHARD.get(idFromName(key))). */
  stub(key: string): ShardStub;
  /** A snapshot taken now (consistent with every entry broadcast after it). */
  snapshot(): MirrorSnapshot;
  /** An entry accepted at `acceptedAt` has reached its last shard at `sentAt` (ms): the fan-out latency. */
  onSent(acceptedAt: number, sentAt: number): void;
}

export class ShardLinks {
  private readonly links = new Map<string, Link>();
  private readonly affinity = new Map<string, string>();
  /** seq → [accepted at, shards still to confirm] */
  private readonly outstanding = new Map<number, [number, number]>();
  private viewersTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly host: LinkHost,
  ) {
    sql.exec("CREATE TABLE IF NOT EXISTS shards (name TEXT PRIMARY KEY, region TEXT NOT NULL, idx INTEGER NOT NULL)");
    for (const row of sql.exec<{ name: string; region: string; idx: number }>("SELECT name, region, idx FROM shards")) {
      // A room starting again assumes its shards broadcast everything it had sequenced (it is
      // evicted only when idle): a shard that lost its own memory meanwhile then sends its sockets
      // exactly what came after. A shard that kept its mirror detects any gap itself.
      this.add(row.name, row.region, row.idx).acked = host.loadedSeq;
    }
  }

  /**
   * Asks every listed shard for its counts (a room starting again knows none: admission and
   * presence would otherwise start from 0). A shard that does not answer within REFRESH_TIMEOUT_MS
   * keeps its count unknown until its next report or delivery.
   */
  async refresh(): Promise<void> {
    const now = Date.now();
    await Promise.allSettled(
      [...this.links.values()].map(async (link) => {
        try {
          const counts = await withTimeout(this.host.stub(link.key).counts(), REFRESH_TIMEOUT_MS, `counts of ${link.key}`);
          if (this.links.get(link.name) === link) this.counted(link, counts, now);
        } catch (err) {
          console.warn(`ChatRoom could not read the counts of shard ${link.key}: ${describeError(err)}`);
        }
      }),
    );
  }

  /** Shards in the list. */
  get size(): number {
    return this.links.size;
  }

  /** Open sockets over every shard (reported, plus admitted since). */
  get sockets(): number {
    let n = 0;
    for (const l of this.links.values()) n += l.sockets + l.admitted;
    return n;
  }

  /** Distinct users, summed over shards (a user on two shards counts twice). */
  get viewers(): number {
    let n = 0;
    for (const l of this.links.values()) n += l.users + l.newUsers;
    return n;
  }

  /** The most unbatched sockets one shard holds: the room's message budget follows it (shards send in parallel). */
  get maxUnbatched(): number {
    let n = 0;
    for (const l of this.links.values()) n = Math.max(n, l.unbatched + l.admitted);
    return n;
  }

  /** Per shard name: sockets, users and sockets per region (src/metrics.ts ShardCount). */
  counts(): Record<string, { sockets: number; users: number; perRegion: Record<string, number> }> {
    const out: Record<string, { sockets: number; users: number; perRegion: Record<string, number> }> = {};
    for (const l of this.links.values()) {
      const perRegion = { ...l.perRegion };
      if (l.admitted > 0) perRegion[l.region] = (perRegion[l.region] ?? 0) + l.admitted;
      out[l.name] = { sockets: l.sockets + l.admitted, users: l.users + l.newUsers, perRegion };
    }
    return out;
  }

  /** The keys of every shard in the list (tests and operators reach the objects with them). */
  keys(): string[] {
    return [...this.links.values()].map((l) => l.key);
  }

  /**
   * Places a new socket of `userId` from `region` (src/rules/placement.ts pickShard) and counts it
   * until the shard reports. Returns the shard's key.
   */
  admit(userId: string, region: string, max: number, slack: number, now: number, staff = false): string {
    const loads: ShardLoad[] = [...this.links.values()].map((l) => ({ name: l.name, region: l.region, index: l.index, sockets: l.sockets + l.admitted }));
    const pick = pickShard(loads, region, max, slack, this.affinity.get(userId));
    let link = this.links.get(pick.name);
    if (!link) {
      link = this.add(pick.name, region, pick.index, true);
      // A new shard's sockets are welcomed at this seq or later: its feed starts here.
      link.acked = this.host.seq();
    }
    link.admitted++;
    if (staff) link.staffAdmitted++;
    link.lastAdmitAt = now;
    if (!this.affinity.has(userId)) link.newUsers++;
    this.affinity.delete(userId);
    this.affinity.set(userId, pick.name);
    if (this.affinity.size > MAX_AFFINITY) this.affinity.delete(this.affinity.keys().next().value!);
    this.pushViewersSoon();
    return link.key;
  }

  /** A shard's report (it sends one when its counts change); an unknown shard of this stream is listed again. */
  report(key: string, r: ShardReport, now: number): void {
    const name = nameOf(key);
    let link = this.links.get(name);
    if (!link) {
      const m = /^([A-Za-z]+)-(\d{1,6})$/.exec(name);
      if (!m || r.sockets === 0) return;
      link = this.add(name, m[1]!, Number(m[2]), true);
      link.lastAdmitAt = now;
    }
    this.counted(link, r, now);
  }

  /** A shard without sockets took a snapshot at `seq`: what its future sockets have seen starts there. */
  startsAt(key: string, seq: number): void {
    const link = this.links.get(nameOf(key));
    if (link && link.key === key && seq > link.acked) {
      link.acked = seq;
      link.pending = link.pending.filter((e) => e.seq > seq);
    }
  }

  /**
   * Sends an unsequenced frame (src/shard-api.ts Recipients) to the shards that may hold its
   * recipients: for staff, those with staff sockets (or not heard from yet) and the shards of
   * `staffUsers` (moderators by a room grant, admitted as viewers: no shard counts them as staff);
   * for users, the shard each was last placed on (every shard when the room does not remember). At
   * most once: a failed RPC is logged, not retried (the recipient gets the state again when it next joins).
   */
  direct(frame: string, to: Recipients, staffUsers: readonly string[] = []): void {
    const targets = new Set<Link>();
    for (const link of this.links.values()) {
      if (to.staff && (!link.known || (link.staff ?? 0) + link.staffAdmitted > 0)) targets.add(link);
    }
    if (to.staff) {
      for (const u of staffUsers) {
        const link = this.links.get(this.affinity.get(u) ?? "");
        if (link) targets.add(link);
      }
    }
    for (const u of to.users ?? []) {
      const name = this.affinity.get(u);
      const link = name !== undefined ? this.links.get(name) : undefined;
      if (link) targets.add(link);
      else for (const l of this.links.values()) targets.add(l);
    }
    const streamId = this.host.streamId();
    for (const link of targets) {
      withTimeout(this.host.stub(link.key).direct(streamId, link.key, frame, to), DELIVERY_TIMEOUT_MS, `direct frame to ${link.key}`).catch((err) =>
        console.warn(`ShardLinks stream=${streamId}: a direct frame to ${link.key} failed: ${describeError(err)}`),
      );
    }
  }

  /** Sends `entries` (accepted at `acceptedAt`, ms) to every shard. */
  broadcast(entries: readonly RingEntry[], acceptedAt: number): void {
    if (this.links.size === 0) {
      for (const _ of entries) this.host.onSent(acceptedAt, acceptedAt);
      return;
    }
    for (const e of entries) this.outstanding.set(e.seq, [acceptedAt, this.links.size]);
    const viewers = this.publishedViewers();
    for (const link of this.links.values()) {
      link.pending.push(...entries);
      // A shard this far behind (a delivery failing or hanging) gets a snapshot instead: bounded memory.
      if (link.pending.length > HISTORY_SIZE) {
        link.pending = [];
        link.needSnapshot = true;
      }
      this.kick(link, viewers);
    }
  }

  // -------------------------------------------------------------------------------------------

  private add(name: string, region: string, index: number, persist = false): Link {
    const link: Link = {
      name,
      key: shardKey(this.host.streamId(), name),
      region: region || UNKNOWN_REGION,
      index,
      sockets: 0,
      users: 0,
      unbatched: 0,
      perRegion: {},
      admitted: 0,
      newUsers: 0,
      lastAdmitAt: 0,
      staffAdmitted: 0,
      acked: -1,
      pending: [],
      needSnapshot: false,
      inflight: false,
      failures: 0,
      timer: null,
      viewersSent: -1,
      known: false,
    };
    this.links.set(name, link);
    if (persist) this.sql.exec("INSERT OR REPLACE INTO shards (name, region, idx) VALUES (?, ?, ?)", name, link.region, index);
    return link;
  }

  private counted(link: Link, r: ShardReport, now: number): void {
    const before = this.viewers;
    link.sockets = r.sockets;
    link.users = r.users;
    link.unbatched = r.unbatched;
    link.perRegion = r.perRegion;
    link.admitted = 0;
    link.newUsers = 0;
    link.staffAdmitted = 0;
    // A shard from before staff counts (mid-deploy) may have staff: it is sent staff frames.
    link.staff = r.staff ?? 1;
    link.known = true;
    if (r.sockets === 0 && now - link.lastAdmitAt > IDLE_SHARD_MS && !link.inflight && link.pending.length === 0) {
      // Nobody left on it and nobody sent there lately: stop feeding it (it is listed again if a socket reports).
      this.links.delete(link.name);
      this.sql.exec("DELETE FROM shards WHERE name = ?", link.name);
      if (link.timer) clearTimeout(link.timer);
    }
    if (this.viewers !== before) this.pushViewersSoon();
  }

  /** Presence: a changed total reaches every shard within VIEWERS_PUSH_MS (each shard's own frame is rate-limited too). */
  private pushViewersSoon(): void {
    if (this.viewersTimer !== null) return;
    this.viewersTimer = setTimeout(() => {
      this.viewersTimer = null;
      const viewers = this.publishedViewers();
      for (const link of this.links.values()) if (viewers !== null && link.viewersSent !== viewers) this.kick(link, viewers);
    }, VIEWERS_PUSH_MS);
  }

  /**
   * The viewer total shards may show: null until every shard's counts are known (a restarted room
   * would say 0). Computed once per broadcast, not once per shard: it walks every link.
   */
  private publishedViewers(): number | null {
    let n = 0;
    for (const l of this.links.values()) {
      if (!l.known && l.admitted === 0) return null;
      n += l.users + l.newUsers;
    }
    return n;
  }

  /** Starts a delivery to `link` (with `published`, see publishedViewers) unless one is in flight or a retry is waiting. */
  private kick(link: Link, published: number | null = this.publishedViewers()): void {
    if (link.inflight || link.timer !== null) return;
    const viewers = published ?? link.viewersSent;
    const snapshotDue = link.needSnapshot || link.pending.length > HISTORY_SIZE;
    if (!snapshotDue && link.pending.length === 0 && link.viewersSent === viewers) return;
    link.inflight = true;
    // A snapshot is taken now: it holds every pending entry (each is already in the room's state).
    const entries = snapshotDue ? [] : link.pending;
    const snapshot = snapshotDue ? this.host.snapshot() : undefined;
    link.pending = [];
    link.needSnapshot = false;
    const delivery: ShardDelivery = {
      stream_id: this.host.streamId(),
      key: link.key,
      epoch: this.host.epoch,
      prev: link.acked,
      entries,
      ...(snapshot ? { snapshot } : {}),
      ...(link.viewersSent !== viewers ? { viewers } : {}),
    };
    withTimeout(this.host.stub(link.key).deliver(delivery), DELIVERY_TIMEOUT_MS, `delivery to ${link.key}`)
      .then(
        (ack) => {
          link.inflight = false;
          link.failures = 0;
          link.viewersSent = viewers;
          const last = snapshot ? snapshot.seq : entries.at(-1)?.seq;
          if (ack.need === "snapshot") {
            link.needSnapshot = true;
          } else if (last !== undefined && last > link.acked) {
            this.confirmed(link.acked, last);
            link.acked = last;
          }
          if (this.links.get(link.name) === link) this.counted(link, ack, Date.now());
          this.kick(link);
        },
        (err: unknown) => {
          link.inflight = false;
          link.failures++;
          console.warn(`ChatRoom delivery to shard ${link.key} failed (attempt ${link.failures}): ${describeError(err)}`);
          // The entries go back in front of what came since; a lost snapshot is taken again.
          link.pending = [...entries, ...link.pending];
          if (snapshot || link.pending.length > HISTORY_SIZE) {
            link.pending = [];
            link.needSnapshot = true;
          }
          const wait = backoffMs(link.failures - 1, { minMs: RETRY_MIN_MS, maxMs: RETRY_MAX_MS, jitter: "equal" });
          link.timer = setTimeout(() => {
            link.timer = null;
            if (this.links.get(link.name) === link) this.kick(link);
          }, wait);
        },
      );
  }

  /**
   * A shard has broadcast the seqs in (from, to]; when it is the last shard an entry waited for, the
   * entry's fan-out latency is recorded. Entries whose shard went away are dropped past MAX_OUTSTANDING.
   */
  private confirmed(from: number, to: number): void {
    const now = Date.now();
    for (const [s, v] of this.outstanding) {
      if (s > to) break;
      if (s <= from) continue;
      if (--v[1] <= 0) {
        this.outstanding.delete(s);
        this.host.onSent(v[0], now);
      }
    }
    while (this.outstanding.size > MAX_OUTSTANDING) this.outstanding.delete(this.outstanding.keys().next().value!);
  }
}

/** A shard's name (`{region}-{n}`) from its key (`{stream_id}/{region}-{n}`, src/rules/placement.ts shardKey). */
function nameOf(key: string): string {
  return key.slice(key.indexOf("/") + 1);
}
