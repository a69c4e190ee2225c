/**
 * A TCP proxy in front of the worker, to break the network under a client on purpose:
 *   dropAll()      reset every open connection (what a lost Wi-Fi or a dead NAT entry looks like)
 *   refuse(true)   refuse new connections (the network stays down)
 *   blackholeAll() keep open connections open but forward nothing (a half-open connection:
 *                  only a heartbeat can notice it)
 */
import { createServer, connect, type Socket } from "node:net";

export interface TcpProxy {
  url: string;
  dropAll(): void;
  refuse(on: boolean): void;
  blackholeAll(): void;
  /** Connections currently open through the proxy. */
  open(): number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  blackholed: boolean;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, "127.0.0.1");
    const pair: Pair = { client, upstream, blackholed: false };
    pairs.add(pair);
    client.on("data", (d) => {
      if (!pair.blackholed) upstream.write(d);
    });
    upstream.on("data", (d) => {
      if (!pair.blackholed) client.write(d);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on("close", end);
      s.on("error", end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    dropAll() {
      for (const p of [...pairs]) {
        pairs.delete(p);
        p.client.resetAndDestroy();
        p.upstream.destroy();
      }
    },
    refuse(on) {
      refusing = on;
    },
    blackholeAll() {
      for (const p of pairs) p.blackholed = true;
    },
    open: () => pairs.size,
    close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      pairs.clear();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
