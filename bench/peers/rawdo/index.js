// Diagnostic peer: the thinnest Durable Object broadcast room workerd allows, to tell the
// platform's per-message cost from a room's own. No framework, no auth, no storage:
//   /room?mode=hib  sockets accepted with ctx.acceptWebSocket (hibernatable, like ours/partyserver)
//   /room?mode=std  sockets accepted with ws.accept() (kept in memory, never hibernate)
// Each text message is rebuilt into the contract's comment frame and sent to every socket.
import { DurableObject } from "cloudflare:workers";

const STREAM_ID = "00000000-0000-4000-8000-00000000b0b0";

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

export class Room extends DurableObject {
  seq = 0;
  std = new Set();

  async fetch(request) {
    const url = new URL(request.url);
    const uid = url.searchParams.get("uid") ?? "anon";
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    if (url.searchParams.get("mode") === "std") {
      server.accept();
      this.std.add(server);
      server.addEventListener("message", (e) => this.onMessage(uid, e.data));
      server.addEventListener("close", () => this.std.delete(server));
      server.addEventListener("error", () => this.std.delete(server));
    } else {
      this.ctx.acceptWebSocket(server);
      server.serializeAttachment({ uid });
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, msg) {
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
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(s);
      } catch {}
    }
    for (const ws of this.std) {
      try {
        ws.send(s);
      } catch {}
    }
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
