// `npm run fuzz -- [--count 10000] [--seed 19] [--shards 3,0]`: the frame fuzzer (issue 19 §5) at
// full size. Runs the workerd suite test/worker/fuzz.test.ts once per SHARD_MAX_SOCKETS value
// (default: 3 = sockets on fan-out shards, then 0 = on the room) with FUZZ_COUNT / FUZZ_SEED, keeps
// vitest's output in test-artifacts/fuzz-<shards>.log, and prints each run's summary: frames sent,
// answers by code, acks, closes, reopens, what the reference run replayed, problems and divergences.
// Exits non-zero when any run failed. CI runs the same file with the suite's small default count.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "../bench/lib/args.mjs";

const { opt, num } = parseArgs();
const count = num("count", 10_000);
const seed = num("seed", 19);
const shards = String(opt("shards", "3,0")).split(",").map((s) => s.trim());
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed)) {
  console.error("usage: npm run fuzz -- [--count N] [--seed S] [--shards 3,0]");
  process.exit(2);
}
mkdirSync("test-artifacts", { recursive: true });

/** Runs vitest on the fuzz suite with SHARD_MAX_SOCKETS = `sharding`; resolves with its exit code, output and wall time. */
function run(sharding) {
  return new Promise((resolve) => {
    const started = Date.now();
    const env = { ...process.env, FUZZ_COUNT: String(count), FUZZ_SEED: String(seed), SHARD_MAX_SOCKETS: sharding };
    const child = spawn("npx", ["vitest", "run", "-c", "vitest.config.ts", "test/worker/fuzz.test.ts"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    for (const stream of [child.stdout, child.stderr]) stream.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ code: code ?? 1, out, ms: Date.now() - started }));
  });
}

// eslint-disable-next-line no-control-regex
const plain = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");
let failed = 0;
for (const sharding of shards) {
  console.log(`==> fuzz: ${count} frames, seed ${seed}, SHARD_MAX_SOCKETS=${sharding}`);
  const { code, out, ms } = await run(sharding);
  const text = plain(out);
  writeFileSync(`test-artifacts/fuzz-${sharding}.log`, text);
  const line = text.split("\n").find((l) => l.includes("FUZZ_SUMMARY "));
  if (line) {
    const s = JSON.parse(line.slice(line.indexOf("FUZZ_SUMMARY ") + "FUZZ_SUMMARY ".length));
    const answers = Object.entries(s.answers).sort((a, b) => b[1] - a[1]);
    console.log(`mode ${s.mode}: ${s.socketFrames} socket frames + ${s.httpRequests} HTTP actions in ${(s.ms / 1000).toFixed(1)} s (fuzzed run ${(s.fuzz_ms / 1000).toFixed(1)} s; vitest ${(ms / 1000).toFixed(1)} s)`);
    console.log(`  steps: ${Object.entries(s.origins).map(([k, v]) => `${v} ${k}`).join(", ")}`);
    console.log(`  answers: ${answers.map(([k, v]) => `${k} ${v}`).join(", ")}`);
    console.log(`  HTTP: ${Object.entries(s.httpStatus).map(([k, v]) => `${k} ×${v}`).join(", ")}`);
    console.log(`  closes: ${Object.entries(s.closes).map(([k, v]) => `${k} ×${v}`).join(", ") || "none"}; reopened ${s.reopens}`);
    console.log(`  events ${s.events}; reference replayed ${s.replayed} valid commands (not replayed: ${s.not_replayed.schema_invalid} schema-invalid, ${s.not_replayed.refused_by_limits} refused by a rate limit)`);
    console.log(`  problems ${s.problems}, divergences ${s.divergences}`);
  } else {
    console.log("  no summary (the suite failed before it): see the log");
  }
  console.log(`  ${code === 0 ? "passed" : "FAILED"} (log: test-artifacts/fuzz-${sharding}.log)`);
  if (code !== 0) {
    failed++;
    // The first assertion failure, so a finding is visible without opening the log.
    const at = text.search(/AssertionError|Error:/);
    if (at >= 0) console.log(text.slice(at, at + 3_000));
  }
}
process.exit(failed === 0 ? 0 : 1);
