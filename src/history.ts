/**
 * History API backend: reads the Redis history written by the queue consumer. Without Redis (the
 * default `npm run dev`) the worker answers from the stream's room instead (ChatRoom.history,
 * src/mirror.ts historyPage); HISTORY_SOURCE_HEADER says which one answered.
 */
import type { Config } from "./env";
import type { SeqComment } from "./protocol";
import { readHistoryFrom, redisClient } from "./sinks/redis-history";

/** Response header of the history API naming what answered: `redis`, or `room` (no Redis configured). */
export const HISTORY_SOURCE_HEADER = "x-history-source";

/** Null when Redis is not configured. */
export async function readHistory(cfg: Config, streamId: string, limit: number, before?: number): Promise<SeqComment[] | null> {
  const redis = redisClient(cfg);
  if (!redis) return null;
  return readHistoryFrom(redis, streamId, limit, before);
}

let fallbackLogged = false;

/** Logs, once per isolate, that the history API answers from the rooms (no Redis configured). */
export function noteRoomFallback(): void {
  if (fallbackLogged) return;
  fallbackLogged = true;
  console.log("history: UPSTASH_REDIS_REST_URL not set, answering the history API from each stream's room (its last 200 comments)");
}
