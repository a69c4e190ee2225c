/**
 * The RESP2 client: incremental parsing (replies split anywhere), pipelining, error replies,
 * connection loss and reconnect, a hung server. Scripted TCP servers play the edge cases; the
 * real Redis checks ordering and size.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCommands, RespClient, RespConnectionError, RespError, RespParser, RespProtocolError, type RespReply } from "../../src/bridge/resp";
import { freePort, SERVICES, uniq } from "./helpers";

const STREAM = Buffer.concat([
  Buffer.from("+OK\r\n-ERR bad thing\r\n:42\r\n:-7\r\n:9223372036854775807\r\n$-1\r\n*-1\r\n$0\r\n\r\n"),
  Buffer.from("$6\r\na\r\nb\u0000c\r\n"), // a bulk string containing CRLF and NUL
  Buffer.from("*3\r\n$1\r\nx\r\n*2\r\n:1\r\n-WRONGTYPE nested\r\n*0\r\n"),
]);

function check(replies: RespReply[]) {
  expect(replies).toHaveLength(10);
  expect(replies[0]).toBe("OK");
  expect(replies[1]).toBeInstanceOf(RespError);
  expect((replies[1] as RespError).message).toBe("ERR bad thing");
  expect(replies.slice(2, 4)).toEqual([42, -7]);
  expect(replies[4]).toBe(9223372036854775807n);
  expect(replies.slice(5, 7)).toEqual([null, null]);
  expect(replies[7]).toEqual(Buffer.alloc(0));
  expect(replies[8]).toEqual(Buffer.from("a\r\nb\u0000c"));
  const arr = replies[9] as RespReply[];
  expect(arr[0]).toEqual(Buffer.from("x"));
  expect((arr[1] as RespReply[])[0]).toBe(1);
  expect(((arr[1] as RespReply[])[1] as RespError).message).toBe("WRONGTYPE nested");
  expect(arr[2]).toEqual([]);
}

describe("RespParser", () => {
  it("parses a stream delivered in one chunk", () => {
    check(new RespParser().feed(STREAM));
  });

  it("parses the same stream delivered one byte at a time", () => {
    const p = new RespParser();
    const out: RespReply[] = [];
    for (let i = 0; i < STREAM.length; i++) out.push(...p.feed(STREAM.subarray(i, i + 1)));
    check(out);
  });

  it("parses it split at every possible pair of points", () => {
    for (let a = 1; a < STREAM.length; a += 3) {
      for (let b = a; b < STREAM.length; b += 5) {
        const p = new RespParser();
        check([...p.feed(STREAM.subarray(0, a)), ...p.feed(STREAM.subarray(a, b)), ...p.feed(STREAM.subarray(b))]);
      }
    }
  });

  it("a large bulk string in many chunks", () => {
    const big = Buffer.alloc(3_000_000, 0x61);
    const wire = Buffer.concat([Buffer.from(`$${big.length}\r\n`), big, Buffer.from("\r\n+NEXT\r\n")]);
    const p = new RespParser();
    const out: RespReply[] = [];
    for (let i = 0; i < wire.length; i += 1000) out.push(...p.feed(wire.subarray(i, i + 1000)));
    expect(out).toHaveLength(2);
    expect((out[0] as Buffer).equals(big)).toBe(true);
    expect(out[1]).toBe("NEXT");
  });

  it("rejects what is not RESP2", () => {
    expect(() => new RespParser().feed(Buffer.from("HTTP/1.1 400\r\n"))).toThrow(RespProtocolError);
    expect(() => new RespParser().feed(Buffer.from("$abc\r\n"))).toThrow(RespProtocolError);
  });

  it("encodes commands as arrays of bulk strings (binary safe)", () => {
    expect(encodeCommands([["SET", "k", Buffer.from("a\r\nb")], ["INCRBY", "n", 5]]).toString()).toBe(
      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n*3\r\n$6\r\nINCRBY\r\n$1\r\nn\r\n$1\r\n5\r\n",
    );
  });
});

/** A scripted server: `onData` decides what to send back on each connection. */
async function scriptedServer(onConnection: (socket: net.Socket, index: number) => void) {
  const port = await freePort();
  let n = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    onConnection(s, n++);
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    port,
    connections: () => n,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe("RespClient", () => {
  it("reads replies that arrive one byte at a time", async () => {
    const srv = await scriptedServer((s) => {
      s.on("data", () => {
        const reply = Buffer.from("+PONG\r\n$5\r\nhello\r\n");
        let i = 0;
        const t = setInterval(() => {
          if (i >= reply.length || s.destroyed) return clearInterval(t);
          s.write(reply.subarray(i, ++i));
        }, 1);
      });
    });
    const c = new RespClient({ host: "127.0.0.1", port: srv.port });
    try {
      const replies = await c.batch([["PING"], ["GET", "k"]]);
      expect(replies).toEqual(["PONG", Buffer.from("hello")]);
    } finally {
      await c.close();
      await srv.close();
    }
  });

  it("connection lost mid-command → RespConnectionError; the next call reconnects", async () => {
    const srv = await scriptedServer((s, i) => {
      s.on("data", () => (i === 0 ? s.destroy() : s.write("+PONG\r\n")));
    });
    const events: string[] = [];
    const c = new RespClient({ host: "127.0.0.1", port: srv.port, onEvent: (e) => events.push(e) });
    try {
      await expect(c.call("PING")).rejects.toBeInstanceOf(RespConnectionError);
      expect(await c.call("PING")).toBe("PONG");
      expect(srv.connections()).toBe(2);
      expect(events).toEqual(["connect", "disconnect", "connect"]);
    } finally {
      await c.close();
      await srv.close();
    }
  });

  it("nothing listening → fails at once; works when the server appears", async () => {
    const port = await freePort();
    const c = new RespClient({ host: "127.0.0.1", port, connectTimeoutMs: 1000 });
    const t0 = Date.now();
    await expect(c.call("PING")).rejects.toThrow(/cannot connect to Redis/);
    expect(Date.now() - t0).toBeLessThan(1000);
    const server = net.createServer((s) => s.on("data", () => s.write("+PONG\r\n")));
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    try {
      expect(await c.call("PING")).toBe("PONG");
    } finally {
      await c.close();
      server.close();
    }
  });

  it("a server that never answers → the command fails after commandTimeoutMs", async () => {
    const srv = await scriptedServer(() => undefined);
    const c = new RespClient({ host: "127.0.0.1", port: srv.port, commandTimeoutMs: 300 });
    try {
      const t0 = Date.now();
      await expect(c.call("PING")).rejects.toThrow(/no reply from Redis within 300 ms/);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      await c.close();
      await srv.close();
    }
  });

  it("a reply nobody asked for poisons the connection (it is dropped)", async () => {
    const srv = await scriptedServer((s) => s.on("data", () => s.write("+ONE\r\n+TWO\r\n")));
    const c = new RespClient({ host: "127.0.0.1", port: srv.port });
    try {
      expect(await c.call("PING")).toBe("ONE");
      await new Promise((r) => setTimeout(r, 50));
      expect(c.connected).toBe(false);
    } finally {
      await c.close();
      await srv.close();
    }
  });

  describe("against the real Redis", () => {
    let c: RespClient;
    const key = uniq("resp-test");
    beforeAll(() => {
      const u = new URL(SERVICES.redisUrl);
      c = new RespClient({ host: u.hostname, port: Number(u.port || 6379), commandTimeoutMs: 5000 });
    });
    afterAll(async () => {
      await c.call("DEL", key, `${key}:big`);
      await c.close();
    });

    it("keeps order across 20k pipelined commands from concurrent callers", async () => {
      const batches = await Promise.all(
        Array.from({ length: 20 }, (_, b) => c.batch(Array.from({ length: 1000 }, (_, i) => ["ECHO", `${b}:${i}`]))),
      );
      batches.forEach((replies, b) => {
        expect(replies.map(String)).toEqual(Array.from({ length: 1000 }, (_, i) => `${b}:${i}`));
      });
    });

    it("round-trips binary values of several MB", async () => {
      const big = Buffer.alloc(4_000_000);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
      expect(await c.call("SET", `${key}:big`, big)).toBe("OK");
      expect(((await c.call("GET", `${key}:big`)) as Buffer).equals(big)).toBe(true);
    });

    it("error replies are thrown by call() and returned in place by batch()", async () => {
      await c.call("SET", key, "v");
      await expect(c.call("LPUSH", key, "x")).rejects.toThrow(/^WRONGTYPE/);
      const [a, b, d] = await c.batch([["GET", key], ["LPUSH", key, "x"], ["STRLEN", key]]);
      expect(a).toEqual(Buffer.from("v"));
      expect(b).toBeInstanceOf(RespError);
      expect(d).toBe(1);
    });
  });
});
