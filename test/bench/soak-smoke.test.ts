/**
 * Smoke version of the soak (`npm run soak -- --minutes 30` is the real thing, README "Soak"):
 * 30 s, 20 SDK viewers (4 sending), moderation every 500 ms, through workerd → queues → bridge →
 * the real Redis and Kafka (the suite's broker, KAFKA_BROKERS or 127.0.0.1:9092). Asserts the
 * run's JSON: every acked comment in Kafka and Redis exactly once, every moderation event in Kafka
 * once, every viewer got every comment, the per-minute rows carry the documented fields. The
 * memory trend is not judged in 30 s (warm-up longer than the run), so no timing or memory
 * threshold is asserted here.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../..");
const out = mkdtempSync(path.join(tmpdir(), "soak-smoke-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("soak (smoke: 30 s, 20 viewers)", () => {
  it("loses and duplicates nothing end to end and writes the JSON and the chart", { timeout: 240_000 }, async () => {
    const args = ["tsx", "scripts/soak.mjs", "--minutes", "0.5", "--viewers", "20", "--senders", "4", "--rate", "8", "--mod-per-s", "2"];
    args.push("--report-every-s", "10", "--warmup-min", "1", "--kafka", process.env.KAFKA_BROKERS ?? "127.0.0.1:9092", "--no-benchmarks", "--out", out);
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile("npx", args, { cwd: ROOT, timeout: 230_000, maxBuffer: 10 * 1024 * 1024 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const doc = JSON.parse(readFileSync(path.join(out, "soak.json"), "utf8"));
    expect(doc.schema).toBe("edge-chat-soak/1");
    expect(doc.pass, doc.reasons.join("; ")).toBe(true);
    expect(doc.totals.acked).toBeGreaterThan(50);
    expect(doc.kafka).toMatchObject({ lost: 0, duplicated: 0, found: doc.totals.acked });
    expect(doc.redis).toMatchObject({ lost: 0, duplicated: 0, trimmedBeforeSeen: 0, found: doc.totals.acked });
    expect(doc.totals.delivered).toBe(doc.totals.expected);
    expect(doc.totals.duplicate_deliveries).toBe(0);
    for (const kind of ["edit", "delete", "pin", "timeout", "unban"]) {
      expect(doc.kafka_moderation[kind], kind).toMatchObject({ lost: 0, duplicated: 0 });
      expect(doc.kafka_moderation[kind].acked, kind).toBeGreaterThan(0);
    }
    expect(doc.minutes.length).toBeGreaterThanOrEqual(3);
    for (const row of doc.minutes) {
      expect(row.room_rss).toBeGreaterThan(0);
      expect(row.bridge_rss).toBeGreaterThan(0);
      expect(row.storage).toBeGreaterThan(0);
      expect(row.kafka_records).toBeTypeOf("number");
    }
    expect(doc.minutes.some((m: { room_heap: number | null }) => m.room_heap !== null && m.room_heap > 0)).toBe(true);
    expect(readFileSync(path.join(out, "soak.svg"), "utf8")).toMatch(/^<svg[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
  });
});
