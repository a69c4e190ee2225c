/**
 * The wire contract, in one place: every frame a client or the server sends, every event the
 * room emits to the queue, as zod schemas. Types come from `z.infer`, so the worker, the room,
 * the queue consumer, the bridge and the client SDK cannot drift apart.
 *
 * Limits live here too, because both ends enforce them (the server always, the client as a
 * courtesy), and the README quotes them.
 */
import * as z from "zod";
import { assertNever } from "./rules/never";

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
/** Default time an author may edit a comment after posting it, seconds (EDIT_WINDOW_S; DESIGN.md "Room events"). */
export const DEFAULT_EDIT_WINDOW_S = 300;
/** Timeout durations a moderator may give, seconds (DESIGN.md: 10 … 86,400). */
export const TIMEOUT_MIN_S = 10;
export const TIMEOUT_MAX_S = 86_400;
/** Slow mode spacing, seconds (DESIGN.md: 0 … 3,600; 0 = off). */
export const SLOW_MODE_MAX_S = 3_600;
/** Blocked terms per stream, and the longest term, in code points. */
export const MAX_BLOCKED_TERMS = 500;
export const MAX_BLOCKED_TERM_CODE_POINTS = 100;
/** Terms one `blocked_terms` frame may add or remove. */
export const MAX_BLOCKED_TERMS_PER_FRAME = 100;
/** Longest moderation `reason`, code points. */
export const MAX_REASON_CODE_POINTS = 200;
/** A reply's quoted excerpt of its target, code points. */
export const REPLY_EXCERPT_CODE_POINTS = 100;
/** Chat modes (issue 18 §1): `unique` window and `account_age` minimum, seconds. */
export const UNIQUE_DEFAULT_S = 600;
export const UNIQUE_MAX_S = 86_400;
export const ACCOUNT_AGE_DEFAULT_S = 86_400;
export const ACCOUNT_AGE_MAX_S = 90 * 86_400;
/** Longest `purge` phrase, code points; how far back a purge reaches, seconds (the ring holds HISTORY_SIZE anyway). */
export const MAX_PURGE_PHRASE_CODE_POINTS = 100;
export const PURGE_MAX_S = 3_600;
/** Longest stream title, code points. */
export const MAX_TITLE_CODE_POINTS = 140;
/** Attachments per message (DESIGN.md "Images in chat"). */
export const MAX_ATTACHMENTS = 4;

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
/**
 * Default sends per second to unbatched sockets one stream allows (ROOM_MAX_DELIVERIES_PER_SEC).
 * BENCHMARKS.md "Hostile input": 100 msg/s keeps viewers' pings p99 < 250 ms up to ~300 unbatched
 * viewers on one core (≈ 30,000 sends/s at ~31 µs each); batched viewers are one send per flush.
 */
export const DEFAULT_ROOM_MAX_DELIVERIES_PER_SEC = 30_000;
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
/** 4408: a socket that reports what it read (`?seen=1`) fell too far behind (src/rules/consumers.ts); the client resumes with `since`. */
export { CLOSE_SLOW_CONSUMER } from "./rules/consumers";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID_RE.test(s);
export const Uuid = z.string().regex(UUID_RE, "expected a UUID");

// ---------------------------------------------------------------------------------------------
// Domain objects
// ---------------------------------------------------------------------------------------------

/** Roles in a stream (DESIGN.md "Room events"); platform admins act as `owner`. */
export const Role = z.enum(["owner", "moderator", "viewer"]);
export type Role = z.infer<typeof Role>;

/**
 * A span of a message the server recognised. `offset` and `length` count Unicode code points of
 * `message` (not UTF-16 units): `[...message].slice(offset, offset + length)`.
 */
export const Entity = z.discriminatedUnion("type", [
  z.object({ type: z.literal("mention"), offset: z.number().int().nonnegative(), length: z.number().int().positive(), username: z.string() }),
  z.object({ type: z.literal("url"), offset: z.number().int().nonnegative(), length: z.number().int().positive(), url: z.string() }),
]);
export type Entity = z.infer<typeof Entity>;

/** What a reply quotes of its target, filled in by the server from the room's ring. */
export const ReplyRef = z.object({
  id: Uuid,
  user_id: z.string(),
  username: z.string().nullable(),
  /** The target's text, at most REPLY_EXCERPT_CODE_POINTS code points. */
  excerpt: z.string(),
});
export type ReplyRef = z.infer<typeof ReplyRef>;

/**
 * An image attached to a comment (DESIGN.md "Images in chat"). `size` in bytes; `width`/`height` in
 * px as the image's header declares them (before EXIF orientation), `frames` only for an animation
 * (> 1) — both checked at upload against src/rules/image-header.ts's bounds; absent on uploads made
 * before they were recorded (README "Images").
 */
export const Attachment = z.object({
  upload_id: z.string(),
  url: z.string(),
  content_type: z.string(),
  size: z.number().int().nonnegative(),
  width: z.number().int().positive().optional(),
  height: z.number().int().positive().optional(),
  frames: z.number().int().positive().optional(),
});
export type Attachment = z.infer<typeof Attachment>;

/**
 * One chat message as stored and broadcast: the seed's StreamComment, field for field, plus —
 * only when they apply — `reply_to`, `entities`, `attachments`, and `edited_at` (in a fresh
 * join's history, where edits are already applied).
 */
export const StreamComment = z.object({
  id: Uuid,
  stream_id: Uuid,
  user_id: z.string().min(1),
  username: z.string().nullable(),
  message: z.string(),
  /** RFC 3339, UTC, millisecond precision. */
  created_at: z.string(),
  reply_to: ReplyRef.optional(),
  entities: z.array(Entity).optional(),
  attachments: z.array(Attachment).optional(),
  edited_at: z.string().optional(),
});
export type StreamComment = z.infer<typeof StreamComment>;

export const SeqComment = z.object({ seq: z.number().int().positive(), comment: StreamComment });
export type SeqComment = z.infer<typeof SeqComment>;

// ---------------------------------------------------------------------------------------------
// Sequenced room events (DESIGN.md "Room events"): one seq counter for all of them
// ---------------------------------------------------------------------------------------------

const Seq = z.number().int().positive();
export const CommentFrame = z.object({ type: z.literal("comment"), seq: Seq, comment: StreamComment });
export const CommentEditedFrame = z.object({
  type: z.literal("comment_edited"),
  seq: Seq,
  id: Uuid,
  message: z.string(),
  entities: z.array(Entity),
  edited_at: z.string(),
});
export const CommentDeletedFrame = z.object({
  type: z.literal("comment_deleted"),
  seq: Seq,
  id: Uuid,
  /** user id of who deleted it (the author, or an owner/moderator) */
  by: z.string(),
});
export const PinnedFrame = z.object({ type: z.literal("pinned"), seq: Seq, comment: StreamComment.nullable(), by: z.string() });
export const ModerationAction = z.enum([
  "timeout",
  "ban",
  "unban",
  "slow_mode",
  "role",
  // issue 18: chat modes, review, warnings, shadow hide, lockdown, purge, title
  "chat_mode",
  "review",
  "warn",
  "warning_acknowledged",
  "lockdown",
  "purge",
  "title",
]);
export type ModerationAction = z.infer<typeof ModerationAction>;
/** The chat modes one flag each (README "Chat modes"); `unique_s`/`account_age_s` are seconds, 0 = off. */
export const ChatMode = z.enum(["emote_only", "unique", "members_only", "account_age", "first_time_hold"]);
export type ChatMode = z.infer<typeof ChatMode>;
export const ChatModes = z.object({
  emote_only: z.boolean(),
  unique_s: z.number().int().nonnegative(),
  members_only: z.boolean(),
  account_age_s: z.number().int().nonnegative(),
  first_time_hold: z.boolean(),
});
export type ChatModes = z.infer<typeof ChatModes>;
/** What a lockdown turns on (saved by the owner with `lockdown_preset`): the modes and slow mode's spacing. */
export const LockdownPreset = ChatModes.extend({ slow_mode_s: z.number().int().min(0).max(SLOW_MODE_MAX_S) });
export type LockdownPreset = z.infer<typeof LockdownPreset>;
/** Why a message waits for review: a blocked term whose action is `hold`, or the `first_time_hold` mode. */
export const HoldReason = z.enum(["blocked_term", "first_time"]);
export type HoldReason = z.infer<typeof HoldReason>;

export const ModerationFrame = z.object({
  type: z.literal("moderation"),
  seq: Seq,
  action: ModerationAction,
  user_id: z.string().optional(),
  /** timeout: when it ends, RFC 3339 */
  until: z.string().optional(),
  /** timeout: its length; slow_mode: the spacing (0 = off) */
  seconds: z.number().int().nonnegative().optional(),
  /** role: the user's new role */
  role: z.enum(["moderator", "viewer"]).optional(),
  /** ban: ids of the user's comments the ban removed from the ring */
  deleted: z.array(Uuid).optional(),
  /** unban: what it lifted — the user's ban, their running timeout, or both (never empty) */
  lifted: z.array(z.enum(["ban", "timeout"])).optional(),
  reason: z.string().optional(),
  /** chat_mode: which mode and whether it is now on (`seconds`: unique's window / account_age's minimum) */
  mode: ChatMode.optional(),
  /** chat_mode, lockdown: on or off */
  on: z.boolean().optional(),
  /** lockdown: every mode as it is after the event (slow mode in `seconds`) */
  modes: ChatModes.optional(),
  /** review: the held comment's id; its author is `user_id` */
  id: Uuid.optional(),
  decision: z.enum(["allow", "deny"]).optional(),
  /** purge: the phrase (as normalised), what it did to the authors (`users`; a timeout's end in `until`) */
  phrase: z.string().optional(),
  then: z.enum(["timeout", "ban"]).optional(),
  users: z.array(z.string()).optional(),
  /** title: the stream's new title ("" = none) */
  title: z.string().optional(),
  by: z.string(),
});
/** Every sequenced frame; the room's ring holds the last HISTORY_SIZE of them, exactly as broadcast. */
export const RoomEvent = z.discriminatedUnion("type", [CommentFrame, CommentEditedFrame, CommentDeletedFrame, PinnedFrame, ModerationFrame]);
export type RoomEvent = z.infer<typeof RoomEvent>;
export type CommentFrame = z.infer<typeof CommentFrame>;
export type CommentEditedFrame = z.infer<typeof CommentEditedFrame>;
export type CommentDeletedFrame = z.infer<typeof CommentDeletedFrame>;
export type PinnedFrame = z.infer<typeof PinnedFrame>;
export type ModerationFrame = z.infer<typeof ModerationFrame>;

// ---------------------------------------------------------------------------------------------
// Events for the sinks: the Kafka value (topic KAFKA_CHAT_TOPIC, key = the stream id's bytes)
// ---------------------------------------------------------------------------------------------

/** A new comment: exactly these fields (+ reply_to_id / attachments only when it has them). */
export const ChatEvent = z.object({
  event_type: z.literal("stream_chat_message"),
  stream_id: Uuid,
  user_id: z.string().min(1),
  username: z.string().nullable(),
  message: z.string(),
  created_at: z.string(),
  comment_id: Uuid,
  reply_to_id: Uuid.optional(),
  attachments: z.array(Attachment).optional(),
});
export type ChatEvent = z.infer<typeof ChatEvent>;

/** The envelope every other event shares: `created_at` is when the event happened, `by` who caused it. */
const Envelope = { stream_id: Uuid, created_at: z.string(), by: z.string() };
export const EditedEvent = z.object({
  event_type: z.literal("stream_chat_message_edited"),
  ...Envelope,
  comment_id: Uuid,
  /** the author (only authors edit) */
  user_id: z.string(),
  message: z.string(),
});
export const DeletedEvent = z.object({ event_type: z.literal("stream_chat_message_deleted"), ...Envelope, comment_id: Uuid });
export const PinnedEvent = z.object({ event_type: z.literal("stream_chat_pinned"), ...Envelope, comment_id: Uuid.nullable() });
export const ModerationEvent = z.object({
  event_type: z.literal("stream_chat_moderation"),
  ...Envelope,
  action: ModerationAction,
  user_id: z.string().optional(),
  seconds: z.number().int().nonnegative().optional(),
  until: z.string().optional(),
  role: z.enum(["moderator", "viewer"]).optional(),
  reason: z.string().optional(),
  /** ban: the comments it removed */
  deleted_comment_ids: z.array(Uuid).optional(),
  /** unban: what it lifted (`ban`, `timeout`) */
  lifted: z.array(z.enum(["ban", "timeout"])).optional(),
  /** issue 18's actions: as on the room's moderation frame (README "Kafka events") */
  mode: ChatMode.optional(),
  on: z.boolean().optional(),
  modes: ChatModes.optional(),
  comment_id: Uuid.optional(),
  decision: z.enum(["allow", "deny"]).optional(),
  phrase: z.string().optional(),
  then: z.enum(["timeout", "ban"]).optional(),
  users: z.array(z.string()).optional(),
  title: z.string().optional(),
});
/** Every Kafka event value (DESIGN.md "Events and history", "Room events"). */
export const KafkaRoomEvent = z.discriminatedUnion("event_type", [ChatEvent, EditedEvent, DeletedEvent, PinnedEvent, ModerationEvent]);
export type KafkaRoomEvent = z.infer<typeof KafkaRoomEvent>;

/**
 * Body of a queue message (CHAT_EVENTS → Kafka, CHAT_HISTORY → Redis): the Kafka event plus the
 * room's `seq` (DESIGN.md) and — our extension — `frame`, the sequenced frame exactly as broadcast,
 * which the history sink applies to Redis. The Kafka sink drops both before producing.
 */
const QueueExtras = { seq: Seq, frame: RoomEvent };
export const QueueEvent = z.discriminatedUnion("event_type", [
  ChatEvent.extend(QueueExtras),
  EditedEvent.extend(QueueExtras),
  DeletedEvent.extend(QueueExtras),
  PinnedEvent.extend(QueueExtras),
  ModerationEvent.extend(QueueExtras),
]);
export type QueueEvent = z.infer<typeof QueueEvent>;

/** The Kafka event of a queue event: the same fields without `seq` and `frame`. */
export function toChatEvent(e: QueueEvent): KafkaRoomEvent {
  const { seq: _seq, frame: _frame, ...event } = e;
  return event;
}

/**
 * The queue event for a sequenced frame: `at` = when it happened (RFC 3339), `actor` = the user
 * id that caused it (for an edit, the author).
 */
export function toQueueEvent(frame: RoomEvent, streamId: string, at: string, actor: string): QueueEvent {
  return { ...kafkaEvent(frame, streamId, at, actor), seq: frame.seq, frame } as QueueEvent;
}

/** The Kafka value of a sequenced frame (DESIGN.md "Events and history"; extra fields: README "Extensions"). */
function kafkaEvent(f: RoomEvent, streamId: string, at: string, actor: string): KafkaRoomEvent {
  const env = { stream_id: streamId, created_at: at };
  switch (f.type) {
    case "comment": {
      const c = f.comment;
      const e: ChatEvent = {
        event_type: "stream_chat_message",
        stream_id: c.stream_id,
        user_id: c.user_id,
        username: c.username,
        message: c.message,
        created_at: c.created_at,
        comment_id: c.id,
      };
      if (c.reply_to) e.reply_to_id = c.reply_to.id;
      if (c.attachments?.length) e.attachments = c.attachments;
      return e;
    }
    case "comment_edited":
      return { event_type: "stream_chat_message_edited", ...env, comment_id: f.id, user_id: actor, message: f.message, by: actor };
    case "comment_deleted":
      return { event_type: "stream_chat_message_deleted", ...env, comment_id: f.id, by: f.by };
    case "pinned":
      return { event_type: "stream_chat_pinned", ...env, comment_id: f.comment?.id ?? null, by: f.by };
    case "moderation": {
      const { type: _t, seq: _s, deleted, id, ...rest } = f;
      return {
        event_type: "stream_chat_moderation",
        ...env,
        ...rest,
        ...(deleted ? { deleted_comment_ids: deleted } : {}),
        ...(id !== undefined ? { comment_id: id } : {}),
      };
    }
    default:
      return assertNever(f, "kafkaEvent");
  }
}

// ---------------------------------------------------------------------------------------------
// Client → server frames
// ---------------------------------------------------------------------------------------------

const ClientMsgId = z.string().min(1).max(MAX_CLIENT_MSG_ID).optional();
const Reason = z.string().max(MAX_REASON_CODE_POINTS * 2).optional();
/** A user a command acts on: a UUID (every user id is a JWT `sub` UUID), lower-cased like the ids the worker passes. */
const TargetUser = Uuid.transform((s) => s.toLowerCase());
/** A comment a command refers to (ids are lower-case UUIDs; any case is accepted). */
const CommentId = Uuid.transform((s) => s.toLowerCase());
const Term = z.string().min(1).max(MAX_BLOCKED_TERM_CODE_POINTS * 2);

export const MessageFrame = z.object({
  type: z.literal("message"),
  text: z.string(),
  client_msg_id: ClientMsgId,
  /** id of the comment this replies to (must still be in the room's ring) */
  reply_to: CommentId.optional(),
  /** upload ids from POST /v1/streams/{id}/chat/uploads */
  attachments: z.array(z.string().min(1).max(512)).max(MAX_ATTACHMENTS).optional(),
});
export const PingFrame = z.object({ type: z.literal("ping") });
/**
 * What a client has read (issue 19 §3, src/rules/consumers.ts): the last seq it processed. Only
 * sockets that opted in with `?seen=1` are held to it; from others it is accepted and ignored.
 */
export const SeenFrame = z.object({ type: z.literal("seen"), seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) });
export const EditFrame = z.object({ type: z.literal("edit"), id: CommentId, text: z.string(), client_msg_id: ClientMsgId });
export const DeleteFrame = z.object({ type: z.literal("delete"), id: CommentId, client_msg_id: ClientMsgId });
export const PinFrame = z.object({ type: z.literal("pin"), id: CommentId, client_msg_id: ClientMsgId });
export const UnpinFrame = z.object({ type: z.literal("unpin"), client_msg_id: ClientMsgId });
export const TimeoutFrame = z.object({
  type: z.literal("timeout"),
  user_id: TargetUser,
  seconds: z.number().int().min(TIMEOUT_MIN_S).max(TIMEOUT_MAX_S),
  reason: Reason,
  client_msg_id: ClientMsgId,
});
export const BanFrame = z.object({ type: z.literal("ban"), user_id: TargetUser, reason: Reason, client_msg_id: ClientMsgId });
export const UnbanFrame = z.object({ type: z.literal("unban"), user_id: TargetUser, client_msg_id: ClientMsgId });
export const SlowModeFrame = z.object({
  type: z.literal("slow_mode"),
  seconds: z.number().int().min(0).max(SLOW_MODE_MAX_S),
  client_msg_id: ClientMsgId,
});
/** What a blocked term does to a message: refuse it (`blocked_term`), or hold it for review. */
export const TermAction = z.enum(["block", "hold"]);
export type TermAction = z.infer<typeof TermAction>;
export const BlockedTermsFrame = z.object({
  type: z.literal("blocked_terms"),
  add: z.array(Term).max(MAX_BLOCKED_TERMS_PER_FRAME).optional(),
  /** the action of the terms added by this frame (default `block`); re-adding a term changes its action */
  action: TermAction.optional(),
  remove: z.array(Term).max(MAX_BLOCKED_TERMS_PER_FRAME).optional(),
  client_msg_id: ClientMsgId,
});
export const RoleFrame = z.object({
  type: z.literal("role"),
  user_id: TargetUser,
  role: z.enum(["moderator", "viewer"]),
  client_msg_id: ClientMsgId,
});

export const ChatModeFrame = z.object({
  type: z.literal("chat_mode"),
  mode: ChatMode,
  on: z.boolean(),
  /** unique: the window (1 … UNIQUE_MAX_S, default UNIQUE_DEFAULT_S); account_age: the minimum age (1 … ACCOUNT_AGE_MAX_S, default ACCOUNT_AGE_DEFAULT_S) */
  seconds: z.number().int().min(1).max(Math.max(UNIQUE_MAX_S, ACCOUNT_AGE_MAX_S)).optional(),
  client_msg_id: ClientMsgId,
}).refine((f) => f.mode !== "unique" || (f.seconds ?? 0) <= UNIQUE_MAX_S, { message: `unique: seconds at most ${UNIQUE_MAX_S}`, path: ["seconds"] });
export const ReviewFrame = z.object({ type: z.literal("review"), id: CommentId, decision: z.enum(["allow", "deny"]), client_msg_id: ClientMsgId });
export const WarnFrame = z.object({ type: z.literal("warn"), user_id: TargetUser, reason: z.string().min(1).max(MAX_REASON_CODE_POINTS * 2), client_msg_id: ClientMsgId });
export const AcknowledgeWarningFrame = z.object({ type: z.literal("acknowledge_warning"), client_msg_id: ClientMsgId });
export const HideUserFrame = z.object({ type: z.literal("hide_user"), user_id: TargetUser, client_msg_id: ClientMsgId });
export const UnhideUserFrame = z.object({ type: z.literal("unhide_user"), user_id: TargetUser, client_msg_id: ClientMsgId });
export const LockdownFrame = z.object({ type: z.literal("lockdown"), on: z.boolean(), client_msg_id: ClientMsgId });
export const LockdownPresetFrame = z.object({
  type: z.literal("lockdown_preset"),
  preset: z.object({
    emote_only: z.boolean(),
    unique_s: z.number().int().min(0).max(UNIQUE_MAX_S),
    members_only: z.boolean(),
    account_age_s: z.number().int().min(0).max(ACCOUNT_AGE_MAX_S),
    first_time_hold: z.boolean(),
    slow_mode_s: z.number().int().min(0).max(SLOW_MODE_MAX_S),
  }),
  client_msg_id: ClientMsgId,
});
export const PurgeFrame = z.object({
  type: z.literal("purge"),
  phrase: z.string().min(1).max(MAX_PURGE_PHRASE_CODE_POINTS * 2),
  /** how far back, 1 … PURGE_MAX_S */
  seconds: z.number().int().min(1).max(PURGE_MAX_S),
  then: z.enum(["timeout", "ban"]).optional(),
  /** then = timeout: its length (TIMEOUT_MIN_S … TIMEOUT_MAX_S, default 600) */
  timeout_s: z.number().int().min(TIMEOUT_MIN_S).max(TIMEOUT_MAX_S).optional(),
  reason: Reason,
  client_msg_id: ClientMsgId,
});
export const TitleFrame = z.object({
  type: z.literal("title"),
  /** at most MAX_TITLE_CODE_POINTS code points (checked here, so a longer one is `invalid_frame` at the gate) */
  title: z.string().max(MAX_TITLE_CODE_POINTS * 2).refine((t) => [...t].length <= MAX_TITLE_CODE_POINTS, { message: `at most ${MAX_TITLE_CODE_POINTS} code points` }),
  client_msg_id: ClientMsgId,
});

/** The moderation commands, also accepted by `POST /v1/streams/{id}/chat/actions`. */
export const ModerationCommand = z.discriminatedUnion("type", [
  DeleteFrame,
  PinFrame,
  UnpinFrame,
  TimeoutFrame,
  BanFrame,
  UnbanFrame,
  SlowModeFrame,
  BlockedTermsFrame,
  RoleFrame,
  ChatModeFrame,
  ReviewFrame,
  WarnFrame,
  AcknowledgeWarningFrame,
  HideUserFrame,
  UnhideUserFrame,
  LockdownFrame,
  LockdownPresetFrame,
  PurgeFrame,
  TitleFrame,
]);
/** Commands that change the room (everything a client sends but `ping`). */
export const Command = z.discriminatedUnion("type", [MessageFrame, EditFrame, ...ModerationCommand.options]);
export type Command = z.infer<typeof Command>;
export type ModerationCommand = z.infer<typeof ModerationCommand>;

export const ClientFrame = z.discriminatedUnion("type", [...Command.options, PingFrame, SeenFrame]);
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
  "forbidden",
  "not_found",
  "edit_window_passed",
  "muted",
  "banned",
  "slow_mode",
  "blocked_term",
  "invalid_text",
  "invalid_attachment",
  "limit_reached",
  "target_restricted",
  "emote_only",
  "not_unique",
  "members_only",
  "account_too_new",
  "warning_pending",
  "already_reviewed",
  "review_queue_full",
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
  /** This user's role in the stream (DESIGN.md "Room events"). */
  role: Role.optional(),
  /** The pinned comment, in its current state. */
  pinned: StreamComment.nullable().optional(),
  /** Slow mode spacing in seconds, 0 = off. */
  slow_mode_s: z.number().int().nonnegative().optional(),
  /** Distinct users connected. */
  viewers: z.number().int().nonnegative().optional(),
  /** This user's timeout end (RFC 3339), when timed out. */
  muted_until: z.string().optional(),
  /** true when this user is banned (a reader only). */
  banned: z.boolean().optional(),
  /** The chat modes (issue 18 §1), and whether a lockdown holds them. */
  modes: ChatModes.optional(),
  lockdown: z.boolean().optional(),
  /** The stream's title, when the owner set one. */
  title: z.string().optional(),
  /** This user's warning waiting to be acknowledged (`acknowledge_warning`), when there is one. */
  warning: z.object({ reason: z.string(), by: z.string(), at: z.string() }).optional(),
});
export const HistoryFrame = z.object({
  type: z.literal("history"),
  /**
   * Fresh join (`recovered:false`): the latest comments in their current state (edits applied,
   * deleted ones absent). Resume (`recovered:true`): the missed comments exactly as broadcast.
   */
  comments: z.array(SeqComment),
  /** true: exactly what came after `since`; false: the recent backlog (the app should reset). */
  recovered: z.boolean(),
  /** Resume only: every other missed sequenced frame, exactly as broadcast; merge by `seq`. */
  events: z.array(RoomEvent).optional(),
});
export const AckFrame = z.object({
  type: z.literal("ack"),
  client_msg_id: z.string(),
  /** The comment created or acted on, when there is one. */
  id: Uuid.optional(),
  /** The seq of the event the command produced (absent for `blocked_terms`, which is not broadcast). */
  seq: z.number().int().positive().optional(),
});
export const ErrorFrame = z.object({
  type: z.literal("error"),
  code: ErrorCode,
  message: z.string(),
  retry_after_ms: z.number().int().nonnegative().optional(),
  /** `muted`: when the timeout ends, RFC 3339. */
  until: z.string().optional(),
  client_msg_id: z.string().optional(),
});
export const PongFrame = z.object({ type: z.literal("pong") });

/** A message waiting for review (issue 18 §2), as staff see it. Times RFC 3339. */
export const HeldItem = z.object({ id: Uuid, comment: StreamComment, reason: HoldReason, held_at: z.string(), expires_at: z.string() });
export type HeldItem = z.infer<typeof HeldItem>;
/**
 * Not sequenced. To the sender, instead of an ack: `{id, client_msg_id?, expires_at}` (no reason: a
 * hold on a blocked term does not say which). To staff, live: `{id, comment, reason, expires_at}`.
 */
export const HeldFrame = z.object({
  type: z.literal("held"),
  id: Uuid,
  client_msg_id: z.string().optional(),
  comment: StreamComment.optional(),
  reason: HoldReason.optional(),
  expires_at: z.string(),
});
/** To staff after `history` on every join: every message waiting for review, oldest first. */
export const ReviewQueueFrame = z.object({ type: z.literal("review_queue"), items: z.array(HeldItem) });
/**
 * One entry of the moderation log (issue 18 §3). `seq`: the log's own sequence (per stream,
 * increasing); `event_seq`: the room event the action made, when it made one. `at` RFC 3339.
 */
export const ModlogEntry = z.object({
  seq: z.number().int().positive(),
  action: z.string(),
  by: z.string(),
  at: z.string(),
  target: z.string().optional(),
  reason: z.string().optional(),
  details: z.record(z.string(), z.unknown()),
  event_seq: z.number().int().positive().optional(),
});
export type ModlogEntry = z.infer<typeof ModlogEntry>;
/** To staff, live: a new moderation log entry. */
export const ModlogFrame = z.object({ type: z.literal("modlog"), entry: ModlogEntry });
/**
 * Not sequenced (issue 18 §4): a message of a hidden user, to its author's sockets and to staff only
 * (never to other viewers, Redis history or Kafka). Staff pages mark it hidden.
 */
export const HiddenCommentFrame = z.object({ type: z.literal("hidden_comment"), comment: StreamComment });
/** Presence, not sequenced: distinct users connected, at most every VIEWERS_INTERVAL_MS, only when changed. */
export const ViewersFrame = z.object({ type: z.literal("viewers"), count: z.number().int().nonnegative() });

const SingleServerFrame = z.discriminatedUnion("type", [
  WelcomeFrame,
  HistoryFrame,
  ...RoomEvent.options,
  AckFrame,
  ErrorFrame,
  PongFrame,
  ViewersFrame,
  HeldFrame,
  ReviewQueueFrame,
  ModlogFrame,
  HiddenCommentFrame,
]);
export const BatchFrame = z.object({ type: z.literal("batch"), frames: z.array(SingleServerFrame) });
export const ServerFrame = z.discriminatedUnion("type", [...SingleServerFrame.options, BatchFrame]);
export type ServerFrame = z.infer<typeof ServerFrame>;
export type SingleServerFrame = z.infer<typeof SingleServerFrame>;
export type WelcomeFrame = z.infer<typeof WelcomeFrame>;
export type HistoryFrame = z.infer<typeof HistoryFrame>;
export type ViewersFrame = z.infer<typeof ViewersFrame>;
export type AckFrame = z.infer<typeof AckFrame>;
export type ErrorFrame = z.infer<typeof ErrorFrame>;
export type BatchFrame = z.infer<typeof BatchFrame>;
export type HeldFrame = z.infer<typeof HeldFrame>;
export type ReviewQueueFrame = z.infer<typeof ReviewQueueFrame>;
export type ModlogFrame = z.infer<typeof ModlogFrame>;
export type HiddenCommentFrame = z.infer<typeof HiddenCommentFrame>;

export const ERROR_MESSAGES: Record<ErrorCode, string> = {
  invalid_json: "Frame is not valid JSON",
  invalid_frame: "Unknown or malformed frame",
  message_too_long: `Message too long (max ${MAX_MESSAGE_CODE_POINTS} chars)`,
  rate_limited: "Too many messages, slow down",
  unsupported_binary: "Binary frames are not supported; send JSON text frames",
  frame_too_large: `Frame too large (max ${MAX_FRAME_BYTES} bytes)`,
  room_busy: "The chat is too busy right now, try again shortly",
  forbidden: "You are not allowed to do that in this chat",
  not_found: "No such comment (unknown, deleted, or too old)",
  edit_window_passed: "This comment can no longer be edited",
  muted: "You are timed out in this chat",
  banned: "You are banned from this chat",
  slow_mode: "Slow mode is on: wait before sending again",
  blocked_term: "Your message contains a term this chat does not allow",
  invalid_text: "The message contains characters that are not allowed",
  invalid_attachment: "An attachment is not one of your uploads to this stream",
  limit_reached: "This chat has reached a limit (bans, timeouts, role grants or blocked terms)",
  target_restricted: "This user is banned or timed out: unban them first",
  emote_only: "Emote-only mode is on: messages may only contain emotes",
  not_unique: "Unique-chat mode is on: this message was already sent recently",
  members_only: "Members-only mode is on: only members of this stream can chat",
  account_too_new: "Your account is too new to chat here right now",
  warning_pending: "A moderator warned you: acknowledge the warning to chat again",
  already_reviewed: "This held message was already reviewed (or has expired)",
  review_queue_full: "Too many messages are waiting for review, try again shortly",
  internal_error: "Internal error, try again",
};

/**
 * A command's refusal: the one shape from the rules (src/rules/room-state.ts decide) through the
 * room and its shards (RPC results) to the wire, where {@link errorFrame} (socket) or the actions
 * route (HTTP) adds the code's message from ERROR_MESSAGES. `until`: a timeout's end, RFC 3339;
 * `retry_after_ms`: when trying again may succeed, ms.
 */
export interface CommandError {
  kind: "error";
  code: ErrorCode;
  until?: string;
  retry_after_ms?: number;
}

/**
 * The `error` frame for a refusal (DESIGN.md "WebSocket frames"): the code's message, `until` and
 * `retry_after_ms` (rounded up to whole ms, at least 1) when the refusal has them, and the
 * command's `client_msg_id` when it had one.
 */
export function errorFrame(e: Omit<CommandError, "kind">, clientMsgId?: string): string {
  const frame: ErrorFrame = { type: "error", code: e.code, message: ERROR_MESSAGES[e.code] };
  if (e.until !== undefined) frame.until = e.until;
  if (e.retry_after_ms !== undefined) frame.retry_after_ms = Math.max(1, Math.ceil(e.retry_after_ms));
  if (clientMsgId !== undefined) frame.client_msg_id = clientMsgId;
  return JSON.stringify(frame);
}

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
/**
 * `GET /v1/streams/{id}/chat/stats` (owner, moderators, admins; README "Stats and metrics"), built
 * by src/metrics.ts. `viewers.total` counts open sockets (what MAX_VIEWERS_PER_STREAM admits) and
 * `users` distinct users (what `viewers` frames show); `per_shard` and `per_region` (request.cf
 * continent, or "unknown") split `total`. `messages_per_sec`: sequenced events accepted over the
 * last 60 s / 60. `fanout_ms`: room accept → last socket send, nearest-rank p50/p99 over the last
 * `samples` (≤ 1,000) events, null with none. `queue_backlog`: events not yet handed to each
 * outbox queue, by outbox target.
 */
const Count = z.number().int().nonnegative();
export const StatsResponse = z.object({
  stream_id: z.string(),
  at: z.iso.datetime(),
  viewers: z.object({
    total: Count,
    users: Count,
    per_shard: z.record(z.string(), Count),
    per_region: z.record(z.string(), Count),
  }),
  messages_per_sec: z.number().nonnegative(),
  fanout_ms: z.object({ p50: z.number().nonnegative().nullable(), p99: z.number().nonnegative().nullable(), samples: Count }),
  queue_backlog: z.record(z.string(), Count),
});
export type StatsResponse = z.infer<typeof StatsResponse>;
export const HttpError = z.object({ error: z.string(), message: z.string() });
/** `GET /v1/streams/{id}/chat/modlog?before=&limit=`: newest first; `next_before` pages on (absent at the end). */
export const ModlogResponse = z.object({ entries: z.array(ModlogEntry), next_before: z.number().int().positive().optional() });
export type ModlogResponse = z.infer<typeof ModlogResponse>;
/**
 * `GET /v1/streams/{id}/chat/users/{user_id}` (staff only; issue 18 §3): the user card. `messages`:
 * comments accepted in this stream (held and hidden ones included); `account_created_at` from
 * Postgres or the token claim (null when neither said); `history`: the log entries naming them, newest first.
 */
export const UserCardResponse = z.object({
  user_id: z.string(),
  username: z.string().nullable(),
  role: Role,
  messages: Count,
  first_message_at: z.string().nullable(),
  account_created_at: z.string().nullable(),
  banned: z.boolean(),
  muted_until: z.string().nullable(),
  hidden: z.boolean(),
  warning_pending: z.boolean(),
  history: z.array(ModlogEntry),
});
export type UserCardResponse = z.infer<typeof UserCardResponse>;
