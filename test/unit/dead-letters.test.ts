/**
 * Dead letters, the pure parts (src/dead-letter-rules.ts, the CLI's parsing in src/cli/dlq.ts) and
 * the wiring in wrangler.toml the code depends on: every sink queue has a dead letter queue with a
 * consumer, and its max_retries equals SINK_MAX_RETRIES' default (the consumer recognises a
 * message's last delivery by it).
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { LOCAL_DEV_SECRET, UsageError, adminToken, formatCounts, parseCommand } from "../../src/cli/dlq";
import {
  DEAD_LETTER_QUEUES,
  DEAD_LETTER_STATES,
  QUEUE_SINKS,
  boundedInt,
  deadLetterKey,
  malformedKey,
  parkStep,
  utf8Length,
  utf8Prefix,
  type DeadLetterState,
  type ReportKind,
} from "../../src/dead-letter-rules";
import { DEFAULT_SINK_MAX_RETRIES } from "../../src/env";

const ROOT = resolve(import.meta.dirname, "../..");

/** The [[queues.consumers]] blocks of wrangler.toml as key → raw value (enough TOML for these flat blocks). */
function queueConsumers(): Array<Record<string, string>> {
  const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  return toml
    .split(/^\[\[queues\.consumers\]\]$/m)
    .slice(1)
    .map((block) => {
      const body = block.split(/^\[/m)[0]!;
      const out: Record<string, string> = {};
      for (const line of body.split("\n")) {
        const m = /^(\w+)\s*=\s*(.+?)\s*$/.exec(line);
        if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, "$1");
      }
      return out;
    });
}

describe("wrangler.toml wiring of the dead letter queues", () => {
  const consumers = queueConsumers();
  const byQueue = new Map(consumers.map((c) => [c.queue!, c]));

  it("each sink queue dead-letters into the queue DEAD_LETTER_QUEUES names, after SINK_MAX_RETRIES' default retries", () => {
    for (const [dlq, origin] of Object.entries(DEAD_LETTER_QUEUES)) {
      const c = byQueue.get(origin);
      expect(c, origin).toBeDefined();
      expect([origin, c!.dead_letter_queue, Number(c!.max_retries)]).toEqual([origin, dlq, DEFAULT_SINK_MAX_RETRIES]);
    }
    expect(Object.keys(QUEUE_SINKS).sort()).toEqual(Object.values(DEAD_LETTER_QUEUES).sort());
  });

  it("each dead letter queue has a consumer (this worker's) and no dead letter queue of its own", () => {
    for (const dlq of Object.keys(DEAD_LETTER_QUEUES)) {
      const c = byQueue.get(dlq);
      expect(c, dlq).toBeDefined();
      expect(c!.dead_letter_queue).toBeUndefined();
    }
    // Nothing else dead-letters anywhere we do not consume.
    for (const c of consumers) if (c.dead_letter_queue) expect(Object.keys(DEAD_LETTER_QUEUES)).toContain(c.dead_letter_queue);
  });
});

describe("parkStep: what a report does to a row", () => {
  const table: Array<[DeadLetterState | null, ReportKind, boolean, string]> = [
    [null, "final_failure", false, "insert dying error"],
    [null, "dead", false, "insert parked"],
    [null, "dead", true, "insert malformed"],
    ["dying", "final_failure", false, "update dying error"],
    ["dying", "dead", false, "update parked"],
    ["parked", "final_failure", false, "update parked error"],
    ["parked", "dead", false, "none parked"],
    ["malformed", "dead", true, "none malformed"],
    ["malformed", "final_failure", true, "none malformed"],
    ["replayed", "dead", false, "none replayed"],
    ["replayed", "final_failure", false, "none replayed"],
  ];
  it.each(table)("existing %s, report %s (malformed %s) → %s", (existing, report, malformed, expected) => {
    const s = parkStep(existing, report, malformed);
    expect([s.write, s.state, ...("takeError" in s && s.takeError ? ["error"] : [])].join(" ")).toBe(expected);
  });

  it("a replayed row is never parked again, whatever arrives, and only a dead report makes a row replayable", () => {
    for (const report of ["final_failure", "dead"] as const) expect(parkStep("replayed", report, false).write).toBe("none");
    for (const from of [null, ...DEAD_LETTER_STATES]) {
      const s = parkStep(from, "final_failure", false);
      if (s.state === "parked") expect(from).toBe("parked"); // a final failure alone never makes a row parked
    }
  });

  it("keys: one per (sink, stream, seq); a malformed body's per (sink, message id)", () => {
    const sid = "6b5f7a52-0000-4000-8000-000000000001";
    expect(deadLetterKey("kafka", sid, 7)).toBe(`kafka/${sid}/7`);
    expect(deadLetterKey("redis-history", sid, 7)).not.toBe(deadLetterKey("kafka", sid, 7));
    expect(malformedKey("kafka", "m-1")).toBe("kafka/malformed/m-1");
  });
});

describe("bounds and text", () => {
  it("boundedInt takes whole numbers and decimal strings within the bounds only", () => {
    expect([boundedInt("20", 1, 100), boundedInt(100, 1, 100), boundedInt("0", 0, 5)]).toEqual([20, 100, 0]);
    for (const bad of ["101", "0", "-1", "1.5", "1e2", " 2", "", "0x10", null, undefined, 2.5, NaN, "9".repeat(20)]) expect(boundedInt(bad, 1, 100), String(bad)).toBeNull();
  });

  it("utf8Length and utf8Prefix agree with TextEncoder and never split a character", () => {
    const enc = new TextEncoder();
    for (const text of ["", "abc", "é", "€uro", "👋🏽 hi", "a\u{10FFFF}b", "日本語テキスト"]) {
      expect(utf8Length(text), text).toBe(enc.encode(text).length);
      for (let n = 0; n <= enc.encode(text).length; n++) {
        const p = utf8Prefix(text, n);
        expect(text.startsWith(p)).toBe(true);
        expect(enc.encode(p).length).toBeLessThanOrEqual(n);
        expect(p).not.toMatch(/[\uD800-\uDBFF]$/); // no lone high surrogate at the cut
      }
    }
    expect(utf8Prefix("👋x", 3)).toBe("");
    expect(utf8Prefix("👋x", 4)).toBe("👋");
  });
});

describe("npm run dlq: command lines", () => {
  it("parses list, show, replay and discard with their options", () => {
    expect(parseCommand(["list"])).toEqual({ kind: "list", url: "http://127.0.0.1:8787", json: false, all: false, query: {} });
    const sid = "6B5F7A52-0000-4000-8000-000000000001";
    expect(parseCommand(["list", "--state", "parked", "--sink", "kafka", "--stream", sid, "--limit", "50", "--after", "7", "--all", "--json"], { DLQ_URL: "https://chat.example/" })).toEqual({
      kind: "list",
      url: "https://chat.example",
      json: true,
      all: true,
      query: { state: "parked", sink: "kafka", stream: sid.toLowerCase(), limit: 50, after: 7 },
    });
    expect(parseCommand(["show", "12"])).toMatchObject({ kind: "show", id: 12 });
    expect(parseCommand(["replay", "--ids", "1,2", "--ids", "3", "--sink", "redis-history"])).toMatchObject({ kind: "replay", body: { ids: [1, 2, 3], sink: "redis-history" }, maxTotal: 10_000 });
    expect(parseCommand(["replay", "--limit", "500", "--max", "1000", "--url", "http://localhost:9999"])).toMatchObject({ kind: "replay", url: "http://localhost:9999", body: { limit: 500 }, maxTotal: 1000 });
    expect(parseCommand(["discard", "4", "5"])).toMatchObject({ kind: "discard", ids: [4, 5] });
  });

  it("refuses what it cannot do, saying what is wrong", () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /a command is required/],
      [["purge"], /unknown command "purge"/],
      [["list", "--limit", "101"], /--limit must be 1 to 100/],
      [["list", "--state", "lost"], /--state must be/],
      [["list", "--ids", "1"], /list does not take --ids/],
      [["list", "--bogus"], /Unknown option/],
      [["replay", "--limit", "501"], /--limit must be 1 to 500/],
      [["replay", "--sink", "s3"], /--sink must be kafka or redis-history/],
      [["replay", "--stream", "nope"], /--stream must be a stream id/],
      [["replay", "--ids", "1,x"], /row ids/],
      [["show"], /one row id/],
      [["show", "0"], /one row id/],
      [["discard"], /row ids/],
      [["discard", ...Array.from({ length: 501 }, (_, i) => String(i + 1))], /1 to 500 row ids/],
      [["list", "--url", "not a url"], /not a URL/],
    ];
    for (const [argv, why] of cases) expect(() => parseCommand(argv), argv.join(" ")).toThrow(why);
    expect(() => parseCommand(["purge"])).toThrow(UsageError);
  });

  it("credentials: DLQ_TOKEN as given; else an admin token signed with JWT_SECRET; npm run dev's secret only for a local URL", async () => {
    expect(await adminToken("https://chat.example", { DLQ_TOKEN: "tok" })).toBe("tok");
    const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
    const signed = claims(await adminToken("https://chat.example", { JWT_SECRET: "s".repeat(32), JWT_ISSUER: "https://idp/", JWT_AUDIENCE: "chat" }));
    expect(signed).toMatchObject({ role: "admin", iss: "https://idp/", aud: "chat" });
    expect((signed.exp as number) - (signed.iat as number)).toBe(300);
    await expect(adminToken("https://chat.example", {})).rejects.toThrow(/no credentials/);
    const local = await adminToken("http://127.0.0.1:8787", {});
    const { jwtVerify } = await import("jose");
    await expect(jwtVerify(local, new TextEncoder().encode(LOCAL_DEV_SECRET))).resolves.toMatchObject({ payload: { role: "admin" } });
    // The local fallback is the secret `npm run dev` gives wrangler.
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.dev).toContain(`--var JWT_SECRET:${LOCAL_DEV_SECRET}`);
    expect(pkg.scripts.dlq).toBe("tsx src/cli/dlq.ts");
  });

  it("prints the counts per sink and state", () => {
    const zero = { dying: 0, parked: 0, replayed: 0, malformed: 0 };
    expect(formatCounts({ kafka: { ...zero, parked: 3 }, "redis-history": { ...zero, replayed: 2 } })).toBe(
      "kafka: parked 3, dying 0, malformed 0, replayed 0; redis-history: parked 0, dying 0, malformed 0, replayed 2",
    );
  });
});
