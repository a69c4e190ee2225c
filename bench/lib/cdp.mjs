// A minimal Chrome DevTools Protocol client over the `ws` package, enough to drive V8's sampling
// profiler in a workerd isolate (bench/profile.mjs): list the inspector's targets, attach to one,
// send commands and await their results. Events are counted, not handled.
//
//   const targets = await listTargets("ws://127.0.0.1:9229/");   // workerd: GET /json
//   const cdp = await CdpSession.connect(targets.find((t) => t.id === "core:user:bench").webSocketDebuggerUrl);
//   await cdp.send("Profiler.enable"); … await cdp.close();
import WebSocket from "ws";

/**
 * The inspector's target list (`GET http://<host:port>/json`): workerd lists one entry per worker
 * isolate, `id` = the service name ("core:user:<worker>" for a Miniflare user worker), with its
 * `webSocketDebuggerUrl`.
 */
export async function listTargets(inspectorUrl) {
  const u = new URL(inspectorUrl);
  const r = await fetch(`http://${u.host}/json`, { signal: AbortSignal.timeout(5000) });
  if (!r.ok) throw new Error(`inspector ${u.host}/json: HTTP ${r.status}`);
  return r.json();
}

export class CdpSession {
  /** @param {WebSocket} ws */
  constructor(ws) {
    this.ws = ws;
    this.nextId = 1;
    this.pending = new Map();
    this.events = {};
    ws.on("message", (data) => {
      let m;
      try {
        m = JSON.parse(data.toString("utf8"));
      } catch {
        return;
      }
      if (m.id !== undefined && this.pending.has(m.id)) {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error) p.reject(new Error(`${p.method}: ${m.error.message ?? JSON.stringify(m.error)}`));
        else p.resolve(m.result ?? {});
      } else if (m.method) this.events[m.method] = (this.events[m.method] ?? 0) + 1;
    });
    ws.on("close", () => {
      for (const p of this.pending.values()) p.reject(new Error(`inspector socket closed during ${p.method}`));
      this.pending.clear();
    });
  }

  static connect(url, timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      // A profile of a few seconds at 100 µs is a few MB of JSON: no payload cap, no compression.
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 0, handshakeTimeout: timeoutMs });
      ws.once("open", () => resolve(new CdpSession(ws)));
      ws.once("error", reject);
    });
  }

  /** Sends one command; resolves with its result, rejects on a protocol error or after timeoutMs. */
  send(method, params = {}, timeoutMs = 60_000) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        method,
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close() {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once("close", () => resolve());
      this.ws.close();
      setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, 2000).unref();
    });
  }
}
