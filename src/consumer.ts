/**
 * CHAT_EVENTS queue consumer: every event goes to every configured sink (Redis history, Kafka).
 *
 * Per message: acked only when every configured sink stored it; otherwise retried with
 * exponential backoff (message.retry). After the queue's max_retries it lands in the dead letter
 * queue (wrangler.toml). Sinks are idempotent for history (sorted set by seq) and at-least-once
 * for Kafka (consumers dedupe by comment_id). A sink that is not configured is skipped with one
 * log line per isolate; chat keeps working without it.
 */
import { loadConfig, type Config, type Env } from "./env";
import { QueueEvent } from "./protocol";
import { KafkaRestSink } from "./sinks/kafka-rest";
import { RedisHistorySink, redisClient } from "./sinks/redis-history";
import type { Sink } from "./sinks/sink";

/** Retry delay for attempt n (1-based): 2, 4, 8, ... seconds, capped. */
export function retryDelaySeconds(attempts: number, maxDelayS: number): number {
  return Math.min(maxDelayS, 2 ** Math.max(1, Math.min(attempts, 16)));
}

const skipLogged = new Set<string>();
function logSkipOnce(name: string, why: string) {
  if (skipLogged.has(name)) return;
  skipLogged.add(name);
  console.warn(`queue consumer: sink ${name} skipped: ${why}`);
}

export function sinksFor(cfg: Config): Sink[] {
  const sinks: Sink[] = [];
  const redis = redisClient(cfg);
  if (redis) sinks.push(new RedisHistorySink(redis));
  else logSkipOnce("redis-history", "UPSTASH_REDIS_REST_URL/UPSTASH_REDIS_REST_TOKEN not set");
  if (cfg.KAFKA_REST_URL) {
    sinks.push(
      new KafkaRestSink({
        url: cfg.KAFKA_REST_URL,
        topic: cfg.KAFKA_CHAT_TOPIC,
        token: cfg.KAFKA_REST_TOKEN,
        user: cfg.KAFKA_REST_USER,
        password: cfg.KAFKA_REST_PASSWORD,
      }),
    );
  } else logSkipOnce("kafka", "KAFKA_REST_URL not set");
  return sinks;
}

export async function handleQueueBatch(
  batch: MessageBatch<unknown>,
  env: Env,
  _ctx: ExecutionContext,
  sinks?: Sink[],
): Promise<void> {
  const cfg = loadConfig(env);
  const active = sinks ?? sinksFor(cfg);
  const valid: Array<{ msg: Message<unknown>; event: QueueEvent }> = [];
  for (const msg of batch.messages) {
    const parsed = QueueEvent.safeParse(msg.body);
    if (parsed.success) valid.push({ msg, event: parsed.data });
    else {
      // Cannot be stored as it is: let it exhaust its retries into the dead letter queue,
      // where it stays for inspection rather than vanishing.
      console.error(`queue consumer: malformed event id=${msg.id}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
      msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts, cfg.SINK_RETRY_MAX_DELAY_S) });
    }
  }
  // One stream's events in seq order, so each sink writes them in order.
  valid.sort((a, b) => (a.event.stream_id < b.event.stream_id ? -1 : a.event.stream_id > b.event.stream_id ? 1 : a.event.seq - b.event.seq));
  const events = valid.map((v) => v.event);

  const results = await Promise.all(
    active.map(async (sink) => {
      try {
        const r = await sink.deliver(events);
        return r.length === events.length ? r : events.map(() => false);
      } catch (err) {
        console.error(`queue consumer: sink ${sink.name} threw: ${String(err)}`);
        return events.map(() => false);
      }
    }),
  );

  let retried = 0;
  valid.forEach(({ msg }, i) => {
    if (results.every((r) => r[i])) msg.ack();
    else {
      retried++;
      msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts, cfg.SINK_RETRY_MAX_DELAY_S) });
    }
  });
  if (retried > 0) console.warn(`queue consumer: ${retried}/${batch.messages.length} events will be retried`);
}
