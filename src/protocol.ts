/**
 * The wire contract, in one place: every frame a client or the server sends, every event the
 * room emits to the queue, as zod schemas. Types come from `z.infer`, so the worker, the room,
 * the queue consumer, the bridge and the client SDK cannot drift apart.
 *
 * Limits live here too, because both ends enforce them (the server always, the client as a
 * courtesy), and the README quotes them.
 */
import * as z from "zod";

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

/** Max length of a chat message, in Unicode code points, after trimming. */
export const MAX_MESSAGE_CODE_POINTS = 500;
/** Max size of one text frame from a client, in UTF-8 bytes. */
export const MAX_FRAME_BYTES = 8 * 1024;
/** Max length of a client_msg_id. */
export const MAX_CLIENT_MSG_ID = 64;
/** Comments kept per stream: in the room's ring (for resume) and in Redis history. */
export const HISTORY_SIZE = 200;
/** Default per-user, per-stream message rate (messages per second). */
export const DEFAULT_RATE_LIMIT_PER_SEC = 10;
/**
 * Default total messages per second one stream accepts (ROOM_MAX_MESSAGES_PER_SEC). Sized from
 * BENCHMARKS.md: the seed load (100 msg/s to 1,000 viewers) is what one room on one core delivers
 * with p99 < 250 ms; beyond it the room's event loop, not the senders, sets the latency for everyone.
 */
export const DEFAULT_ROOM_MAX_MESSAGES_PER_SEC = 100;
/**
 * Default per-socket frame budget (SOCKET_MAX_FRAMES_PER_SEC): every frame a socket sends counts,
 * whatever its kind; burst = 2 × rate. A client at the message rate limit plus pings uses about half.
 */
export const DEFAULT_SOCKET_MAX_FRAMES_PER_SEC = 20;
/** Default sockets per user per stream (MAX_SOCKETS_PER_USER). */
export const DEFAULT_MAX_SOCKETS_PER_USER = 5;
/** The exact string that the room answers without waking up (setWebSocketAutoResponse). */
export const PING_FRAME = '{"type":"ping"}';
export const PONG_FRAME = '{"type":"pong"}';

/**
 * Close codes the room sends (RFC 6455 §7.4: 4000–4999 are the application's).
 * 1008 (policy violation): the socket kept exceeding its frame budget or sent too many rejected
 * frames; clients must not reconnect in a loop. CLOSE_TOO_MANY_SOCKETS: the user opened more than
 * MAX_SOCKETS_PER_USER sockets to one stream and this, their oldest, was closed to make room for the
 * newest (mnemonic: HTTP 429); a client must not reconnect on it, or two tabs would evict each other.
 */
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_TOO_MANY_SOCKETS = 4429;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID_RE.test(s);
export const Uuid = z.string().regex(UUID_RE, "expected a UUID");

// ---------------------------------------------------------------------------------------------
// Domain objects
// ---------------------------------------------------------------------------------------------

/** One chat message as stored and broadcast (the seed's StreamComment, field for field). */
export const StreamComment = z.object({
  id: Uuid,
  stream_id: Uuid,
  user_id: z.string().min(1),
  username: z.string().nullable(),
  message: z.string(),
  /** RFC 3339, UTC, millisecond precision. */
  created_at: z.string(),
});
export type StreamComment = z.infer<typeof StreamComment>;

export const SeqComment = z.object({ seq: z.number().int().positive(), comment: StreamComment });
export type SeqComment = z.infer<typeof SeqComment>;

/** The Kafka event value, exactly these fields (topic KAFKA_CHAT_TOPIC, key = stream_id). */
export const ChatEvent = z.object({
  event_type: z.literal("stream_chat_message"),
  stream_id: Uuid,
  user_id: z.string().min(1),
  username: z.string().nullable(),
  message: z.string(),
  created_at: z.string(),
  comment_id: Uuid,
});
export type ChatEvent = z.infer<typeof ChatEvent>;

/** Body of a CHAT_EVENTS queue message: the Kafka event plus the room's sequence number. */
export const QueueEvent = ChatEvent.extend({ seq: z.number().int().positive() });
export type QueueEvent = z.infer<typeof QueueEvent>;

/** The Kafka event of a queue event: the same fields without `seq`. */
export function toChatEvent({ seq: _seq, ...event }: QueueEvent): ChatEvent {
  return event;
}

/** The queue event for a sequenced comment. */
export function toQueueEvent(sc: SeqComment): QueueEvent {
  const c = sc.comment;
  return {
    event_type: "stream_chat_message",
    stream_id: c.stream_id,
    user_id: c.user_id,
    username: c.username,
    message: c.message,
    created_at: c.created_at,
    comment_id: c.id,
    seq: sc.seq,
  };
}

export function queueEventToSeqComment(e: QueueEvent): SeqComment {
  return {
    seq: e.seq,
    comment: {
      id: e.comment_id,
      stream_id: e.stream_id,
      user_id: e.user_id,
      username: e.username,
      message: e.message,
      created_at: e.created_at,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Client → server frames
// ---------------------------------------------------------------------------------------------

export const MessageFrame = z.object({
  type: z.literal("message"),
  text: z.string(),
  client_msg_id: z.string().min(1).max(MAX_CLIENT_MSG_ID).optional(),
});
export const PingFrame = z.object({ type: z.literal("ping") });
export const ClientFrame = z.discriminatedUnion("type", [MessageFrame, PingFrame]);
export type ClientFrame = z.infer<typeof ClientFrame>;
export type MessageFrame = z.infer<typeof MessageFrame>;

// ---------------------------------------------------------------------------------------------
// Server → client frames
// ---------------------------------------------------------------------------------------------

export const ErrorCode = z.enum([
  "invalid_json",
  "invalid_frame",
  "message_too_long",
  "rate_limited",
  "unsupported_binary",
  "frame_too_large",
  "room_busy",
  "internal_error",
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const WelcomeFrame = z.object({
  type: z.literal("welcome"),
  stream_id: Uuid,
  user: z.object({ id: z.string(), username: z.string().nullable() }),
  /** Last sequence number assigned in this stream (0 if none). */
  seq: z.number().int().nonnegative(),
  /** Identifies this stream's sequence lineage; a resume is only valid within one epoch. */
  epoch: z.string(),
  /**
   * Extension (README "Protocol extensions"): the limits this socket is held to, so a client can
   * pace its sends instead of discovering them through errors. messages_per_sec = the per-user
   * message rate (RATE_LIMIT_PER_SEC, burst of the same size); frames_per_sec = the per-socket frame
   * budget (every frame counts, pings included).
   */
  limits: z.object({ messages_per_sec: z.number().positive(), frames_per_sec: z.number().positive() }).optional(),
});
export const HistoryFrame = z.object({
  type: z.literal("history"),
  comments: z.array(SeqComment),
  /** true: exactly the comments after `since`; false: the recent backlog (the app should reset). */
  recovered: z.boolean(),
});
export const CommentFrame = z.object({ type: z.literal("comment"), seq: z.number().int().positive(), comment: StreamComment });
export const AckFrame = z.object({
  type: z.literal("ack"),
  client_msg_id: z.string(),
  id: Uuid,
  seq: z.number().int().positive(),
});
export const ErrorFrame = z.object({
  type: z.literal("error"),
  code: ErrorCode,
  message: z.string(),
  retry_after_ms: z.number().int().nonnegative().optional(),
  client_msg_id: z.string().optional(),
});
export const PongFrame = z.object({ type: z.literal("pong") });

const SingleServerFrame = z.discriminatedUnion("type", [
  WelcomeFrame,
  HistoryFrame,
  CommentFrame,
  AckFrame,
  ErrorFrame,
  PongFrame,
]);
export const BatchFrame = z.object({ type: z.literal("batch"), frames: z.array(SingleServerFrame) });
export const ServerFrame = z.discriminatedUnion("type", [
  WelcomeFrame,
  HistoryFrame,
  CommentFrame,
  AckFrame,
  ErrorFrame,
  PongFrame,
  BatchFrame,
]);
export type ServerFrame = z.infer<typeof ServerFrame>;
export type SingleServerFrame = z.infer<typeof SingleServerFrame>;
export type WelcomeFrame = z.infer<typeof WelcomeFrame>;
export type HistoryFrame = z.infer<typeof HistoryFrame>;
export type CommentFrame = z.infer<typeof CommentFrame>;
export type AckFrame = z.infer<typeof AckFrame>;
export type ErrorFrame = z.infer<typeof ErrorFrame>;
export type BatchFrame = z.infer<typeof BatchFrame>;

export const ERROR_MESSAGES: Record<ErrorCode, string> = {
  invalid_json: "Frame is not valid JSON",
  invalid_frame: "Unknown or malformed frame",
  message_too_long: `Message too long (max ${MAX_MESSAGE_CODE_POINTS} chars)`,
  rate_limited: "Too many messages, slow down",
  unsupported_binary: "Binary frames are not supported; send JSON text frames",
  frame_too_large: `Frame too large (max ${MAX_FRAME_BYTES} bytes)`,
  room_busy: "The chat is too busy right now, try again shortly",
  internal_error: "Internal error, try again",
};

/** Counts Unicode code points (an emoji or a CJK character counts as one). */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

export const TicketResponse = z.object({ ticket: z.string(), expires_in: z.number() });
export const HistoryResponse = z.object({ comments: z.array(SeqComment) });
export const HttpError = z.object({ error: z.string(), message: z.string() });
