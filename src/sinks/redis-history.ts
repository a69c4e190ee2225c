/**
 * History sink and reader on Upstash Redis (REST).
 *
 * Key layout, one key per stream:
 *   chat:{stream_id}:history   sorted set; score = seq, member = JSON {"seq","comment"}
 * ZADD makes a redelivery a no-op (same member, same score), the score keeps the order by seq
 * whatever order the queue delivers in, and ZREMRANGEBYRANK keeps only the newest HISTORY_SIZE.
 * All commands for a stream run in one MULTI/EXEC, so readers never see more than 200 or a gap
 * introduced by a half-applied batch.
 */
import { Redis } from "@upstash/redis";
import { describeError } from "../errors";
import { HISTORY_SIZE, SeqComment, queueEventToSeqComment, type QueueEvent } from "../protocol";
import type { Sink } from "./sink";

export const historyKey = (streamId: string) => `chat:${streamId}:history`;

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

/** Member for an event: deterministic, so the same event always maps to the same member. */
export function historyMember(e: QueueEvent): string {
  return JSON.stringify(queueEventToSeqComment(e));
}

export class RedisHistorySink implements Sink {
  readonly name = "redis-history";
  constructor(private readonly redis: Redis) {}

  async deliver(events: readonly QueueEvent[]): Promise<boolean[]> {
    const byStream = new Map<string, number[]>();
    events.forEach((e, i) => {
      const list = byStream.get(e.stream_id) ?? [];
      list.push(i);
      byStream.set(e.stream_id, list);
    });
    const ok = events.map(() => false);
    await Promise.all(
      [...byStream].map(async ([streamId, idx]) => {
        const key = historyKey(streamId);
        const tx = this.redis.multi();
        for (const i of idx) {
          const e = events[i]!;
          tx.zadd(key, { score: e.seq, member: historyMember(e) });
        }
        tx.zremrangebyrank(key, 0, -(HISTORY_SIZE + 1));
        try {
          await tx.exec();
          for (const i of idx) ok[i] = true;
        } catch (err) {
          console.error(`sink redis-history stream=${streamId} events=${idx.length} failed: ${describeError(err)}`);
        }
      }),
    );
    return ok;
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
