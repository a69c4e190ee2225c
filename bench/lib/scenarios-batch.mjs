// Scenarios for batched (`?batch=1`) viewers (issue 20): how the coalescing window behaves when the
// room is quiet, at the seed load, and over a ladder of rates, against the Node baseline with the
// same rule (ws-batch), our room with other window caps (ours-batch-w50/-w100: BATCH_MAX_WINDOW_MS)
// and a bare Durable Object with the same batching (rawdo-hib-batch: the platform's floor).
// bench/run.mjs merges these into its SCENARIOS; the fields mean what they mean there.
//
//   npm run bench -- --scenario quiet        1,000 batched viewers, 1 msg/s from 1 sender, 20 s
//   npm run bench -- --scenario seedbatch    the seed load (1,000 × 100 msg/s from 20 senders, 10 s), batched
//   npm run bench -- --scenario sweepbatch   1,000 batched viewers at 10, 25, 50, 100, 200 msg/s (5 s each)
//   npm run bench -- --scenario modes        the seed load batched, chat modes off vs unique + first_time_hold on (issue 18)
//
// kind "ladder" (sweepbatch): every rate of `rates` is measured on the same server start, in order,
// the server left to go quiet before each; no pass/fail, no bisection — one result row per rate and
// target (delivered %, p50/p90/p99, server CPU µs per delivery; memory per connection is measured
// once per target, after connecting). `--rates a,b,c` replaces the ladder.

const BATCH_TARGETS = ["ws-batch", "ours-batch", "ours-batch-w50", "ours-batch-w100", "rawdo-hib-batch"];
// Ratios: every target against ws-batch, the window variants against ours-batch (the 25 ms room).
const BATCH_PAIRS = { "ours-batch-w50": "ours-batch", "ours-batch-w100": "ours-batch" };

export const BATCH_SCENARIOS = {
  // A quiet room: every message travels alone (a lone message is never held back), so this is the
  // per-message floor of the batched path — and where an adaptive window must not add latency.
  quiet: {
    kind: "load",
    conns: 1000,
    rate: 1,
    senders: 1,
    warmup: 2,
    duration: 20,
    targets: ["ws-batch", "ours-batch", "rawdo-hib-batch"],
    baseline: "ws-batch",
  },
  seedbatch: {
    kind: "load",
    conns: 1000,
    rate: 100,
    senders: 20,
    warmup: 2,
    duration: 10,
    targets: BATCH_TARGETS,
    baseline: "ws-batch",
    pairs: BATCH_PAIRS,
  },
  // Issue 18: what `unique` and `first_time_hold` cost per delivery at the seed load (target ≤ 10 %).
  modes: {
    kind: "load",
    conns: 1000,
    rate: 100,
    senders: 20,
    warmup: 2,
    duration: 10,
    targets: ["ours-batch", "ours-batch-modes"],
    baseline: "ours-batch",
    pairs: { "ours-batch-modes": "ours-batch" },
  },
  sweepbatch: {
    kind: "ladder",
    conns: 1000,
    senders: 20,
    warmup: 1,
    duration: 5,
    rates: [10, 25, 50, 100, 200],
    targets: BATCH_TARGETS,
    baseline: "ws-batch",
    pairs: BATCH_PAIRS,
  },
};
