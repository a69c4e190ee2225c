// Shared parts of the hostile-input benchmarks (bench/flood.mjs and its burst/many cases in
// bench/lib/flood-burst.mjs): a raw client of the room that records pongs, acks, errors, comments
// and the server's close frame; statistics; the server tree's CPU sampler and the quiet detector.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { treeCpuSeconds } from "./proc.mjs";
import { RawWs } from "./rawws.mjs";
/** A ping the runtime's auto-response does not match (it compares the exact string): it reaches the room. */
export const SPACED_PING = '{ "type": "ping" }';
export const PONG = '{"type":"pong"}';
/** A quiet room: < QUIET_CPU of a core in every CPU sample for QUIET_MS. */
export const CPU_SAMPLE_MS = 100;
export const QUIET_CPU = 0.15;
export const QUIET_MS = 1000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();

// ------------------------------------------------------------------------------------ statistics
export function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
/** p50/p90/p99/max of a list of ms values (rounded to 0.1 ms). */
export function summary(values) {
  const s = [...values].sort((a, b) => a - b);
  const r = (x) => (x === null ? null : Math.round(x * 10) / 10);
  return { n: s.length, p50: r(quantile(s, 0.5)), p90: r(quantile(s, 0.9)), p99: r(quantile(s, 0.99)), max: r(s.at(-1) ?? null) };
}

// ---------------------------------------------------------------------------------------- a peer
/**
 * One client of the room on the bench's raw WebSocket client. Ready at the `welcome` frame; then
 * frames are classified by prefix (comments are parsed only when `watchComments`). Records its
 * spaced pings' round trips, acks, error codes, and the server's close frame.
 */
export class Peer {
  /** `plain`: a peer without our protocol (bench/peers/rawdo): ready when the socket opens, no welcome. */
  constructor(spec, { watchComments = false, plain = false } = {}) {
    this.spec = spec;
    this.watchComments = watchComments;
    this.plain = plain;
    this.ready = false;
    this.pingsOut = []; // send times of pings not answered yet, in order (pongs come back in order)
    this.rtts = []; // [sentAt, rtt ms]
    this.acks = 0;
    this.pongs = 0;
    this.errors = {};
    this.comments = []; // [recvAt, user_id, sentUs | null]
    this.close = null; // { at, code, reason } from the server's close frame
    this.ended = null; // socket gone (ms)
  }

  open(timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("welcome timeout")), timeoutMs);
      this.ws = new RawWs(this.spec.url, {
        headers: this.spec.headers,
        onOpen: () => {
          if (!this.plain) return;
          this.ready = true;
          clearTimeout(timer);
          resolve();
        },
        onText: (buf) => this.onText(buf, resolve, timer),
        onFail: (why) => {
          clearTimeout(timer);
          reject(new Error(`connect failed: ${why}`));
        },
        onClose: () => (this.ended ??= now()),
        onCloseFrame: (code, reason) => (this.close ??= { at: now(), code, reason }),
      });
    });
  }

  onText(buf, resolve, timer) {
    const t = now();
    if (!this.ready) {
      const f = JSON.parse(buf.toString("utf8"));
      if (f.type === "welcome") {
        this.ready = true;
        clearTimeout(timer);
        resolve();
      }
      return;
    }
    if (buf.length === PONG.length && buf.toString("latin1") === PONG) {
      this.pongs++;
      const sent = this.pingsOut.shift();
      if (sent !== undefined) this.rtts.push([sent, t - sent]);
      return;
    }
    // {"type":"comment"… / {"type":"error"… / {"type":"ack"…: the 9th byte tells them apart.
    const c = buf[9];
    if (c === 99 /* c */ && this.watchComments) {
      const f = JSON.parse(buf.toString("utf8"));
      if (f.type === "comment") {
        const m = /~T(\d+)\./.exec(f.comment.message);
        this.comments.push([t, f.comment.user_id, m ? Number(m[1]) : null]);
      }
    } else if (c === 101 /* e */) {
      const f = JSON.parse(buf.toString("utf8"));
      if (f.type === "error") this.errors[f.code] = (this.errors[f.code] ?? 0) + 1;
    } else if (c === 97 /* a */) this.acks++;
  }

  send(text) {
    try {
      this.ws.send(text);
      return true;
    } catch {
      return false;
    }
  }

  ping() {
    if (this.send(SPACED_PING)) this.pingsOut.push(now());
  }

  /** Bytes the client still holds for the kernel (0 once the flood has left this process). */
  get unsent() {
    return this.ws.sock.destroyed ? 0 : this.ws.sock.writableLength;
  }

  terminate() {
    try {
      this.ws.terminate();
    } catch {}
  }
}

/** Round trips of pings sent in [from, to) ms, plus those still unanswered (counted at their age). */
export function pingStats(peers, from, to, end) {
  const v = [];
  let lost = 0;
  for (const p of peers) {
    for (const [sent, rtt] of p.rtts) if (sent >= from && sent < to) v.push(rtt);
    for (const sent of p.pingsOut)
      if (sent >= from && sent < to) {
        v.push(end - sent);
        lost++;
      }
  }
  return { ...summary(v), unanswered: lost };
}

/** Samples the server tree's CPU every CPU_SAMPLE_MS: [[t ms, share of a core], …]. */
export function cpuSampler(pid) {
  const samples = [];
  let last = [now(), treeCpuSeconds(pid)];
  const timer = setInterval(() => {
    const t = now();
    const c = treeCpuSeconds(pid);
    samples.push([t, (c - last[1]) / ((t - last[0]) / 1000)]);
    last = [t, c];
  }, CPU_SAMPLE_MS);
  return { samples, stop: () => clearInterval(timer) };
}

/** End of the last busy CPU sample at or after `from` (the room's last work), or null. */
export function busyUntil(samples, from) {
  let last = null;
  for (const [t, u] of samples) if (t >= from && u >= QUIET_CPU) last = t;
  return last;
}

/** Waits until the server has been quiet for QUIET_MS (after at least minMs), at most maxMs. */
export async function waitQuiet(cpu, since, { minMs = 2000, maxMs = 90_000 } = {}) {
  for (;;) {
    await sleep(200);
    const t = now();
    if (t - since > maxMs) return false;
    if (t - since < minMs) continue;
    const recent = cpu.samples.filter(([ts]) => ts > t - QUIET_MS);
    if (recent.length >= QUIET_MS / CPU_SAMPLE_MS - 1 && recent.every(([, u]) => u < QUIET_CPU)) return true;
  }
}

export function countLog(file, re) {
  try {
    return (readFileSync(file, "utf8").match(re) ?? []).length;
  } catch {
    return null;
  }
}

export function pingEvery(peers, periodMs) {
  const timers = peers.map((p, i) =>
    setTimeout(() => {
      p.ping();
      timers[i] = setInterval(() => p.ping(), periodMs);
    }, (periodMs * i) / peers.length),
  );
  return () => timers.forEach((t) => (clearTimeout(t), clearInterval(t)));
}

export const r1 = (x) => (x === null || x === undefined ? null : Math.round(x));
