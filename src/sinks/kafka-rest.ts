/**
 * Kafka sink through a REST proxy speaking the Confluent v2 produce API
 * (the bridge in src/bridge, Confluent REST Proxy, or Redpanda's HTTP proxy).
 *
 *   POST {KAFKA_REST_URL}/topics/{topic}
 *   Content-Type: application/vnd.kafka.json.v2+json
 *   {"records":[{"key":"<stream_id>","value":<ChatEvent>}, ...]}
 *   → {"offsets":[{"partition","offset","error_code","error"}, ...]}   (one per record, in order)
 *
 * The key is the stream id, so one stream's events share a partition and keep their order.
 */
import { toChatEvent, type QueueEvent } from "../protocol";
import type { Sink } from "./sink";

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

  async deliver(events: readonly QueueEvent[]): Promise<boolean[]> {
    if (events.length === 0) return [];
    const url = `${this.cfg.url.replace(/\/+$/, "")}/topics/${encodeURIComponent(this.cfg.topic)}`;
    const headers: Record<string, string> = {
      "content-type": "application/vnd.kafka.json.v2+json",
      accept: "application/vnd.kafka.v2+json, application/json",
    };
    const auth = this.authHeader();
    if (auth) headers.authorization = auth;
    const body = JSON.stringify({ records: events.map((e) => ({ key: e.stream_id, value: toChatEvent(e) })) });
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method: "POST",
        headers,
        body,
        signal: AbortSignal.timeout(this.cfg.timeoutMs ?? 10_000),
      });
    } catch (err) {
      console.error(`sink kafka: request failed: ${String(err)}`);
      return events.map(() => false);
    }
    const text = await res.text();
    if (!res.ok) {
      console.error(`sink kafka: proxy answered ${res.status}: ${text.slice(0, 300)}`);
      return events.map(() => false);
    }
    let parsed: ProduceResponse;
    try {
      parsed = JSON.parse(text) as ProduceResponse;
    } catch {
      console.error(`sink kafka: proxy answered ${res.status} with a body that is not JSON`);
      return events.map(() => false);
    }
    const offsets = parsed.offsets ?? [];
    return events.map((_, i) => {
      const o = offsets[i];
      const ok = !!o && (o.error_code === null || o.error_code === undefined) && !o.error;
      if (o && !ok) console.error(`sink kafka: record ${i} failed: ${o.error_code} ${o.error ?? ""}`);
      return ok;
    });
  }
}
