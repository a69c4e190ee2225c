/** History API backend: reads the Redis history written by the queue consumer. */
import type { Config } from "./env";
import type { SeqComment } from "./protocol";
import { readHistoryFrom, redisClient } from "./sinks/redis-history";

/** Null when Redis is not configured. */
export async function readHistory(cfg: Config, streamId: string, limit: number, before?: number): Promise<SeqComment[] | null> {
  const redis = redisClient(cfg);
  if (!redis) return null;
  return readHistoryFrom(redis, streamId, limit, before);
}
