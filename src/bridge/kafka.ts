/**
 * Kafka REST proxy: the Confluent v2 produce API on a kafkajs idempotent producer.
 *
 *   POST /topics/{topic}
 *   Content-Type: application/vnd.kafka.binary.v2+json                    (what the worker sends)
 *   {"records":[{"key":"<base64>","value":"<base64>","partition"?:n}, ...]}
 *   Content-Type: application/vnd.kafka.json.v2+json                      (other clients)
 *   {"records":[{"key":<json>,"value":<json>,"partition"?:n}, ...]}
 *   → 200 {"key_schema_id":null,"value_schema_id":null,
 *          "offsets":[{"partition":p,"offset":o,"error_code":null,"error":null}, ...]}
 *
 * Semantics of the binary embedded format (as Confluent REST Proxy and Redpanda): key and value
 * are base64 (RFC 4648 §4, standard alphabet, padding optional) of the record's exact bytes; a
 * string that is not base64 is refused (422) rather than decoded leniently. null is a Kafka null.
 *
 * Semantics of the JSON embedded format (as the Confluent proxy's):
 * - key and value are written as their JSON text: a string key "abc" is the 5 bytes `"abc"`.
 *   Numbers keep the digits they were sent with (lossless-json), so a value is byte-for-byte the
 *   JSON it was given, minus insignificant whitespace. A null value is a Kafka null (tombstone).
 * - a keyed record goes to murmur2(key bytes) % partitions, like Java's default partitioner.
 *
 * Failure policy: a response is 200 only when Kafka acknowledged every record (acks=all).
 * Validation problems answer 4xx before anything is produced. Kafka failures answer 5xx (503
 * when retrying later may help) with each record's error in `offsets`, so the caller retries;
 * the bridge never reports a false success. The opposite can happen (a 5xx for a record that was
 * in fact written, e.g. when the broker dies after appending): delivery is at-least-once, and the
 * chat event carries comment_id for consumers to de-duplicate.
 *
 * Producer discipline: one send in flight at a time; requests that arrive meanwhile are
 * coalesced into the next send (group commit, bounded in bytes). After any failed send the
 * producer is replaced by a new one (new producer id). kafkajs rewinds its sequence numbers when
 * a send fails; with a second send in flight, or a broker that did append the failed batch, a
 * rewound sequence could make the broker drop a later batch as a "duplicate" while reporting
 * success. A single in-flight send and a fresh producer id after a failure rule that out.
 */
import { LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from "lossless-json";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  Kafka,
  Partitioners,
  logLevel as KafkaLogLevel,
  type Admin,
  type LogEntry,
  type PartitionMetadata,
  type Producer,
} from "kafkajs";
import { z } from "zod";
import type { KafkaConfig } from "./config";
import { HttpError, mediaType, readBody, sendJson } from "./http";
import type { Logger } from "./log";
import type { BridgeMetrics } from "./metrics";
import { DEDUPE_BY_BYTES, DEDUPE_HEADER, recordFingerprint, type Landed, type ProducedWindow } from "./produced";

/** The JSON embedded format: key and value are written as their JSON text. */
export const PRODUCE_CONTENT_TYPE = "application/vnd.kafka.json.v2+json";
/** The binary embedded format: key and value are base64 of the exact bytes (what the worker sends). */
export const BINARY_PRODUCE_CONTENT_TYPE = "application/vnd.kafka.binary.v2+json";
const PRODUCE_CONTENT_TYPES = [BINARY_PRODUCE_CONTENT_TYPE, PRODUCE_CONTENT_TYPE] as const;
const RESPONSE_CONTENT_TYPE = "application/vnd.kafka.v2+json";
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const MAX_RECORDS = 10_000;
/** Group commit: a coalesced send stops growing at this many bytes of keys + values. */
const MAX_COALESCED_BYTES = 512 * 1024;
const METADATA_TTL_MS = 30_000;

// Confluent REST Proxy error codes (HTTP status * 100 + sub-code).
const E = {
  TOPIC_NOT_FOUND: 40401,
  PARTITION_NOT_FOUND: 40402,
  INTERNAL_TOPIC: 40301,
  TOO_LARGE: 42201,
  INVALID_PARTITION: 42202,
  KAFKA_ERROR: 50002,
  KAFKA_RETRIABLE: 50003,
  NOT_CONFIGURED: 50301,
} as const;

// ---------------------------------------------------------------------------------------------
// Request body
// ---------------------------------------------------------------------------------------------

/**
 * JSON.parse that keeps each number's original digits where a double would change them
 * (12345678901234567890, 1.10): those become lossless-json's LosslessNumber, which
 * recordBytes() writes back as the digits that were sent. Numbers a double holds exactly stay plain
 * numbers (partitions, counts). Works on every Node version (issue 8: digits must survive).
 */
export function parseJsonPreservingNumbers(text: string): unknown {
  return parseLossless(text, null, (digits) => (String(Number(digits)) === digits ? Number(digits) : new LosslessNumber(digits)));
}

const Present = z.custom<unknown>((v) => v !== undefined, { message: "required (null for a tombstone)" });

/** Standard-alphabet base64, padding optional (Java's Base64 decoder, used by Confluent's proxy, accepts both). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;
const Base64Bytes = z
  .string({ error: "expected a base64 string or null" })
  .regex(BASE64, "expected base64 (RFC 4648 standard alphabet)");

/** The v2 produce body; the embedded format decides what a key and a value may be. */
const produceBody = <K extends z.ZodType, V extends z.ZodType>(key: K, value: V) =>
  z.object({
  records: z
    .array(
      z.object({
        key,
        value,
        partition: z
          .number({ error: "expected a partition number" })
          .int("expected a partition number")
          .min(0, "expected a partition number >= 0")
          .max(2 ** 31 - 1, "expected a partition number")
          .nullable()
          .optional(),
      }),
      { error: "expected an array of records" },
    )
    .min(1, "must contain at least one record")
    .max(MAX_RECORDS, `at most ${MAX_RECORDS} records per request`),
});

const JsonProduceBody = produceBody(z.unknown().optional(), Present);
const BinaryProduceBody = produceBody(Base64Bytes.nullable().optional(), Base64Bytes.nullable());

/** A record's key or value as bytes, per embedded format; null stays a Kafka null. */
function recordBytes(format: "binary" | "json", v: unknown): Buffer | null {
  if (v === undefined || v === null) return null;
  return format === "binary" ? Buffer.from(v as string, "base64") : Buffer.from(stringifyLossless(v) ?? "null", "utf8");
}

/** Topic names Kafka accepts: 1-249 of [a-zA-Z0-9._-], not "." or "..". */
export function isValidTopicName(t: string): boolean {
  return /^[a-zA-Z0-9._-]{1,249}$/.test(t) && t !== "." && t !== "..";
}

export interface OutRecord {
  partition: number;
  key: Buffer | null;
  value: Buffer | null;
}

export interface RecordOffset {
  partition: number;
  offset: number;
}

// ---------------------------------------------------------------------------------------------
// Producer service
// ---------------------------------------------------------------------------------------------

/** What the HTTP route needs from Kafka (narrow, so tests and other backends can stand in). */
export interface KafkaBackend {
  /** Partition metadata of a topic; null when the topic does not exist. */
  partitions(topic: string): Promise<PartitionMetadata[] | null>;
  /**
   * Produces with acks=all; resolves with each record's partition/offset, in order. An abort
   * before the records were handed to Kafka withdraws them (rejects with KafkaUnavailableError,
   * nothing written): an abort while queued, or while the send waits for a broker connection,
   * or an already aborted signal. Once kafkajs has the records an abort changes nothing.
   */
  produce(topic: string, records: OutRecord[], signal?: AbortSignal): Promise<RecordOffset[]>;
  close(): Promise<void>;
}

interface Pending {
  topic: string;
  records: OutRecord[];
  bytes: number;
  signal?: AbortSignal;
  resolve: (r: RecordOffset[]) => void;
  reject: (e: unknown) => void;
}

export class KafkaProducerService implements KafkaBackend {
  private readonly kafka: Kafka;
  private producer: Promise<Producer> | null = null;
  private admin: Promise<Admin> | null = null;
  private readonly metadata = new Map<string, { partitions: PartitionMetadata[]; at: number }>();
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly cfg: KafkaConfig,
    private readonly log: Logger,
    private readonly metrics: BridgeMetrics,
  ) {
    this.kafka = new Kafka({
      clientId: cfg.clientId,
      brokers: cfg.brokers,
      connectionTimeout: 1_000,
      requestTimeout: cfg.requestTimeoutMs,
      // Bounded: during an outage a request must fail (5xx) in seconds, not retry forever.
      retry: { retries: cfg.retries, initialRetryTime: 100, maxRetryTime: 1_000 },
      logLevel: KafkaLogLevel.WARN,
      logCreator: () => (entry: LogEntry) => {
        // kafkajs logs every retry of a failed request; the bridge logs one line per failed
        // produce instead, so kafkajs's own lines go to debug. The warning about bounded retries
        // on an idempotent producer is answered by the producer discipline described above.
        if (entry.log.message.includes("Limiting retries")) return;
        log.debug(`kafkajs ${entry.namespace}: ${entry.log.message}`, {
          broker: entry.log.broker as string | undefined,
          error: entry.log.error as string | undefined,
        });
      },
    });
  }

  async partitions(topic: string): Promise<PartitionMetadata[] | null> {
    const hit = this.metadata.get(topic);
    if (hit && Date.now() - hit.at < METADATA_TTL_MS) return hit.partitions;
    try {
      const admin = await this.connectAdmin();
      const md = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = md.topics.find((t) => t.name === topic)?.partitions ?? [];
      if (partitions.length === 0) return null;
      partitions.sort((a, b) => a.partitionId - b.partitionId);
      this.metadata.set(topic, { partitions, at: Date.now() });
      return partitions;
    } catch (err) {
      if (kafkaErrorType(err) === "UNKNOWN_TOPIC_OR_PARTITION") {
        this.metadata.delete(topic);
        return null;
      }
      this.dropAdmin();
      // Metadata we already had is still the best answer; the send will tell whether Kafka is up.
      if (hit) return hit.partitions;
      throw err;
    }
  }

  produce(topic: string, records: OutRecord[], signal?: AbortSignal): Promise<RecordOffset[]> {
    if (this.closed) return Promise.reject(new KafkaUnavailableError("the bridge is shutting down"));
    if (signal?.aborted) return Promise.reject(new KafkaUnavailableError("gave up before the records were sent"));
    const bytes = records.reduce((n, r) => n + (r.key?.length ?? 0) + (r.value?.length ?? 0), 0);
    return new Promise((resolve, reject) => {
      const entry: Pending = { topic, records, bytes, signal, resolve, reject };
      this.queue.push(entry);
      // Given up before it was sent: take it out, so it is certainly not written later.
      signal?.addEventListener("abort", () => {
        const i = this.queue.indexOf(entry);
        if (i >= 0) {
          this.queue.splice(i, 1);
          reject(new KafkaUnavailableError("gave up before the records were sent"));
        }
      });
      this.kick();
    });
  }

  /** Lets queued and in-flight sends finish, then disconnects. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing;
    const producer = this.producer;
    const admin = this.admin;
    this.producer = null;
    this.admin = null;
    await Promise.allSettled([
      producer?.then((p) => p.disconnect()),
      admin?.then((a) => a.disconnect()),
    ]);
  }

  // -- internals ---------------------------------------------------------------------------

  private kick(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      try {
        while (this.queue.length > 0) {
          // Take as many waiting requests as fit (always at least one).
          let bytes = 0;
          let n = 0;
          while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.bytes <= MAX_COALESCED_BYTES)) {
            bytes += this.queue[n]!.bytes;
            n++;
          }
          await this.send(this.queue.splice(0, n));
        }
      } finally {
        this.flushing = null;
      }
    })();
  }

  private async send(taken: Pending[]): Promise<void> {
    const started = process.hrtime.bigint();
    let batch = taken;
    let recordCount = batch.reduce((n, p) => n + p.records.length, 0);
    try {
      const producer = await this.connectProducer();
      // Connecting can take seconds while a broker is down or starting; a request whose caller
      // gave up meanwhile is withdrawn here, the last moment before Kafka takes it. Sending it
      // anyway wrote a record nobody was told about, and the caller's retry wrote it again.
      batch = this.withdrawAborted(batch);
      recordCount = batch.reduce((n, p) => n + p.records.length, 0);
      if (batch.length === 0) return;
      // Group by topic, keeping each request's records in order.
      const byTopic = new Map<string, { partition: number; key: Buffer | null; value: Buffer | null }[]>();
      for (const p of batch) {
        const list = byTopic.get(p.topic) ?? [];
        for (const r of p.records) list.push({ partition: r.partition, key: r.key, value: r.value });
        byTopic.set(p.topic, list);
      }
      const results = await producer.sendBatch({
        acks: -1,
        timeout: this.cfg.requestTimeoutMs,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      // One result per topic-partition: its first offset. Kafka appends a partition's records
      // in the order they were sent, so record i of that partition is at baseOffset + i.
      const next = new Map<string, bigint>();
      for (const r of results) {
        if (r.errorCode !== 0 || r.baseOffset === undefined) {
          throw new Error(`Kafka answered error code ${r.errorCode} for ${r.topicName}/${r.partition}`);
        }
        next.set(`${r.topicName}\u0000${r.partition}`, BigInt(r.baseOffset));
      }
      const answers = batch.map((p) =>
        p.records.map((r) => {
          const k = `${p.topic}\u0000${r.partition}`;
          const o = next.get(k);
          if (o === undefined) throw new Error(`Kafka gave no offset for ${p.topic}/${r.partition}`);
          next.set(k, o + 1n);
          return { partition: r.partition, offset: Number(o) };
        }),
      );
      this.metrics.kafkaSends.inc({ result: "success" });
      this.metrics.kafkaRecords.inc({ result: "success" }, recordCount);
      this.metrics.produceDuration.observe(Number(process.hrtime.bigint() - started) / 1e9, { outcome: "success" });
      batch.forEach((p, i) => p.resolve(answers[i]!));
    } catch (err) {
      this.metrics.errors.inc({ component: "kafka", kind: "send_failed" });
      this.metrics.kafkaSends.inc({ result: "failure" });
      this.metrics.kafkaRecords.inc({ result: "failure" }, recordCount);
      this.metrics.produceDuration.observe(Number(process.hrtime.bigint() - started) / 1e9, { outcome: "failure" });
      this.log.warn("kafka send failed; producer will be replaced", { records: recordCount, error: describe(err) });
      for (const p of batch) p.reject(err);
      this.dropProducer();
    }
  }

  /** Rejects (and drops) the requests whose signal aborted; returns the others, in order. */
  private withdrawAborted(batch: Pending[]): Pending[] {
    const kept: Pending[] = [];
    for (const p of batch) {
      if (p.signal?.aborted) {
        this.metrics.errors.inc({ component: "kafka", kind: "withdrawn" });
        p.reject(new KafkaUnavailableError("gave up before the records were sent"));
      } else kept.push(p);
    }
    return kept;
  }

  private connectProducer(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      this.producer = producer.connect().then(
        () => producer,
        (err: unknown) => {
          this.producer = null;
          throw err;
        },
      );
    }
    return this.producer;
  }

  private dropProducer(): void {
    const p = this.producer;
    this.producer = null;
    p?.then((x) => x.disconnect()).catch(() => undefined);
  }

  private connectAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      this.admin = admin.connect().then(
        () => admin,
        (err: unknown) => {
          this.admin = null;
          throw err;
        },
      );
    }
    return this.admin;
  }

  private dropAdmin(): void {
    const a = this.admin;
    this.admin = null;
    a?.then((x) => x.disconnect()).catch(() => undefined);
  }
}

export class KafkaUnavailableError extends Error {
  readonly retriable = true;
  constructor(message: string) {
    super(message);
    this.name = "KafkaUnavailableError";
  }
}

/** The kafkajs protocol error type (e.g. UNKNOWN_TOPIC_OR_PARTITION) anywhere in the cause chain. */
function kafkaErrorType(err: unknown): string | undefined {
  for (let e = err as { type?: unknown; cause?: unknown } | undefined, i = 0; e && i < 8; e = e.cause as typeof e, i++) {
    if (typeof e.type === "string") return e.type;
  }
  return undefined;
}

/**
 * 503 (try again) unless Kafka said the records themselves are unacceptable: connection loss,
 * timeouts, leader elections and exhausted retries all pass once the cluster is healthy again.
 */
function isRetriable(err: unknown): boolean {
  const type = kafkaErrorType(err);
  return !(type && NON_RETRIABLE_TYPES.has(type));
}

const NON_RETRIABLE_TYPES = new Set([
  "MESSAGE_TOO_LARGE",
  "RECORD_LIST_TOO_LARGE",
  "INVALID_RECORD",
  "TOPIC_AUTHORIZATION_FAILED",
  "CLUSTER_AUTHORIZATION_FAILED",
  "INVALID_TOPIC_EXCEPTION",
]);

function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: unknown; cause?: unknown } | undefined, i = 0; e && i < 4; e = e.cause as typeof e, i++) {
    if (typeof e.message === "string" && !parts.includes(e.message)) parts.push(e.message);
  }
  return parts.join(": ") || String(err);
}

// ---------------------------------------------------------------------------------------------
// HTTP route
// ---------------------------------------------------------------------------------------------

const kafkaError = (status: number, code: number, message: string, headers: Record<string, string> = {}) =>
  new HttpError(status, { error_code: code, message }, headers);

export interface KafkaRouteDeps {
  backend: KafkaBackend | null;
  log: Logger;
  metrics: BridgeMetrics;
  produceDeadlineMs: number;
  /** The dedupe window for requests sending DEDUPE_HEADER (src/bridge/produced.ts); null = never dedupe. */
  window?: ProducedWindow | null;
}

/** POST /topics/{topic}. Throws HttpError for every expected failure. */
export async function handleProduce(
  req: IncomingMessage,
  res: ServerResponse,
  rawTopic: string,
  deps: KafkaRouteDeps,
): Promise<void> {
  if (req.method !== "POST") {
    throw kafkaError(405, 405, "HTTP 405 Method Not Allowed", { allow: "POST" });
  }
  if (!deps.backend) {
    throw kafkaError(503, E.NOT_CONFIGURED, "Kafka is not configured on this bridge (set KAFKA_BROKERS)");
  }
  let topic: string;
  try {
    topic = decodeURIComponent(rawTopic);
  } catch {
    throw kafkaError(404, E.TOPIC_NOT_FOUND, "Topic not found.");
  }
  if (!isValidTopicName(topic)) {
    throw kafkaError(404, E.TOPIC_NOT_FOUND, `Topic not found: ${JSON.stringify(topic.slice(0, 64))} is not a valid topic name.`);
  }
  if (topic.startsWith("__")) {
    throw kafkaError(403, E.INTERNAL_TOPIC, "Producing to internal topics is not allowed.");
  }
  const type = mediaType(req);
  if (!(PRODUCE_CONTENT_TYPES as readonly string[]).includes(type)) {
    throw kafkaError(
      415,
      415,
      `HTTP 415 Unsupported Media Type: expected Content-Type ${PRODUCE_CONTENT_TYPES.join(" or ")}` +
        (type ? `, got ${type}` : ""),
    );
  }
  const format = type === BINARY_PRODUCE_CONTENT_TYPE ? "binary" : "json";
  const dedupeAsked = req.headers[DEDUPE_HEADER];
  if (dedupeAsked !== undefined && dedupeAsked !== DEDUPE_BY_BYTES) {
    throw kafkaError(400, 400, `${DEDUPE_HEADER}: expected ${JSON.stringify(DEDUPE_BY_BYTES)}, got ${JSON.stringify(String(dedupeAsked).slice(0, 64))}`);
  }
  const window = dedupeAsked === DEDUPE_BY_BYTES ? (deps.window ?? null) : null;
  // The caller gone (its connection closed before an answer, e.g. its own timeout fired): its
  // records are withdrawn if Kafka does not have them yet. It will retry; producing them as well
  // would put the same event in Kafka twice (README "Faults": the withdrawn produce).
  const callerGone = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) callerGone.abort();
  });
  const raw = await readBody(req, MAX_BODY_BYTES, () =>
    kafkaError(413, 413, `Request body larger than ${MAX_BODY_BYTES} bytes.`),
  );

  let json: unknown;
  try {
    json = parseJsonPreservingNumbers(raw.toString("utf8"));
  } catch (err) {
    throw kafkaError(400, 400, `Request body is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = (format === "binary" ? BinaryProduceBody : JsonProduceBody).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.join(".") || "body";
    const code = issue.path.at(-1) === "partition" ? E.INVALID_PARTITION : 422;
    throw kafkaError(422, code, `${path}: ${issue.message}`);
  }

  const started = Date.now();
  let partitions: PartitionMetadata[] | null;
  try {
    partitions = await deps.backend.partitions(topic);
  } catch (err) {
    deps.metrics.errors.inc({ component: "kafka", kind: "metadata_unavailable" });
    deps.log.warn("kafka metadata unavailable", { topic, error: describe(err) });
    throw kafkaError(503, E.KAFKA_RETRIABLE, `Kafka unavailable: ${describe(err)}`, { "retry-after": "1" });
  }
  if (!partitions) throw kafkaError(404, E.TOPIC_NOT_FOUND, "Topic not found.");

  const partitioner = partitionerFor(topic);
  const records: OutRecord[] = [];
  for (const [i, r] of parsed.data.records.entries()) {
    const key = recordBytes(format, r.key);
    const value = recordBytes(format, r.value);
    let partition: number;
    if (r.partition !== undefined && r.partition !== null) {
      if (!partitions.some((p) => p.partitionId === r.partition)) {
        throw kafkaError(404, E.PARTITION_NOT_FOUND, `Partition not found: records.${i}.partition ${r.partition}.`);
      }
      partition = r.partition;
    } else {
      partition = partitioner({ topic, partitionMetadata: partitions, message: { key, value } });
    }
    records.push({ partition, key, value });
  }

  if (callerGone.signal.aborted) {
    deps.log.warn("produce withdrawn: the caller left before it was sent", { topic, records: records.length });
    return;
  }
  let offsets: RecordOffset[];
  let timer: NodeJS.Timeout | undefined;
  const deadline = new AbortController();
  const signal = AbortSignal.any([deadline.signal, callerGone.signal]);
  try {
    offsets = await Promise.race([
      window ? produceOnce({ ...deps, backend: deps.backend }, window, topic, records, signal) : deps.backend.produce(topic, records, signal),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          deadline.abort();
          reject(
            new KafkaUnavailableError(
              `no acknowledgement from Kafka within ${deps.produceDeadlineMs} ms; the records may or may not have been written`,
            ),
          );
        }, deps.produceDeadlineMs);
      }),
    ]);
  } catch (err) {
    const retriable = isRetriable(err);
    const type = kafkaErrorType(err);
    const message = describe(err);
    deps.log.warn("produce failed", { topic, records: records.length, retriable, error: message });
    if (type === "MESSAGE_TOO_LARGE" || type === "RECORD_LIST_TOO_LARGE") {
      throw kafkaError(422, E.TOO_LARGE, "Request includes keys and/or values that are too large.");
    }
    const code = retriable ? E.KAFKA_RETRIABLE : E.KAFKA_ERROR;
    sendJson(
      res,
      retriable ? 503 : 500,
      {
        error_code: code,
        message: `Kafka produce failed: ${message}`,
        key_schema_id: null,
        value_schema_id: null,
        offsets: records.map(() => ({ partition: null, offset: null, error_code: code, error: message })),
      },
      { "content-type": RESPONSE_CONTENT_TYPE, ...(retriable ? { "retry-after": "1" } : {}) },
    );
    return;
  } finally {
    clearTimeout(timer);
  }
  deps.log.debug("produced", { topic, records: records.length, ms: Date.now() - started });
  sendJson(
    res,
    200,
    {
      key_schema_id: null,
      value_schema_id: null,
      offsets: offsets.map((o) => ({ partition: o.partition, offset: o.offset, error_code: null, error: null })),
    },
    { "content-type": RESPONSE_CONTENT_TYPE },
  );
}

/**
 * Produces the records the window does not know (src/bridge/produced.ts): one already written is
 * answered with its first offset, one another request is writing waits for that write (its failure
 * fails this request: the caller retries, and the window no longer holds it). Offsets in request
 * order; a record twice in one request is written once.
 */
async function produceOnce(deps: KafkaRouteDeps & { backend: KafkaBackend }, window: ProducedWindow, topic: string, records: OutRecord[], signal: AbortSignal): Promise<RecordOffset[]> {
  type Slot = { fresh: number } | { wait: Promise<Landed | null> } | { at: Landed };
  const fresh: OutRecord[] = [];
  const freshFps: string[] = [];
  const inRequest = new Map<string, number>();
  const slots: Slot[] = records.map((r) => {
    const fp = recordFingerprint(topic, r.key, r.value);
    const again = inRequest.get(fp);
    if (again !== undefined) return { fresh: again };
    const known = window.lookup(fp);
    if (known.state === "written") return { at: known.at };
    if (known.state === "pending") return { wait: known.outcome };
    inRequest.set(fp, fresh.length);
    freshFps.push(fp);
    fresh.push(r);
    return { fresh: fresh.length - 1 };
  });
  const skipped = records.length - fresh.length;
  if (skipped > 0) {
    deps.metrics.kafkaRecords.inc({ result: "deduplicated" }, skipped);
    deps.log.info("produce deduplicated", { topic, records: records.length, known: skipped });
  }
  const landed = fresh.length ? await window.track(freshFps, deps.backend.produce(topic, fresh, signal)) : [];
  const out: RecordOffset[] = [];
  for (const slot of slots) {
    if ("fresh" in slot) out.push(landed[slot.fresh]!);
    else if ("at" in slot) out.push(slot.at);
    else {
      const at = await slot.wait;
      if (!at) throw new KafkaUnavailableError("another request writing the same record failed; retry");
      out.push(at);
    }
  }
  return out;
}

// One partitioner per topic keeps the round-robin for keyless records going across requests.
const partitioners = new Map<string, ReturnType<typeof Partitioners.DefaultPartitioner>>();
function partitionerFor(topic: string) {
  let p = partitioners.get(topic);
  if (!p) {
    p = Partitioners.DefaultPartitioner();
    partitioners.set(topic, p);
  }
  return p;
}
