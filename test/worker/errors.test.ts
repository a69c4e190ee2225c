/**
 * Failure causes reach the log (issue 8 item 6): describeError on what the runtime and drivers
 * really throw, and the usernames lookup with Postgres unreachable, inside workerd.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/env";
import { describeError, redactUrl } from "../../src/errors";
import { resolveUsername } from "../../src/usernames";

afterEach(() => vi.restoreAllMocks());

describe("usernames lookup with Postgres unreachable", () => {
  it("logs the WebSocket failure and its URL (token redacted), not [object ErrorEvent]", async () => {
    const logged: string[] = [];
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void logged.push(args.join(" ")));
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    // A config object of its own: loadConfig caches per env object, and NEON_WS_PROXY is per test.
    const cfg = loadConfig({
      ...env,
      DATABASE_URL: "postgres://app:pw@db.internal:5432/chat",
      NEON_WS_PROXY: "127.0.0.1:1/pg/v1?token=s3cret-bridge-token",
    });
    const userId = crypto.randomUUID();
    const name = await resolveUsername(cfg, { userId, claimUsername: "from-claim" } as Parameters<typeof resolveUsername>[1]);
    expect(name).toBe("from-claim");
    const line = logged.find((l) => l.startsWith(`usernames: Postgres lookup failed for ${userId}`));
    expect(line, `logged: ${JSON.stringify(logged)}`).toBeDefined();
    expect(line).not.toContain("[object");
    expect(line).toContain('ErrorEvent "error"');
    expect(line).toMatch(/Failed to establish the WebSocket connection/);
    expect(line).toContain("url=ws://127.0.0.1:1/pg/v1?token=***&address=db.internal:5432");
    expect(line).not.toContain("s3cret-bridge-token");
  });
});

describe("describeError", () => {
  it("follows causes and keeps Node-style codes", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
      code: "ECONNREFUSED",
      syscall: "connect",
      address: "127.0.0.1",
      port: 1,
    });
    expect(describeError(new TypeError("fetch failed", { cause: refused }))).toBe(
      "TypeError: fetch failed; cause: Error: connect ECONNREFUSED 127.0.0.1:1 (code=ECONNREFUSED syscall=connect address=127.0.0.1 port=1)",
    );
  });

  it("names every error of an AggregateError whose own message is empty", () => {
    const agg = new AggregateError([new Error("connect ECONNREFUSED ::1:5432"), new Error("connect ECONNREFUSED 127.0.0.1:5432")], "");
    expect(describeError(agg)).toBe(
      "AggregateError; errors[0]: Error: connect ECONNREFUSED ::1:5432; errors[1]: Error: connect ECONNREFUSED 127.0.0.1:5432",
    );
  });

  it("describes an event with its nested error, and plain values", () => {
    const ev = { type: "error", target: { url: "wss://u:p@h.example/x?key=abc&x=1" }, message: "", error: new Error("socket hang up") };
    expect(describeError(ev)).toBe('Event "error" (url=wss://***@h.example/x?key=***&x=1); error: Error: socket hang up');
    expect(describeError("plain")).toBe("plain");
    expect(describeError(undefined)).toBe("undefined");
    expect(describeError({ status: 503, body: "down" })).toBe('{"status":503,"body":"down"} (status=503)');
  });

  it("is bounded on cyclic and deep causes", () => {
    const a = new Error("a") as Error & { cause?: unknown };
    a.cause = a;
    expect(describeError(a)).toBe("Error: a; cause: [cycle]");
    let deep: Error = new Error("e0");
    for (let i = 1; i < 50; i++) deep = new Error(`e${i}`, { cause: deep });
    expect(describeError(deep).split("; cause: ")).toHaveLength(6);
  });

  it("redacts secrets in URLs it cannot parse too", () => {
    expect(redactUrl("127.0.0.1:1/pg?token=abc&address=x")).toBe("127.0.0.1:1/pg?token=***&address=x");
  });
});
