/**
 * The soak's pure parts (bench/lib/soak-rules.mjs, bench/lib/soak-svg.mjs; scripts/soak.mjs is
 * the driver): the memory trend test, the exactly-once checks of Redis and Kafka, the verdict,
 * the BENCHMARKS.md section rewrite and the SVG chart.
 */
import { describe, expect, it } from "vitest";
// Plain-JS bench modules without declaration files (the bench runs them with node); vitest loads them.
// @ts-expect-error TS7016: no .d.ts for a .mjs bench module
import { checkKafka, checkKafkaActions, checkRedis, leastSquares, memoryTrend, minuteTable, percentile, replaceSection, SOAK_BEGIN, SOAK_END, verdict } from "../../bench/lib/soak-rules.mjs";
// @ts-expect-error TS7016: no .d.ts for a .mjs bench module
import { lineChart, stackedCharts } from "../../bench/lib/soak-svg.mjs";

const MB = 1048576;

describe("leastSquares / memoryTrend", () => {
  it("finds the slope of a line and of noisy data", () => {
    expect(leastSquares([[0, 1], [1, 3], [2, 5]]).slope).toBeCloseTo(2);
    expect(leastSquares([[0, 1], [1, 3], [2, 5]]).intercept).toBeCloseTo(1);
    const noisy = Array.from({ length: 30 }, (_, i) => [i, 100 + 0.5 * i + (i % 2 ? 3 : -3)] as [number, number]);
    expect(leastSquares(noisy).slope).toBeCloseTo(0.5, 1);
  });
  it("refuses what has no slope", () => {
    expect(() => leastSquares([[1, 2]])).toThrow(/need ≥ 2/);
    expect(() => leastSquares([[1, 2], [1, 3]])).toThrow(/every x is equal/);
  });
  it("judges only the minutes after warm-up: a fast warm-up then flat passes, steady growth fails", () => {
    const warmThenFlat: Array<[number, number]> = [[1, 100 * MB], [2, 180 * MB], [3, 200 * MB], [4, 201 * MB], [5, 200 * MB], [6, 201.5 * MB], [7, 200.5 * MB]];
    const t = memoryTrend(warmThenFlat, { warmupMin: 3, maxSlopeMbPerMin: 1 });
    expect(t.flat).toBe(true);
    expect(t.points).toBe(4);
    const growing: Array<[number, number]> = Array.from({ length: 13 }, (_, i) => [i + 1, (200 + 21 * i) * MB]);
    const g = memoryTrend(growing, { warmupMin: 3, maxSlopeMbPerMin: 1 });
    expect(g.flat).toBe(false);
    expect(g.slope_mb_per_min).toBeCloseTo(21, 5);
  });
  it("does not judge a series too short or missing after warm-up, and skips nulls", () => {
    expect(memoryTrend([[1, MB], [2, MB], [4, MB], [5, MB]], { warmupMin: 3 }).flat).toBeNull();
    const t = memoryTrend([[4, MB], [5, null], [6, MB], [7, MB]], { warmupMin: 3 });
    expect(t).toMatchObject({ points: 3, flat: true, slope_mb_per_min: 0 });
  });
});

describe("percentile", () => {
  it("is nearest-rank and leaves its input alone", () => {
    const v = [5, 1, 4, 2, 3];
    expect(percentile(v, 50)).toBe(3);
    expect(percentile(v, 99)).toBe(5);
    expect(percentile(v, 0)).toBe(1);
    expect(v).toEqual([5, 1, 4, 2, 3]);
    expect(percentile([], 99)).toBeNull();
  });
});

const acked = [
  { id: "a", seq: 1 },
  { id: "b", seq: 2 },
  { id: "c", seq: 3 },
];
const msg = (id: string) => ({ event_type: "stream_chat_message", comment_id: id });

describe("checkKafka", () => {
  it("passes exactly once, names lost, duplicated and unexpected ids", () => {
    expect(checkKafka(acked, [msg("a"), msg("b"), msg("c")])).toMatchObject({ found: 3, lost: [], duplicated: [], unexpected: [] });
    const r = checkKafka(acked, [msg("a"), msg("a"), msg("c"), msg("z"), { event_type: "stream_chat_pinned", comment_id: "b" }]);
    expect(r).toMatchObject({ found: 2, lost: ["b"], duplicated: ["a"], unexpected: ["z"] });
  });
});

describe("checkKafkaActions", () => {
  it("counts each moderation event kind against the acked actions", () => {
    const actions = [
      { kind: "edit", key: "a|new" },
      { kind: "delete", key: "b" },
      { kind: "pin", key: "c" },
      { kind: "timeout", key: "u|10|r1" },
      { kind: "unban", key: "u|unban" },
    ];
    const kafka = [
      { event_type: "stream_chat_message_edited", comment_id: "a", message: "new" },
      { event_type: "stream_chat_message_edited", comment_id: "a", message: "new" },
      { event_type: "stream_chat_pinned", comment_id: "c" },
      { event_type: "stream_chat_moderation", action: "timeout", user_id: "u", seconds: 10, reason: "r1" },
      { event_type: "stream_chat_moderation", action: "unban", user_id: "u" },
    ];
    expect(checkKafkaActions(actions, kafka)).toEqual({
      edit: { acked: 1, found: 1, lost: 0, duplicated: 1 },
      delete: { acked: 1, found: 0, lost: 1, duplicated: 0 },
      pin: { acked: 1, found: 1, lost: 0, duplicated: 0 },
      timeout: { acked: 1, found: 1, lost: 0, duplicated: 0 },
      unban: { acked: 1, found: 1, lost: 0, duplicated: 0 },
    });
  });
});

describe("checkRedis", () => {
  it("finds comments seen in any snapshot at their seq, or deleted", () => {
    const r = checkRedis(acked, [[{ seq: 1, id: "a" }], [{ seq: 1, id: "a" }, { seq: 3, id: "c" }]], ["b"]);
    expect(r).toMatchObject({ found: 3, lost: [], duplicated: [], trimmedBeforeSeen: [] });
  });
  it("a comment missing inside a snapshot's window is lost; outside every window it is a sampling gap", () => {
    const r = checkRedis(acked, [[{ seq: 1, id: "a" }, { seq: 3, id: "c" }]], []);
    expect(r.lost).toEqual(["b"]);
    const more = [...acked, { id: "d", seq: 4 }];
    const gap = checkRedis(more, [[{ seq: 1, id: "a" }, { seq: 2, id: "b" }, { seq: 3, id: "c" }]], []);
    expect(gap.lost).toEqual([]);
    expect(gap.trimmedBeforeSeen).toEqual(["d"]);
  });
  it("flags one id twice in a snapshot, one seq twice, or one id at two seqs", () => {
    expect(checkRedis(acked, [[{ seq: 1, id: "a" }, { seq: 2, id: "a" }, { seq: 3, id: "c" }]], ["b"]).duplicated).toEqual(["a"]);
    expect(checkRedis(acked, [[{ seq: 1, id: "a" }], [{ seq: 5, id: "a" }]], ["b", "c"]).duplicated).toEqual(["a"]);
    expect(checkRedis(acked, [[{ seq: 2, id: "b" }, { seq: 2, id: "c" }]], ["a"]).duplicated).toEqual(["c"]);
  });
});

describe("verdict", () => {
  const clean = { kafka: checkKafka(acked, acked.map((a) => msg(a.id))), redis: checkRedis(acked, [acked], []), delivered_ratio: 1, actions: {} };
  it("passes a clean run, names every failure otherwise", () => {
    expect(verdict({ ...clean, trends: { heap: { flat: true, slope_mb_per_min: 0.1, limit_mb_per_min: 1 } } })).toEqual({ pass: true, reasons: [] });
    const bad = verdict({
      trends: { heap: { flat: false, slope_mb_per_min: 21, limit_mb_per_min: 1 }, short: { flat: null, slope_mb_per_min: null, limit_mb_per_min: 1 } },
      kafka: checkKafka(acked, [msg("a"), msg("a")]),
      redis: checkRedis(acked, [[{ seq: 1, id: "a" }, { seq: 3, id: "c" }]], []),
      delivered_ratio: 0.99,
      actions: { edit: { acked: 2, found: 1, lost: 1, duplicated: 0 } },
    });
    expect(bad.pass).toBe(false);
    expect(bad.reasons).toEqual([
      "heap grows 21 MB/min > 1",
      "2 acked comment(s) missing in Kafka",
      "1 comment(s) more than once in Kafka",
      "1 acked comment(s) missing in Redis",
      "1 edit event(s) missing in Kafka",
      "delivered 99.000 % < 100 %",
    ]);
  });
});

describe("minuteTable / replaceSection", () => {
  it("renders a row per minute with – for missing figures", () => {
    const t = minuteTable([
      { minute: 1, acked: 1200, delivered_ratio: 1, p99_ms: 92.4, room_rss: 372 * MB, room_heap: null, storage: 5 * MB, bridge_rss: 150 * MB, backlog: 0, redis_zcard: 200, kafka_records: 1216 },
    ]);
    expect(t.split("\n")).toHaveLength(3);
    expect(t).toContain("| 1 | 1200 | 100.00 | 92 | 372.0 | – | 5.0 | 150.0 | 0 | 200 | 1216 |");
  });
  it("replaces between the markers, appends when absent, refuses broken markers", () => {
    const doc = `# B\n\nbefore\n${SOAK_BEGIN}\nold\n${SOAK_END}\nafter\n`;
    expect(replaceSection(doc, "new")).toBe(`# B\n\nbefore\n${SOAK_BEGIN}\nnew\n${SOAK_END}\nafter\n`);
    expect(replaceSection("# B\n", "x")).toBe(`# B\n\n${SOAK_BEGIN}\nx\n${SOAK_END}\n`);
    expect(() => replaceSection(`${SOAK_END}\n${SOAK_BEGIN}`, "x")).toThrow(/markers broken/);
    expect(() => replaceSection(`${SOAK_BEGIN} only`, "x")).toThrow(/markers broken/);
  });
});

describe("lineChart / stackedCharts", () => {
  it("draws a polyline per series, breaks lines at nulls, escapes text", () => {
    const svg = lineChart({ title: "a <b>", axes: { x: "minute", y: "MB" }, series: [{ name: "rss & heap", points: [[0, 1], [1, 2], [2, null], [3, 4]] }, { name: "empty", points: [] }] });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain("a &lt;b&gt;");
    expect(svg).toContain("rss &amp; heap");
    expect(svg).not.toContain("NaN");
    const both = stackedCharts([
      { title: "m", axes: { x: "x", y: "y" }, series: [{ name: "s", points: [[0, 1], [1, 1]] }] },
      { title: "p", axes: { x: "x", y: "y" }, series: [{ name: "s", points: [[0, 1]] }] },
    ]);
    expect(both.match(/<g transform/g)).toHaveLength(2);
    expect(both).toContain('height="600"');
  });
});
