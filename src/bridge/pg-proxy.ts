/**
 * Neon-style WebSocket→TCP proxy, for the Neon serverless driver against a plain Postgres.
 *
 *   GET /pg/v1?address=host:port   (WebSocket upgrade)
 *
 * The protocol of Neon's wsproxy: after the upgrade, every binary frame from the client is
 * written to the TCP connection as it is, and every chunk read from TCP is sent back as one
 * binary frame. The driver runs the Postgres wire protocol over that (plain, pipelineTLS off).
 *
 * Safety: never an open relay. `address` must be one of PG_ALLOWED_ADDRS, compared as a
 * normalised host:port string (no DNS lookups, so a name can't be re-pointed elsewhere); anything
 * else is refused with 403 before a TCP connection is attempted. The TCP connection is opened
 * before the upgrade is accepted, so an unreachable database answers 502 instead of a WebSocket
 * that closes at once.
 *
 * Auth: the bridge token, as `Authorization: Bearer` (Node clients) or as `?token=` (the
 * driver in a worker cannot set headers on a WebSocket). Neon's driver appends
 * `?address=host:port` to a string wsProxy, so `NEON_WS_PROXY=127.0.0.1:8788/pg/v1?token=T` gives
 * `/pg/v1?token=T?address=…`: a second `?` in the query is read as `&`. The query (with the
 * token) is never logged.
 */
import type { IncomingMessage } from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { normaliseHostPort, type PgProxyConfig } from "./config";
import type { Logger } from "./log";
import type { BridgeMetrics } from "./metrics";

/** Pause reading from Postgres while this much is queued towards the client. */
const WS_HIGH_WATER = 4 * 1024 * 1024;

/** The query of a /pg/v1 URL, with the extra `?` of `…/pg/v1?token=T?address=…` read as `&`. */
export function pgQuery(rawUrl: string): URLSearchParams {
  const q = rawUrl.indexOf("?");
  return new URLSearchParams(q < 0 ? "" : rawUrl.slice(q + 1).replace(/\?/g, "&"));
}

/** Writes a plain HTTP error on a socket that has not been upgraded, then closes it. */
export function rejectUpgrade(socket: Duplex, status: number, error: string, message: string): void {
  const body = JSON.stringify({ error, message });
  const reason = { 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout" }[status] ?? "Error";
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
  // end() flushes the answer first; a client that does not close its side is cut off.
  setTimeout(() => socket.destroy(), 1_000).unref();
}

export class PgProxy {
  private readonly allowed: Set<string>;
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  private readonly live = new Set<{ ws: WebSocket; tcp: net.Socket }>();

  constructor(
    private readonly cfg: PgProxyConfig,
    private readonly log: Logger,
    private readonly metrics: BridgeMetrics,
  ) {
    this.allowed = new Set(cfg.allowed);
  }

  get connections(): number {
    return this.live.size;
  }

  /** Handles an authenticated upgrade request for /pg/v1; answers the status it ends with. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, done: (status: number) => void): void {
    const address = pgQuery(req.url ?? "").get("address");
    const target = address ? normaliseHostPort(address) : null;
    if (!target) {
      done(400);
      return rejectUpgrade(socket, 400, "bad_address", "expected ?address=host:port");
    }
    if (!this.allowed.has(target)) {
      this.log.warn("pg proxy: refused address not in PG_ALLOWED_ADDRS", { address: target });
      this.metrics.errors.inc({ component: "pg", kind: "address_refused" });
      done(403);
      return rejectUpgrade(socket, 403, "address_not_allowed", `${target} is not in PG_ALLOWED_ADDRS`);
    }
    const sep = target.lastIndexOf(":");
    const host = target.slice(0, sep).replace(/^\[|\]$/g, "");
    const port = Number(target.slice(sep + 1));

    const tcp = net.connect({ host, port });
    let upgraded = false;
    const timer = setTimeout(() => tcp.destroy(new Error("connect timeout")), this.cfg.connectTimeoutMs);
    // The client may give up while we dial.
    const onClientGone = () => tcp.destroy();
    socket.once("close", onClientGone);
    tcp.once("error", (err) => {
      if (upgraded) return;
      clearTimeout(timer);
      socket.removeListener("close", onClientGone);
      this.log.warn("pg proxy: cannot reach database", { address: target, error: err.message });
      this.metrics.errors.inc({ component: "pg", kind: "connect_failed" });
      const timeout = err.message === "connect timeout";
      done(timeout ? 504 : 502);
      rejectUpgrade(socket, timeout ? 504 : 502, "upstream_unreachable", `cannot connect to ${target}`);
    });
    tcp.once("connect", () => {
      clearTimeout(timer);
      socket.removeListener("close", onClientGone);
      if (socket.destroyed) {
        tcp.destroy();
        return;
      }
      upgraded = true;
      tcp.setNoDelay(true);
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        done(101);
        this.pipe(ws, tcp, target);
      });
    });
  }

  private pipe(ws: WebSocket, tcp: net.Socket, target: string): void {
    const link = { ws, tcp };
    this.live.add(link);
    ws.binaryType = "nodebuffer";
    this.log.debug("pg proxy: connected", { address: target });

    ws.on("message", (data: RawData) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (!tcp.write(buf)) {
        // Postgres reads slower than the client writes: stop reading frames until it drains.
        ws.pause();
        tcp.once("drain", () => ws.resume());
      }
    });
    tcp.on("data", (chunk: Buffer) => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(chunk, { binary: true }, () => {
        if (tcp.isPaused() && ws.bufferedAmount < WS_HIGH_WATER / 4) tcp.resume();
      });
      if (ws.bufferedAmount > WS_HIGH_WATER) tcp.pause();
    });

    const finish = () => {
      if (!this.live.delete(link)) return;
      this.log.debug("pg proxy: closed", { address: target });
    };
    ws.on("close", () => {
      tcp.end();
      // A database that does not close its side in time is cut off.
      setTimeout(() => tcp.destroy(), 2_000).unref();
      finish();
    });
    ws.on("error", (err) => {
      this.log.warn("pg proxy: websocket error", { address: target, error: err.message });
      tcp.destroy();
    });
    tcp.on("error", (err) => {
      this.metrics.errors.inc({ component: "pg", kind: "upstream_error" });
      this.log.warn("pg proxy: database connection error", { address: target, error: err.message });
    });
    tcp.on("close", (hadError) => {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
        ws.close(hadError ? 1011 : 1000, hadError ? "database connection error" : "database closed the connection");
      }
      finish();
    });
  }

  /** Closes every proxied connection (bridge shutdown). */
  close(): void {
    for (const { ws, tcp } of this.live) {
      ws.close(1001, "bridge shutting down");
      tcp.destroy();
    }
    this.live.clear();
    this.wss.close();
  }
}
