/**
 * Worker tests: run inside workerd through the Workers Vitest integration, with the real
 * wrangler.toml (Durable Object, queue producer + consumer, assets).
 *
 * Outbound fetches from the worker go to `outbound` below, which plays two external parties:
 *   https://idp.test/jwks.json   an identity provider's JWKS (RS256 + ES256 keys made here)
 *   https://kafka-rest.test/...  a Kafka REST proxy that records what it is sent, so tests can
 *                                check the events the queue consumer relays, field for field.
 *                                `POST /_fail {"stream_id","status","body"}` makes every produce
 *                                carrying a record of that stream answer `status` (nothing recorded)
 *                                until `DELETE /_fail?stream_id=` (test/worker/dead-letters.test.ts).
 *   https://upstash.test/        an Upstash REST endpoint that answers ZRANGE from members a test
 *                                put under a key (POST /_members/{key}), so a test can prove the
 *                                history API reads Redis when it is configured; any other
 *                                command, and every request to https://upstash-down.test, is a 503.
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

/** The fake Upstash's sorted sets: key → members, highest score first (what ZRANGE … REV answers). */
const redisMembers = new Map<string, string[]>();

/** The fake Upstash (see the header): members as a test put them, base64 when the client asks for it. */
async function upstash(request: Request, url: URL): Promise<Response> {
  if (url.host === "upstash-down.test") return Response.json({ error: "ERR service unavailable" }, { status: 503 });
  const m = /^\/_members\/(.+)$/.exec(url.pathname);
  if (request.method === "POST" && m) {
    redisMembers.set(decodeURIComponent(m[1]!), (await request.json()) as string[]);
    return Response.json({ ok: true });
  }
  const command = (await request.json()) as Array<string | number>;
  if (String(command[0]).toLowerCase() !== "zrange") return Response.json({ error: `ERR fake upstash: ${String(command[0])}` }, { status: 503 });
  const limitAt = command.findIndex((x) => String(x).toUpperCase() === "LIMIT");
  const count = limitAt >= 0 ? Number(command[limitAt + 2]) : Infinity;
  const members = (redisMembers.get(String(command[1])) ?? []).slice(0, count);
  const base64 = request.headers.get("upstash-encoding") === "base64";
  return Response.json({ result: members.map((x) => (base64 ? btoa(String.fromCharCode(...new TextEncoder().encode(x))) : x)) });
}

const produced: Array<{ topic: string; auth: string | null; contentType: string | null; records: unknown[] }> = [];
/** Streams whose produces fail, and how (the proxy's status and body). */
const failing = new Map<string, { status: number; body: string }>();
const keyOf = (r: unknown) => {
  const key = (r as { key?: unknown }).key;
  return typeof key === "string" ? Buffer.from(key, "base64").toString("utf8") : null;
};

async function outbound(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.host === "idp.test" && url.pathname === "/jwks.json") {
    return Response.json({ keys: pub });
  }
  if (url.host === "upstash.test" || url.host === "upstash-down.test") return upstash(request, url);
  if (url.host === "kafka-rest.test") {
    if (request.method === "GET" && url.pathname === "/_recorded") return Response.json(produced);
    if (url.pathname === "/_fail") {
      if (request.method === "POST") {
        const f = (await request.json()) as { stream_id: string; status: number; body: string };
        failing.set(f.stream_id, { status: f.status, body: f.body });
      } else failing.delete(url.searchParams.get("stream_id") ?? "");
      return Response.json({ ok: true });
    }
    const m = /^\/topics\/([^/]+)$/.exec(url.pathname);
    if (request.method === "POST" && m) {
      const body = (await request.json()) as { records: unknown[] };
      const poisoned = body.records.map(keyOf).find((k) => k !== null && failing.has(k));
      if (poisoned) {
        const f = failing.get(poisoned)!;
        return new Response(f.body, { status: f.status });
      }
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
