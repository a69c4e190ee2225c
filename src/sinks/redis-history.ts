/**
 * History sink and reader on Upstash Redis (REST): the stream's comments in their **current
 * state** (DESIGN.md "Room events": edited text, deleted comments gone), at most HISTORY_SIZE.
 *
 * Key layout, per stream:
 *   chat:{stream_id}:history   sorted set; score = the comment's seq, member = JSON {"seq","comment"}
 *                              with edits applied
 *   chat:{stream_id}:changes   hash; comment id → JSON {"seq","deleted"} or {"seq","message","entities",
 *                              "edited_at"}: the newest edit or the deletion seen for that comment
 *
 * The queue may redeliver and reorder. Each batch reads the stream's members and the changes of the
 * comments it touches, plans the writes in memory (planHistory, pure) and applies them in one
 * MULTI/EXEC: a comment arriving after its deletion is not stored; one arriving after its edit is
 * stored edited; an older edit arriving after a newer one is ignored; a redelivery changes nothing.
 * Replies quote their target's current text (an empty excerpt once it is deleted), as in the room.
 * The read-then-write is safe because the chat-history consumer runs one batch at a time
 * (`max_concurrency = 1` in wrangler.toml). The changes hash keeps one small field per edited or
 * deleted comment for the stream's lifetime.
 */
import { Redis } from "@upstash/redis";
import { describeError } from "../errors";
import { HISTORY_SIZE, SeqComment, type Entity, type QueueEvent } from "../protocol";
import { applyEdit } from "../rules/edits";
import { exhaustive } from "../rules/never";
import { excerpt } from "../rules/text";
import type { Outcome, Sink } from "./sink";

export const historyKey = (streamId: string) => `chat:${streamId}:history`;
export const changesKey = (streamId: string) => `chat:${streamId}:changes`;

export interface RedisConfig {
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
}

const clients = new Map<string, Redis>();
export function redisClient(cfg: RedisConfig): Redis | null {
  if (!cfg.UPSTASH_REDIS_REST_URL || !cfg.UPSTASH_REDIS_REST_TOKEN) return null;
  const k = `${cfg.UPSTASH_REDIS_REST_URL}\n${cfg.UPSTASH_REDIS_REST_TOKEN}`;
  let r = clients.get(k);
  if (!r) {
    r = new Redis({
      url: cfg.UPSTASH_REDIS_REST_URL,
      token: cfg.UPSTASH_REDIS_REST_TOKEN,
      // Members are our own JSON strings; parse them with zod instead of trusting the client.
      automaticDeserialization: false,
      // The queue retries with backoff; one quick client-side retry covers a dropped connection.
      retry: { retries: 1, backoff: () => 100 },
      enableTelemetry: false,
    });
    clients.set(k, r);
  }
  return r;
}

/** The newest edit or the deletion seen for a comment (the `changes` hash's values). */
export type Change = { seq: number; deleted: true } | { seq: number; message: string; entities: Entity[]; edited_at: string };

/** The writes one batch makes for one stream. */
export interface HistoryPlan {
  zrem: string[];
  zadd: Array<{ score: number; member: string }>;
  /** comment id → JSON of its Change */
  changes: Record<string, string>;
}

/** The comment ids a batch touches (whose members and changes must be read first). */
export function touchedIds(events: readonly QueueEvent[]): string[] {
  const ids = new Set<string>();
  for (const { frame: f } of events) {
    switch (f.type) {
      case "comment":
        ids.add(f.comment.id);
        if (f.comment.reply_to) ids.add(f.comment.reply_to.id); // its quote follows the target's changes
        break;
      case "comment_edited":
      case "comment_deleted":
        ids.add(f.id);
        break;
      case "moderation":
        for (const id of f.deleted ?? []) ids.add(id);
        break;
      case "pinned":
        break; // the history holds no pin
      default:
        exhaustive(f);
    }
  }
  return [...ids];
}

/**
 * Plans the writes for one stream's events (pure). `members`: the stored members (comment id → its
 * seq and exact member string); `changes`: the stored changes of the touched ids. Any order or
 * repetition of the same events ends in the same history.
 */
export function planHistory(
  events: readonly QueueEvent[],
  members: Map<string, { seq: number; member: string }>,
  changes: Map<string, Change>,
): HistoryPlan {
  const plan: HistoryPlan = { zrem: [], zadd: [], changes: {} };
  const current = new Map(members);
  const known = new Map(changes);
  const remove = (id: string) => {
    const m = current.get(id);
    if (!m) return;
    if (members.get(id)?.member === m.member) plan.zrem.push(m.member);
    else plan.zadd = plan.zadd.filter((z) => z.member !== m.member);
    current.delete(id);
  };
  const put = (sc: SeqComment) => {
    const member = JSON.stringify(sc);
    if (current.get(sc.comment.id)?.member === member) return;
    remove(sc.comment.id);
    plan.zadd.push({ score: sc.seq, member });
    current.set(sc.comment.id, { seq: sc.seq, member });
  };
  /** Records a change unless a newer one (or the deletion) is already known. */
  const record = (id: string, c: Change): boolean => {
    const k = known.get(id);
    if (k && ("deleted" in k || k.seq >= c.seq)) return false;
    known.set(id, c);
    plan.changes[id] = JSON.stringify(c);
    return true;
  };
  /** A reply's quote as the room shows it: the target's newest text, or nothing once it is deleted. */
  const quoted = (comment: SeqComment["comment"]): SeqComment["comment"] => {
    const r = comment.reply_to;
    const c = r && known.get(r.id);
    if (!r || !c) return comment;
    const quote = "deleted" in c ? "" : excerpt(c.message);
    return quote === r.excerpt ? comment : { ...comment, reply_to: { ...r, excerpt: quote } };
  };
  /** Re-quotes the stored replies to `target` after it changed. */
  const requote = (target: string) => {
    for (const [, m] of current) {
      const sc = JSON.parse(m.member) as SeqComment;
      if (sc.comment.reply_to?.id === target) put({ seq: sc.seq, comment: quoted(sc.comment) });
    }
  };
  /** Deletes the comments `ids` (a deletion, or a ban's `deleted`) as of `seq`. */
  const deleteAll = (ids: readonly string[], seq: number) => {
    for (const id of ids) {
      record(id, { seq, deleted: true });
      remove(id);
      requote(id);
    }
  };
  for (const { frame: f } of events) {
    switch (f.type) {
      case "comment": {
        const c = known.get(f.comment.id);
        if (c && "deleted" in c) break;
        put({ seq: f.seq, comment: quoted(c && c.seq > f.seq ? applyEdit(f.comment, c) : f.comment) });
        break;
      }
      case "comment_edited": {
        const change = { seq: f.seq, message: f.message, entities: f.entities, edited_at: f.edited_at };
        if (!record(f.id, change)) break;
        requote(f.id);
        const m = current.get(f.id);
        if (!m) break; // its comment has not arrived yet (or was trimmed): applied when it does
        const sc = JSON.parse(m.member) as SeqComment;
        put({ seq: sc.seq, comment: applyEdit(sc.comment, change) });
        break;
      }
      case "comment_deleted":
        deleteAll([f.id], f.seq);
        break;
      case "moderation":
        deleteAll(f.deleted ?? [], f.seq); // only a ban deletes
        break;
      case "pinned":
        break; // the history holds no pin
      default:
        exhaustive(f);
    }
  }
  return plan;
}

export class RedisHistorySink implements Sink {
  readonly name = "redis-history";
  constructor(private readonly redis: Redis) {}

  /**
   * Applies each stream's events in one MULTI/EXEC (idempotent: planHistory). Outcomes per event:
   * true when its stream's transaction committed, else the error (`describeError` of it).
   */
  async deliver(events: readonly QueueEvent[]): Promise<Outcome[]> {
    const byStream = new Map<string, number[]>();
    events.forEach((e, i) => {
      const list = byStream.get(e.stream_id) ?? [];
      list.push(i);
      byStream.set(e.stream_id, list);
    });
    const out: Outcome[] = events.map(() => false);
    await Promise.all(
      [...byStream].map(async ([streamId, idx]) => {
        try {
          await this.#apply(streamId, idx.map((i) => events[i]!));
          for (const i of idx) out[i] = true;
        } catch (err) {
          const why = describeError(err);
          console.error(`sink redis-history stream=${streamId} events=${idx.length} failed: ${why}`);
          for (const i of idx) out[i] = why;
        }
      }),
    );
    return out;
  }

  /** Reads what the batch touches, plans, and writes it all in one MULTI/EXEC. */
  async #apply(streamId: string, events: readonly QueueEvent[]): Promise<void> {
    const key = historyKey(streamId);
    const ids = touchedIds(events);
    const members = new Map<string, { seq: number; member: string }>();
    const changes = new Map<string, Change>();
    if (ids.length > 0) {
      const read = this.redis.pipeline();
      read.zrange(key, 0, -1);
      read.hmget(changesKey(streamId), ...ids);
      const [raw, found] = (await read.exec()) as [unknown[], Record<string, unknown> | null];
      for (const m of raw) {
        if (typeof m !== "string") continue;
        try {
          const sc = JSON.parse(m) as SeqComment;
          members.set(sc.comment.id, { seq: sc.seq, member: m });
        } catch {
          // not one of ours: left alone
        }
      }
      for (const [id, v] of Object.entries(found ?? {})) if (typeof v === "string") changes.set(id, JSON.parse(v) as Change);
    }
    const plan = planHistory(events, members, changes);
    const tx = this.redis.multi();
    if (plan.zrem.length > 0) tx.zrem(key, ...plan.zrem);
    for (const z of plan.zadd) tx.zadd(key, z);
    if (Object.keys(plan.changes).length > 0) tx.hset(changesKey(streamId), plan.changes);
    tx.zremrangebyrank(key, 0, -(HISTORY_SIZE + 1));
    await tx.exec();
  }
}

/** Newest `limit` comments with seq < `before` (all when absent), oldest first. */
export async function readHistoryFrom(redis: Redis, streamId: string, limit: number, before?: number): Promise<SeqComment[]> {
  const key = historyKey(streamId);
  const max: "+inf" | `(${number}` = before === undefined ? "+inf" : `(${before}`;
  const raw = (await redis.zrange(key, max, "-inf", { byScore: true, rev: true, offset: 0, count: limit })) as unknown[];
  const out: SeqComment[] = [];
  for (const m of raw.reverse()) {
    try {
      const parsed = SeqComment.safeParse(typeof m === "string" ? JSON.parse(m) : m);
      if (parsed.success) out.push(parsed.data);
      else console.warn(`history ${key}: skipping a malformed member`);
    } catch {
      console.warn(`history ${key}: skipping a member that is not JSON`);
    }
  }
  return out;
}
