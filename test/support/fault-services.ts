/**
 * The fault matrix's own services (README "Faults"), each one it may stop without disturbing
 * anything else on the machine:
 *
 *   kafka     a broker of its own: scripts/services.sh KAFKA_INSTANCE=<instance> (state in .services/)
 *   redis     a redis-server of its own, append-only file with fsync always, so a stop + start
 *             keeps every acknowledged write (as a managed Redis does); stopped with SHUTDOWN
 *   postgres  the machine's server cannot be stopped, so the database is put behind a TCP proxy
 *             (test/client/tcp-proxy.ts) that the bridge's pg endpoint dials: "down" = the proxy
 *             refuses new connections and resets open ones, which is what the worker sees when
 *             Postgres dies
 *   bridge    `src/bridge/main.ts` on a fixed port with a fixed token; killed with SIGKILL (no
 *             drain) and restarted on the same port, so the worker's variables stay valid
 *
 * Ports: `base` .. `base + 3` (kafka, kafka controller, redis, bridge); the proxy and wrangler dev
 * take free ports. Every stop/start here waits until the service is really down/up.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startTcpProxy, type TcpProxy } from "../client/tcp-proxy";
import { ROOT } from "./process";

const exec = promisify(execFile);

export interface FaultServicesOptions {
  /** First of four consecutive ports (kafka, controller, redis, bridge). */
  basePort: number;
  /** KAFKA_INSTANCE name (state directory .services/kafka-<instance>). */
  instance: string;
  /** The real Postgres the proxy forwards to. */
  pgPort?: number;
}

export interface FaultServices {
  kafkaBrokers: string;
  redisPort: number;
  bridgeUrl: string;
  bridgePort: number;
  bridgeToken: string;
  /** host:port the worker's DATABASE_URL names (the proxy). */
  pgAddr: string;
  kafkaDown(): Promise<void>;
  kafkaUp(): Promise<void>;
  redisDown(): Promise<void>;
  redisUp(): Promise<void>;
  /** SIGKILL to the bridge's process group: no drain, in-flight requests are cut. */
  bridgeKill(): Promise<void>;
  bridgeStart(): Promise<void>;
  pgDown(): void;
  pgUp(): void;
  /** Everything the bridge printed (all its runs). */
  bridgeLogs(): string;
  stop(): Promise<void>;
}

async function until(what: string, ms: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

export async function startFaultServices(opts: FaultServicesOptions): Promise<FaultServices> {
  const [kafkaPort, controllerPort, redisPort, bridgePort] = [0, 1, 2, 3].map((i) => opts.basePort + i) as [number, number, number, number];
  const kafkaEnv = { ...process.env, KAFKA_INSTANCE: opts.instance, KAFKA_PORT: String(kafkaPort), KAFKA_CONTROLLER_PORT: String(controllerPort) };
  const services = (cmd: string) => exec("bash", [join(ROOT, "scripts/services.sh"), cmd], { cwd: ROOT, env: kafkaEnv, timeout: 240_000 });
  const redisDir = mkdtempSync(join(tmpdir(), "chat-faults-redis-"));
  const bridgeToken = `faults-${crypto.randomUUID()}`;
  const bridgeUrl = `http://127.0.0.1:${bridgePort}`;
  let redis: ChildProcess | null = null;
  let bridge: ChildProcess | null = null;
  const bridgeOut = { text: "" };
  let proxy: TcpProxy | null = null;

  const redisPing = async () => (await exec("redis-cli", ["-p", String(redisPort), "PING"], { timeout: 2_000 })).stdout.trim() === "PONG";

  const api: FaultServices = {
    kafkaBrokers: `127.0.0.1:${kafkaPort}`,
    redisPort,
    bridgeUrl,
    bridgePort,
    bridgeToken,
    pgAddr: "",
    async kafkaDown() {
      await services("kafka-down");
    },
    async kafkaUp() {
      await services("kafka-up");
    },
    async redisUp() {
      const args = ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", redisDir];
      redis = spawn("redis-server", args, { stdio: "ignore" });
      await until("redis to answer PING", 15_000, redisPing);
    },
    async redisDown() {
      const p = redis;
      redis = null;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((r) => p.once("exit", r));
      await exec("redis-cli", ["-p", String(redisPort), "SHUTDOWN"]).catch(() => undefined); // exits before it answers
      await exited;
    },
    async bridgeStart() {
      const child = spawn("npx", ["tsx", "src/bridge/main.ts"], {
        cwd: ROOT,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          BRIDGE_PORT: String(bridgePort),
          BRIDGE_TOKEN: bridgeToken,
          BRIDGE_LOG_LEVEL: "warn",
          KAFKA_BROKERS: api.kafkaBrokers,
          REDIS_URL: `redis://127.0.0.1:${redisPort}`,
          PG_ALLOWED_ADDRS: api.pgAddr,
        },
      });
      child.stdout!.on("data", (d) => (bridgeOut.text += d));
      child.stderr!.on("data", (d) => (bridgeOut.text += d));
      bridge = child;
      await until("the bridge's /healthz", 60_000, async () => {
        if (child.exitCode !== null) throw new Error(`bridge exited: ${bridgeOut.text.slice(-2000)}`);
        return (await fetch(`${bridgeUrl}/healthz`)).ok;
      });
    },
    async bridgeKill() {
      const p = bridge;
      bridge = null;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once("exit", r));
      try {
        process.kill(-p.pid!, "SIGKILL");
      } catch {
        // already gone
      }
      await exited;
    },
    pgDown() {
      proxy!.refuse(true);
      proxy!.dropAll();
    },
    pgUp() {
      proxy!.refuse(false);
    },
    bridgeLogs: () => bridgeOut.text,
    async stop() {
      await api.bridgeKill();
      await api.redisDown();
      await services("kafka-down").catch(() => undefined);
      await proxy?.close();
      rmSync(redisDir, { recursive: true, force: true });
      rmSync(join(ROOT, `.services/kafka-${opts.instance}`), { recursive: true, force: true });
    },
  };

  try {
    rmSync(join(ROOT, `.services/kafka-${opts.instance}`), { recursive: true, force: true });
    proxy = await startTcpProxy(opts.pgPort ?? 5432);
    api.pgAddr = `127.0.0.1:${new URL(proxy.url).port}`;
    await api.kafkaUp();
    await api.redisUp();
    await api.bridgeStart();
  } catch (err) {
    await api.stop().catch(() => undefined);
    throw err;
  }
  return api;
}
