// partyserver peer: the nearest open equivalent of our ChatRoom — a hibernating Durable Object
// (partyserver `Server` with hibernate: true) that rebuilds each chat message into the contract's
// comment frame and broadcasts it to every connection, sender included. No auth, no storage,
// no queue. Routed by partyserver itself: ws://host/parties/chat-server/<room>.
// Plain JS (not TS) so the repo's typecheck does not have to know the workers + partyserver types.
import { routePartykitRequest, Server } from "partyserver";

const MAX_CODE_POINTS = 500;

export class ChatServer extends Server {
  static options = { hibernate: true };
  // In memory only: restarts at 0 after a hibernation wake-up (our room keeps it in storage).
  seq = 0;

  onMessage(connection, message) {
    if (typeof message !== "string") return;
    let f;
    try {
      f = JSON.parse(message);
    } catch {
      return;
    }
    if (!f || f.type !== "message" || typeof f.text !== "string") return;
    const text = f.text.trim();
    if (!text) return;
    let n = 0;
    for (const _ of text) if (++n > MAX_CODE_POINTS) return;
    const uid = connection.state?.uid ?? "anon";
    this.broadcast(
      JSON.stringify({
        type: "comment",
        seq: ++this.seq,
        comment: {
          id: crypto.randomUUID(),
          stream_id: this.name,
          user_id: uid,
          username: null,
          message: text,
          created_at: new Date().toISOString(),
        },
      }),
    );
  }

  onConnect(connection, ctx) {
    const uid = new URL(ctx.request.url).searchParams.get("uid");
    if (uid) connection.setState({ uid });
  }
}

export default {
  async fetch(request, env) {
    return (await routePartykitRequest(request, env)) ?? new Response("Not Found", { status: 404 });
  },
};
