/**
 * The user card (issue 18 §3; `GET /v1/streams/{id}/chat/users/{user_id}`, staff only): what a
 * moderator needs to decide about one user in ten seconds — their role and standing now, how much
 * they have said here, how old their account is, and what moderators did to them before (the log).
 */
import type { UserCardResponse } from "./protocol";
import type { RoomStore } from "./room-store";
import { restriction, targetRole, type RoomState } from "./rules/room-state";

/** Log entries a card shows, newest first. */
export const CARD_HISTORY_MAX = 50;

/**
 * The card of `userId` at `now` (ms). `account`: what the worker found in Postgres (username and
 * account creation, ms), when it looked; otherwise the room's note from the user's token and the
 * name on their latest comment still in the ring.
 */
export function userCard(
  state: RoomState,
  store: RoomStore,
  userId: string,
  account: { username: string | null; createdAt: number | null } | null,
  now: number,
): UserCardResponse {
  const role = targetRole(state, userId);
  const held = restriction(state, userId, role, now);
  const poster = store.poster(userId);
  let username = account?.username ?? null;
  if (username === null) {
    for (const { comment } of state.comments.values()) if (comment.user_id === userId) username = comment.username;
  }
  const created = account?.createdAt ?? poster.accountCreatedAt;
  return {
    user_id: userId,
    username,
    role,
    messages: poster.messages,
    first_message_at: poster.firstAt !== null ? new Date(poster.firstAt).toISOString() : null,
    account_created_at: created !== null ? new Date(created).toISOString() : null,
    banned: held !== null && "banned" in held,
    muted_until: held !== null && "until" in held ? new Date(held.until).toISOString() : null,
    hidden: state.hidden.has(userId),
    warning_pending: state.warnings.has(userId),
    history: store.modlogOf(userId, CARD_HISTORY_MAX),
  };
}
