/**
 * Smoke version of the benchmark harness (`npm run bench` is the real thing, see BENCHMARKS.md):
 * 20 connections against the Node `ws` baseline and our worker + ChatRoom on workerd, asserting
 * that every broadcast reached every receiver and that the run JSON has the documented fields.
 * A benchmark is not a test; this only proves the harness and both targets work end to end.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../..");
const out = mkdtempSync(path.join(tmpdir(), "bench-smoke-"));

function runHarness(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["bench/run.mjs", ...args],
      { cwd: ROOT, timeout: 110_000, maxBuffer: 10 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface StepJson {
  conns: number;
  sent: number;
  expected: number;
  delivered: number;
  delivered_ratio: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number };
  deliveries_per_s: number;
  server_cpu_us_per_delivery: number;
  loadgen_cpu_util: number;
}
interface ResultJson {
  target: string;
  error?: string;
  connect: { open: number; failed: number };
  memory: { rss_at_0_bytes: number; rss_at_n_bytes: number; bytes_per_conn: number };
  steps: StepJson[];
}

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("bench harness (smoke: 20 connections)", () => {
  it("delivers every message to every receiver on the ws baseline and on our worker, and writes the JSON", async () => {
    const r = await runHarness(["--scenario", "smoke", "--targets", "ws,ours", "--reps", "1", "--no-pin", "--out", out]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);

    const doc = JSON.parse(readFileSync(path.join(out, "smoke.json"), "utf8")) as {
      schema: string;
      machine: { cpu_model: string };
      config: { conns: number };
      results: ResultJson[];
    };
    expect(doc.schema).toBe("edge-chat-bench/1");
    expect(doc.machine.cpu_model).toBeTypeOf("string");
    expect(doc.results.map((x) => x.target).sort()).toEqual(["ours", "ws"]);

    for (const res of doc.results) {
      expect(res.error, `${res.target}: ${res.error}`).toBeUndefined();
      expect(res.connect.open).toBe(20);
      expect(res.memory.rss_at_n_bytes).toBeGreaterThan(0);
      expect(res.memory.bytes_per_conn).toBeTypeOf("number");
      const s = res.steps[0]!;
      expect(s.sent).toBeGreaterThan(0);
      expect(s.expected).toBe(s.sent * 20);
      expect(s.delivered, res.target).toBe(s.expected);
      for (const k of ["p50", "p90", "p99", "max"] as const) expect(s.latency_ms[k]).toBeGreaterThan(0);
      expect(s.latency_ms.p50).toBeLessThanOrEqual(s.latency_ms.p99);
      expect(s.deliveries_per_s).toBeGreaterThan(0);
      expect(s.server_cpu_us_per_delivery).toBeTypeOf("number");
      expect(s.loadgen_cpu_util).toBeTypeOf("number");
    }

    const summary = JSON.parse(readFileSync(path.join(out, "summary.json"), "utf8")) as {
      smoke: { targets: Record<string, { ratio_vs_ws: Record<string, number | null> }> };
    };
    expect(summary.smoke.targets.ours!.ratio_vs_ws.delivered_ratio).toBe(1);
    expect(readFileSync(path.join(out, "smoke.svg"), "utf8")).toContain("<svg");
  }, 120_000);
});
