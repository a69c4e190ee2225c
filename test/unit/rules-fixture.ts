/**
 * Shared by the unit suites of issue 18's rules (moderation, review, modlog, replay): a stream with
 * an owner, two moderators and viewers, deterministic ids, and a `run` that decides and applies
 * like the room does (events applied, held messages queued, blocked terms, the preset and shadow
 * hides kept).
 */
import type { Command, RoomEvent } from "../../src/protocol";
import { apply, decide, emptyState, type Actor, type Outcome, type RoomState, type RuleOptions } from "../../src/rules/room-state";

export const STREAM = "6b5f0c1e-8a0b-4c59-9b5e-3f2a1d0c9e8f";
export const owner: Actor = { userId: "00000000-0000-4000-8000-00000000000a", username: "owner", role: "owner" };
export const mod: Actor = { userId: "00000000-0000-4000-8000-00000000000b", username: "mod", role: "moderator" };
export const mod2: Actor = { userId: "00000000-0000-4000-8000-00000000000c", username: "mod2", role: "moderator" };
export const alice: Actor = { userId: "00000000-0000-4000-8000-00000000000d", username: "alice", role: "viewer" };
export const bob: Actor = { userId: "00000000-0000-4000-8000-00000000000e", username: "bob", role: "viewer" };
export const carol: Actor = { userId: "00000000-0000-4000-8000-00000000000f", username: "carol", role: "viewer" };

/** A fixed clock: every test's "now" unless it says otherwise (ms). */
export const T0 = Date.parse("2026-01-01T00:00:00Z");

let ids = 0;
export const newId = () => `00000000-0000-4000-9000-${String(++ids).padStart(12, "0")}`;

/** Who has posted (first_time_hold): the room's `posters` table, here a set the runner fills. */
export interface Fixture {
  state: RoomState;
  posted: Set<string>;
  /** Every sequenced event applied, with the `now` it was applied at (replay). */
  log: Array<{ e: RoomEvent; now: number }>;
}

export function fresh(): Fixture {
  const state = emptyState(STREAM);
  // The worker told the room who the staff are when they connected.
  state.knownRoles.set(mod.userId, "moderator");
  state.knownRoles.set(mod2.userId, "moderator");
  state.ownerId = owner.userId;
  return { state, posted: new Set(), log: [] };
}

export function options(f: Fixture, more: Partial<RuleOptions> = {}): RuleOptions {
  return { editWindowMs: 300_000, newId, hasPosted: (u) => f.posted.has(u), ...more };
}

/** Decides `cmd` and applies what it does, as src/room.ts command() does. */
export function run(f: Fixture, actor: Actor, cmd: Command, now = T0, more: Partial<RuleOptions> = {}): Outcome {
  const o = decide(f.state, actor, cmd, now, options(f, more));
  if (o.kind === "ok") {
    for (const e of o.events) {
      apply(f.state, e, now);
      f.log.push({ e, now });
      if (e.type === "comment") f.posted.add(e.comment.user_id);
    }
    if (o.blockedTerms) f.state.blockedTerms = o.blockedTerms;
    if (o.lockdownPreset) f.state.lockdownPreset = o.lockdownPreset;
    // A shadow hide is room state, not an event (a broadcast would tell the hidden user).
    if (o.hidden) {
      if (o.hidden.on) f.state.hidden.add(o.hidden.userId);
      else f.state.hidden.delete(o.hidden.userId);
    }
  } else if (o.kind === "held") {
    f.state.held.set(o.held.comment.id, o.held);
  } else if (o.kind === "hidden") {
    f.posted.add(o.comment.user_id);
  }
  return o;
}

/** Posts and returns the comment id; fails unless it was accepted. */
export function post(f: Fixture, actor: Actor, text: string, now = T0): string {
  const o = run(f, actor, { type: "message", text }, now);
  if (o.kind !== "ok") throw new Error(`post refused: ${JSON.stringify(o)}`);
  return o.ack.id!;
}

/** The refusal code, or the outcome's kind. */
export const code = (o: Outcome) => (o.kind === "error" ? o.code : o.kind);

/** The events of an accepted outcome (fails otherwise). */
export function events(o: Outcome): RoomEvent[] {
  if (o.kind !== "ok") throw new Error(`expected ok, got ${JSON.stringify(o)}`);
  return o.events;
}
