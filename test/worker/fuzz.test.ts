/**
 * The frame fuzzer (issue 19 §5): a seeded run of mutated and random frames from four fuzzing users
 * (an owner, a moderator, two viewers), interleaved with valid commands from four other users, at the
 * room's sockets or a shard's (SHARD_MAX_SOCKETS) and over the HTTP actions route — the generators
 * are test/support/fuzz-frames.ts, derived from the protocol's zod schemas.
 *
 * Asserted for every frame (test/worker/fuzz-stage.ts): an answer within the deadline and only
 * frames of the protocol; never `internal_error`, never a 5xx; the gate's exact code for a frame the
 * schema refuses; typed errors over HTTP; closes only for abuse (1008), and a closed socket is
 * reopened (resuming) for the user's next frame. Three of the users connect with `?batch=1` (the
 * room is made to coalesce for them), and the fuzzed run's room and shards are evicted every
 * EVICT_EVERY steps (their sockets hibernate through it). Then the reference run: a second fresh stream with
 * the same users replays only the valid commands (schema-valid, and not refused by a rate limit in
 * the fuzzed run: RATE_LIMIT_PER_SEC is 50 there, unlimited here), comment ids mapped by the seq of
 * their comment, never evicted; each must get the same answer, and the streams must end equal: every sequenced
 * event, the state route (pins, slow mode, bans, timeouts, moderators, blocked terms), a fresh
 * join's history and a resume's ring — modulo ids and timestamps.
 *
 * CI runs a small count with a fixed seed; `npm run fuzz -- --count 10000 --seed S` the full run
 * (FUZZ_COUNT, FUZZ_SEED: vitest.config.ts passes them in). The summary is logged as `FUZZ_SUMMARY {json}`.
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it, vi } from "vitest";
import { FUZZ_CAST, fuzzSteps, httpVerdict, render, socketVerdict, type FuzzStep, type Verdict, type Wire } from "../support/fuzz-frames";
import { Stage, outcomeClass, type Outcome } from "./fuzz-stage";
import { SHARDED, fetchWorker, newStreamId, newUserId, roomStub, setLimits, shardStubs, token } from "./helpers";

const COUNT = Number(env.FUZZ_COUNT || 600);
const SEED = Number(env.FUZZ_SEED || 19);
/** The fuzzed room's per-user rate: low enough that busy users meet it, so refusals by a limit are part of the run. */
const FUZZ_RATE_PER_SEC = 50;
/** The fuzzed run evicts its room and shards every this many steps. */
const EVICT_EVERY = 250;
/** Answers that refuse a command before the rules see it: such a command changed nothing and is not replayed. */
const REFUSED_BY_LIMITS = new Set(["rate_limited", "room_busy"]);
/** Fields that differ between two runs by nature (times, presence, the sequence lineage). */
const VOLATILE_KEYS = new Set(["created_at", "edited_at", "until", "at", "muted_until", "viewers", "epoch", "held_at", "expires_at"]);
const UUID_G = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

interface Sent {
  i: number;
  step: FuzzStep;
  wire: Wire;
  verdict: Verdict;
  outcome: Outcome;
}

const verdictOf = (channel: FuzzStep["channel"], wire: Wire) => (channel === "socket" ? socketVerdict(wire) : httpVerdict(wire));

function describeStep(i: number, step: FuzzStep, wire: Wire): string {
  const o = step.origin;
  const body = "bytes" in wire ? `<${wire.bytes.length} bytes>` : JSON.stringify(wire.text.length > 200 ? `${wire.text.slice(0, 200)}…(${wire.text.length})` : wire.text);
  return `step ${i} ${FUZZ_CAST[step.actor]!.name} ${step.channel} ${o.kind}:${o.type ?? "-"}.${o.field ?? "-"}:${o.how} ${body}`;
}

/** An id from `from`'s comments written as its counterpart in `to` (the comment with the same seq), in the same letter case. */
function sameCase(pattern: string, id: string): string {
  return [...id].map((c, i) => (pattern[i] !== undefined && pattern[i] !== pattern[i]!.toLowerCase() ? c.toUpperCase() : c)).join("");
}

/** `text` with every comment id of the fuzzed run replaced by the reference's comment of the same seq. */
async function mapIds(text: string, from: Stage, to: Stage, problems: string[], what: string): Promise<string> {
  const map = new Map<string, string>();
  for (const m of new Set(text.match(UUID_G) ?? [])) {
    const seq = from.seqOfComment.get(m.toLowerCase());
    if (seq === undefined) continue;
    // Wait for the reference's comment only when its room has made that event (after a divergence it may never).
    if (to.seq < seq && (await to.roomSeq()) >= seq) await to.seen(seq);
    const id = to.commentAtSeq.get(seq);
    if (id === undefined) problems.push(`${what}: the reference has no comment at seq ${seq}`);
    else map.set(m, sameCase(m, id));
  }
  return text.replace(UUID_G, (m) => map.get(m) ?? m);
}

/** `x` as two runs can compare it: comment ids as `#c<seq>`, the stream id as `#stream`, volatile fields gone. */
function normalize(x: unknown, st: Stage): unknown {
  const text = JSON.stringify(x).replace(UUID_G, (m) => {
    const lower = m.toLowerCase();
    if (lower === st.sid) return "#stream";
    const seq = st.seqOfComment.get(lower);
    return seq === undefined ? m : `#c${seq}`;
  });
  return JSON.parse(text, (k, v) => (VOLATILE_KEYS.has(k) ? undefined : v));
}

/** What a stream ends as: every event, the state route (owner's view), a fresh join and a resume. */
async function finalState(st: Stage, ownerToken: string, watcherToken: string, problems: string[]) {
  const seq = await st.roomSeq();
  if (!(await st.seen(seq))) problems.push(`${st.label}: the watcher never saw seq ${seq} (it has ${st.seq})`);
  const events = [...st.log.entries()].sort(([a], [b]) => a - b).map(([, e]) => normalize(e, st));
  const res = await fetchWorker(`/v1/streams/${st.sid}/chat/state`, { headers: { authorization: `Bearer ${ownerToken}` } });
  const state = normalize(await res.json(), st) as Record<string, unknown>;
  const byUser = (a: unknown) => (Array.isArray(a) ? [...a].sort((x, y) => String(x.user_id ?? x).localeCompare(String(y.user_id ?? y))) : a);
  for (const k of ["bans", "timeouts", "moderators", "blocked_terms"]) state[k] = byUser(state[k]);
  const fresh = await st.open(watcherToken, "final join", () => {});
  const epoch = fresh.epoch;
  const resumed = await st.open(watcherToken, "final resume", () => {}, { since: Math.max(0, seq - 150), epoch });
  if (!resumed.history?.recovered) problems.push(`${st.label}: a resume 150 events back was not recovered`);
  const out = {
    events,
    state,
    welcome: normalize({ pinned: fresh.welcome?.pinned, slow_mode_s: fresh.welcome?.slow_mode_s }, st),
    join: normalize(fresh.history?.comments, st),
    resume: normalize({ comments: resumed.history?.comments, events: resumed.history?.events }, st),
  };
  for (const s of [fresh, resumed]) {
    s.ws.close(1000, "done");
    await s.until(() => s.closed !== null, 5_000);
  }
  return out;
}

it(`fuzz: ${COUNT} frames (seed ${SEED}) at the ${SHARDED ? "shards" : "room"} and the actions route: typed answers only, and the state of a reference run of the valid commands`, async () => {
  const started = Date.now();
  const problems: string[] = [];
  const divergences: string[] = [];
  const errors = vi.spyOn(console, "error");
  const userIds = FUZZ_CAST.map(() => newUserId());
  const absent = [newUserId(), newUserId()];
  const watcherId = newUserId();
  const tokensFor = (sid: string) =>
    Promise.all(FUZZ_CAST.map((m, i) => token({ sub: userIds[i], username: m.name, claims: m.role === "viewer" ? {} : { stream_roles: { [sid]: m.role } } })));
  const watcherToken = await token({ sub: watcherId, username: "watcher" });

  // The fuzzed run.
  const sidA = newStreamId();
  const tokensA = await tokensFor(sidA);
  const batched = FUZZ_CAST.map((m) => m.batch === true);
  const fuzz = new Stage(sidA, "fuzzed", tokensA, batched, watcherToken, [...userIds, ...absent], problems);
  await fuzz.start();
  // Frames are never dropped unread for the socket budget (a dropped frame has no answer to wait for);
  // edits are not timed out by EDIT_WINDOW_S on a long run. Rejected frames still close sockets (1008).
  // A modelled send cost of 20 ms makes even this small room coalesce for its batched sockets, in
  // windows of at most 5 ms (so the run is not slowed to the 25 ms default).
  const fuzzLimits = () =>
    setLimits(roomStub(sidA), { SOCKET_MAX_FRAMES_PER_SEC: 1_000_000, RATE_LIMIT_PER_SEC: FUZZ_RATE_PER_SEC, EDIT_WINDOW_S: 86_400, BATCH_MAX_WINDOW_MS: 5 }, { sendCostUs: 20_000 });
  await fuzzLimits();
  const sent: Sent[] = [];
  const steps = fuzzSteps(SEED, COUNT);
  let evictions = 0;
  for (const [i, step] of steps.entries()) {
    if (i > 0 && i % EVICT_EVERY === 0) {
      // The fuzzed run's objects start again from storage now and then (their sockets hibernate through
      // it); the reference's never do, so anything the room keeps only in memory shows up as a divergence.
      for (const stub of [roomStub(sidA), ...(await shardStubs(sidA))]) await evictDurableObject(stub);
      evictions++;
      await fuzzLimits();
    }
    const wire = render(step.payload, fuzz.resolve);
    const verdict = verdictOf(step.channel, wire);
    const what = describeStep(i, step, wire);
    const outcome = step.channel === "socket" ? await fuzz.socket(step.actor, wire, verdict, what) : await fuzz.http(step.actor, wire, verdict, what);
    sent.push({ i, step, wire, verdict, outcome });
  }
  const fuzzMs = Date.now() - started;

  // The reference run: the valid commands only, in the same order, from the same users, with no rate limits.
  const sidB = newStreamId();
  const ref = new Stage(sidB, "reference", await tokensFor(sidB), batched, watcherToken, [...userIds, ...absent], problems);
  await ref.start();
  await setLimits(roomStub(sidB), {
    SOCKET_MAX_FRAMES_PER_SEC: 1_000_000,
    RATE_LIMIT_PER_SEC: 1_000_000,
    ROOM_MAX_MESSAGES_PER_SEC: 1_000_000,
    ROOM_MAX_DELIVERIES_PER_SEC: 1_000_000_000,
    EDIT_WINDOW_S: 86_400,
  });
  let replayed = 0;
  for (const s of sent) {
    if (!s.verdict.valid || REFUSED_BY_LIMITS.has(s.outcome.answer)) continue;
    replayed++;
    const what = `reference ${describeStep(s.i, s.step, s.wire)}`;
    const wire: Wire = "text" in s.wire ? { text: await mapIds(s.wire.text, fuzz, ref, problems, what) } : s.wire;
    const verdict = verdictOf(s.step.channel, wire);
    const o = s.step.channel === "socket" ? await ref.socket(s.step.actor, wire, verdict, what) : await ref.http(s.step.actor, wire, verdict, what);
    if (outcomeClass(o) !== outcomeClass(s.outcome)) divergences.push(`${what}: fuzzed ${outcomeClass(s.outcome)}, reference ${outcomeClass(o)}`);
  }

  const a = await finalState(fuzz, tokensA[0]!, watcherToken, problems);
  const b = await finalState(ref, (await tokensFor(sidB))[0]!, watcherToken, problems);
  await fuzz.close();
  await ref.close();
  for (const call of errors.mock.calls) problems.push(`logged: ${call.map(String).join(" ").slice(0, 400)}`);
  errors.mockRestore();

  const origins: Record<string, number> = {};
  for (const s of steps) origins[s.origin.kind] = (origins[s.origin.kind] ?? 0) + 1;
  const summary = {
    seed: SEED,
    count: COUNT,
    mode: SHARDED ? "sharded" : "unsharded",
    ms: Date.now() - started,
    fuzz_ms: fuzzMs,
    origins,
    ...fuzz.tally,
    evictions,
    events: fuzz.seq,
    replayed,
    not_replayed: { schema_invalid: sent.filter((s) => !s.verdict.valid).length, refused_by_limits: sent.filter((s) => s.verdict.valid && REFUSED_BY_LIMITS.has(s.outcome.answer)).length },
    reference_reopens: ref.tally.reopens,
    problems: problems.length,
    divergences: divergences.length,
  };
  console.log(`FUZZ_SUMMARY ${JSON.stringify(summary)}`);

  expect({ problems: problems.slice(0, 30), divergences: divergences.slice(0, 20) }).toEqual({ problems: [], divergences: [] });
  expect(b.events).toEqual(a.events);
  expect(b.state).toEqual(a.state);
  expect(b.welcome).toEqual(a.welcome);
  expect(b.join).toEqual(a.join);
  expect(b.resume).toEqual(a.resume);
  // The run did what it is for: the room accepted commands, and the reference replayed them.
  expect(a.events.length).toBeGreaterThan(0);
  expect(replayed).toBeGreaterThan(0);
}, 120_000 + COUNT * 60);
