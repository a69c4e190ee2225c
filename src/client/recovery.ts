/**
 * Which failures are worth trying again: one table over every error code the SDK reports (the
 * server's ErrorCode and the client's own codes), used by the SDK to decide which refusals it
 * resends by itself and by apps (the demo page) to decide whether a failed message offers Retry.
 *
 * A `Record` over the whole union rather than a switch: a code added to ErrorCode (src/protocol.ts,
 * mirrored in ./types.ts) or to ClientErrorCode does not compile until it is classified here, like
 * the switches that end in src/rules/never.ts's checks — and the table is also the list a test walks.
 */
import type { ChatErrorCode } from "./errors.js";

/**
 * What trying the same thing again can do:
 * - `retry`: the failure was transient (the server was busy or unreachable, or asked us to wait
 *   briefly): the same command may succeed later. Offer a Retry.
 * - `final`: the same command gets the same answer — a rule of the stream (a restriction, a
 *   role, a blocked term, slow mode until it ends), or the content itself (too long, bad text, a
 *   bad attachment). Say why; offer no Retry (a lifted restriction is an event, not a retry).
 */
export type Recovery = "retry" | "final";

/** Every error code's {@link Recovery} (see the module comment). */
export const ERROR_RECOVERY: Readonly<Record<ChatErrorCode, Recovery>> = {
  // Server codes (src/protocol.ts ErrorCode).
  rate_limited: "retry",
  room_busy: "retry",
  internal_error: "retry",
  invalid_json: "final",
  invalid_frame: "final",
  message_too_long: "final",
  unsupported_binary: "final",
  frame_too_large: "final",
  forbidden: "final",
  not_found: "final",
  edit_window_passed: "final",
  muted: "final",
  banned: "final",
  slow_mode: "final",
  blocked_term: "final",
  invalid_text: "final",
  invalid_attachment: "final",
  limit_reached: "final",
  target_restricted: "final",
  // Issue 18: a chat mode or a warning holds until a moderator changes it (an event, not a retry);
  // a full review queue empties as moderators work through it.
  emote_only: "final",
  not_unique: "final",
  members_only: "final",
  account_too_new: "final",
  warning_pending: "final",
  already_reviewed: "final",
  review_queue_full: "retry",
  // Client codes (./errors.ts ClientErrorCode).
  outbox_full: "retry",
  unauthorized: "retry",
  auth_failed: "retry",
  policy_violation: "retry",
  network_error: "retry",
  upload_failed: "retry",
  too_many_uploads: "retry",
  empty_message: "final",
  closed: "final",
  protocol_error: "final",
  too_many_sockets: "final",
  upload_too_large: "final",
  unsupported_media_type: "final",
  empty_upload: "final",
  image_too_large: "final",
  invalid_image: "final",
  review_denied: "final",
  review_expired: "final",
  request_failed: "retry",
  aborted: "final",
};

/**
 * True when a failure with `code` is transient, so trying the same command again may succeed
 * (`rate_limited`, `room_busy`, `internal_error`, network and storage hiccups); false when it
 * cannot (banned, muted, forbidden, blocked_term, message_too_long, slow_mode, …). A code this
 * SDK does not know (a cast let it through) is not retryable.
 */
export function isRetryable(code: ChatErrorCode): boolean {
  return Object.hasOwn(ERROR_RECOVERY, code) && ERROR_RECOVERY[code] === "retry";
}
