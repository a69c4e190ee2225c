/**
 * Postgres from the worker: one short-lived @neondatabase/serverless `Client` per lookup, over a
 * WebSocket (TCP is not available to a Worker outside a request's own sockets, and a client per
 * request is what Neon recommends for Workers: a connection must not outlive its request).
 *
 * NEON_WS_PROXY (local development and tests) points the driver at a WebSocket→TCP proxy — the
 * bridge's `/pg/v1` — over plain ws:// with no TLS inside; unset, the driver talks to Neon itself.
 */
import { Client, neonConfig } from "@neondatabase/serverless";
import type { Config } from "./env";
import { describeError } from "./errors";

let proxyConfigured: string | undefined;

/** Applies NEON_WS_PROXY to the driver's global settings (once per value per isolate). */
export function configureNeon(proxy: string | undefined): void {
  if (proxy === proxyConfigured) return;
  proxyConfigured = proxy;
  if (proxy) {
    const sep = proxy.includes("?") ? "&" : "?";
    neonConfig.wsProxy = (host: string, port: number | string) => `${proxy}${sep}address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.pipelineConnect = false;
  }
}

/** Thrown by withNeonClient when the lookup takes longer than its limit. */
export class DatabaseTimeoutError extends Error {
  override name = "DatabaseTimeoutError";
}

/**
 * Connects to DATABASE_URL, runs `fn`, closes the connection. Rejects with the driver's error
 * (describe it with describeError), or with DatabaseTimeoutError after `timeoutMs` (connect and
 * query together), so a database that accepts and never answers cannot hold a WebSocket upgrade
 * open. `label` prefixes the warning logged for a socket error the driver emits as an event.
 */
export async function withNeonClient<T>(
  cfg: Pick<Config, "DATABASE_URL" | "NEON_WS_PROXY">,
  label: string,
  timeoutMs: number,
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  if (!cfg.DATABASE_URL) throw new Error("DATABASE_URL is not set");
  configureNeon(cfg.NEON_WS_PROXY);
  const client = new Client({ connectionString: cfg.DATABASE_URL });
  // The driver emits socket errors (e.g. the connection dropping as it is closed) as events;
  // without a listener they would surface as uncaught errors.
  let ending = false;
  client.on("error", (err: unknown) => {
    if (!ending) console.warn(`${label}: Postgres connection error: ${describeError(err)}`);
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new DatabaseTimeoutError(`no answer from Postgres within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  let connected = false;
  const work = (async () => {
    await client.connect();
    connected = true;
    return fn(client);
  })();
  work.catch(() => undefined); // settled by the race below; a late rejection is not unhandled
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    ending = true;
    const closing = client.end().catch(() => undefined);
    // Only a connection that was made is waited for: ending one that failed or never answered
    // may never settle (in workerd a request waiting on it is cancelled as hung).
    if (connected && !timedOut) await closing;
  }
}
