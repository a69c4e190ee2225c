/**
 * The bridge: one node:http server that gives the worker (and local tools) HTTP/WebSocket access
 * to TCP services, each part optional.
 *
 *   GET  /healthz                        liveness, no auth
 *   GET  /metrics                        Prometheus text
 *   POST /topics/{topic}                 Kafka REST proxy, v2 produce API    (KAFKA_BROKERS)
 *   POST /redis, /redis/pipeline,
 *        /redis/multi-exec               Upstash-compatible REST             (REDIS_URL)
 *   GET  /pg/v1?address=host:port        WebSocket→TCP for the Neon driver   (PG_ALLOWED_ADDRS)
 *
 * Every route but /healthz needs `Authorization: Bearer <BRIDGE_TOKEN>` (/pg/v1 also `?token=`).
 * Error bodies follow what each route's clients expect: Confluent's {"error_code","message"} on
 * /topics, Upstash's {"error"} on /redis, {"error","message"} elsewhere.
 *
 *   const bridge = await startBridge(loadConfig());   // { port, url, close() }
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { BridgeConfig } from "./config";
import { HttpError, bearerToken, sendJson, tokenMatches } from "./http";
import { handleProduce, KafkaProducerService, type KafkaBackend } from "./kafka";
import { DEFAULT_DEDUPE_WINDOW, ProducedWindow } from "./produced";
import { createLogger, type Logger } from "./log";
import { BridgeMetrics, Gauge } from "./metrics";
import { PgProxy, pgQuery, rejectUpgrade } from "./pg-proxy";
import { handleRedis, RedisConnection, type RedisEndpoint } from "./redis-rest";

export interface BridgeOptions {
  logger?: Logger;
  /** Replaces the kafkajs producer (tests of the HTTP layer alone). */
  kafkaBackend?: KafkaBackend;
}

export interface Bridge {
  readonly server: http.Server;
  readonly metrics: BridgeMetrics;
  /** Starts listening (port 0 = any free port). */
  listen(port?: number, host?: string): Promise<RunningBridge>;
  /**
   * Graceful stop: no new connections, in-flight requests (produces included) finish, then
   * Kafka/Redis/Postgres connections are closed. Idempotent.
   */
  close(): Promise<void>;
}

export interface RunningBridge {
  port: number;
  /** http://host:port */
  url: string;
  close(): Promise<void>;
}

type Route =
  | { name: "/healthz" }
  | { name: "/metrics" }
  | { name: "/topics/{topic}"; topic: string }
  | { name: "/redis" | "/redis/pipeline" | "/redis/multi-exec"; endpoint: RedisEndpoint }
  | { name: "/pg/v1" }
  | { name: "other" };

function route(pathname: string): Route {
  if (pathname === "/healthz") return { name: "/healthz" };
  if (pathname === "/metrics") return { name: "/metrics" };
  const topic = /^\/topics\/([^/]+)\/?$/.exec(pathname);
  if (topic) return { name: "/topics/{topic}", topic: topic[1]! };
  if (pathname === "/redis" || pathname === "/redis/") return { name: "/redis", endpoint: "single" };
  if (pathname === "/redis/pipeline") return { name: "/redis/pipeline", endpoint: "pipeline" };
  if (pathname === "/redis/multi-exec") return { name: "/redis/multi-exec", endpoint: "multi-exec" };
  if (pathname === "/pg/v1" || pathname === "/pg/v1/") return { name: "/pg/v1" };
  return { name: "other" };
}

/** The 401 body in the shape the route's clients parse. */
function unauthorized(r: Route): HttpError {
  const headers = { "www-authenticate": 'Bearer realm="bridge"' };
  if (r.name === "/topics/{topic}") {
    return new HttpError(401, { error_code: 40101, message: "Authentication failed: missing or bad bearer token." }, headers);
  }
  if (r.name.startsWith("/redis")) return new HttpError(401, { error: "Unauthorized" }, headers);
  return new HttpError(401, { error: "unauthorized", message: "missing or bad bearer token" }, headers);
}

export function createBridge(config: BridgeConfig, options: BridgeOptions = {}): Bridge {
  const log = options.logger ?? createLogger(config.logLevel);
  const metrics = new BridgeMetrics();

  const kafka: KafkaBackend | null =
    options.kafkaBackend ?? (config.kafka ? new KafkaProducerService(config.kafka, log, metrics) : null);
  // Remembers what this process wrote, for requests that ask to be deduped (src/bridge/produced.ts).
  const window = kafka ? new ProducedWindow(config.kafka?.dedupeWindow ?? DEFAULT_DEDUPE_WINDOW) : null;
  const redis = config.redis ? { connection: new RedisConnection(config.redis, log), config: config.redis } : null;
  const pg = config.pg ? new PgProxy(config.pg, log, metrics) : null;

  let inFlight = 0;
  let idle: (() => void) | null = null;
  let closing: Promise<void> | null = null;
  metrics.register(new Gauge("bridge_http_in_flight_requests", "HTTP requests being handled.", () => inFlight));
  metrics.register(new Gauge("bridge_pg_connections", "Open WebSocket→Postgres connections.", () => pg?.connections ?? 0));

  async function handle(req: IncomingMessage, res: ServerResponse, r: Route): Promise<void> {
    if (r.name === "/healthz") {
      if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, { error: "method_not_allowed", message: "use GET" });
      sendJson(res, closing ? 503 : 200, {
        status: closing ? "shutting_down" : "ok",
        kafka: kafka ? "enabled" : "disabled",
        redis: redis ? "enabled" : "disabled",
        pg: pg ? "enabled" : "disabled",
      });
      return;
    }
    if (!tokenMatches(bearerToken(req), config.token)) throw unauthorized(r);
    switch (r.name) {
      case "/metrics": {
        const text = metrics.render();
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "cache-control": "no-store" });
        res.end(text);
        return;
      }
      case "/topics/{topic}":
        return handleProduce(req, res, r.topic, {
          backend: kafka,
          log,
          metrics,
          produceDeadlineMs: config.kafka?.produceDeadlineMs ?? 30_000,
          window,
        });
      case "/redis":
      case "/redis/pipeline":
      case "/redis/multi-exec":
        return handleRedis(req, res, r.endpoint, { redis, log, metrics });
      case "/pg/v1":
        throw new HttpError(426, { error: "upgrade_required", message: "this route is a WebSocket" }, { upgrade: "websocket" });
      default:
        throw new HttpError(404, { error: "not_found", message: "no such route" });
    }
  }

  const server = http.createServer((req, res) => {
    const started = Date.now();
    const r = route(new URL(req.url ?? "/", "http://bridge").pathname);
    inFlight++;
    res.on("close", () => {
      metrics.httpRequests.inc({ route: r.name, method: req.method ?? "?", status: String(res.statusCode) });
      log.debug("request", { method: req.method, route: r.name, status: res.statusCode, ms: Date.now() - started });
      if (--inFlight === 0) idle?.();
    });
    if (closing && r.name !== "/healthz") {
      // Draining: tell keep-alive clients to come back on a new connection (another instance).
      sendJson(res, 503, { error: "shutting_down", message: "the bridge is shutting down" }, { connection: "close" });
      return;
    }
    handle(req, res, r).catch((err: unknown) => {
      if (err instanceof HttpError) {
        sendJson(res, err.status, err.body, err.headers);
        return;
      }
      // Unexpected: logged with context, answered without internals.
      metrics.errors.inc({ component: "http", kind: "internal" });
      log.error("unhandled error", { route: r.name, error: err instanceof Error ? err.stack ?? err.message : String(err) });
      const body: Record<string, unknown> =
        r.name === "/topics/{topic}"
          ? { error_code: 500, message: "Internal Server Error" }
          : r.name.startsWith("/redis")
            ? { error: "ERR internal bridge error" }
            : { error: "internal", message: "internal error" };
      sendJson(res, 500, body);
    });
  });
  server.keepAliveTimeout = 65_000;

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const r = route(new URL(req.url ?? "/", "http://bridge").pathname);
    const done = (status: number) => metrics.httpRequests.inc({ route: r.name, method: "UPGRADE", status: String(status) });
    socket.on("error", () => socket.destroy());
    if (r.name !== "/pg/v1") {
      done(404);
      return rejectUpgrade(socket, 404, "not_found", "no WebSocket route here");
    }
    if (closing) {
      done(503);
      return rejectUpgrade(socket, 503, "shutting_down", "the bridge is shutting down");
    }
    if (!tokenMatches(bearerToken(req) ?? pgQuery(req.url ?? "").get("token"), config.token)) {
      done(401);
      return rejectUpgrade(socket, 401, "unauthorized", "missing or bad token (Authorization: Bearer or ?token=)");
    }
    if (!pg) {
      done(503);
      return rejectUpgrade(socket, 503, "not_configured", "the Postgres proxy is not configured on this bridge (set PG_ALLOWED_ADDRS)");
    }
    pg.handleUpgrade(req, socket, head, done);
  });

  async function shutdown(): Promise<void> {
    server.close();
    server.closeIdleConnections();
    const deadline = Date.now() + 15_000;
    while (inFlight > 0 && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        idle = resolve;
        setTimeout(resolve, 250).unref();
      });
    }
    idle = null;
    server.closeAllConnections();
    pg?.close();
    redis?.connection.close();
    await Promise.allSettled([kafka?.close()]);
    log.info("bridge stopped");
  }

  const bridge: Bridge = {
    server,
    metrics,
    listen(port = config.port, host = config.host) {
      return new Promise<RunningBridge>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.removeListener("error", reject);
          const addr = server.address() as AddressInfo;
          const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
          log.info("bridge listening", {
            url: `http://${shownHost}:${addr.port}`,
            kafka: config.kafka?.brokers.join(",") ?? "disabled",
            redis: config.redis ? `${config.redis.host}:${config.redis.port}` : "disabled",
            pg: config.pg?.allowed.join(",") ?? "disabled",
          });
          resolve({ port: addr.port, url: `http://${shownHost}:${addr.port}`, close: () => bridge.close() });
        });
      });
    },
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
  return bridge;
}

/** Creates the bridge and listens on config.port / config.host (or the overrides). */
export function startBridge(
  config: BridgeConfig,
  options: BridgeOptions & { port?: number; host?: string } = {},
): Promise<RunningBridge> {
  return createBridge(config, options).listen(options.port ?? config.port, options.host ?? config.host);
}
