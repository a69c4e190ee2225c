// Minimal Node `ws` broadcast server: the near-physical baseline.
//   node bench/peers/ws-server.mjs --port 9001 [--batch]
// Every text frame {"type":"message","text"} is rebuilt into a contract-shaped comment frame,
// serialised once, turned into one Buffer, and written to every open socket (sender included).
//
// --batch: the fair counterpart of the room's opt-in `?batch=1` delivery. A lone message goes out
// at once; messages arriving within the following 10 ms tick are held and flushed at the end of the
// tick, as one {"type":"batch","frames":[...]} when more than one is pending (a single pending
// frame is sent as itself). The batch string is built once per tick for all sockets.
import http from "node:http";
import { WebSocketServer } from "ws";
import { acceptMessage, arg, commentObject, STREAM_ID } from "./common.mjs";

const port = Number(arg("port", 9001));
const batch = Boolean(arg("batch", false));
const TICK_MS = 10;

const server = http.createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404).end(req.url === "/healthz" ? "ok" : "");
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 8 * 1024 });
let seq = 0;

function sendAll(buf) {
  for (const c of wss.clients) if (c.readyState === 1) c.send(buf, { binary: false });
}

let pending = [];
let ticking = false;
function flushTick() {
  if (pending.length === 0) {
    ticking = false;
    return;
  }
  const frames = pending;
  pending = [];
  const s = frames.length === 1 ? frames[0] : `{"type":"batch","frames":[${frames.join(",")}]}`;
  sendAll(Buffer.from(s));
  setTimeout(flushTick, TICK_MS);
}

function broadcast(frameString) {
  if (!batch) return sendAll(Buffer.from(frameString));
  if (!ticking) {
    ticking = true;
    sendAll(Buffer.from(frameString));
    setTimeout(flushTick, TICK_MS);
  } else pending.push(frameString);
}

wss.on("connection", (ws, req) => {
  const userId = new URL(req.url ?? "/", "http://x").searchParams.get("uid") ?? "anon";
  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    const text = acceptMessage(data);
    if (text === null) return;
    broadcast(JSON.stringify(commentObject(++seq, STREAM_ID, userId, text)));
  });
  ws.on("error", () => {});
});

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ ready: true, port, batch }) + "\n");
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
