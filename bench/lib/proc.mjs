// Process-tree accounting from /proc (Linux only): CPU time and resident memory of a server
// and every process it started (miniflare → workerd, wrangler dev → workerd ×n, …).
import { readFileSync, readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";

let clkTck = 100;
try {
  clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {}

function readStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm may contain spaces/parens: fields start after the last ')'.
    const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // rest[0] = state (field 3); ppid = field 4; utime = 14; stime = 15
    return { ppid: Number(rest[1]), utime: Number(rest[11]), stime: Number(rest[12]) };
  } catch {
    return null;
  }
}

/** All live pids in the tree rooted at `root` (root included). */
export function processTree(root) {
  const children = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(name);
    if (!st) continue;
    const pid = Number(name);
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(pid);
  }
  const out = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

/** CPU seconds (user+system) consumed so far by every live process in the tree. */
export function treeCpuSeconds(root) {
  let ticks = 0;
  for (const pid of processTree(root)) {
    const st = readStat(pid);
    if (st) ticks += st.utime + st.stime;
  }
  return ticks / clkTck;
}

function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Sum of VmRSS over the tree, in bytes. */
export function treeRssBytes(root) {
  let kib = 0;
  for (const pid of processTree(root)) kib += rssKiB(pid);
  return kib * 1024;
}

function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

/**
 * RSS of the processes on the data path only: the workerd processes when there are any (the
 * Miniflare / wrangler Node parent only configures and supervises them, and its garbage-collected
 * heap drifts by tens of MB, which would swamp a per-connection figure); otherwise the whole tree.
 */
export function dataPathRssBytes(root) {
  const pids = processTree(root);
  const w = pids.filter((p) => comm(p) === "workerd");
  let kib = 0;
  for (const pid of w.length ? w : pids) kib += rssKiB(pid);
  return kib * 1024;
}

/** CPU seconds so far per process name (node, workerd, esbuild, …) in the tree. */
export function treeCpuByComm(root) {
  const out = {};
  for (const pid of processTree(root)) {
    const st = readStat(pid);
    if (st) out[comm(pid)] = (out[comm(pid)] ?? 0) + (st.utime + st.stime) / clkTck;
  }
  return out;
}

/** Per-process breakdown, for the JSON (which process holds what). */
export function treeDetail(root) {
  return processTree(root).map((pid) => {
    let comm = "?";
    try {
      comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {}
    let affinity = null;
    try {
      affinity = /Cpus_allowed_list:\s+(\S+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? null;
    } catch {}
    return { pid, comm, rss_bytes: rssKiB(pid) * 1024, cpus: affinity };
  });
}

export function selfAffinity() {
  try {
    return /Cpus_allowed_list:\s+(\S+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? null;
  } catch {
    return null;
  }
}

export function machineInfo() {
  let cpuModel = "?";
  try {
    cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
  } catch {}
  let memTotal = 0;
  try {
    memTotal = Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0) * 1024;
  } catch {}
  let kernel = "?";
  try {
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {}
  let load = "?";
  try {
    load = readFileSync("/proc/loadavg", "utf8").trim();
  } catch {}
  return { cpu_model: cpuModel, mem_total_bytes: memTotal, kernel, loadavg_at_start: load, node: process.version };
}

/**
 * Seconds the tree's threads spent runnable but waiting for a CPU (/proc/<pid>/task/<tid>/schedstat,
 * 2nd field). On a pinned core this is time taken by *other* work sharing that core: a large value
 * means the step was disturbed by something else running on the machine.
 */
export function treeRunqueueWaitSeconds(root, includeSelf = false) {
  const pids = root === "self" ? [process.pid] : processTree(root);
  let ns = 0;
  for (const pid of pids) {
    let tids = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[1]);
      } catch {}
    }
  }
  return ns / 1e9;
}

/**
 * RSS growth per connection of each data-path process (workerd when there are any, else every
 * process), between two treeDetail() lists: [{ pid, comm, bytes_per_conn }] by pid. `wrangler dev`
 * runs two workerd processes (its proxy worker's and the user worker's): this tells them apart.
 */
export function dataPathGrowthByProcess(before, after, conns) {
  const w = after.filter((p) => p.comm === "workerd");
  const at0 = new Map(before.map((p) => [p.pid, p.rss_bytes]));
  return (w.length ? w : after)
    .filter((p) => at0.has(p.pid))
    .sort((a, b) => a.pid - b.pid)
    .map((p) => ({ pid: p.pid, comm: p.comm, bytes_per_conn: conns ? (p.rss_bytes - at0.get(p.pid)) / conns : null }));
}

/**
 * Waits (≤ maxMs) until the server tree is quiet — < 10 % of a core over 500 ms — so a backlog
 * left by the previous step (or a cold start) does not leak into the next measurement. Returns the
 * seconds it waited.
 */
export async function settle(pid, maxMs = 10_000) {
  const t0 = Date.now();
  let c = treeCpuSeconds(pid);
  while (Date.now() - t0 < maxMs) {
    await new Promise((r) => setTimeout(r, 500));
    const c2 = treeCpuSeconds(pid);
    if (c2 - c < 0.05) return (Date.now() - t0) / 1000;
    c = c2;
  }
  return (Date.now() - t0) / 1000;
}
