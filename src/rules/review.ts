/**
 * Hold for review (issue 18 §2; README "Review queue"), pure: whether a message is held, the
 * queue's bounds and expiry, and what a moderator's decision does.
 *
 * A held message is neither refused nor broadcast: it waits in the room's queue (SQLite table
 * `held`, src/room-store.ts) until the owner or a moderator allows it — then it is broadcast as a
 * new comment with a new seq and its original `created_at` — or denies it, or it expires. Held
 * messages are not sequenced events: staff get the whole queue on every join (`review_queue`), so
 * a resuming moderator ends with exactly the live one's queue.
 */
import { type HeldItem, type HoldReason, type StreamComment, type TermAction } from "../protocol";
import { findBlockedTerm } from "./text";

/** Messages waiting at once per stream; a message that would be held past it gets `review_queue_full`. */
export const MAX_HELD = 500;
/** Messages one user may have waiting at once (a raid account cannot fill the queue alone); past it `review_queue_full`. */
export const MAX_HELD_PER_USER = 3;
/**
 * How long a held message waits, ms (10 min). Past it, it is dropped as if denied (the sender's row
 * says so from `expires_at`): a chat message approved later than that answers a conversation that moved on.
 */
export const HELD_TTL_MS = 10 * 60_000;

/** A held message in the room's queue. Times in ms. */
export interface Held {
  comment: StreamComment;
  reason: HoldReason;
  heldAt: number;
  expiresAt: number;
}

/**
 * What the blocked terms do to `text`: `block` when a term whose action is `block` matches (a
 * refusal wins over a hold), `hold` when only `hold` terms match, null when none does.
 */
export function termVerdict(text: string, terms: ReadonlyMap<string, TermAction>): TermAction | null {
  if (terms.size === 0) return null;
  const block: string[] = [];
  const hold: string[] = [];
  for (const [t, a] of terms) (a === "block" ? block : hold).push(t);
  if (findBlockedTerm(text, block) !== null) return "block";
  return findBlockedTerm(text, hold) !== null ? "hold" : null;
}

/** The held message as staff see it (`review_queue` items, `held` frames to staff). */
export function heldItem(h: Held): HeldItem {
  return {
    id: h.comment.id,
    comment: h.comment,
    reason: h.reason,
    held_at: new Date(h.heldAt).toISOString(),
    expires_at: new Date(h.expiresAt).toISOString(),
  };
}

/** The ids of held messages that expired by `now` (ms), oldest first. */
export function expiredHeld(queue: ReadonlyMap<string, Held>, now: number): string[] {
  const out: string[] = [];
  for (const [id, h] of queue) if (h.expiresAt <= now) out.push(id);
  return out;
}
