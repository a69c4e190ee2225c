/**
 * A child process for the Node suites (wrangler dev, the bridge): started in its own process group,
 * output collected, ready when `healthUrl` answers 2xx, stopped with the whole group.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../..");

export interface ServiceProcess {
  logs(): string;
  stop(): Promise<void>;
}

export async function startProcess(opts: {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  healthUrl: string;
  timeoutMs: number;
  /** Working directory; default the repository root. */
  cwd?: string;
  /** Appended to by every process started with the same buffer (restarts keep their history). */
  output?: { text: string };
}): Promise<ServiceProcess> {
  const out = opts.output ?? { text: "" };
  const child: ChildProcess = spawn("npx", opts.args, {
    cwd: opts.cwd ?? ROOT,
    env: opts.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout!.on("data", (d) => (out.text += d));
  child.stderr!.on("data", (d) => (out.text += d));
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${opts.name} exited (${child.exitCode}):\n${out.text.slice(-3000)}`);
    if (Date.now() > deadline) {
      await stopGroup(child);
      throw new Error(`${opts.name} did not become ready:\n${out.text.slice(-3000)}`);
    }
    try {
      if ((await fetch(opts.healthUrl)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { logs: () => out.text, stop: () => stopGroup(child) };
}

/** SIGTERM to the process group, SIGKILL after 5 s. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}
