/**
 * `npm run faults [-- --only <fault>[,<fault>…]] [--outage-s <s>]`: the fault matrix on the real
 * services (README "Faults"). Starts its own rig (ports 19120..19123 + free ones; FAULTS_BASE_PORT
 * moves them), runs each fault under load with SDK clients, and writes the table: FAULTS.md for a
 * full run, FAULTS.partial.md when --only or --outage-s narrowed it (so a partial run never
 * replaces the published one). Exit code 1 when any row lost or duplicated something.
 */
import { cpus, totalmem } from "node:os";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_LOAD, FAULTS, faultTable, runFault, startRig, type FaultRow } from "../test/support/fault-matrix";
import { ROOT } from "../test/support/process";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const only = arg("only")?.split(",").map((s) => s.trim()).filter(Boolean);
const outageS = arg("outage-s");
for (const name of only ?? []) {
  if (!FAULTS[name]) {
    console.error(`unknown fault ${JSON.stringify(name)}; known: ${Object.keys(FAULTS).join(", ")}`);
    process.exit(2);
  }
}
if (outageS !== undefined && !(Number(outageS) > 0)) {
  console.error("--outage-s must be a positive number of seconds");
  process.exit(2);
}
const names = only ?? Object.keys(FAULTS);
const outageMs = outageS ? Number(outageS) * 1000 : DEFAULT_LOAD.outageMs;
const partial = only !== undefined || outageS !== undefined;
const out = join(ROOT, partial ? "FAULTS.partial.md" : "FAULTS.md");

const started = new Date();
const rig = await startRig({ basePort: Number(process.env.FAULTS_BASE_PORT ?? 19120), instance: "faults" });
const rows: FaultRow[] = [];
try {
  for (const name of names) {
    console.log(`faults: ${name} (${outageMs / 1000} s)…`);
    const row = await runFault(rig, FAULTS[name]!, { outageMs });
    rows.push(row);
    console.log(`faults: ${name}: accepted ${row.accepted}, lost ${row.lost}, dup Kafka ${row.dupKafka}, dup Redis ${row.dupRedis}, ` +
      `out of order ${row.outOfOrder}, viewers missed ${row.viewerMissed} / dup ${row.viewerDup}, drain ${row.drainMs} ms ${row.note}`);
  }
} finally {
  // The worker's and the bridge's logs, for a row that needs explaining (test-artifacts/ is not committed).
  mkdirSync(join(ROOT, "test-artifacts"), { recursive: true });
  writeFileSync(join(ROOT, "test-artifacts", "faults-worker.log"), rig.worker.logs());
  writeFileSync(join(ROOT, "test-artifacts", "faults-bridge.log"), rig.services.bridgeLogs());
  await rig.stop();
}

const l = DEFAULT_LOAD;
const text = `# Fault matrix

Produced by \`npm run faults${partial ? ` ${process.argv.slice(2).join(" ")}` : ""}\` (scripts/faults.ts; README "Faults") — do not edit by hand.

- Date: ${started.toISOString()} (took ${Math.round((Date.now() - started.getTime()) / 1000)} s)
- Machine: ${cpus().length}-core ${process.platform} ${process.arch}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}
- Rig: \`wrangler dev\` (persisted state) → the bridge → own Kafka broker, own redis-server (AOF, fsync always), Postgres behind a TCP proxy
- Load per fault: ${l.streams} streams × (${l.sendersPerStream} senders + ${l.viewersPerStream} viewers), SDK clients; each sender one comment every ${l.sendEveryMs} ms;
  ${l.warmMs / 1000} s of traffic, the fault held ${outageMs / 1000} s with traffic, restored, ${l.warmMs / 1000} s more, then the drain
- accepted = comments a sender got an ack for; lost = accepted but missing from Redis history or Kafka;
  duplicated = extra Kafka records of one comment_id / extra history members of one comment or one sent text;
  out of order = Kafka records or history members of a stream not in seq order; viewer missed/duplicates = per viewer;
  time to drain = from the restore until every accepted comment is in Redis and in Kafka

${faultTable(rows)}
`;
writeFileSync(out, text);
console.log(`faults: wrote ${out}`);
const bad = rows.filter((r) => r.lost || r.dupKafka || r.dupRedis || r.outOfOrder || r.viewerMissed || r.viewerDup || r.drainMs === null);
process.exit(bad.length ? 1 : 0);
