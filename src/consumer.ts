/**
 * Queue consumers: one queue per sink, so each sink advances on its own (issue 8 item 2).
 *
 *   chat-events  (binding CHAT_EVENTS)  → Kafka relay     (KafkaRestSink)
 *   chat-history (binding CHAT_HISTORY) → Redis history   (RedisHistorySink)
 *
 * The room's outbox (src/outbox.ts) sends every event to both queues with a cursor per queue; the
 * worker's queue() handler lands here and picks the sink by `batch.queue`. A message is acked when
 * its queue's sink stored it, otherwise retried with exponential backoff (message.retry), and after
 * that queue's max_retries it lands in the queue's own dead letter queue (wrangler.toml). So a
 * Redis outage retries only chat-history messages (Kafka gets each event once) and a Kafka outage
 * only chat-events messages (Redis is not rewritten).
 *
 * Sinks are idempotent for history (sorted set by seq) and at-least-once for Kafka (readers
 * dedupe by comment_id). A sink that is not configured acks its queue's messages with one log
 * line per isolate; chat keeps working without it. A batch from a queue not listed in
 * QUEUE_SINKS is retried (towards its dead letter queue): a wiring mistake must not drop events.
 *
 * Metrics: each batch handed to a sink writes one Analytics Engine point to CHAT_METRICS (when
 * bound): blobs [sink, queue], doubles [events stored, events retried] (src/metrics.ts). A batch
 * of an unconfigured sink writes none (nothing was delivered); one of an unknown queue writes
 * sink "none" with every message as a failure.
 */
import { loadConfig, type Config, type Env } from "./env";
import { describeError } from "./errors";
import { sinkDataPoint, writePoints } from "./metrics";
import { QueueEvent } from "./protocol";
import { backoffMs } from "./rules/backoff";
import { KafkaRestSink } from "./sinks/kafka-rest";
import { RedisHistorySink, redisClient } from "./sinks/redis-history";
import type { Sink } from "./sinks/sink";

/** Which sink drains which queue (queue names as in wrangler.toml). */
export const QUEUE_SINKS = {
  "chat-events": "kafka",
  "chat-history": "redis-history",
} as const satisfies Record<string, Sink["name"]>;

export type SinkName = (typeof QUEUE_SINKS)[keyof typeof QUEUE_SINKS];

/** The first retry's delay, seconds (then doubling up to SINK_RETRY_MAX_DELAY_S). */
export const SINK_RETRY_MIN_DELAY_S = 2;

/**
 * Retry delay, whole seconds, for a message's `attempts` (Queues counts from 1: the delivery that
 * just failed): 2, 4, 8, … seconds, capped at `maxDelayS` (SINK_RETRY_MAX_DELAY_S, 1 … 43,200).
 * No jitter (src/rules/backoff.ts "none"): a batch's messages retry together anyway, and the
 * README and test/worker/queue.test.ts quote these delays.
 */
export function retryDelaySeconds(attempts: number, maxDelayS: number): number {
  const policy = { minMs: SINK_RETRY_MIN_DELAY_S * 1000, maxMs: maxDelayS * 1000, jitter: "none" } as const;
  return backoffMs(attempts - 1, policy) / 1000;
}

const skipLogged = new Set<string>();
function logSkipOnce(name: string, why: string) {
  if (skipLogged.has(name)) return;
  skipLogged.add(name);
  console.warn(`queue consumer: sink ${name} skipped: ${why}`);
}

/** The configured sink of that name, or null (with one log line) when its variables are not set. */
export function sinkFor(name: SinkName, cfg: Config): Sink | null {
  if (name === "redis-history") {
    const redis = redisClient(cfg);
    if (redis) return new RedisHistorySink(redis);
    logSkipOnce(name, "UPSTASH_REDIS_REST_URL/UPSTASH_REDIS_REST_TOKEN not set");
    return null;
  }
  if (cfg.KAFKA_REST_URL) {
    return new KafkaRestSink({
      url: cfg.KAFKA_REST_URL,
      topic: cfg.KAFKA_CHAT_TOPIC,
      token: cfg.KAFKA_REST_TOKEN,
      user: cfg.KAFKA_REST_USER,
      password: cfg.KAFKA_REST_PASSWORD,
    });
  }
  logSkipOnce(name, "KAFKA_REST_URL not set");
  return null;
}

/**
 * Handles one batch of one queue. `sink` replaces the sink chosen by `batch.queue` (tests):
 * undefined = choose by queue name, null = not configured (ack everything).
 */
export async function handleQueueBatch(
  batch: MessageBatch<unknown>,
  env: Env,
  _ctx: ExecutionContext,
  sink?: Sink | null,
): Promise<void> {
  const cfg = loadConfig(env);
  const retry = (msg: Message<unknown>) => msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts, cfg.SINK_RETRY_MAX_DELAY_S) });

  let target: Sink | null;
  if (sink !== undefined) target = sink;
  else {
    const name = (QUEUE_SINKS as Record<string, SinkName | undefined>)[batch.queue];
    if (!name) {
      console.error(
        `queue consumer: no sink for queue ${JSON.stringify(batch.queue)} (known: ${Object.keys(QUEUE_SINKS).join(", ")}); ` +
          `retrying ${batch.messages.length} messages towards its dead letter queue`,
      );
      batch.messages.forEach(retry);
      writePoints(env.CHAT_METRICS, [sinkDataPoint("none", batch.queue, 0, batch.messages.length)], `queue=${batch.queue}`);
      return;
    }
    target = sinkFor(name, cfg);
  }
  if (!target) {
    for (const msg of batch.messages) msg.ack();
    return;
  }

  const valid: Array<{ msg: Message<unknown>; event: QueueEvent }> = [];
  for (const msg of batch.messages) {
    const parsed = QueueEvent.safeParse(msg.body);
    if (parsed.success) valid.push({ msg, event: parsed.data });
    else {
      // Cannot be stored as it is: let it exhaust its retries into the dead letter queue,
      // where it stays for inspection rather than vanishing.
      console.error(`queue consumer ${batch.queue}: malformed event id=${msg.id}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
      retry(msg);
    }
  }
  // One stream's events in seq order, so the sink writes them in order.
  valid.sort((a, b) => (a.event.stream_id < b.event.stream_id ? -1 : a.event.stream_id > b.event.stream_id ? 1 : a.event.seq - b.event.seq));
  const events = valid.map((v) => v.event);

  let stored: boolean[];
  try {
    const r = events.length > 0 ? await target.deliver(events) : [];
    stored = r.length === events.length ? r : events.map(() => false);
  } catch (err) {
    console.error(`queue consumer ${batch.queue}: sink ${target.name} threw: ${describeError(err)}`);
    stored = events.map(() => false);
  }

  let retried = 0;
  valid.forEach(({ msg }, i) => {
    if (stored[i]) msg.ack();
    else {
      retried++;
      retry(msg);
    }
  });
  // Failures: the sink's refusals and the malformed messages (also retried, towards the dead letter queue).
  const acked = valid.length - retried;
  writePoints(env.CHAT_METRICS, [sinkDataPoint(target.name, batch.queue, acked, batch.messages.length - acked)], `queue=${batch.queue}`);
  if (retried > 0) console.warn(`queue consumer ${batch.queue}: ${retried}/${batch.messages.length} events will be retried (sink ${target.name})`);
}
