/** Configuration: parsed once with zod; a bad value names its variable. */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/bridge/config";

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("defaults: port 8788 on 127.0.0.1, every backend off", () => {
    const c = loadConfig({ BRIDGE_TOKEN: "t" });
    expect(c).toMatchObject({ port: 8788, host: "127.0.0.1", token: "t", logLevel: "info" });
    expect(c.kafka).toBeUndefined();
    expect(c.redis).toBeUndefined();
    expect(c.pg).toBeUndefined();
  });

  it("parses every variable", () => {
    const c = loadConfig({
      BRIDGE_TOKEN: "secret",
      BRIDGE_PORT: "9000",
      KAFKA_BROKERS: " 127.0.0.1:9092, Kafka-2.local:9094 ",
      REDIS_URL: "redis://user:p%40ss@127.0.0.1:6380/2",
      PG_ALLOWED_ADDRS: "127.0.0.1:5432,DB.example:6543,[::1]:5432",
    });
    expect(c.port).toBe(9000);
    expect(c.kafka?.brokers).toEqual(["127.0.0.1:9092", "kafka-2.local:9094"]);
    expect(c.redis).toMatchObject({ host: "127.0.0.1", port: 6380, username: "user", password: "p@ss", db: 2, tls: false });
    expect(c.pg?.allowed).toEqual(["127.0.0.1:5432", "db.example:6543", "[::1]:5432"]);
  });

  it("Redis REST limits: defaults, overrides", () => {
    const d = loadConfig({ BRIDGE_TOKEN: "t", REDIS_URL: "redis://127.0.0.1:6379" });
    expect(d.redis).toMatchObject({ maxRequestBytes: 4 * 1024 * 1024, maxCommands: 1000, maxResponseBytes: 8 * 1024 * 1024 });
    const c = loadConfig({
      BRIDGE_TOKEN: "t",
      REDIS_URL: "redis://127.0.0.1:6379",
      REDIS_MAX_REQUEST_BYTES: "65536",
      REDIS_MAX_COMMANDS: "10",
      REDIS_MAX_RESPONSE_BYTES: " ",
    });
    expect(c.redis).toMatchObject({ maxRequestBytes: 65536, maxCommands: 10, maxResponseBytes: 8 * 1024 * 1024 });
  });

  it("blank values count as unset", () => {
    const c = loadConfig({ BRIDGE_TOKEN: "t", KAFKA_BROKERS: "", REDIS_URL: " ", BRIDGE_PORT: "" });
    expect(c.kafka).toBeUndefined();
    expect(c.redis).toBeUndefined();
    expect(c.port).toBe(8788);
  });

  it.each([
    [{}, /^BRIDGE_TOKEN: required/],
    [{ BRIDGE_TOKEN: "t", BRIDGE_PORT: "http" }, /^BRIDGE_PORT: /],
    [{ BRIDGE_TOKEN: "t", BRIDGE_PORT: "70000" }, /^BRIDGE_PORT: .*0-65535/],
    [{ BRIDGE_TOKEN: "t", KAFKA_BROKERS: "kafka" }, /^KAFKA_BROKERS: expected host:port, got "kafka"$/],
    [{ BRIDGE_TOKEN: "t", KAFKA_BROKERS: "a:1,b:99999" }, /^KAFKA_BROKERS: expected host:port, got "b:99999"$/],
    [{ BRIDGE_TOKEN: "t", REDIS_URL: "http://127.0.0.1:6379" }, /^REDIS_URL: expected a redis:\/\//],
    [{ BRIDGE_TOKEN: "t", REDIS_URL: "127.0.0.1:6379" }, /^REDIS_URL: /],
    [{ BRIDGE_TOKEN: "t", PG_ALLOWED_ADDRS: "127.0.0.1" }, /^PG_ALLOWED_ADDRS: expected host:port/],
    [{ BRIDGE_TOKEN: "t", REDIS_MAX_RESPONSE_BYTES: "8MiB" }, /^REDIS_MAX_RESPONSE_BYTES: expected a positive whole number/],
    [{ BRIDGE_TOKEN: "t", REDIS_MAX_REQUEST_BYTES: "0" }, /^REDIS_MAX_REQUEST_BYTES: expected a positive whole number/],
    [{ BRIDGE_TOKEN: "t", REDIS_MAX_COMMANDS: "1.5" }, /^REDIS_MAX_COMMANDS: expected a positive whole number/],
    [{ BRIDGE_TOKEN: "t", BRIDGE_LOG_LEVEL: "loud" }, /^BRIDGE_LOG_LEVEL: /],
  ])("%j → %s", (env, re) => {
    const p = problems(env as Record<string, string>);
    expect(p.some((x) => re.test(x)), p.join("; ")).toBe(true);
  });

  it("reports every bad variable at once", () => {
    const p = problems({ KAFKA_BROKERS: "x", PG_ALLOWED_ADDRS: "y" });
    expect(p.map((x) => x.split(":")[0]).sort()).toEqual(["BRIDGE_TOKEN", "KAFKA_BROKERS", "PG_ALLOWED_ADDRS"]);
  });
});
