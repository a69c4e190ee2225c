// Diagnostic peer: the thinnest Durable Object broadcast room workerd allows, to tell the
// platform's per-message cost from a room's own. No framework, no auth, no storage:
//   /room?mode=hib  sockets accepted with ctx.acceptWebSocket (hibernatable, like ours/partyserver)
//   /room?mode=std  sockets accepted with ws.accept() (kept in memory, never hibernate)
// Each text message is rebuilt into the contract's comment frame and sent to every socket.
//
//   /room?...&batch=1[&window=W]  this socket gets frames coalesced the way our room does for
//   `?batch=1` clients (src/fanout.ts): a lone message is sent at once and opens a window of W ms
//   (default 25); frames arriving while it is open are held, and when it ends they go out as ONE
//   string encoded once for every batched socket of that window — `{"type":"batch","frames":[...]}`,
//   or the frame itself if only one is pending — and the window opens again; it stays closed once a
//   window ends with nothing pending. Sockets that ask for different W get separate windows.
//
// Hibernatable sockets carry a tag: "p" (plain) or "b:<W>" (batched, window W), so a broadcast asks
// the runtime for exactly the sockets it serves (getWebSockets(tag)), with no per-socket attachment
// read; the windows in use are rebuilt from the tags after a wake-up.
//
//   /room?...&sink=1  this socket's frames are received and dropped at once (webSocketMessage returns
//   before reading anything): the platform's floor for a frame the room does nothing with — what a
//   flood costs workerd to read and dispatch (bench/flood.mjs burst/many, issue 19 §4). Kept in memory
//   (a WeakSet): the bench never lets the object hibernate. (Before the batch option,
// plain sockets were untagged and a broadcast walked getWebSockets(): same sends, one tag lookup more.)
import { DurableObject } from "cloudflare:workers";

const STREAM_ID = "00000000-0000-4000-8000-00000000b0b0";
const DEFAULT_WINDOW_MS = 25;
const PLAIN_TAG = "p";
const batchTag = (w) => `b:${w}`;

function frame(seq, uid, raw) {
  let f;
  try {
    f = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!f || f.type !== "message" || typeof f.text !== "string") return null;
  const text = f.text.trim();
  if (!text) return null;
  return JSON.stringify({
    type: "comment",
    seq,
    comment: { id: crypto.randomUUID(), stream_id: STREAM_ID, user_id: uid, username: null, message: text, created_at: new Date().toISOString() },
  });
}

/** `window=<ms>` as a positive integer, else the default. */
function windowOf(url) {
  const w = Number(url.searchParams.get("window"));
  return Number.isInteger(w) && w > 0 ? w : DEFAULT_WINDOW_MS;
}

function sendAll(sockets, s) {
  for (const ws of sockets) {
    try {
      ws.send(s);
    } catch {}
  }
}

export class Room extends DurableObject {
  seq = 0;
  std = new Set();
  /** window ms → { open, pending: string[], std: Set<WebSocket> } (one per W in use) */
  windows = new Map();
  /** sockets opened with sink=1 */
  sinks = new WeakSet();

  constructor(ctx, env) {
    super(ctx, env);
    // After a wake-up: the batched windows in use, from the hibernated sockets' tags.
    for (const ws of ctx.getWebSockets()) {
      for (const t of ctx.getTags(ws)) if (t.startsWith("b:")) this.windowFor(Number(t.slice(2)));
    }
  }

  windowFor(w) {
    let g = this.windows.get(w);
    if (!g) this.windows.set(w, (g = { w, open: false, pending: [], std: new Set() }));
    return g;
  }

  async fetch(request) {
    const url = new URL(request.url);
    const uid = url.searchParams.get("uid") ?? "anon";
    const g = url.searchParams.get("batch") === "1" ? this.windowFor(windowOf(url)) : null;
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    if (url.searchParams.get("mode") === "std") {
      server.accept();
      const set = g ? g.std : this.std;
      set.add(server);
      server.addEventListener("message", (e) => this.onMessage(uid, e.data));
      server.addEventListener("close", () => set.delete(server));
      server.addEventListener("error", () => set.delete(server));
    } else {
      this.ctx.acceptWebSocket(server, [g ? batchTag(g.w) : PLAIN_TAG]);
      server.serializeAttachment({ uid });
    }
    if (url.searchParams.get("sink") === "1") this.sinks.add(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, msg) {
    if (this.sinks.has(ws)) return;
    if (typeof msg === "string") this.onMessage(ws.deserializeAttachment()?.uid ?? "anon", msg);
  }

  webSocketClose(ws, code) {
    try {
      ws.close(code === 1005 ? 1000 : code);
    } catch {}
  }

  onMessage(uid, raw) {
    const s = frame(++this.seq, uid, raw);
    if (s === null) return;
    sendAll(this.ctx.getWebSockets(PLAIN_TAG), s);
    sendAll(this.std, s);
    for (const g of this.windows.values()) {
      if (g.open) g.pending.push(s);
      else {
        // A lone message is never held back: out now, and a window opens for what follows.
        this.sendBatched(g, s);
        this.openWindow(g);
      }
    }
  }

  sendBatched(g, s) {
    sendAll(this.ctx.getWebSockets(batchTag(g.w)), s);
    sendAll(g.std, s);
  }

  openWindow(g) {
    g.open = true;
    setTimeout(() => {
      g.open = false;
      if (g.pending.length === 0) return;
      const pending = g.pending;
      g.pending = [];
      this.sendBatched(g, pending.length === 1 ? pending[0] : `{"type":"batch","frames":[${pending.join(",")}]}`);
      this.openWindow(g);
    }, g.w);
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/room") return new Response("not found", { status: 404 });
    if (request.headers.get("Upgrade") !== "websocket") return new Response("upgrade required", { status: 426 });
    return env.ROOM.get(env.ROOM.idFromName("bench")).fetch(request);
  },
};
