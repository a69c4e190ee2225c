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
 * Dead letters (issue 19 §7; README "Dead letters"): a delivery with attempts > SINK_MAX_RETRIES
 * (= max_retries in wrangler.toml) is a message's last; when it fails, its events are reported to
 * the DeadLetters object (src/dead-letters.ts) with the sink's error and the attempt count
 * (`dying`) before the retry() that sends it to the dead letter queue. The dead letter queues
 * (chat-events-dlq, chat-history-dlq) are consumed here too: each message is parked there
 * (`parked`, keeping that error) and acked; one the full store refuses waits in the dead letter
 * queue (retried every FULL_RETRY_DELAY_S). src/replay.ts hands parked events back to the sinks.
 *
 * Metrics: each batch handed to a sink writes one Analytics Engine point to CHAT_METRICS (when
 * bound): blobs [sink, queue], doubles [events stored, events retried] (src/metrics.ts). A batch
 * of an unconfigured sink writes none (nothing was delivered); one of an unknown queue writes
 * sink "none" with every message as a failure; one of a dead letter queue writes sink
 * "dead-letters", doubles [messages parked (or already known), messages left in the queue].
 */
import { DEAD_LETTER_QUEUES, FULL_RETRY_DELAY_S, QUEUE_SINKS } from "./dead-letter-rules";
import type { ParkOutcome, ParkReport } from "./dead-letter-store";
import { deadLetters } from "./dead-letter-store";
import { loadConfig, type Config, type Env } from "./env";
import { describeError } from "./errors";
import { sinkDataPoint, writePoints } from "./metrics";
import { QueueEvent } from "./protocol";
import { backoffMs } from "./rules/backoff";
import { KafkaRestSink } from "./sinks/kafka-rest";
import { RedisHistorySink, redisClient } from "./sinks/redis-history";
import { failureReason, isStored, type Outcome, type Sink } from "./sinks/sink";
import { InjectedQueueFailure, takeQueueFailure } from "./dev-faults";

// Which sink drains which queue, and which dead letter queue receives which queue's dead messages
// (queue names as in wrangler.toml): in src/dead-letter-rules.ts, where test/unit checks them
// against wrangler.toml.
export { DEAD_LETTER_QUEUES, QUEUE_SINKS };
export type SinkName = (typeof QUEUE_SINKS)[keyof typeof QUEUE_SINKS];

const sinkOfQueue = (queue: string): SinkName | undefined => (QUEUE_SINKS as Record<string, SinkName | undefined>)[queue];
const originOfDeadLetterQueue = (queue: string): keyof typeof QUEUE_SINKS | undefined =>
  (DEAD_LETTER_QUEUES as Record<string, keyof typeof QUEUE_SINKS | undefined>)[queue];

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
 * Handles one batch of one queue: a sink's queue (chat-events, chat-history) or a dead letter queue
 * (chat-events-dlq, chat-history-dlq → handleDeadLetterBatch). `sink` replaces the sink chosen by
 * `batch.queue` (tests): undefined = choose by queue name, null = not configured (ack everything).
 */
export async function handleQueueBatch(
  batch: MessageBatch<unknown>,
  env: Env,
  ctx: ExecutionContext,
  sink?: Sink | null,
): Promise<void> {
  if (originOfDeadLetterQueue(batch.queue)) return handleDeadLetterBatch(batch, env, ctx);
  const cfg = loadConfig(env);
  const retry = (msg: Message<unknown>) => msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts, cfg.SINK_RETRY_MAX_DELAY_S) });

  let target: Sink | null;
  if (sink !== undefined) target = sink;
  else {
    const name = sinkOfQueue(batch.queue);
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

  // Development only (README "Faults"): a failure armed by POST /dev/faults/queue.
  const injected = cfg.DEV_TOKENS ? takeQueueFailure(batch.queue) : null;
  if (injected === "before") throw new InjectedQueueFailure(batch.queue, injected);

  let outcomes: Outcome[];
  try {
    const r = events.length > 0 ? await target.deliver(events) : [];
    if (injected === "after") throw new InjectedQueueFailure(batch.queue, injected);
    outcomes = r.length === events.length ? r : events.map(() => `sink ${target.name} answered ${r.length} outcomes for ${events.length} events`);
  } catch (err) {
    const why = `sink ${target.name} threw: ${describeError(err)}`;
    console.error(`queue consumer ${batch.queue}: ${why}`);
    outcomes = events.map(() => why);
  }

  // A message's last delivery failed: record why before retry() sends it to the dead letter queue.
  const deadSink = sinkOfQueue(batch.queue);
  const last: ParkReport[] = [];
  if (deadSink) {
    valid.forEach(({ msg }, i) => {
      if (isStored(outcomes[i]) || msg.attempts <= cfg.SINK_MAX_RETRIES) return;
      last.push({
        kind: "final_failure",
        sink: deadSink,
        queue: batch.queue,
        messageId: msg.id,
        body: msg.body,
        enqueuedAt: msg.timestamp.getTime(),
        error: failureReason(outcomes[i], target.name),
        attempts: msg.attempts,
      });
    });
  }
  if (last.length > 0) await reportLastFailures(env, batch.queue, last);

  let retried = 0;
  valid.forEach(({ msg }, i) => {
    if (isStored(outcomes[i])) msg.ack();
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

/**
 * Reports the events whose last delivery failed to the dead letter store (`dying`, with the error).
 * Best effort: if the store cannot be reached, the message still goes to the dead letter queue and
 * is parked from there with NO_ERROR_RECORDED.
 */
async function reportLastFailures(env: Env, queue: string, reports: ParkReport[]): Promise<void> {
  try {
    await deadLetters(env).report(reports);
    console.warn(`queue consumer ${queue}: ${reports.length} messages failed their last attempt and go to the dead letter queue (first error: ${reports[0]!.error})`);
  } catch (err) {
    console.error(`queue consumer ${queue}: could not record the last error of ${reports.length} dying messages: ${describeError(err)}`);
  }
}

/**
 * A batch of a dead letter queue (chat-events-dlq, chat-history-dlq): every message is reported
 * `dead` to the DeadLetters object, which parks it (or knows it already: a copy, or an event a
 * replay delivered) — then acked. Messages the full store refuses are retried after
 * FULL_RETRY_DELAY_S, so they wait in the dead letter queue; if the object cannot be reached the
 * whole batch is retried with the sinks' backoff. Never drops a message itself (the dead letter
 * queue's own max_retries and retention still apply: README "Dead letters").
 */
export async function handleDeadLetterBatch(batch: MessageBatch<unknown>, env: Env, _ctx: ExecutionContext): Promise<void> {
  const origin = originOfDeadLetterQueue(batch.queue);
  if (!origin) throw new Error(`handleDeadLetterBatch: ${batch.queue} is not a dead letter queue`);
  const cfg = loadConfig(env);
  const sink = QUEUE_SINKS[origin];
  const reports: ParkReport[] = batch.messages.map((m) => ({
    kind: "dead",
    sink,
    queue: origin,
    messageId: m.id,
    body: m.body,
    enqueuedAt: m.timestamp.getTime(),
  }));
  let outcomes: ParkOutcome[];
  try {
    outcomes = await deadLetters(env).report(reports);
  } catch (err) {
    console.error(`dead letters ${batch.queue}: could not park ${batch.messages.length} messages, retrying: ${describeError(err)}`);
    for (const m of batch.messages) m.retry({ delaySeconds: retryDelaySeconds(m.attempts, cfg.SINK_RETRY_MAX_DELAY_S) });
    writePoints(env.CHAT_METRICS, [sinkDataPoint("dead-letters", batch.queue, 0, batch.messages.length)], `queue=${batch.queue}`);
    return;
  }
  let kept = 0;
  let full = 0;
  batch.messages.forEach((m, i) => {
    if (outcomes[i] === "full") {
      full++;
      m.retry({ delaySeconds: FULL_RETRY_DELAY_S });
    } else {
      kept++;
      m.ack();
    }
  });
  const parked = outcomes.filter((o) => o === "parked").length;
  if (parked > 0) console.warn(`dead letters ${batch.queue}: parked ${parked} ${sink} events (npm run dlq -- list)`);
  if (full > 0) console.error(`dead letters ${batch.queue}: the store is full; ${full} messages wait in the dead letter queue (replay or discard parked ones)`);
  writePoints(env.CHAT_METRICS, [sinkDataPoint("dead-letters", batch.queue, kept, full)], `queue=${batch.queue}`);
}
