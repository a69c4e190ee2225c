import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, type Env } from "../../src/env";

const base = { CHAT_ROOM: {}, CHAT_EVENTS: {} } as unknown as Env;
const cfg = (vars: Partial<Env>) => loadConfig({ ...base, ...vars });

describe("worker configuration", () => {
  it("applies defaults and parses lists and booleans", () => {
    const c = cfg({ JWT_SECRET: "0123456789abcdef", ALLOWED_ORIGINS: " https://a.example , https://b.example,", DEV_TOKENS: "true" });
    expect(c.RATE_LIMIT_PER_SEC).toBe(10);
    expect(c.KAFKA_CHAT_TOPIC).toBe("streams.chat");
    expect(c.ALLOWED_ORIGINS).toEqual(["https://a.example", "https://b.example"]);
    expect(c.DEV_TOKENS).toBe(true);
    expect(c.SINK_RETRY_MAX_DELAY_S).toBe(60);
  });

  it.each([
    [{}, "JWT_SECRET"],
    [{ JWT_SECRET: "short" }, "JWT_SECRET"],
    [{ JWT_JWKS_URL: "not a url" }, "JWT_JWKS_URL"],
    [{ JWT_SECRET: "0123456789abcdef", RATE_LIMIT_PER_SEC: "ten" }, "RATE_LIMIT_PER_SEC"],
    [{ JWT_SECRET: "0123456789abcdef", DEV_TOKENS: "yes" }, "DEV_TOKENS"],
    [{ JWT_JWKS_URL: "https://idp.example/jwks", DEV_TOKENS: "true" }, "DEV_TOKENS"],
    [{ JWT_SECRET: "0123456789abcdef", KAFKA_CHAT_TOPIC: "bad topic!" }, "KAFKA_CHAT_TOPIC"],
    [{ JWT_SECRET: "0123456789abcdef", UPSTASH_REDIS_REST_URL: "https://r.example" }, "UPSTASH_REDIS_REST_TOKEN"],
    [{ JWT_SECRET: "0123456789abcdef", KAFKA_REST_USER: "u" }, "KAFKA_REST_PASSWORD"],
  ] as Array<[Partial<Env>, string]>)("names the bad variable: %j → %s", (vars, name) => {
    expect(() => cfg(vars)).toThrow(ConfigError);
    expect(() => cfg(vars)).toThrow(new RegExp(`${name}:`));
  });
});
