// Core pinning shared by the drivers (bench/run.mjs, bench/profile.mjs): the driver — the load
// generator — re-executes itself under `taskset -c <loadCpu>` on Node 22 (the `node`
// devDependency), once (BENCH_PINNED marks the child); the servers it starts are pinned to the
// server core by bench/lib/targets.mjs (ctx.serverCpu), and their children inherit that affinity.
import { spawnSync } from "node:child_process";
import { nodeBin } from "./targets.mjs";

/** Re-runs this script pinned to `loadCpu` and exits with its status; returns at once when already pinned. */
export function reexecPinned(loadCpu) {
  if (process.env.BENCH_PINNED) return;
  const r = spawnSync("taskset", ["-c", String(loadCpu), nodeBin(), ...process.execArgv, process.argv[1], ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, BENCH_PINNED: "1" },
  });
  process.exit(r.status ?? 1);
}
