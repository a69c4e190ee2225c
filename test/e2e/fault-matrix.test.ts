/**
 * The fault matrix, short (README "Faults"; the full run is `npm run faults`): a few faults with
 * 5 s outages on the rig's own Kafka, Redis, bridge and proxied Postgres (test/support/fault-services.ts),
 * each under load from SDK clients. Every accepted comment must be in Redis and Kafka exactly
 * once, in seq order, and at every viewer exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAULTS, faultTable, runFault, startRig, type FaultRow, type Rig } from "../support/fault-matrix";

const SHORT = { outageMs: 5_000, warmMs: 2_000, streams: 2, drainTimeoutMs: 90_000 };
let rig: Rig;
const rows: FaultRow[] = [];

beforeAll(async () => {
  // Ports 19150..19153 (kafka, controller, redis, bridge); `npm run faults` uses 19120..19123.
  rig = await startRig({ basePort: Number(process.env.FAULTS_CI_BASE_PORT ?? 19150), instance: "faults-ci" });
}, 300_000);

afterAll(async () => {
  if (rows.length) console.log(`fault matrix (short):\n${faultTable(rows)}`);
  await rig?.stop();
}, 120_000);

describe.each(["kafka-down", "bridge-kill", "redis-down", "consumer-throw", "shard-evict"])("fault %s", (name) => {
  it("loses nothing and duplicates nothing", async () => {
    const row = await runFault(rig, FAULTS[name]!, SHORT);
    rows.push(row);
    expect(row.accepted, "comments accepted during the run").toBeGreaterThan(20);
    expect({ lost: row.lost, dupKafka: row.dupKafka, dupRedis: row.dupRedis, outOfOrder: row.outOfOrder, viewerMissed: row.viewerMissed, viewerDup: row.viewerDup }).toEqual({
      lost: 0,
      dupKafka: 0,
      dupRedis: 0,
      outOfOrder: 0,
      viewerMissed: 0,
      viewerDup: 0,
    });
    expect(row.drainMs).not.toBeNull();
  }, 300_000);
});
