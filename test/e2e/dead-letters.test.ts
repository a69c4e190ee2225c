/**
 * Dead letters end to end under `wrangler dev` (issue 19 §7), on real Queues (miniflare), a real
 * dead letter queue and real Redis through the bridge — no Kafka needed: chat-events has no sink
 * here (acked with one log line). Operated with `npm run dlq` exactly as README "Dead letters" says.
 *
 *   1. The history sink is poisoned (a wrong Upstash token: every write of every batch is refused).
 *      Three comments are sent; their chat-history messages fail every attempt, reach
 *      chat-history-dlq and are parked with the sink's error. Redis holds nothing.
 *   2. The worker restarts with the right token (the sink is fixed; state persists).
 *   3. `npm run dlq -- replay`: each comment lands once in Redis, in seq order; the history API
 *      serves them. A second replay claims nothing and Redis is unchanged.
 *
 * To take seconds instead of ≈ 1.6 h, the worker runs a copy of wrangler.toml with max_retries = 3
 * on the sink queues (and SINK_MAX_RETRIES = 3 to match) and SINK_RETRY_MAX_DELAY_S = 1.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { DeadLetterPage } from "../../src/dead-letter-store";
import { startBridge, type RunningBridge } from "../support/bridge";
import { ChatSocket, eventually } from "../support/chat";
import { ROOT } from "../support/process";
import { DEV_JWT_SECRET, devConfig, devToken, startWorker, type RunningWorker } from "../support/worker";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const RETRIES = 3;

let bridge: RunningBridge;
let worker: RunningWorker | null = null;
let redis: ReturnType<typeof createClient>;
const persistTo = mkdtempSync(join(tmpdir(), "chat-dlq-"));
const config = devConfig((toml) => toml.replace(/^max_retries = 100\n(dead_letter_queue = )/gm, `max_retries = ${RETRIES}\n$1`));

function vars(redisToken: string): Record<string, string> {
  return {
    UPSTASH_REDIS_REST_URL: `${bridge.url}/redis`,
    UPSTASH_REDIS_REST_TOKEN: redisToken,
    SINK_MAX_RETRIES: String(RETRIES),
    SINK_RETRY_MAX_DELAY_S: "1",
  };
}

/** `npm run dlq -- <args>` against the worker; resolves with its exit status and output. */
function dlq(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "npm",
      ["run", "-s", "dlq", "--", ...args, "--url", worker!.url],
      { cwd: ROOT, env: { ...process.env, JWT_SECRET: DEV_JWT_SECRET, DLQ_TOKEN: "" }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function listed(streamId: string): Promise<DeadLetterPage> {
  const r = await dlq("list", "--stream", streamId, "--state", "all", "--json");
  if (r.code !== 0) throw new Error(`dlq list exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as DeadLetterPage;
}

beforeAll(async () => {
  bridge = await startBridge({ REDIS_URL });
  redis = createClient({ url: REDIS_URL });
  await redis.connect();
}, 60_000);

afterEach(({ task }) => {
  if (task.result?.state === "fail") console.log(`worker logs:\n${worker?.logs().slice(-5000)}\nbridge logs:\n${bridge?.logs().slice(-2000)}`);
});

afterAll(async () => {
  await worker?.stop();
  await bridge?.stop();
  await redis?.quit();
  rmSync(persistTo, { recursive: true, force: true });
  rmSync(join(config, ".."), { recursive: true, force: true });
});

describe("npm run dlq against wrangler dev: a poisoned history sink, fixed, replayed once", () => {
  it("parks what died with the sink's error, replays each comment once into Redis, and a second replay writes nothing", { timeout: 240_000 }, async () => {
    const sid = crypto.randomUUID();
    const key = `chat:${sid}:history`;
    worker = await startWorker({ config, persistTo, vars: vars("not-the-bridge-token") });

    const { token } = await devToken(worker.url, "dlq-e2e");
    const chat = await ChatSocket.open(worker.url, sid, token);
    for (const text of ["one", "two", "three"]) chat.send(text);
    await chat.until(() => chat.comments().length === 3, "three comments");
    const comments = chat.comments();
    chat.close();

    // Every attempt fails (1 + max_retries), then chat-history-dlq delivers them and they are parked.
    const parked = await eventually(() => listed(sid), (p) => p.items.filter((i) => i.state === "parked").length === 3, "three parked rows", 120_000);
    expect(parked.items.map((i) => [i.sink, i.queue, i.seq, i.event_type, i.attempts])).toEqual(
      comments.map((c) => ["redis-history", "chat-history", c.seq, "stream_chat_message", RETRIES + 1]),
    );
    for (const i of parked.items) expect(i.error).toMatch(/unauthori[sz]ed|401/i);
    expect(await redis.zCard(key)).toBe(0);

    // The human listing names them too.
    const human = await dlq("list", "--stream", sid);
    expect(human.code).toBe(0);
    expect(human.stdout.split("\n").filter((l) => l.includes(sid) && l.includes("parked"))).toHaveLength(3);

    // The sink is fixed: the worker comes back with the bridge's token, its state (the parked rows) kept.
    await worker.stop();
    worker = await startWorker({ config, persistTo, vars: vars(bridge.token) });

    const first = await dlq("replay", "--stream", sid);
    expect([first.code, first.stdout.trim()]).toEqual([0, "replayed 3, failed 0 (3 claimed)"]);
    const raw = await redis.zRange(key, 0, -1);
    const members = raw.map((m) => JSON.parse(m) as { seq: number; comment: { id: string; message: string } });
    expect(members.map((m) => [m.seq, m.comment.id, m.comment.message])).toEqual(comments.map((c) => [c.seq, c.comment.id, c.comment.message]));
    const history = (await (await fetch(`${worker.url}/v1/streams/${sid}/chat/history`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      comments: Array<{ seq: number }>;
    };
    expect(history.comments.map((c) => c.seq)).toEqual(comments.map((c) => c.seq));
    expect((await listed(sid)).items.map((i) => i.state)).toEqual(["replayed", "replayed", "replayed"]);

    const again = await dlq("replay", "--stream", sid);
    expect([again.code, again.stdout.trim()]).toEqual([0, "replayed 0, failed 0 (0 claimed)"]);
    expect(await redis.zRange(key, 0, -1)).toEqual(raw);
  });
});
