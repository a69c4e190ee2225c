/**
 * Issue 18's moderation tools on the real services: a hold, a review, a shadow-hidden message, a
 * purge and the chat modes go through the queues to real Redis (the history holds what viewers saw:
 * the allowed comment, never the hidden one, nothing purged) and real Kafka (each action as
 * `stream_chat_moderation` with its name, read back with kcat) — the production code path, through
 * the bridge.
 */
import { execFileSync } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { SeqComment, ServerFrame } from "../../src/protocol";
import { historyKey } from "../../src/sinks/redis-history";
import { startBridge, workerVarsFor, type RunningBridge } from "../support/bridge";
import { ChatSocket, eventually } from "../support/chat";
import { devToken, startWorker, type RunningWorker } from "../support/worker";

const KAFKA = process.env.KAFKA_BROKERS ?? "127.0.0.1:9092";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const PG = process.env.PG_URL ?? "postgresql://postgres@127.0.0.1:5432/test";

function psql(sql: string) {
  return execFileSync("psql", [PG, "-v", "ON_ERROR_STOP=1", "-qtA", "-c", sql], { encoding: "utf8" }).trim();
}

let bridge: RunningBridge;
let worker: RunningWorker;

beforeAll(async () => {
  bridge = await startBridge({ KAFKA_BROKERS: KAFKA, REDIS_URL, PG_ALLOWED_ADDRS: "127.0.0.1:5432" });
  worker = await startWorker({ vars: { ...workerVarsFor(bridge), SINK_RETRY_MAX_DELAY_S: "2" } });
}, 180_000);

afterEach(({ task }) => {
  if (task.result?.state === "fail") console.log(`worker logs:\n${worker?.logs().slice(-4000)}\nbridge logs:\n${bridge?.logs().slice(-2000)}`);
});

afterAll(async () => {
  await worker?.stop();
  await bridge?.stop();
});

/** Sends a command with a client_msg_id and waits for its answer (an ack, a `held`, or an error). */
async function command(s: ChatSocket, frame: Record<string, unknown>): Promise<ServerFrame> {
  const cmid = crypto.randomUUID();
  s.ws.send(JSON.stringify({ ...frame, client_msg_id: cmid }));
  const answer = (f: ServerFrame) => (f.type === "ack" || f.type === "error" || f.type === "held") && "client_msg_id" in f && f.client_msg_id === cmid;
  await s.until(() => s.frames.some(answer), `answer to ${frame.type}`);
  return s.frames.find(answer)!;
}

function kafkaRecords(sid: string): Array<Record<string, unknown>> {
  const out = execFileSync("kcat", ["-b", KAFKA, "-t", "streams.chat", "-C", "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n"], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  return out
    .split("\n")
    .filter((l) => l.startsWith(`${sid}\t`))
    .map((l) => JSON.parse(l.slice(sid.length + 1)) as Record<string, unknown>);
}

describe("moderation tools → Redis history and Kafka", () => {
  it("held, allowed, hidden and purged messages reach the sinks as viewers saw them; every action is a named moderation record", { timeout: 150_000 }, async () => {
    const sid = crypto.randomUUID();
    const owner = await devToken(worker.url, "tools-owner", sid);
    const newcomer = await devToken(worker.url, "tools-newcomer");
    const shadow = await devToken(worker.url, "tools-shadow");
    const raider = await devToken(worker.url, "tools-raider");
    const o = await ChatSocket.open(worker.url, sid, owner.token);
    await o.until(() => o.frames.some((f) => f.type === "history"), "owner history");
    const n = await ChatSocket.open(worker.url, sid, newcomer.token);
    const h = await ChatSocket.open(worker.url, sid, shadow.token);
    const r = await ChatSocket.open(worker.url, sid, raider.token);
    for (const s of [n, h, r]) await s.until(() => s.frames.some((f) => f.type === "history"), "history");

    expect(await command(h, { type: "message", text: "before the hide" })).toMatchObject({ type: "ack" });
    expect(await command(r, { type: "message", text: "FOLLOW my channel" })).toMatchObject({ type: "ack" });
    expect(await command(o, { type: "chat_mode", mode: "first_time_hold", on: true })).toMatchObject({ type: "ack" });
    const held = await command(n, { type: "message", text: "hello, first time" });
    expect(held).toMatchObject({ type: "held" });
    const heldId = (held as Extract<ServerFrame, { type: "held" }>).id;
    expect(await command(o, { type: "review", id: heldId, decision: "allow" })).toMatchObject({ type: "ack", id: heldId });
    expect(await command(o, { type: "hide_user", user_id: shadow.user_id })).toMatchObject({ type: "ack" });
    const hidden = await command(h, { type: "message", text: "only staff see this" });
    expect(hidden).toMatchObject({ type: "ack" });
    expect(await command(o, { type: "purge", phrase: "follow my", seconds: 600, then: "ban" })).toMatchObject({ type: "ack" });
    expect(await command(o, { type: "title", title: "Tools night" })).toMatchObject({ type: "ack" });
    // The last comment, so the history is complete once it is there.
    expect(await command(o, { type: "message", text: "that's all" })).toMatchObject({ type: "ack" });

    const history = await eventually(
      async () => {
        const res = await fetch(`${worker.url}/v1/streams/${sid}/chat/history`, { headers: { authorization: `Bearer ${owner.token}` } });
        return ((await res.json()) as { comments: SeqComment[] }).comments;
      },
      (c) => c.some((x) => x.comment.message === "that's all") && !c.some((x) => x.comment.message.includes("FOLLOW")),
      "the history to hold the allowed comment and the purge",
    );
    expect(history.map((c) => c.comment.message)).toEqual(["before the hide", "hello, first time", "that's all"]);
    const allowed = history[1]!;
    expect(allowed.comment.id).toBe(heldId);
    // Straight from Redis: no hidden message, no purged one.
    const raw = execFileSync("redis-cli", ["-u", REDIS_URL, "ZRANGE", historyKey(sid), "0", "-1"], { encoding: "utf8" });
    expect(raw).not.toContain("only staff see this");
    expect(raw).not.toContain("FOLLOW");

    const records = await eventually(async () => kafkaRecords(sid), (rs) => rs.some((x) => x.message === "that's all"), "the Kafka records");
    const moderation = records.filter((x) => x.event_type === "stream_chat_moderation");
    expect(moderation.map((x) => x.action)).toEqual(["chat_mode", "review", "purge", "title"]);
    expect(moderation[0]).toMatchObject({ mode: "first_time_hold", on: true, by: owner.user_id });
    expect(moderation[1]).toMatchObject({ decision: "allow", comment_id: heldId, user_id: newcomer.user_id });
    expect(moderation[2]).toMatchObject({ phrase: "follow my", then: "ban", users: [raider.user_id] });
    expect(moderation[3]).toMatchObject({ title: "Tools night" });
    // The allowed comment is a plain message record; the hidden one is nowhere in Kafka.
    expect(records.filter((x) => x.event_type === "stream_chat_message" && x.comment_id === heldId)).toHaveLength(1);
    expect(JSON.stringify(records)).not.toContain("only staff see this");
    // The raider is banned by the purge: refused on a new send.
    expect(await command(r, { type: "message", text: "again" })).toMatchObject({ type: "error", code: "banned" });
    for (const s of [o, n, h, r]) s.close();
  });

  it("account_age reads users.created_at from Postgres, which wins over the token's claim; the user card shows it", { timeout: 120_000 }, async () => {
    // A column the seed's table may lack: the lookup reads it when it is there (README "Account age").
    psql("ALTER TABLE users ADD COLUMN IF NOT EXISTS created_at timestamptz");
    const sid = crypto.randomUUID();
    const owner = await devToken(worker.url, "age-owner", sid);
    const fresh = await devToken(worker.url, "age-fresh-in-postgres");
    const created = new Date(Date.now() - 60_000).toISOString();
    psql(`INSERT INTO users (id, username, created_at) VALUES ('${fresh.user_id}', 'age-fresh', '${created}') ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username, created_at = EXCLUDED.created_at`);
    // Its token claims an account from 2001: Postgres says a minute ago, and Postgres wins.
    const claimed = (await (
      await fetch(`${worker.url}/dev/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "age-fresh-in-postgres", account_created_at: 1_000_000_000 }) })
    ).json()) as { token: string; user_id: string };
    expect(claimed.user_id).toBe(fresh.user_id);
    const o = await ChatSocket.open(worker.url, sid, owner.token);
    await o.until(() => o.frames.some((f) => f.type === "history"), "owner history");
    expect(await command(o, { type: "chat_mode", mode: "account_age", on: true, seconds: 3600 })).toMatchObject({ type: "ack" });
    const f = await ChatSocket.open(worker.url, sid, claimed.token);
    await f.until(() => f.frames.some((x) => x.type === "history"), "history");
    expect(await command(f, { type: "message", text: "let me in" })).toMatchObject({ type: "error", code: "account_too_new" });
    const card = (await (await fetch(`${worker.url}/v1/streams/${sid}/chat/users/${fresh.user_id}`, { headers: { authorization: `Bearer ${owner.token}` } })).json()) as { username: string; account_created_at: string };
    expect(card.username).toBe("age-fresh");
    expect(Date.parse(card.account_created_at)).toBe(Date.parse(created));
    o.close();
    f.close();
  });
});
