// The load generator: N WebSocket clients on one stream, an open-loop sender schedule, and a
// receive path cheap enough to keep up with ~10^5 deliveries/s on one core.
//
// Every chat text carries a marker  ~B<step>.<k>.<t_us>.  (step = which measurement, k = message
// index, t_us = performance.now() in µs when the sender wrote it). Receivers find markers with
// Buffer.indexOf — no JSON.parse on the hot path — so a `{"type":"batch","frames":[...]}` frame is
// unwrapped for free: every comment inside carries its own marker. Sender and receivers share one
// process clock, so latency has no clock skew.
import WebSocket from "ws";
import { performance } from "node:perf_hooks";
import { Histogram } from "./hist.mjs";
import { RawWs } from "./rawws.mjs";

const MARK = Buffer.from("~B");
// A sequenced comment as our room (and its fan-out shards) writes it: the seq follows this token.
const SEQ_TOKEN = Buffer.from('{"type":"comment","seq":');
const C_DOT = 46;
const C_0 = 48;
const nowUs = () => Math.round(performance.now() * 1000);

/** Parses a non-negative integer at buf[pos..] up to '.', returns [value, posAfterDot] or null. */
function readInt(buf, pos) {
  let v = 0;
  let any = false;
  for (; pos < buf.length; pos++) {
    const c = buf[pos];
    if (c === C_DOT) return any ? [v, pos + 1] : null;
    const d = c - C_0;
    if (d < 0 || d > 9) return null;
    v = v * 10 + d;
    any = true;
  }
  return null;
}

/** Parses a non-negative integer at buf[pos..] up to the first non-digit; null if none. */
function readDigits(buf, pos) {
  let v = 0;
  let any = false;
  for (; pos < buf.length; pos++) {
    const d = buf[pos] - C_0;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
    any = true;
  }
  return any ? v : null;
}

export class Step {
  constructor(id, capacity, conns) {
    this.id = id;
    this.hist = new Histogram();
    this.perMsg = new Uint32Array(Math.max(1, capacity));
    this.sent = 0;
    this.sendErrors = 0;
    this.delivered = 0;
    this.dupes = 0;
    this.stale = 0;
    this.conns = conns;
    this.firstSendUs = 0;
    this.lastRecvUs = 0;
    this.lagHist = new Histogram();
    this.sample = null; // the first frame that carried one of this step's markers
    // Per-connection seq order of comment frames ("ours" protocol), counted while this step ran.
    this.seqOutOfOrder = 0; // a seq lower than the connection's last one
    this.seqDupes = 0; // the same seq twice in a row
    this.seqMissing = 0; // seqs skipped (a gap of g counts g − 1)
  }
}

export class LoadGen {
  /**
   * @param {object} o
   * @param {(i:number)=>{url:string, headers?:object}} o.spec  connection i's URL + headers
   * @param {"plain"|"ours"|"sio"} o.protocol
   */
  constructor({ spec, protocol, textLen = 64, client = "raw" }) {
    this.spec = spec;
    this.client = client; // "raw" (bench/lib/rawws.mjs) or "ws" (the ws package), same behaviour
    this.protocol = protocol;
    this.textLen = textLen;
    this.conns = [];
    this.step = null;
    this.errors = {}; // server error frames by code
    this.unexpectedCloses = 0;
    this.closing = false;
    // Over the whole run (every step and the time between): per-connection seq order of comments.
    this.seqTotals = { out_of_order: 0, duplicates: 0, missing: 0 };
    // The first few anomalies, to tell which connections (and so which shard) and which seqs.
    this.seqSamples = [];
    this.seqGapsByConn = {};
    this.seqSeen = new Uint8Array(1 << 20); // comment seqs any connection received (< 2^20)
    this.t0 = performance.now();
  }

  _seqSample(kind, c, last, seq) {
    if (this.seqSamples.length < 40) this.seqSamples.push({ kind, conn: c.i, last, seq, step: this.step?.id ?? null, t_ms: Math.round(performance.now() - this.t0) });
  }

  /**
   * Checks that connection c sees comment seqs strictly increasing by 1 (the room sequences every
   * comment; the bench sends nothing else that is sequenced). One indexOf per frame when it holds
   * one comment; a batch frame holds several. Starts from the welcome's seq.
   */
  _seqCheck(c, buf) {
    let pos = 0;
    const s = this.step;
    for (;;) {
      const i = buf.indexOf(SEQ_TOKEN, pos);
      if (i < 0) return;
      pos = i + SEQ_TOKEN.length;
      const seq = readDigits(buf, pos);
      if (seq === null) continue;
      if (seq < this.seqSeen.length) this.seqSeen[seq] = 1;
      const last = c.lastSeq;
      if (last !== null) {
        if (seq < last) {
          this.seqTotals.out_of_order++;
          if (s) s.seqOutOfOrder++;
          this._seqSample("out_of_order", c, last, seq);
        } else if (seq === last) {
          this.seqTotals.duplicates++;
          if (s) s.seqDupes++;
          this._seqSample("duplicate", c, last, seq);
        } else if (seq > last + 1) {
          this.seqTotals.missing += seq - last - 1;
          if (s) s.seqMissing += seq - last - 1;
          this._seqSample("gap", c, last, seq);
          // Per 100 connections (i.e. per shard when shards fill in connection order): how many gaps.
          const b = Math.floor(c.i / 100) * 100;
          this.seqGapsByConn[b] = (this.seqGapsByConn[b] ?? 0) + 1;
        }
      }
      if (last === null || seq > last) c.lastSeq = seq;
    }
  }

  /** The anomaly samples; for each gap, whether another connection received the missing seqs (≤ 5 listed). */
  seqReport() {
    return this.seqSamples.map((x) => {
      if (x.kind !== "gap") return x;
      const missing = [];
      for (let q = x.last + 1; q < x.seq && missing.length < 5; q++) missing.push({ seq: q, seen_elsewhere: q < this.seqSeen.length ? this.seqSeen[q] === 1 : null });
      return { ...x, missing };
    });
  }

  _onData(c, buf) {
    if (this.protocol === "sio") {
      const t = buf[0];
      if (t === 50 /* '2' ping */ && buf.length === 1) return c.ws.send("3");
      if (!c.ready) {
        if (t === 48 /* '0' open */) return c.ws.send("40");
        if (t === 52 && buf[1] === 48 /* "40" */) return c.onReady();
      }
    } else if (!c.ready) {
      // "ours": ready at the welcome frame; parse fully until then (a couple of frames per socket).
      let f;
      try {
        f = JSON.parse(buf.toString("utf8"));
      } catch {}
      const frames = f?.type === "batch" ? f.frames : [f];
      const welcome = frames.find((x) => x?.type === "welcome");
      if (welcome) {
        if (typeof welcome.seq === "number") c.lastSeq = welcome.seq;
        c.onReady();
      }
      return;
    } else if (buf[0] === 123 /* '{' */ && buf[9] === 101 /* 'e' → {"type":"error" */) {
      try {
        const f = JSON.parse(buf.toString("utf8"));
        if (f.type === "error") this.errors[f.code] = (this.errors[f.code] ?? 0) + 1;
      } catch {}
    } else if (buf[0] === 123 && buf[9] === 104 /* 'h' → history: old messages, ignore */) return;
    else if (this.protocol === "ours") this._seqCheck(c, buf);
    const s = this.step;
    if (!s) return;
    let pos = 0;
    const now = nowUs();
    for (;;) {
      const i = buf.indexOf(MARK, pos);
      if (i < 0) break;
      pos = i + 2;
      const a = readInt(buf, pos);
      if (!a) continue;
      const b = readInt(buf, a[1]);
      if (!b) continue;
      const d = readInt(buf, b[1]);
      if (!d) continue;
      pos = d[1];
      if (a[0] !== s.id) {
        s.stale++;
        continue;
      }
      const k = b[0];
      if (k < s.perMsg.length) {
        if (s.perMsg[k] >= s.conns) s.dupes++;
        s.perMsg[k]++;
      }
      s.delivered++;
      if (s.sample === null) s.sample = buf.toString("utf8", 0, Math.min(buf.length, 2000));
      s.hist.record(now - d[0]);
      s.lastRecvUs = now;
    }
  }

  /** Opens n connections, at most `concurrency` handshakes in flight. Resolves with stats. */
  async connect(n, { concurrency = 64, timeoutMs = 120_000, start = 0 } = {}) {
    const t0 = performance.now();
    const deadline = Date.now() + timeoutMs;
    let next = start;
    const end = start + n;
    let failed = 0;
    const failures = {};
    const one = (i) =>
      new Promise((resolve) => {
        const { url, headers } = this.spec(i);
        const c = { i, ws: null, ready: false, onReady: null, lastSeq: null };
        let done = false;
        const finish = (ok, why) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          if (!ok) {
            failed++;
            failures[why] = (failures[why] ?? 0) + 1;
            try {
              c.ws.terminate();
            } catch {}
          }
          resolve();
        };
        const timer = setTimeout(() => finish(false, "ready_timeout"), 30_000);
        c.onReady = () => {
          if (c.ready) return;
          c.ready = true;
          this.conns.push(c);
          finish(true);
        };
        const onClose = () => {
          if (c.ready && !this.closing) this.unexpectedCloses++;
          finish(false, "closed");
        };
        if (this.client === "raw") {
          c.ws = new RawWs(url, {
            headers,
            onOpen: () => this.protocol === "plain" && c.onReady(),
            onText: (buf) => this._onData(c, buf),
            onFail: (why) => finish(false, why),
            onClose,
          });
        } else {
          const ws = (c.ws = new WebSocket(url, { headers, perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: 30_000 }));
          ws.on("message", (data) => this._onData(c, data));
          if (this.protocol === "plain") ws.on("open", () => c.onReady());
          ws.on("unexpected-response", (_req, res) => finish(false, `http_${res.statusCode}`));
          ws.on("error", (e) => finish(false, e.code ?? "error"));
          ws.on("close", onClose);
        }
      });
    const workers = Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < end && Date.now() < deadline) await one(next++);
    });
    await Promise.all(workers);
    return { requested: n, open: this.conns.length, failed, failures, connect_s: (performance.now() - t0) / 1000 };
  }

  _frame(text) {
    return this.protocol === "sio"
      ? `42["message",${JSON.stringify({ type: "message", text })}]`
      : JSON.stringify({ type: "message", text });
  }

  _text(stepId, k, tUs) {
    const m = `~B${stepId}.${k}.${tUs}.`;
    return m.length >= this.textLen ? m : m + " chat".repeat(Math.ceil((this.textLen - m.length) / 5)).slice(0, this.textLen - m.length);
  }

  /**
   * Open-loop: message k is due at t0 + k/rate regardless of how the server keeps up; sender k mod S.
   * Then waits for deliveries to finish (all expected arrived, or drainMs without progress, or maxDrainMs).
   */
  async runStep({ id, rate, durationMs, senders, drainMs = 2000, maxDrainMs = 15_000 }) {
    const total = Math.max(1, Math.round((rate * durationMs) / 1000));
    const n = this.conns.length;
    const s = new Step(id, total, n);
    this.step = s;
    const sendConns = this.conns.slice(0, Math.max(1, Math.min(senders, n)));
    const t0 = performance.now();
    s.firstSendUs = Math.round(t0 * 1000);
    const interval = 1000 / rate;
    let k = 0;
    await new Promise((resolve) => {
      const tick = () => {
        const now = performance.now();
        while (k < total && t0 + k * interval <= now) {
          const c = sendConns[k % sendConns.length];
          const tUs = nowUs();
          s.lagHist.record(Math.max(0, tUs - Math.round((t0 + k * interval) * 1000)));
          try {
            c.ws.send(this._frame(this._text(id, k, tUs)));
            s.sent++;
          } catch {
            s.sendErrors++;
          }
          k++;
        }
        if (k >= total) return resolve();
        setTimeout(tick, Math.max(0, Math.min(5, t0 + k * interval - performance.now())));
      };
      tick();
    });
    const sendEnd = performance.now();
    // Drain: bounded in time whatever happens.
    const expected = s.sent * n;
    const drainStart = performance.now();
    let lastSeen = s.delivered;
    let lastProgress = performance.now();
    while (s.delivered < expected) {
      await new Promise((r) => setTimeout(r, 20));
      const now = performance.now();
      if (s.delivered !== lastSeen) {
        lastSeen = s.delivered;
        lastProgress = now;
      }
      if (now - lastProgress > drainMs || now - drainStart > maxDrainMs) break;
    }
    this.step = null;
    const spanS = Math.max(sendEnd, s.lastRecvUs / 1000) / 1000 - t0 / 1000;
    let fully = 0;
    for (let i = 0; i < s.sent; i++) if (s.perMsg[i] >= n) fully++;
    return {
      step: id,
      rate,
      duration_s: durationMs / 1000,
      conns: n,
      senders: sendConns.length,
      sent: s.sent,
      send_errors: s.sendErrors,
      expected,
      delivered: s.delivered,
      delivered_ratio: expected ? s.delivered / expected : 0,
      messages_fully_delivered: fully,
      duplicates: s.dupes,
      stale_markers: s.stale,
      // "ours" only: per-connection order of comment seqs during the step (0, 0, 0 = in order, no gap).
      seq_out_of_order: this.protocol === "ours" ? s.seqOutOfOrder : null,
      seq_duplicates: this.protocol === "ours" ? s.seqDupes : null,
      seq_missing: this.protocol === "ours" ? s.seqMissing : null,
      latency_ms: s.hist.summary(),
      latency_over_100s: s.hist.over,
      send_lag_ms: { p99: s.lagHist.quantileMs(0.99), max: s.lagHist.maxUs / 1000 },
      deliveries_per_s: spanS > 0 ? s.delivered / spanS : 0,
      span_s: spanS,
      wall_s: (performance.now() - t0) / 1000,
      sample_frame: s.sample,
    };
  }

  close() {
    this.closing = true;
    for (const c of this.conns) {
      try {
        c.ws.terminate();
      } catch {}
    }
    this.conns = [];
  }
}
