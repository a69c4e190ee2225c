// Pure parts of the soak (scripts/soak.mjs, README "Soak"): the memory trend test, the
// exactly-once checks of Redis and Kafka against what the clients were acked, per-minute
// percentiles, the minute table and the BENCHMARKS.md section between markers. No I/O here:
// test/unit/soak.test.ts covers every function.

/** Markers of the section scripts/soak.mjs rewrites in BENCHMARKS.md. */
export const SOAK_BEGIN = "<!-- soak:begin -->";
export const SOAK_END = "<!-- soak:end -->";

/**
 * Default pass limit of the memory trend, MB per minute (least-squares slope over the
 * post-warm-up minutes). 1 MB/min would be 30 MB over the 30-minute run: above the noise of a
 * GC-ed heap sampled once a minute (±2–5 MB), far below the ~21 MB/min growth a leak showed.
 */
export const DEFAULT_MAX_SLOPE_MB_PER_MIN = 1;
/** Default warm-up excluded from the trend, minutes (JIT, caches, the ring and stores filling). */
export const DEFAULT_WARMUP_MIN = 3;

/**
 * Least-squares slope of y over x (units of y per unit of x) and the fit's intercept.
 * Throws on fewer than 2 points or when every x is equal (no slope is defined).
 * @param {Array<[number, number]>} points
 * @returns {{ slope: number, intercept: number, n: number }}
 */
export function leastSquares(points) {
  const pts = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length < 2) throw new Error(`leastSquares: need ≥ 2 finite points, got ${pts.length}`);
  const n = pts.length;
  const mx = pts.reduce((s, [x]) => s + x, 0) / n;
  const my = pts.reduce((s, [, y]) => s + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const [x, y] of pts) {
    sxx += (x - mx) ** 2;
    sxy += (x - mx) * (y - my);
  }
  if (sxx === 0) throw new Error("leastSquares: every x is equal");
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx, n };
}

/**
 * The memory trend test: slope (MB/min) of `series` ([minute, bytes]) over the minutes after
 * `warmupMin`, flat when slope ≤ maxSlopeMbPerMin. Fewer than 3 post-warm-up points: not judged
 * (`flat: null`, with the reason), since two points cannot tell a trend from noise.
 * @param {Array<[number, number | null]>} series minute (from the start), bytes
 * @returns {{ slope_mb_per_min: number | null, points: number, flat: boolean | null, limit_mb_per_min: number, reason?: string }}
 */
export function memoryTrend(series, { warmupMin = DEFAULT_WARMUP_MIN, maxSlopeMbPerMin = DEFAULT_MAX_SLOPE_MB_PER_MIN } = {}) {
  const pts = series.filter(([m, b]) => m > warmupMin && b !== null && Number.isFinite(b)).map(([m, b]) => [m, b / 1048576]);
  if (pts.length < 3) return { slope_mb_per_min: null, points: pts.length, flat: null, limit_mb_per_min: maxSlopeMbPerMin, reason: `${pts.length} point(s) after a ${warmupMin}-min warm-up (need 3)` };
  const { slope } = leastSquares(pts);
  return { slope_mb_per_min: round(slope, 3), points: pts.length, flat: slope <= maxSlopeMbPerMin, limit_mb_per_min: maxSlopeMbPerMin };
}

/**
 * Nearest-rank percentile of `values` (any order; not modified), null for none.
 * @param {number[]} values @param {number} p in [0, 100]
 */
export function percentile(values, p) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1];
}

/**
 * Every acked comment in Kafka exactly once. `acked`: [{id, seq}] the clients got acks for;
 * `kafka`: the stream's records' values (parsed JSON). Counts `stream_chat_message` records by
 * comment_id; also reports records of comments nobody was acked for (`unexpected`).
 * @returns {{ acked: number, found: number, lost: string[], duplicated: string[], unexpected: string[] }}
 */
export function checkKafka(acked, kafka) {
  const counts = new Map();
  for (const v of kafka) if (v?.event_type === "stream_chat_message") counts.set(v.comment_id, (counts.get(v.comment_id) ?? 0) + 1);
  const ackedIds = new Set(acked.map((a) => a.id));
  const lost = [];
  const duplicated = [];
  for (const a of acked) {
    const n = counts.get(a.id) ?? 0;
    if (n === 0) lost.push(a.id);
    else if (n > 1) duplicated.push(a.id);
  }
  const unexpected = [...counts.keys()].filter((id) => !ackedIds.has(id));
  return { acked: acked.length, found: acked.length - lost.length, lost, duplicated, unexpected };
}

/**
 * Counts of the other sequenced events in Kafka against the moderation actions that were acked
 * with a seq: `actions` [{kind: "edit"|"delete"|"pin"|"timeout", key}] where key is what makes the
 * event unique (edit: comment_id + message; delete: comment_id; pin: comment_id + seq; timeout:
 * user_id + seconds + reason; unban: user_id + "|unban"). Returns per kind {acked, found, lost, duplicated} (found counts keys present).
 */
export function checkKafkaActions(actions, kafka) {
  const keyOf = (v) => {
    switch (v?.event_type) {
      case "stream_chat_message_edited":
        return ["edit", `${v.comment_id}|${v.message}`];
      case "stream_chat_message_deleted":
        return ["delete", v.comment_id];
      case "stream_chat_pinned":
        return ["pin", String(v.comment_id)];
      case "stream_chat_moderation":
        if (v.action === "timeout") return ["timeout", `${v.user_id}|${v.seconds}|${v.reason ?? ""}`];
        return v.action === "unban" ? ["unban", `${v.user_id}|unban`] : null;
      default:
        return null;
    }
  };
  const counts = new Map();
  for (const v of kafka) {
    const k = keyOf(v);
    if (k) counts.set(k.join("#"), (counts.get(k.join("#")) ?? 0) + 1);
  }
  const out = {};
  const want = new Map();
  for (const a of actions) want.set(`${a.kind}#${a.key}`, (want.get(`${a.kind}#${a.key}`) ?? 0) + 1);
  for (const [k, n] of want) {
    const kind = k.slice(0, k.indexOf("#"));
    const o = (out[kind] ??= { acked: 0, found: 0, lost: 0, duplicated: 0 });
    const got = counts.get(k) ?? 0;
    o.acked += n;
    o.found += Math.min(got, n);
    if (got < n) o.lost += n - got;
    if (got > n) o.duplicated += got - n;
  }
  return out;
}

/**
 * Every acked comment in Redis once: `samples` are ZRANGE snapshots of `chat:{sid}:history`
 * taken through the run (each [{seq, id}]), `deleted` the comment ids the changes hash records as
 * deleted. A comment is found when some snapshot held it at its acked seq, or when it was deleted
 * (a deletion removes it from the sorted set; the hash keeps the record). Duplicated: a snapshot
 * holding one id twice or one seq twice, or one id seen at two different seqs.
 * `trimmedBeforeSeen`: lost ones older than the newest snapshot's window, i.e. possibly written
 * and trimmed between two snapshots (more than 200 newer comments in one sampling interval) —
 * reported apart, since their absence is not proof of loss.
 * @returns {{ acked: number, found: number, lost: string[], duplicated: string[], trimmedBeforeSeen: string[] }}
 */
export function checkRedis(acked, samples, deleted) {
  const seenAt = new Map();
  const dup = new Set();
  for (const snap of samples) {
    const ids = new Set();
    const seqs = new Set();
    for (const { seq, id } of snap) {
      if (ids.has(id) || seqs.has(seq)) dup.add(id);
      ids.add(id);
      seqs.add(seq);
      const prev = seenAt.get(id);
      if (prev !== undefined && prev !== seq) dup.add(id);
      seenAt.set(id, seq);
    }
  }
  const del = new Set(deleted);
  const lost = [];
  const trimmed = [];
  const spans = samples.filter((s) => s.length).map((s) => [Math.min(...s.map((x) => x.seq)), Math.max(...s.map((x) => x.seq))]);
  for (const a of acked) {
    if (seenAt.get(a.id) === a.seq || del.has(a.id)) continue;
    // Between two snapshots' windows (a gap in coverage) rather than inside one that lacked it?
    const inside = spans.some(([lo, hi]) => a.seq >= lo && a.seq <= hi);
    (inside ? lost : trimmed).push(a.id);
  }
  const duplicated = acked.filter((a) => dup.has(a.id)).map((a) => a.id);
  return { acked: acked.length, found: acked.length - lost.length - trimmed.length, lost, duplicated, trimmedBeforeSeen: trimmed };
}

/**
 * The run's verdict. Passes when every judged memory series is flat (a series not judged — too
 * short a run — does not fail it but is named), nothing was lost or duplicated in Redis or Kafka,
 * and delivery to the viewers was complete. Returns {pass, reasons[]} (reasons name each failure).
 */
export function verdict({ trends, kafka, redis, delivered_ratio, actions }) {
  const reasons = [];
  for (const [name, t] of Object.entries(trends)) {
    if (t.flat === false) reasons.push(`${name} grows ${t.slope_mb_per_min} MB/min > ${t.limit_mb_per_min}`);
  }
  if (kafka.lost.length) reasons.push(`${kafka.lost.length} acked comment(s) missing in Kafka`);
  if (kafka.duplicated.length) reasons.push(`${kafka.duplicated.length} comment(s) more than once in Kafka`);
  if (redis.lost.length) reasons.push(`${redis.lost.length} acked comment(s) missing in Redis`);
  if (redis.trimmedBeforeSeen.length) reasons.push(`${redis.trimmedBeforeSeen.length} acked comment(s) never seen in a Redis snapshot (sampling gap)`);
  if (redis.duplicated.length) reasons.push(`${redis.duplicated.length} comment(s) duplicated in Redis`);
  for (const [kind, a] of Object.entries(actions ?? {})) {
    if (a.lost) reasons.push(`${a.lost} ${kind} event(s) missing in Kafka`);
    if (a.duplicated) reasons.push(`${a.duplicated} ${kind} event(s) duplicated in Kafka`);
  }
  if (delivered_ratio !== null && delivered_ratio < 1) reasons.push(`delivered ${(delivered_ratio * 100).toFixed(3)} % < 100 %`);
  return { pass: reasons.length === 0, reasons };
}

const mb = (b) => (b === null || b === undefined ? "–" : (b / 1048576).toFixed(1));
const fmt = (x, d = 0) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));

/**
 * The per-minute Markdown table. Row fields (null shows as –): minute, acked, delivered_ratio,
 * p99_ms, room_rss, room_heap (JS heap used after GC), storage (bytes of the persisted state),
 * bridge_rss, backlog (max over the sink queues), redis_zcard, kafka_records.
 */
export function minuteTable(rows) {
  const head = "| min | acked | delivered % | p99 ms | workerd RSS MB | JS heap MB (after GC) | DO storage MB | bridge RSS MB | queue backlog | Redis ZCARD | Kafka records |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";
  const body = rows.map(
    (r) =>
      `| ${r.minute} | ${r.acked} | ${r.delivered_ratio === null ? "–" : (r.delivered_ratio * 100).toFixed(2)} | ${fmt(r.p99_ms)} | ${mb(r.room_rss)} | ${mb(r.room_heap)} | ${mb(r.storage)} | ${mb(r.bridge_rss)} | ${fmt(r.backlog)} | ${fmt(r.redis_zcard)} | ${fmt(r.kafka_records)} |`,
  );
  return [head, ...body].join("\n");
}

/**
 * `doc` with the text between SOAK_BEGIN and SOAK_END replaced by `body` (markers kept); appends
 * a new marked section at the end when the markers are absent. Throws when only one is present or
 * they are out of order (a hand edit broke them: nothing is rewritten).
 */
export function replaceSection(doc, body, begin = SOAK_BEGIN, end = SOAK_END) {
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  if (i < 0 && j < 0) return `${doc.replace(/\n*$/, "\n")}\n${begin}\n${body}\n${end}\n`;
  if (i < 0 || j < 0 || j < i) throw new Error(`BENCHMARKS.md: soak markers broken (${begin} at ${i}, ${end} at ${j})`);
  return `${doc.slice(0, i + begin.length)}\n${body}\n${doc.slice(j)}`;
}

function round(x, d) {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}
