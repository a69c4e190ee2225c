/**
 * Client SDK for the live-stream chat: `new ChatClient({ baseUrl, streamId, credentials })`.
 * Images: `const { uploadId } = await chat.upload(file)`, then `chat.send(text, { attachments: [uploadId] })`.
 * Runs in browsers and Node ≥ 20 (Node 20: pass the `ws` package's WebSocket).
 * The pure pieces (backoff, outbox, sequence tracking) are exported for reuse and tests.
 */
export {
  ChatClient,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_GAP_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_STABLE_AFTER_MS,
  type ActionOptions,
  type ChatClientEvents,
  type ChatClientOptions,
  type ConnectionState,
  type Credentials,
  type CredentialsContext,
  type CredentialsProvider,
  type DisconnectReason,
  type NetworkMonitor,
  type SendOptions,
  type StateChange,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./client.js";
export { ChatError, type ChatErrorCode, type ClientErrorCode } from "./errors.js";
export { ERROR_RECOVERY, isRetryable, type Recovery } from "./recovery.js";
export { Backoff, backoffCeiling, backoffDelay, DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_MAX_MS, type BackoffOptions } from "./backoff.js";
export { Outbox, DEFAULT_OUTBOX_LIMIT, type ActionResult, type CommandInput, type OutboxEntry, type SendResult } from "./outbox.js";
export { SequenceTracker, DEFAULT_MAX_PENDING, type HistoryOutcome, type ResumePoint, type Sequenced } from "./sequence.js";
export {
  applyEvent,
  applyEvents,
  emptyView,
  historyFrames,
  isMuted,
  resetView,
  setViewers,
  welcomeView,
  DEFAULT_MAX_COMMENTS,
  type RoomView,
} from "./store.js";
export {
  DEFAULT_MAX_UPLOAD_BYTES,
  MAX_ANIMATION_PIXELS,
  MAX_IMAGE_FRAMES,
  MAX_IMAGE_PIXELS,
  MAX_IMAGE_SIDE_PX,
  UPLOAD_CONTENT_TYPES,
  UPLOAD_RATE_LIMIT_RETRIES,
  UPLOAD_RETRY_MAX_WAIT_MS,
  checkImage,
  imageBoundsProblem,
  isUploadContentType,
  resolveUrl,
  sniffImageType,
  type ImageCheck,
  type ImageRefusalCode,
  type ImageSize,
  type UploadBody,
  type UploadContentType,
  type UploadOptions,
  type UploadResult,
} from "./uploads.js";
export { Emitter, type Listener } from "./emitter.js";
export { uuid } from "./uuid.js";
export type {
  AckFrame,
  Attachment,
  BanFrame,
  BlockedTermsFrame,
  ChatLimits,
  ChatUser,
  Command,
  CommentDeletedFrame,
  CommentEditedFrame,
  CommentFrame,
  DeleteFrame,
  EditFrame,
  Entity,
  ErrorCode,
  HistoryFrame,
  MessageFrame,
  ModerationAction,
  ModerationFrame,
  PinFrame,
  PinnedFrame,
  ReplyRef,
  Role,
  RoleFrame,
  RoomEvent,
  SeqComment,
  SlowModeFrame,
  StreamComment,
  TimeoutFrame,
  UnbanFrame,
  UnpinFrame,
  WelcomeFrame,
} from "./types.js";
