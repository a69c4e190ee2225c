/**
 * What the stream's restrictions look like from outside the command path (pure, no I/O): who may
 * read the staff-only state and stats, and the bans and timeouts the state route lists. Both read
 * restriction() (src/rules/room-state.ts), the one rule for whether a ban or timeout holds, so the
 * state route, the stats route, the welcome and the refusals of sends always agree (issue 22).
 */
import type { Role } from "../protocol";
import { restriction, targetRole, type RoomState } from "./room-state";

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Whether a user acting with `role` may read what only staff see (the state route's lists, the stats
 * route): the owner, and moderators who are not banned. A banned moderator is a reader like any
 * banned user (restriction()); a timed-out one only cannot act until the timeout ends.
 */
export function seesStaffState(state: RoomState, userId: string, role: Role, now: number): boolean {
  if (role !== "owner" && role !== "moderator") return false;
  const held = restriction(state, userId, role, now);
  return !(held && "banned" in held);
}

/**
 * The bans and running timeouts that hold at `now` (ms), for the state route: exactly the users whose
 * sends are refused `banned` / `muted`. A restriction recorded on a user later known to be the owner
 * does not hold (restriction()), so it is not listed either; it stays stored, inert.
 */
export function standing(state: RoomState, now: number): {
  bans: Array<{ user_id: string; by: string; at: string; reason?: string }>;
  timeouts: Array<{ user_id: string; until: string; by: string }>;
} {
  const holds = (user: string) => targetRole(state, user) !== "owner";
  return {
    bans: [...state.bans].filter(([u]) => holds(u)).map(([user_id, b]) => ({ user_id, by: b.by, at: iso(b.at), ...(b.reason ? { reason: b.reason } : {}) })),
    timeouts: [...state.timeouts].filter(([u, t]) => t.until > now && holds(u)).map(([user_id, t]) => ({ user_id, until: iso(t.until), by: t.by })),
  };
}
