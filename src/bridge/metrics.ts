/**
 * A small Prometheus registry (text exposition format 0.0.4): counters and histograms with
 * labels, enough for the bridge's /metrics without a client library.
 */

type Labels = Record<string, string>;

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const labelText = (labels: Labels) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
};
const keyOf = (labels: Labels) => JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
const num = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : "-Inf");

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = keyOf(labels);
    const cur = this.values.get(k);
    if (cur) cur.value += by;
    else this.values.set(k, { labels, value: by });
  }
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${num(value)}`);
    return lines.join("\n");
  }
}

export class Gauge implements Metric {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly read: () => number,
  ) {}
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${num(this.read())}`].join("\n");
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly buckets: number[],
  ) {}
  observe(value: number, labels: Labels = {}): void {
    const k = keyOf(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i]! += 1;
    });
    s.sum += value;
    s.count += 1;
  }
  count(labels: Labels = {}): number {
    return this.series.get(keyOf(labels))?.count ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => {
        lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: num(b) })} ${s.counts[i]}`);
      });
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${num(s.sum)}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join("\n");
  }
}

/** Every metric the bridge exports. */
export class BridgeMetrics {
  private readonly all: Metric[] = [];
  private add<M extends Metric>(m: M): M {
    this.all.push(m);
    return m;
  }

  readonly httpRequests = this.add(
    new Counter("bridge_http_requests_total", "HTTP requests (and WebSocket upgrades) by route and status."),
  );
  readonly errors = this.add(new Counter("bridge_errors_total", "Failures by component and kind."));
  readonly produceDuration = this.add(
    new Histogram(
      "bridge_kafka_produce_duration_seconds",
      "Time from a produce request's arrival to Kafka's answer (acks=all), by outcome.",
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    ),
  );
  readonly kafkaRecords = this.add(
    new Counter("bridge_kafka_records_total", "Records sent to Kafka, by result (success | failure)."),
  );
  readonly kafkaSends = this.add(
    new Counter("bridge_kafka_sends_total", "Kafka produce calls (one may carry several HTTP requests), by result."),
  );
  readonly redisCommands = this.add(
    new Counter("bridge_redis_commands_total", "Redis commands relayed, by endpoint and result (ok | error)."),
  );

  register(m: Metric): void {
    this.all.push(m);
  }

  render(): string {
    return this.all.map((m) => m.render()).join("\n") + "\n";
  }
}
