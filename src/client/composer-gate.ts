/**
 * Whether the demo page's composer may send now, and if not why and until when (issue 18 §6
 * item 4): banned, timed out, or waiting out slow mode. Pure (no DOM, no clock of its own), so the
 * page's rule is unit-tested (test/unit/composer-gate.test.ts); the page feeds it what it knows:
 *
 *   the store (RoomView)      our role, `banned`, `mutedUntil` (welcome, timeout/unban events about us),
 *                             `slowModeS` (welcome, slow_mode events)
 *   our own live comments     when the last one arrived (the room spaces a viewer's messages from
 *                             its last accepted one: src/rules/room-state.ts decide)
 *   refusals                  `banned`, `muted` with `until`, `slow_mode` with `retry_after_ms`:
 *                             what the room told us that the store did not know yet
 *   the pending warning       `warning` (welcome, warn events about us): the room refuses our
 *                             messages with `warning_pending` until we acknowledge it
 *
 * The room's rules, mirrored: the owner is never restricted; a ban holds until an unban; a timeout
 * until its end or an unban; a warning until we press "I understand" (acknowledge_warning); slow
 * mode spaces viewers only (owner and moderators are exempt). One gate for all of them, so no
 * redraw can reopen a composer another rule closed.
 */
import type { Role } from "./types.js";

/** What the page knows about our standing, in ms of the local clock. */
export interface GateFacts {
  /** Our role (null before the first welcome: treated as a viewer). */
  role: Role | null;
  /** Banned: the store's flag, or a `banned` refusal not lifted since. */
  banned: boolean;
  /** End of our timeout (the later of the store's `mutedUntil` and a `muted` refusal's `until`), or null. */
  mutedUntil: number | null;
  /** A moderator's warning we have not acknowledged yet (the store's `warning`). */
  warned: boolean;
  /** Slow mode spacing, seconds (0 = off). */
  slowModeS: number;
  /** When our last comment arrived since slow mode was last off, or null. */
  lastOwnCommentAt: number | null;
  /** A `slow_mode` refusal's end (when it came + its `retry_after_ms`), or null. */
  slowUntil: number | null;
}

/** The composer's state: open, or closed for a reason (with the end of the wait when it has one). */
export type Gate = { kind: "open" } | { kind: "banned" } | { kind: "muted"; until: number } | { kind: "warned" } | { kind: "slow"; until: number };

/** The composer's state at `now` (ms) from `facts` (see the module comment for the rules). */
export function composerGate(facts: GateFacts, now: number): Gate {
  if (facts.role === "owner") return { kind: "open" };
  if (facts.banned) return { kind: "banned" };
  if (facts.mutedUntil !== null && facts.mutedUntil > now) return { kind: "muted", until: facts.mutedUntil };
  if (facts.warned) return { kind: "warned" };
  if (facts.role !== "moderator" && facts.slowModeS > 0) {
    const spaced = facts.lastOwnCommentAt === null ? -Infinity : facts.lastOwnCommentAt + facts.slowModeS * 1000;
    const until = Math.max(spaced, facts.slowUntil ?? -Infinity);
    if (until > now) return { kind: "slow", until };
  }
  return { kind: "open" };
}

/** Why the composer is closed, as a sentence (empty when open). The wait is {@link gateCountdown}. */
export function gateReason(gate: Gate): string {
  switch (gate.kind) {
    case "open":
      return "";
    case "banned":
      return "You are banned from this chat. You can still read it.";
    case "muted":
      return "You are timed out: you can read the chat, but not send messages.";
    case "warned":
      return "Read the moderator's warning above and press “I understand” to chat again.";
    case "slow":
      return "Slow mode is on: wait before sending your next message.";
  }
}

/** The wait left at `now`, e.g. "4 s left", "9:58 left", "23:59:58 left"; empty when there is none. */
export function gateCountdown(gate: Gate, now: number): string {
  if (gate.kind !== "muted" && gate.kind !== "slow") return "";
  return `${countdown(gate.until - now)} left`;
}

/** A wait as the countdown shows it: whole seconds rounded up — "4 s" under a minute, then "m:ss", then "h:mm:ss". */
export function countdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  if (total < 60) return `${total} s`;
  const s = String(total % 60).padStart(2, "0");
  const m = Math.floor(total / 60) % 60;
  const h = Math.floor(total / 3600);
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/**
 * How long until the countdown's text changes or the gate opens (ms, ≥ 1), so the page redraws
 * exactly then; null when nothing changes by itself (open, or banned).
 */
export function nextChangeIn(gate: Gate, now: number): number | null {
  if (gate.kind !== "muted" && gate.kind !== "slow") return null;
  const left = gate.until - now;
  if (left <= 0) return 1;
  return left % 1000 || 1000;
}
