/**
 * One stream of a fuzz run (test/worker/fuzz.test.ts): the cast's sockets (reopened when the room
 * closes one), a watcher that records every sequenced event, and the HTTP actions route. Each
 * frame is answered before the next is sent — the frame, then a sentinel ping the gate must parse
 * (not the exact auto-response string), whose pong comes after the frame's own answer on a room's
 * socket and on a shard's alike (src/answers.ts keeps a socket's answers in order) — so every answer
 * belongs to one frame, and the order of commands is the same in the fuzzed and the reference run.
 */
import { runInDurableObject } from "cloudflare:test";
import {
  ErrorCode,
  RoomEvent,
  ServerFrame,
  type ErrorFrame,
  type AckFrame,
  type SingleServerFrame,
} from "../../src/protocol";
import type { ChatRoom } from "../../src/room";
import type { RoomState } from "../../src/rules/room-state";
import { normalizeTerm } from "../../src/rules/text";
import { httpBody, type HolePool, type Resolver, type Verdict, type Wire } from "../support/fuzz-frames";
import { fetchWorker, roomStub, upgrade } from "./helpers";

/**
 * Parsed by the gate (extra fields are dropped), so it is answered in its place among the socket's
 * answers; never the exact `{"type":"ping"}`, which the runtime answers at once, ahead of frames still queued.
 */
export const SENTINEL = '{"type":"ping","sentinel":1}';
/** Longest wait for one frame's answer, ms (a diagnostic deadline, not a timing assertion). */
export const ANSWER_DEADLINE_MS = 15_000;
/** Close codes a fuzzed socket may get: 1008 (abuse: too many rejected frames), 1012 (a shard resyncs). */
export const EXPECTED_CLOSES = new Set([1008, 1012]);

/** How a frame was answered: an ack (with its seq), nothing, or an error code; and whether the socket closed after it. */
export interface Outcome {
  answer: "ack" | "none" | ErrorCode;
  seq?: number;
  /** HTTP status (actions route) */
  status?: number;
  /** the socket closed before the sentinel's pong, with this code */
  closed?: number;
}

/** An outcome as the reference run must reproduce it. */
export const outcomeClass = (o: Outcome) => `${o.answer}${o.seq !== undefined ? `@${o.seq}` : ""}`;

type Waiter = () => void;

/** A socket that records the frames it gets, checking each against the protocol. */
export class FuzzSocket {
  readonly answers: Array<AckFrame | ErrorFrame> = [];
  pongs = 0;
  closed: { code: number } | null = null;
  epoch = "";
  lastSeq = 0;
  history: Extract<SingleServerFrame, { type: "history" }> | null = null;
  welcome: Extract<SingleServerFrame, { type: "welcome" }> | null = null;
  private waiters: Waiter[] = [];

  constructor(
    readonly ws: WebSocket,
    private readonly label: string,
    private readonly problems: string[],
    private readonly onEvent: (e: RoomEvent) => void,
  ) {
    ws.accept();
    ws.addEventListener("message", (e) => {
      const data = typeof e.data === "string" ? e.data : "<binary>";
      let parsed: ReturnType<typeof ServerFrame.safeParse>;
      try {
        parsed = ServerFrame.safeParse(JSON.parse(data));
      } catch {
        parsed = { success: false } as ReturnType<typeof ServerFrame.safeParse>;
      }
      if (!parsed.success) this.problems.push(`${this.label}: a frame outside the protocol: ${data.slice(0, 300)}`);
      else if (parsed.data.type === "batch") for (const f of parsed.data.frames) this.take(f);
      else this.take(parsed.data);
      this.wake();
    });
    ws.addEventListener("close", (e) => {
      this.closed = { code: e.code };
      this.wake();
    });
  }

  private take(f: SingleServerFrame): void {
    switch (f.type) {
      case "pong":
        this.pongs++;
        return;
      case "ack":
      case "error":
        this.answers.push(f);
        return;
      case "welcome":
        this.welcome = f;
        this.epoch = f.epoch;
        this.lastSeq = Math.max(this.lastSeq, f.seq);
        return;
      case "history": {
        this.history = f;
        if (f.recovered) {
          const missed = [...f.comments.map((c) => ({ type: "comment" as const, ...c })), ...(f.events ?? [])].sort((a, b) => a.seq - b.seq);
          for (const e of missed) this.event(e);
        }
        return;
      }
      case "comment":
      case "comment_edited":
      case "comment_deleted":
      case "pinned":
      case "moderation":
        this.event(f);
        return;
      default:
        return; // viewers, and whatever the protocol adds: recorded by nobody
    }
  }

  private event(e: RoomEvent): void {
    this.lastSeq = Math.max(this.lastSeq, e.seq);
    this.onEvent(e);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits until `pred` holds or `ms` passed; true when it holds. */
  async until(pred: () => boolean, ms = ANSWER_DEADLINE_MS): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }
}

/** Counts for the run's summary. */
export interface Tally {
  socketFrames: number;
  httpRequests: number;
  answers: Record<string, number>;
  httpStatus: Record<string, number>;
  closes: Record<string, number>;
  reopens: number;
}

const emptyTally = (): Tally => ({ socketFrames: 0, httpRequests: 0, answers: {}, httpStatus: {}, closes: {}, reopens: 0 });
const bump = (r: Record<string, number>, k: string | number) => void (r[k] = (r[k] ?? 0) + 1);

/** One stream and the cast's connections to it. */
export class Stage {
  readonly tally = emptyTally();
  /** Every sequenced event, by seq, as the watcher received it. */
  readonly log = new Map<number, RoomEvent>();
  /** Comment ids in the order they were created, and their seqs. */
  readonly commentIds: string[] = [];
  readonly seqOfComment = new Map<string, number>();
  readonly commentAtSeq = new Map<number, string>();
  private readonly sockets: Array<FuzzSocket | null>;
  private watcher: FuzzSocket | null = null;
  private readonly seqWaiters = new Set<Waiter>();

  constructor(
    readonly sid: string,
    readonly label: string,
    /** one bearer token per cast member, in FUZZ_CAST order */
    private readonly tokens: string[],
    /** per cast member: connects with `?batch=1` */
    private readonly batched: boolean[],
    private readonly watcherToken: string,
    /** the cast's user ids and a few users nobody connects as: what user holes are filled from */
    private readonly users: string[],
    private readonly problems: string[],
  ) {
    this.sockets = tokens.map(() => null);
  }

  /** The last seq the watcher has seen. */
  get seq(): number {
    let max = 0;
    for (const s of this.log.keys()) max = Math.max(max, s);
    return max;
  }

  /** Connects the watcher, then every cast member in order (so the room learns the same staff in every run). */
  async start(): Promise<void> {
    this.watcher = await this.open(this.watcherToken, "watcher", (e) => this.record(e));
    for (let i = 0; i < this.tokens.length; i++) this.sockets[i] = await this.open(this.tokens[i]!, `actor ${i}`, () => {}, undefined, this.batched[i]);
  }

  private record(e: RoomEvent): void {
    if (this.log.has(e.seq)) return;
    this.log.set(e.seq, e);
    if (e.type === "comment") {
      this.commentIds.push(e.comment.id);
      this.seqOfComment.set(e.comment.id, e.seq);
      this.commentAtSeq.set(e.seq, e.comment.id);
    }
    for (const w of [...this.seqWaiters]) w();
  }

  /** Opens a socket for `token` (resuming after `since` when given; batched with `batch`) and waits for its welcome and history. */
  async open(token: string, label: string, onEvent: (e: RoomEvent) => void, resume?: { since: number; epoch: string }, batch = false): Promise<FuzzSocket> {
    const params = new URLSearchParams(resume ? { since: String(resume.since), epoch: resume.epoch } : {});
    if (batch) params.set("batch", "1");
    const query = params.size > 0 ? `?${params}` : "";
    const res = await upgrade(this.sid, { token, query });
    if (res.status !== 101 || !res.webSocket) throw new Error(`${this.label} ${label}: upgrade failed: ${res.status} ${await res.text()}`);
    const s = new FuzzSocket(res.webSocket, `${this.label} ${label}`, this.problems, onEvent);
    if (!(await s.until(() => s.history !== null))) throw new Error(`${this.label} ${label}: no welcome + history`);
    return s;
  }

  /** The cast member's socket, reopened (resuming) when the room closed the last one. */
  private async socketOf(actor: number): Promise<FuzzSocket> {
    const s = this.sockets[actor]!;
    if (!s.closed) return s;
    this.tally.reopens++;
    const fresh = await this.open(this.tokens[actor]!, `actor ${actor}`, () => {}, { since: s.lastSeq, epoch: s.epoch }, this.batched[actor]);
    this.sockets[actor] = fresh;
    return fresh;
  }

  /** Waits until the watcher has seen `seq` (reopening it, resumed, if it was closed); false after the deadline. */
  async seen(seq: number): Promise<boolean> {
    if (this.watcher?.closed) {
      const w = this.watcher;
      this.watcher = await this.open(this.watcherToken, "watcher", (e) => this.record(e), { since: this.seq, epoch: w.epoch });
      if (!this.watcher.history?.recovered) this.problems.push(`${this.label}: the watcher's resume after ${this.seq} was not recovered`);
    }
    if (this.seq >= seq) return true;
    return this.watcher!.until(() => this.seq >= seq);
  }

  /**
   * Fills a fuzz step's holes from what this stream has now: one of the 30 most recent comments
   * (deleted ones included, so refusals happen too), one of the users, an upload id nobody made.
   */
  readonly resolve: Resolver = (pool: HolePool, pick: number) => {
    if (pool === "user") return this.users[pick % this.users.length]!;
    if (pool === "upload") return `upl${String(pick).padStart(19, "0")}`;
    const ids = this.commentIds;
    if (ids.length === 0) return `00000000-0000-4000-8000-${String(pick).padStart(12, "0")}`;
    return ids[ids.length - 1 - (pick % Math.min(ids.length, 30))]!;
  };

  /** Sends one frame from `actor` and waits for its answer; problems found on the way are added to the run's list. */
  async socket(actor: number, wire: Wire, verdict: Verdict, what: string): Promise<Outcome> {
    this.tally.socketFrames++;
    const s = await this.socketOf(actor);
    const a0 = s.answers.length;
    const p0 = s.pongs;
    // A frame that is a ping gets its own pong (from the gate, or the runtime's auto-response) besides the sentinel's.
    const pongs = p0 + 1 + (verdict.valid && verdict.type === "ping" ? 1 : 0);
    try {
      s.ws.send("bytes" in wire ? wire.bytes : wire.text);
      s.ws.send(SENTINEL);
    } catch (err) {
      this.problems.push(`${what}: send failed on an open socket: ${String(err)}`);
    }
    const answered = await s.until(() => s.pongs >= pongs || s.closed !== null);
    const got = s.answers.slice(a0);
    const outcome: Outcome = { answer: "none" };
    if (got.length > 0) {
      const a = got[0]!;
      outcome.answer = a.type === "ack" ? "ack" : a.code;
      if (a.type === "ack" && a.seq !== undefined) outcome.seq = a.seq;
    }
    if (s.closed) {
      outcome.closed = s.closed.code;
      bump(this.tally.closes, s.closed.code);
      if (!EXPECTED_CLOSES.has(s.closed.code)) this.problems.push(`${what}: socket closed with ${s.closed.code}`);
    }
    bump(this.tally.answers, outcome.answer);
    if (!answered) this.problems.push(`${what}: no answer within ${ANSWER_DEADLINE_MS} ms (answers so far: ${JSON.stringify(got)})`);
    if (got.length > 1) this.problems.push(`${what}: ${got.length} answers to one frame: ${JSON.stringify(got)}`);
    if (verdict.valid && verdict.cmid !== undefined && got.length > 0 && got[0]!.client_msg_id !== verdict.cmid) {
      this.problems.push(`${what}: answer carries client_msg_id ${JSON.stringify(got[0]!.client_msg_id)}, the frame ${JSON.stringify(verdict.cmid)}`);
    }
    if (verdict.valid && verdict.cmid !== undefined && got.length === 0 && answered) this.problems.push(`${what}: a command with a client_msg_id got no answer`);
    this.checkAnswer(outcome, verdict, what);
    if (outcome.seq !== undefined && !(await this.seen(outcome.seq))) this.problems.push(`${what}: acked seq ${outcome.seq}, never broadcast`);
    return outcome;
  }

  /** Posts one body to the actions route as `actor` and classifies the answer. */
  async http(actor: number, wire: Wire, verdict: Verdict, what: string): Promise<Outcome> {
    this.tally.httpRequests++;
    const res = await fetchWorker(`/v1/streams/${this.sid}/chat/actions`, {
      method: "POST",
      headers: { authorization: `Bearer ${this.tokens[actor]}`, "content-type": "application/json" },
      body: httpBody(wire),
    });
    const text = await res.text();
    bump(this.tally.httpStatus, res.status);
    const outcome: Outcome = { answer: "none", status: res.status };
    let body: { error?: unknown; message?: unknown; events?: unknown; seq?: unknown } | null = null;
    try {
      body = JSON.parse(text);
    } catch {
      this.problems.push(`${what}: HTTP ${res.status} answered with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    if (res.status >= 500) this.problems.push(`${what}: HTTP ${res.status}: ${text.slice(0, 300)}`);
    if (body && res.status === 200) {
      outcome.answer = "ack";
      if (!Array.isArray(body.events) || body.events.some((e) => !RoomEvent.safeParse(e).success)) this.problems.push(`${what}: 200 without a list of room events: ${text.slice(0, 300)}`);
      if (typeof body.seq === "number") outcome.seq = body.seq;
    } else if (body) {
      const code = ErrorCode.safeParse(body.error);
      if (!code.success || typeof body.message !== "string") this.problems.push(`${what}: HTTP ${res.status} without a typed error: ${text.slice(0, 300)}`);
      else outcome.answer = code.data;
    }
    bump(this.tally.answers, `http:${outcome.answer}`);
    this.checkAnswer(outcome, verdict, what);
    const last = Array.isArray(body?.events) ? (body.events as Array<{ seq?: number }>).at(-1)?.seq : undefined;
    if (typeof last === "number" && !(await this.seen(last))) this.problems.push(`${what}: event ${last} of an HTTP action never broadcast`);
    return outcome;
  }

  /**
   * What every answer must be: never `internal_error` (a caught exception); for a frame the schema
   * refuses, exactly the gate's code (an ack would mean a malformed frame changed the room); for a
   * frame it accepts, never a malformed-frame code (`invalid_frame` only from the room's own term check:
   * see {@link termRefusal}).
   */
  private checkAnswer(o: Outcome, v: Verdict, what: string): void {
    if (o.answer === "internal_error") this.problems.push(`${what}: internal_error`);
    if (!v.valid && o.answer !== v.code) this.problems.push(`${what}: the schema refuses it (${v.code}), the server answered ${o.answer}`);
    if (v.valid && (o.answer === "invalid_json" || o.answer === "frame_too_large" || o.answer === "unsupported_binary" || (o.answer === "invalid_frame" && !termRefusal(v.data)))) {
      this.problems.push(`${what}: a valid ${v.type} refused as ${o.answer}`);
    }
  }

  /** The room's last seq, read inside the object. */
  async roomSeq(): Promise<number> {
    return runInDurableObject(roomStub(this.sid), (room: ChatRoom) => (room as unknown as { state: RoomState }).state.seq);
  }

  /** Closes every socket this stage opened. */
  async close(): Promise<void> {
    for (const s of [...this.sockets, this.watcher]) {
      if (s && !s.closed) {
        s.ws.close(1000, "done");
        await s.until(() => s.closed !== null, 5_000);
      }
    }
  }
}

/**
 * Whether the room's own term check refuses a schema-valid frame with `invalid_frame`: a purge
 * phrase or a blocked term that normalizeTerm (src/rules/text.ts) cannot use (unpaired surrogate,
 * control character, over MAX_BLOCKED_TERM_CODE_POINTS once trimmed, nothing left after folding),
 * or a term both added and removed in one blocked_terms frame. The schema bounds only the UTF-16
 * length, so these pass the gate; the rule refuses them (test/unit/moderation.test.ts "bounds").
 */
function termRefusal(frame: unknown): boolean {
  const f = frame as { type?: string; phrase?: string; add?: string[]; remove?: string[] };
  if (f.type === "purge") return typeof f.phrase === "string" && normalizeTerm(f.phrase) === null;
  if (f.type !== "blocked_terms") return false;
  const removed = new Set((f.remove ?? []).map(normalizeTerm));
  return (f.add ?? []).some((t) => normalizeTerm(t) === null || removed.has(normalizeTerm(t)));
}
