/** A Node `ws` chat client for the Node suites: records frames, waits with diagnostics. */
import WebSocket from "ws";
import { ServerFrame, type CommentFrame } from "../../src/protocol";

export class ChatSocket {
  frames: ServerFrame[] = [];
  closed: number | null = null;
  private constructor(readonly ws: WebSocket) {
    ws.on("message", (d) => {
      const f = ServerFrame.parse(JSON.parse(d.toString()));
      if (f.type === "batch") this.frames.push(...(f.frames as ServerFrame[]));
      else this.frames.push(f);
    });
    ws.on("close", (code) => (this.closed = code));
  }

  static open(baseUrl: string, streamId: string, token: string, query = ""): Promise<ChatSocket> {
    const url = `${baseUrl.replace(/^http/, "ws")}/ws/streams/${streamId}/chat${query}`;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
      const s = new ChatSocket(ws);
      ws.once("open", () => resolve(s));
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
    });
  }

  send(text: string, clientMsgId?: string) {
    this.ws.send(JSON.stringify({ type: "message", text, ...(clientMsgId ? { client_msg_id: clientMsgId } : {}) }));
  }

  comments(): CommentFrame[] {
    return this.frames.filter((f): f is CommentFrame => f.type === "comment");
  }

  async until(pred: () => boolean, what: string, ms = 15_000) {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last frames: ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  close() {
    this.ws.close(1000);
  }
}

export async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)?.slice(0, 500)} ${lastErr ? String(lastErr) : ""}`);
}
