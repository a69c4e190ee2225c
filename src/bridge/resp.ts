/**
 * A small RESP2 client for Redis over node:net (or node:tls): one connection, pipelined.
 *
 * - Commands are written as arrays of bulk strings; replies come back in order, so each reply
 *   settles the oldest pending command (FIFO).
 * - The parser is incremental: replies may arrive split at any byte, or many in one chunk. A large
 *   bulk string is not re-parsed on every chunk: the parser waits until enough bytes are there.
 * - `batch()` writes several commands in ONE socket write. Nothing from another caller can come
 *   between them on the wire, which is what makes MULTI … EXEC safe on a shared connection.
 * - Redis error replies (`-ERR …`) are values (RespError), not connection failures. `call()`
 *   throws them; `batch()` returns them in place so a pipeline can report each command.
 * - Connection loss rejects every pending command with RespConnectionError (a command in flight
 *   may or may not have run: that is Redis's own contract). There is no offline queue: while
 *   Redis is down every call fails at once, and the next call after it is back reconnects.
 * - A hung server (no reply within commandTimeoutMs) is treated as a lost connection.
 */
import net from "node:net";
import tls from "node:tls";

export type RespArg = string | Buffer | number;
export type RespReply = string | Buffer | number | bigint | null | RespError | RespReply[];

/** An error reply from Redis (`-WRONGTYPE …`). */
export class RespError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RespError";
  }
}

/** Not connected, connection lost, or no reply in time. */
export class RespConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RespConnectionError";
  }
}

/** A byte stream that is not RESP2. */
export class RespProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RespProtocolError";
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

const CRLF = Buffer.from("\r\n");

/** Encodes commands as RESP arrays of bulk strings, concatenated into one buffer. */
export function encodeCommands(commands: readonly (readonly RespArg[])[]): Buffer {
  const parts: Buffer[] = [];
  for (const args of commands) {
    parts.push(Buffer.from(`*${args.length}\r\n`));
    for (const a of args) {
      const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a), "utf8");
      parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
    }
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

const INCOMPLETE = Symbol("incomplete");
type Parsed = { value: RespReply; next: number } | typeof INCOMPLETE;

/**
 * Incremental RESP2 parser. `feed()` takes any slice of the stream and returns the replies that
 * are complete so far; the rest is kept for the next call.
 */
export class RespParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes needed before parsing can make progress (0 = unknown, try on every chunk). */
  private need = 0;

  feed(chunk: Buffer): RespReply[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered < this.need) return [];
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    const out: RespReply[] = [];
    let pos = 0;
    this.need = 0;
    while (pos < buf.length) {
      const r = this.parse(buf, pos);
      if (r === INCOMPLETE) break;
      out.push(r.value);
      pos = r.next;
    }
    const rest = pos === buf.length ? null : buf.subarray(pos);
    this.chunks = rest ? [rest] : [];
    this.buffered = rest ? rest.length : 0;
    if (this.need) this.need -= pos; // `need` was an absolute offset in `buf`
    return out;
  }

  reset(): void {
    this.chunks = [];
    this.buffered = 0;
    this.need = 0;
  }

  private line(buf: Buffer, start: number): { text: string; next: number } | null {
    const end = buf.indexOf(CRLF, start);
    if (end < 0) return null;
    return { text: buf.toString("utf8", start, end), next: end + 2 };
  }

  private int(text: string): number {
    if (!/^-?\d+$/.test(text)) throw new RespProtocolError(`bad length ${JSON.stringify(text.slice(0, 32))}`);
    return Number(text);
  }

  private parse(buf: Buffer, pos: number): Parsed {
    if (pos >= buf.length) return INCOMPLETE;
    const type = buf[pos];
    const l = this.line(buf, pos + 1);
    if (!l) return INCOMPLETE;
    switch (type) {
      case 0x2b: // '+' simple string
        return { value: l.text, next: l.next };
      case 0x2d: // '-' error
        return { value: new RespError(l.text), next: l.next };
      case 0x3a: {
        // ':' integer (64-bit: beyond 2^53 it stays exact as a bigint)
        if (!/^-?\d+$/.test(l.text)) throw new RespProtocolError(`bad integer ${JSON.stringify(l.text.slice(0, 32))}`);
        const n = Number(l.text);
        return { value: Number.isSafeInteger(n) ? n : BigInt(l.text), next: l.next };
      }
      case 0x24: {
        // '$' bulk string
        const len = this.int(l.text);
        if (len < 0) return { value: null, next: l.next };
        const end = l.next + len;
        if (buf.length < end + 2) {
          this.need = end + 2;
          return INCOMPLETE;
        }
        if (buf[end] !== 0x0d || buf[end + 1] !== 0x0a) throw new RespProtocolError("bulk string not followed by CRLF");
        return { value: Buffer.from(buf.subarray(l.next, end)), next: end + 2 };
      }
      case 0x2a: {
        // '*' array
        const count = this.int(l.text);
        if (count < 0) return { value: null, next: l.next };
        const items: RespReply[] = [];
        let next = l.next;
        for (let i = 0; i < count; i++) {
          const r = this.parse(buf, next);
          if (r === INCOMPLETE) return INCOMPLETE;
          items.push(r.value);
          next = r.next;
        }
        return { value: items, next };
      }
      default:
        throw new RespProtocolError(`unexpected type byte 0x${(type ?? 0).toString(16)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

export interface RespClientOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: boolean;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** Called on connect / disconnect, for logs. */
  onEvent?: (event: "connect" | "disconnect", detail?: string) => void;
}

interface Pending {
  resolve: (r: RespReply) => void;
  reject: (e: Error) => void;
  sentAt: number;
}

export class RespClient {
  private socket: net.Socket | null = null;
  private connecting: Promise<net.Socket> | null = null;
  private readonly parser = new RespParser();
  private pending: Pending[] = [];
  private pendingHead = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly opts: RespClientOptions) {}

  /** Connected right now (no reconnect is attempted by asking). */
  get connected(): boolean {
    return this.socket !== null;
  }

  /** Runs one command; an error reply is thrown as RespError. */
  async call(...args: RespArg[]): Promise<RespReply> {
    const [reply] = await this.batch([args]);
    if (reply instanceof RespError) throw reply;
    return reply!;
  }

  /**
   * Writes all commands at once and returns their replies in order; error replies are returned
   * as RespError values. Rejects with RespConnectionError when the connection fails.
   */
  async batch(commands: readonly (readonly RespArg[])[]): Promise<RespReply[]> {
    if (commands.length === 0) return [];
    const payload = encodeCommands(commands);
    const socket = await this.connection();
    return this.write(socket, payload, commands.length);
  }

  /** Closes the connection; pending commands are rejected, later calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    const s = this.socket;
    if (s) {
      await new Promise<void>((resolve) => {
        s.once("close", () => resolve());
        s.end();
        setTimeout(() => s.destroy(), 1000).unref();
      });
    }
    this.failAll(new RespConnectionError("client closed"));
  }

  // -- internals ---------------------------------------------------------------------------

  private write(socket: net.Socket, payload: Buffer, count: number): Promise<RespReply[]> {
    if (socket.destroyed) return Promise.reject(new RespConnectionError("Redis connection lost"));
    const now = Date.now();
    const replies = Array.from(
      { length: count },
      () =>
        new Promise<RespReply>((resolve, reject) => {
          this.pending.push({ resolve, reject, sentAt: now });
        }),
    );
    socket.write(payload);
    this.armWatchdog();
    return Promise.all(replies);
  }

  private shiftPending(): Pending | undefined {
    if (this.pendingHead >= this.pending.length) return undefined;
    const p = this.pending[this.pendingHead]!;
    this.pendingHead++;
    // Compact now and then instead of Array.shift() on every reply.
    if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
    return p;
  }

  private failAll(err: Error): void {
    const list = this.pending.slice(this.pendingHead);
    this.pending = [];
    this.pendingHead = 0;
    for (const p of list) p.reject(err);
  }

  private armWatchdog(): void {
    if (this.watchdog || !this.opts.commandTimeoutMs) return;
    const limit = this.opts.commandTimeoutMs;
    this.watchdog = setInterval(
      () => {
        const oldest = this.pending[this.pendingHead];
        if (!oldest) {
          clearInterval(this.watchdog!);
          this.watchdog = null;
          return;
        }
        if (Date.now() - oldest.sentAt > limit) {
          this.socket?.destroy(new RespConnectionError(`no reply from Redis within ${limit} ms`));
        }
      },
      Math.min(250, limit),
    );
    this.watchdog.unref();
  }

  private connection(): Promise<net.Socket> {
    if (this.closed) return Promise.reject(new RespConnectionError("client closed"));
    if (this.socket) return Promise.resolve(this.socket);
    if (!this.connecting) {
      this.connecting = this.open().finally(() => {
        this.connecting = null;
      });
    }
    return this.connecting;
  }

  private open(): Promise<net.Socket> {
    const { host, port } = this.opts;
    const where = `${host}:${port}`;
    return new Promise<net.Socket>((resolve, reject) => {
      const socket = this.opts.tls
        ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host })
        : net.connect({ host, port });
      const readyEvent = this.opts.tls ? "secureConnect" : "connect";
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(new RespConnectionError(`cannot connect to Redis at ${where}: ${err.message}`, { cause: err }));
      };
      const timer = setTimeout(
        () => fail(new Error(`timed out after ${this.opts.connectTimeoutMs} ms`)),
        this.opts.connectTimeoutMs ?? 2000,
      );
      socket.once("error", fail);
      socket.once(readyEvent, () => {
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 10_000);
        this.attach(socket);
        // Handshake through the normal pipeline, so its replies are ordered like any other.
        const hello: RespArg[][] = [];
        if (this.opts.password !== undefined) {
          hello.push(
            this.opts.username !== undefined
              ? ["AUTH", this.opts.username, this.opts.password]
              : ["AUTH", this.opts.password],
          );
        }
        if (this.opts.db) hello.push(["SELECT", this.opts.db]);
        const handshake = hello.length ? this.write(socket, encodeCommands(hello), hello.length) : Promise.resolve([]);
        handshake.then(
          (replies) => {
            const bad = replies.find((r) => r instanceof RespError);
            if (bad) return fail(bad as RespError);
            settled = true;
            clearTimeout(timer);
            socket.removeListener("error", fail);
            this.socket = socket;
            this.opts.onEvent?.("connect", where);
            resolve(socket);
          },
          (err: Error) => fail(err),
        );
      });
    });
  }

  private attach(socket: net.Socket): void {
    this.parser.reset();
    socket.on("data", (chunk: Buffer) => {
      let replies: RespReply[];
      try {
        replies = this.parser.feed(chunk);
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      for (const r of replies) {
        const p = this.shiftPending();
        if (!p) {
          // A reply nobody asked for (e.g. a pub/sub push): the stream can't be trusted.
          socket.destroy(new RespProtocolError("unexpected reply from Redis"));
          return;
        }
        p.resolve(r);
      }
    });
    socket.on("error", () => {
      // 'close' follows and does the cleanup; this listener only keeps the error from being thrown.
    });
    socket.on("close", () => {
      const wasReady = this.socket === socket;
      if (wasReady) this.socket = null;
      this.parser.reset();
      const reason = (socket as net.Socket & { errored?: Error | null }).errored?.message ?? "connection closed";
      this.failAll(new RespConnectionError(`Redis connection lost: ${reason}`));
      if (wasReady) this.opts.onEvent?.("disconnect", reason);
    });
  }
}
