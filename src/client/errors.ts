/**
 * One error type for everything the client reports, so an app can `switch (err.code)`.
 * Server codes (src/protocol.ts ErrorCode) pass through unchanged; the client adds its own
 * for what only it can detect (a full outbox, a dead socket, a ticket the server refused).
 */
import type { ErrorCode } from "./types.js";

export type ClientErrorCode =
  /** send() or another command while `outboxLimit` commands are waiting for their ack. */
  | "outbox_full"
  /** send() with nothing but whitespace: the server would drop it silently, never acking. */
  | "empty_message"
  /** close() was called (pending sends are rejected with this). */
  | "closed"
  /** The ticket endpoint answered 401/403: the token is missing, expired or not for this stream. */
  | "unauthorized"
  /** Getting credentials or a ticket failed for another reason (network, 5xx, bad body). */
  | "auth_failed"
  /** A frame from the server that is not JSON or not in the protocol. */
  | "protocol_error"
  /** The server closed the socket with 1008 (persistent abuse); the client reconnects slowly. */
  | "policy_violation"
  /**
   * The server closed the socket with 4429: this user has too many sockets on the stream (other
   * tabs or devices) and this was the oldest. Final: the client is closed, pending sends fail.
   */
  | "too_many_sockets"
  /**
   * upload(): the image is larger than the server accepts (`chat.maxUploadBytes`; refused locally,
   * or HTTP 413 from the server, whose `max_bytes` the client then remembers).
   */
  | "upload_too_large"
  /** upload(): not a PNG, JPEG, GIF or WebP by its first bytes, or `contentType` says otherwise (HTTP 415). */
  | "unsupported_media_type"
  /** upload(): 0 bytes (HTTP 400). */
  | "empty_upload"
  /**
   * upload(): the image's header declares more than every viewer's browser should decode — a side
   * over 8,192 px, over 40 MP, over 500 frames, or over 100 M pixels × frames (src/rules/image-header.ts;
   * refused locally, or HTTP 422). The message names the bound.
   */
  | "image_too_large"
  /** upload(): the file's structure is broken or contradicts itself (truncated, lying lengths; HTTP 400). */
  | "invalid_image"
  /**
   * upload(): 50 of this user's uploads to this stream are not attached to a message yet (HTTP
   * 429); `retryAfterMs` says when the oldest expires.
   */
  | "too_many_uploads"
  /** upload(): the server could not store it (HTTP 503, R2) or answered something unexpected. */
  | "upload_failed"
  /**
   * upload(), fetchModlog(), fetchUserCard(): the request did not complete (offline, connection
   * reset). An upload is not retried by the SDK: the server may have stored the image, and a second
   * upload would count against the user's limits.
   */
  | "network_error"
  /** upload(): the caller's `signal` aborted it. */
  | "aborted"
  /**
   * send(): the message was held for review (`chat.room.held`) and a moderator denied it. Final:
   * sending the same text again would be held (or refused) again.
   */
  | "review_denied"
  /**
   * send(): the message was held for review and nobody decided before it expired (its `expires_at`,
   * by this device's clock, plus a few seconds for a decision on its way). Final, like a denial.
   */
  | "review_expired"
  /**
   * fetchModlog() / fetchUserCard(): the server answered with a status the SDK has no code for
   * (5xx, an unexpected 4xx) or with a body that is not the route's shape.
   */
  | "request_failed";

export type ChatErrorCode = ErrorCode | ClientErrorCode;

export class ChatError extends Error {
  override readonly name = "ChatError";
  readonly code: ChatErrorCode;
  /** For `rate_limited` / `room_busy` / `slow_mode` / `too_many_uploads`: how long the server asks us to wait before sending again. */
  readonly retryAfterMs: number | undefined;
  /** The command this error is about (its `client_msg_id`), when it is about one. */
  readonly clientMsgId: string | undefined;
  /** For `muted`: when the timeout ends (RFC 3339). */
  readonly until: string | undefined;

  constructor(
    code: ChatErrorCode,
    message: string,
    extra: { retryAfterMs?: number | undefined; clientMsgId?: string | undefined; until?: string | undefined; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.code = code;
    this.retryAfterMs = extra.retryAfterMs;
    this.clientMsgId = extra.clientMsgId;
    this.until = extra.until;
  }
}
