// Socket.IO 4 broadcast server, WebSocket transport only (no long-polling, no compression).
//   node bench/peers/socketio-server.mjs --port 9002
// The client emits "message" with {"type":"message","text"}; the server emits "comment" with
// the contract-shaped comment frame to everyone (io.emit encodes the packet once per broadcast).
import http from "node:http";
import { Server } from "socket.io";
import { acceptMessage, arg, commentObject, STREAM_ID } from "./common.mjs";

const port = Number(arg("port", 9002));
const server = http.createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404).end(req.url === "/healthz" ? "ok" : "");
});
const io = new Server(server, {
  transports: ["websocket"],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  maxHttpBufferSize: 8 * 1024,
});
let seq = 0;

io.on("connection", (socket) => {
  const userId = String(socket.handshake.query.uid ?? "anon");
  socket.on("message", (frame) => {
    const text = acceptMessage(JSON.stringify(frame ?? null));
    if (text === null) return;
    io.emit("comment", commentObject(++seq, STREAM_ID, userId, text));
  });
});

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ ready: true, port }) + "\n");
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
