/**
 * Kafka sink through a REST proxy speaking the Confluent v2 produce API
 * (the bridge in src/bridge, Confluent REST Proxy, or Redpanda's HTTP proxy).
 *
 *   POST {KAFKA_REST_URL}/topics/{topic}
 *   Content-Type: application/vnd.kafka.binary.v2+json
 *   {"records":[{"key":"<base64 of the stream id>","value":"<base64 of the event's JSON>"}, ...]}
 *   → {"offsets":[{"partition","offset","error_code","error"}, ...]}   (one per record, in order)
 *
 * The binary embedded format, because it is the only v2 format in which the record's bytes are
 * exactly ours on every proxy: the key is the 36 bytes of the stream id (the JSON format would
 * write the 38 bytes `"<uuid>"`, which a Rust/Java consumer keying by stream id never matches),
 * the value exactly the UTF-8 of the event's JSON (DESIGN.md "Events and history"). The key is the
 * stream id, so one stream's events share a partition and keep their order.
 */
import { describeError } from "../errors";
import { toChatEvent, type QueueEvent } from "../protocol";
import type { Outcome, Sink } from "./sink";

/** The bridge's dedupe request header and its value (src/bridge/produced.ts DEDUPE_HEADER; a header other proxies ignore). */
export const KAFKA_DEDUPE_HEADER = "x-kafka-dedupe";
export const KAFKA_DEDUPE_BY_BYTES = "record-bytes";

/** Content type of the v2 produce API's binary embedded format (Confluent REST Proxy, Redpanda, the bridge). */
export const BINARY_PRODUCE_CONTENT_TYPE = "application/vnd.kafka.binary.v2+json";

const utf8 = new TextEncoder();

/** Standard (RFC 4648 §4, padded) base64 of a string's UTF-8 bytes, as the binary format expects. */
export function base64Utf8(text: string): string {
  const bytes = utf8.encode(text);
  let binary = "";
  // Chunks keep String.fromCharCode's argument list small whatever the size.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** One produce record: key = the stream id's bytes, value = the event's JSON bytes, both base64. */
export function kafkaRecord(e: QueueEvent): { key: string; value: string } {
  return { key: base64Utf8(e.stream_id), value: base64Utf8(JSON.stringify(toChatEvent(e))) };
}

export interface KafkaRestConfig {
  url: string;
  topic: string;
  token?: string;
  user?: string;
  password?: string;
  timeoutMs?: number;
}

interface ProduceResponse {
  offsets?: Array<{ partition?: number | null; offset?: number | null; error_code?: number | null; error?: string | null }>;
}

export class KafkaRestSink implements Sink {
  readonly name = "kafka";
  constructor(
    private readonly cfg: KafkaRestConfig,
    private readonly fetchImpl: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  private authHeader(): string | undefined {
    if (this.cfg.token) return `Bearer ${this.cfg.token}`;
    if (this.cfg.user) return `Basic ${btoa(`${this.cfg.user}:${this.cfg.password ?? ""}`)}`;
    return undefined;
  }

  /**
   * Produces the events in one request. Outcomes: true per record the proxy acknowledged; otherwise
   * the reason (`request failed: …`, `proxy answered <status>: …`, `record failed: <code> <error>`).
   * Idempotent through the bridge: it remembers the records it wrote (a window of the last
   * KAFKA_DEDUPE_WINDOW, in its memory) and answers a retried one with the first offset. Through
   * another proxy, or across a bridge restart, a second request for the same event can write a
   * second record: at least once (README "Pipeline guarantees").
   */
  async deliver(events: readonly QueueEvent[]): Promise<Outcome[]> {
    if (events.length === 0) return [];
    const url = `${this.cfg.url.replace(/\/+$/, "")}/topics/${encodeURIComponent(this.cfg.topic)}`;
    const headers: Record<string, string> = {
      "content-type": BINARY_PRODUCE_CONTENT_TYPE,
      accept: "application/vnd.kafka.v2+json, application/json",
      // The bridge answers a record it already wrote with the first write's offset (src/bridge/produced.ts):
      // a retry after a timeout or a crash before the queue's ack writes nothing twice. Other proxies ignore it.
      [KAFKA_DEDUPE_HEADER]: KAFKA_DEDUPE_BY_BYTES,
    };
    const auth = this.authHeader();
    if (auth) headers.authorization = auth;
    const body = JSON.stringify({ records: events.map(kafkaRecord) });
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method: "POST",
        headers,
        body,
        signal: AbortSignal.timeout(this.cfg.timeoutMs ?? 10_000),
      });
    } catch (err) {
      const why = `request failed: ${describeError(err)}`;
      console.error(`sink kafka: ${why}`);
      return events.map(() => why);
    }
    const text = await res.text();
    if (!res.ok) {
      const why = `proxy answered ${res.status}: ${text.slice(0, 300)}`;
      console.error(`sink kafka: ${why}`);
      return events.map(() => why);
    }
    let parsed: ProduceResponse;
    try {
      parsed = JSON.parse(text) as ProduceResponse;
    } catch {
      const why = `proxy answered ${res.status} with a body that is not JSON`;
      console.error(`sink kafka: ${why}`);
      return events.map(() => why);
    }
    const offsets = parsed.offsets ?? [];
    return events.map((_, i): Outcome => {
      const o = offsets[i];
      if (!o) return `proxy answered no offset for record ${i}`;
      if ((o.error_code === null || o.error_code === undefined) && !o.error) return true;
      const why = `record failed: ${o.error_code} ${o.error ?? ""}`.trim();
      console.error(`sink kafka: record ${i} ${why}`);
      return why;
    });
  }
}
