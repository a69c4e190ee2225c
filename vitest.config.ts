/**
 * Worker tests: run inside workerd through the Workers Vitest integration, with the real
 * wrangler.toml (Durable Object, queue producer + consumer, assets).
 *
 * Outbound fetches from the worker go to `outbound` below, which plays two external parties:
 *   https://idp.test/jwks.json   an identity provider's JWKS (RS256 + ES256 keys made here)
 *   https://kafka-rest.test/...  a Kafka REST proxy that records what it is sent, so tests can
 *                                check the events the queue consumer relays, field for field.
 * (The real proxy, Redis and Postgres are exercised by the Node suites in test/bridge and test/e2e.)
 *
 * SHARD_MAX_SOCKETS comes from the environment (default 3): `npm test` runs this suite twice,
 * sharded with 3 sockets per shard (so every path crosses shards: fan-out, resume, dedupe, rate
 * limits, moderation, presence, eviction) and unsharded (0: the room holds every socket).
 */
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { exportJWK, generateKeyPair } from "jose";
import { defineConfig } from "vitest/config";

const rs = await generateKeyPair("RS256", { extractable: true });
const es = await generateKeyPair("ES256", { extractable: true });
const pub = [
  { ...(await exportJWK(rs.publicKey)), kid: "rs-1", alg: "RS256", use: "sig" },
  { ...(await exportJWK(es.publicKey)), kid: "es-1", alg: "ES256", use: "sig" },
];
const priv = {
  RS256: { ...(await exportJWK(rs.privateKey)), kid: "rs-1", alg: "RS256" },
  ES256: { ...(await exportJWK(es.privateKey)), kid: "es-1", alg: "ES256" },
};

const produced: Array<{ topic: string; auth: string | null; contentType: string | null; records: unknown[] }> = [];

async function outbound(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.host === "idp.test" && url.pathname === "/jwks.json") {
    return Response.json({ keys: pub });
  }
  if (url.host === "kafka-rest.test") {
    if (request.method === "GET" && url.pathname === "/_recorded") return Response.json(produced);
    const m = /^\/topics\/([^/]+)$/.exec(url.pathname);
    if (request.method === "POST" && m) {
      const body = (await request.json()) as { records: unknown[] };
      produced.push({
        topic: decodeURIComponent(m[1]!),
        auth: request.headers.get("authorization"),
        contentType: request.headers.get("content-type"),
        records: body.records,
      });
      return Response.json({
        key_schema_id: null,
        value_schema_id: null,
        offsets: body.records.map((_, i) => ({ partition: 0, offset: produced.length * 1000 + i, error_code: null, error: null })),
      });
    }
  }
  return new Response("no such test host", { status: 502 });
}

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          JWT_SECRET: "test-secret-0123456789abcdef",
          JWT_JWKS_URL: "https://idp.test/jwks.json",
          JWT_ISSUER: "https://idp.test/",
          JWT_AUDIENCE: "chat",
          ALLOWED_ORIGINS: "https://allowed.example,http://localhost:8787",
          DEV_TOKENS: "true",
          RATE_LIMIT_PER_SEC: "10",
          // Small, so the upload suite can send exactly the limit and one byte more (test/worker/uploads.test.ts).
          MAX_UPLOAD_BYTES: "65536",
          KAFKA_REST_URL: "https://kafka-rest.test",
          KAFKA_REST_TOKEN: "kafka-test-token",
          SHARD_MAX_SOCKETS: process.env.SHARD_MAX_SOCKETS ?? "3",
          TEST_PRIVATE_JWKS: JSON.stringify(priv),
          // The frame fuzzer's size and seed (test/worker/fuzz.test.ts; `npm run fuzz -- --count N --seed S`).
          FUZZ_COUNT: process.env.FUZZ_COUNT ?? "",
          FUZZ_SEED: process.env.FUZZ_SEED ?? "",
        },
        outboundService: outbound,
      },
    }),
  ],
  test: {
    include: ["test/worker/**/*.test.ts"],
    testTimeout: 20_000,
  },
});
