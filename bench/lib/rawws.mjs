// A deliberately small RFC 6455 client for the load generator's receive path. The `ws` package
// costs ~10 µs of JS per received message on this class of machine (stream plumbing, events,
// buffer copies), which saturates one core at ~100 k deliveries/s — the very load we measure.
// Here a socket chunk is walked in place and each text frame's payload is handed over as a
// subarray: no copies, no per-frame events. Client frames are masked as the RFC requires.
// Scope: text frames, continuation, ping/pong, close; no extensions (no permessage-deflate).
import net from "node:net";
import { randomBytes } from "node:crypto";

export class RawWs {
  /**
   * @param {string} url ws://host:port/path?query
   * @param {object} o { headers, onOpen(), onText(buf), onFail(reason), onClose(), onCloseFrame(code, reason) }
   */
  constructor(url, o) {
    const u = new URL(url);
    this.o = o;
    this.open = false;
    this.closed = false;
    this.pending = null; // partial frame bytes carried to the next chunk
    this.frag = null; // fragmented message parts
    const key = randomBytes(16).toString("base64");
    const lines = [
      `GET ${u.pathname}${u.search} HTTP/1.1`,
      `Host: ${u.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
      ...Object.entries(o.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
      "",
      "",
    ];
    const s = (this.sock = net.connect({ host: u.hostname, port: Number(u.port || 80) }));
    s.setNoDelay(true);
    s.on("connect", () => s.write(lines.join("\r\n")));
    let head = null;
    s.on("data", (chunk) => {
      if (this.open) return this._frames(chunk);
      head = head ? Buffer.concat([head, chunk]) : chunk;
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      const status = /^HTTP\/1\.1 (\d{3})/.exec(head.subarray(0, 20).toString("latin1"))?.[1];
      if (status !== "101") {
        this._fail(`http_${status ?? "bad"}`);
        return;
      }
      this.open = true;
      o.onOpen?.();
      const rest = head.subarray(end + 4);
      head = null;
      if (rest.length) this._frames(rest);
    });
    s.on("error", (e) => this._fail(e.code ?? "error"));
    s.on("close", () => {
      if (!this.open) this._fail("closed");
      this._closed();
    });
  }

  _fail(reason) {
    if (this.failed) return;
    this.failed = true;
    this.o.onFail?.(reason);
    this.sock.destroy();
  }

  _closed() {
    if (this.closed) return;
    this.closed = true;
    if (this.open) this.o.onClose?.();
  }

  _frames(chunk) {
    let b = chunk;
    if (this.pending) {
      b = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let p = 0;
    const n = b.length;
    while (n - p >= 2) {
      const b0 = b[p];
      const b1 = b[p + 1];
      let len = b1 & 0x7f;
      let off = p + 2;
      if (len === 126) {
        if (n - p < 4) break;
        len = b.readUInt16BE(p + 2);
        off = p + 4;
      } else if (len === 127) {
        if (n - p < 10) break;
        len = Number(b.readBigUInt64BE(p + 2));
        off = p + 10;
      }
      if (b1 & 0x80) off += 4; // servers must not mask; skip a key if one is there anyway
      if (n - off < len) break;
      const payload = b.subarray(off, off + len);
      p = off + len;
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === 1) {
        if (fin) this.o.onText(payload);
        else this.frag = [Buffer.from(payload)];
      } else if (opcode === 0 && this.frag) {
        this.frag.push(Buffer.from(payload));
        if (fin) {
          const whole = Buffer.concat(this.frag);
          this.frag = null;
          this.o.onText(whole);
        }
      } else if (opcode === 9) this._send(0xa, Buffer.from(payload));
      else if (opcode === 8) {
        // o.onCloseFrame(code, reason): the server's close frame (bench/flood.mjs records who closed whom).
        this.o.onCloseFrame?.(payload.length >= 2 ? payload.readUInt16BE(0) : 1005, payload.subarray(2).toString("utf8"));
        if (this.closed) return;
        this._send(0x8, Buffer.from(payload.subarray(0, 2)));
        this.sock.end();
      }
    }
    if (p < n) this.pending = Buffer.from(b.subarray(p));
  }

  _send(opcode, data) {
    if (this.closed || !this.open) throw new Error("not open");
    const len = data.length;
    const hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
    const f = Buffer.allocUnsafe(hl + 4 + len);
    f[0] = 0x80 | opcode;
    if (len < 126) f[1] = 0x80 | len;
    else if (len < 65536) {
      f[1] = 0x80 | 126;
      f.writeUInt16BE(len, 2);
    } else {
      f[1] = 0x80 | 127;
      f.writeBigUInt64BE(BigInt(len), 2);
    }
    const mask = randomBytes(4);
    mask.copy(f, hl);
    for (let i = 0; i < len; i++) f[hl + 4 + i] = data[i] ^ mask[i & 3];
    this.sock.write(f);
  }

  send(text) {
    this._send(0x1, Buffer.from(text));
  }

  terminate() {
    this.closed = true;
    this.sock.destroy();
  }
}
