/**
 * The wire types the SDK shows to apps, written out as plain TypeScript.
 *
 * Why not re-export src/protocol.ts's `z.infer<…>` types: the published SDK bundles zod into its
 * JavaScript (so installing it pulls no dependency), and a `.d.ts` that said `z.infer<typeof X>`
 * would need zod's types installed next to it. These plain copies keep `dist/client/index.d.ts`
 * self-contained. They cannot drift from the protocol: the `Same<…>` checks at the bottom fail the
 * typecheck as soon as a schema in src/protocol.ts changes without this file.
 */
import type * as P from "../protocol.js";

/**
 * A span of a message the server recognised (`mention` of `@name`, or an http/https `url`).
 * `offset` and `length` count Unicode code points of the message, not UTF-16 units:
 * `[...message].slice(offset, offset + length)`.
 */
export type Entity =
  | { type: "mention"; offset: number; length: number; username: string }
  | { type: "url"; offset: number; length: number; url: string };

/** What a reply quotes of its target, filled in by the server when the reply was posted. */
export interface ReplyRef {
  /** The replied-to comment's id (it may have been edited or deleted since). */
  id: string;
  user_id: string;
  username: string | null;
  /** The target's text when the reply was posted, at most 100 code points. */
  excerpt: string;
}

/**
 * An image attached to a comment. `size` in bytes; `width`/`height` in px as the image's header
 * declares them (absent on old uploads); `frames` only for an animation (more than 1).
 */
export interface Attachment {
  upload_id: string;
  url: string;
  content_type: string;
  size: number;
  width?: number | undefined;
  height?: number | undefined;
  frames?: number | undefined;
}

/**
 * One chat message as stored and broadcast: the seed's StreamComment, plus — only when they
 * apply — `reply_to`, `entities`, `attachments` and `edited_at`.
 */
export interface StreamComment {
  /** UUID of the comment. */
  id: string;
  stream_id: string;
  user_id: string;
  /** Display name at the time of sending; null when the server knew none. */
  username: string | null;
  /** The text, trimmed by the server (the current text, once edited). */
  message: string;
  /** RFC 3339 UTC with milliseconds, e.g. `2026-01-01T12:00:00.000Z`. */
  created_at: string;
  /** Set when this comment replies to another. */
  reply_to?: ReplyRef | undefined;
  /** Mentions and links in `message`, computed by the server; absent when there are none. */
  entities?: Entity[] | undefined;
  attachments?: Attachment[] | undefined;
  /** When it was last edited (RFC 3339); absent if never. */
  edited_at?: string | undefined;
}

/** A comment with its position in the stream (1, 2, 3 … per stream, no gaps). */
export interface SeqComment {
  seq: number;
  comment: StreamComment;
}

/** Who the server says we are (the `welcome` frame's `user`). */
export interface ChatUser {
  id: string;
  username: string | null;
}

/** The limits the server holds this socket to (`welcome.limits`, when the server sends them). */
export interface ChatLimits {
  /** Messages per second per user per stream; the burst is the same number. */
  messages_per_sec: number;
  /** Frames per second per socket, every kind counted (pings too). */
  frames_per_sec: number;
}

/** A message frame as the client sends it. */
export interface MessageFrame {
  type: "message";
  text: string;
  client_msg_id?: string | undefined;
  /** Id of the comment this replies to (it must still be in the room's recent ring). */
  reply_to?: string | undefined;
  /** Upload ids from `POST /v1/streams/{id}/chat/uploads` (at most 4). */
  attachments?: string[] | undefined;
}

/** Error codes the server sends in `{"type":"error","code"}` (README "Limits and socket errors"). */
export type ErrorCode =
  | "invalid_json"
  | "invalid_frame"
  | "message_too_long"
  | "rate_limited"
  | "unsupported_binary"
  | "frame_too_large"
  | "room_busy"
  /** Your role does not allow this (e.g. a viewer pinning). */
  | "forbidden"
  /** The comment is unknown, deleted, or too old for the room to act on. */
  | "not_found"
  /** An edit after EDIT_WINDOW_S (300 s by default) from posting. */
  | "edit_window_passed"
  /** You are timed out; the error's `until` says until when. */
  | "muted"
  /** You are banned from this stream (you can still read). */
  | "banned"
  /** Slow mode: wait `retryAfterMs` before your next message. */
  | "slow_mode"
  /** The message contains a term this stream blocks. */
  | "blocked_term"
  /** Control characters, unpaired surrogates or a flood of combining marks. */
  | "invalid_text"
  /** An attachment is not one of your uploads to this stream. */
  | "invalid_attachment"
  | "limit_reached"
  /** A `role` making a banned or timed-out user a moderator: unban them first. */
  | "target_restricted"
  /** Chat modes (README "Chat modes"): the message was refused by the mode named. */
  | "emote_only"
  | "not_unique"
  | "members_only"
  | "account_too_new"
  /** A moderator warned you: send `acknowledge_warning` before chatting again. */
  | "warning_pending"
  /** A `review` of a held message that was already decided or has expired. */
  | "already_reviewed"
  /** The review queue is full: try again shortly. */
  | "review_queue_full"
  | "internal_error";

/** Roles in a stream; platform admins act as `owner`. */
export type Role = "owner" | "moderator" | "viewer";

// -- sequenced room events: one `seq` counter for all of them ----------------------------------

/** A new comment. */
export interface CommentFrame {
  type: "comment";
  seq: number;
  comment: StreamComment;
}

/** The author edited a comment: its new text and entities (empty array: none). */
export interface CommentEditedFrame {
  type: "comment_edited";
  seq: number;
  id: string;
  message: string;
  entities: Entity[];
  /** RFC 3339. */
  edited_at: string;
}

/** A comment was deleted by its author or an owner/moderator (`by`, a user id). */
export interface CommentDeletedFrame {
  type: "comment_deleted";
  seq: number;
  id: string;
  by: string;
}

/** The stream's one pinned comment changed (`null`: unpinned). */
export interface PinnedFrame {
  type: "pinned";
  seq: number;
  comment: StreamComment | null;
  by: string;
}

export type ModerationAction =
  | "timeout"
  | "ban"
  | "unban"
  | "slow_mode"
  | "role"
  | "chat_mode"
  | "review"
  | "warn"
  | "warning_acknowledged"
  | "lockdown"
  | "purge"
  | "title";

/** The chat modes (README "Chat modes"); `unique_s`/`account_age_s` in seconds, 0 = off. */
export type ChatMode = "emote_only" | "unique" | "members_only" | "account_age" | "first_time_hold";
export interface ChatModes {
  emote_only: boolean;
  unique_s: number;
  members_only: boolean;
  account_age_s: number;
  first_time_hold: boolean;
}
/** Why a message waits for review. */
export type HoldReason = "blocked_term" | "first_time";

/** A moderation action; which fields are set depends on `action`. */
export interface ModerationFrame {
  type: "moderation";
  seq: number;
  action: ModerationAction;
  /** The user acted on (all but slow_mode). */
  user_id?: string | undefined;
  /** timeout: when it ends, RFC 3339. */
  until?: string | undefined;
  /** timeout: its length; slow_mode: the spacing (0 = off). Seconds. */
  seconds?: number | undefined;
  /** role: the user's new role. */
  role?: "moderator" | "viewer" | undefined;
  /** ban: ids of the user's comments the ban removed. */
  deleted?: string[] | undefined;
  /** unban: what it lifted — the user's ban, their running timeout, or both. */
  lifted?: Array<"ban" | "timeout"> | undefined;
  reason?: string | undefined;
  /** chat_mode: the mode (its window/minimum in `seconds`). */
  mode?: ChatMode | undefined;
  /** chat_mode, lockdown: on or off. */
  on?: boolean | undefined;
  /** lockdown: every mode after the event (slow mode in `seconds`). */
  modes?: ChatModes | undefined;
  /** review: the held comment's id (its author is `user_id`). */
  id?: string | undefined;
  decision?: "allow" | "deny" | undefined;
  /** purge: the phrase, what it did to the authors listed in `users`. */
  phrase?: string | undefined;
  then?: "timeout" | "ban" | undefined;
  users?: string[] | undefined;
  /** title: the stream's new title ("" = none). */
  title?: string | undefined;
  by: string;
}

/** Every sequenced frame (what `history.events` and the live stream carry), in `seq` order. */
export type RoomEvent = CommentFrame | CommentEditedFrame | CommentDeletedFrame | PinnedFrame | ModerationFrame;

// -- server frames the SDK hands on --------------------------------------------------------------

/** The first frame of every connection. */
export interface WelcomeFrame {
  type: "welcome";
  stream_id: string;
  user: ChatUser;
  /** Last seq assigned in the stream (0 if none). */
  seq: number;
  /** The stream's sequence lineage; a resume only works within one epoch. */
  epoch: string;
  limits?: ChatLimits | undefined;
  /** Our role in the stream. */
  role?: Role | undefined;
  /** The pinned comment, current state. */
  pinned?: StreamComment | null | undefined;
  /** Slow mode spacing, seconds (0 = off). */
  slow_mode_s?: number | undefined;
  /** Distinct users connected. */
  viewers?: number | undefined;
  /** Our timeout's end (RFC 3339), when timed out. */
  muted_until?: string | undefined;
  /** true when we are banned (read only). */
  banned?: boolean | undefined;
  /** The chat modes, and whether a lockdown holds them. */
  modes?: ChatModes | undefined;
  lockdown?: boolean | undefined;
  /** The stream's title, when set. */
  title?: string | undefined;
  /** Our warning waiting to be acknowledged, when there is one. */
  warning?: { reason: string; by: string; at: string } | undefined;
}

/** A message waiting for review, as staff see it (times RFC 3339). */
export interface HeldItem {
  id: string;
  comment: StreamComment;
  reason: HoldReason;
  held_at: string;
  expires_at: string;
}
/** To the sender (`id`, `client_msg_id`): your message is held for review. To staff: a new held message (`comment`, `reason`). */
export interface HeldFrame {
  type: "held";
  id: string;
  client_msg_id?: string | undefined;
  comment?: StreamComment | undefined;
  reason?: HoldReason | undefined;
  expires_at: string;
}
/** To staff on every join: the review queue, oldest first. */
export interface ReviewQueueFrame {
  type: "review_queue";
  items: HeldItem[];
}
/** One moderation log entry (`seq`: the log's own order; `event_seq`: the room event it made). */
export interface ModlogEntry {
  seq: number;
  action: string;
  by: string;
  at: string;
  target?: string | undefined;
  reason?: string | undefined;
  details: Record<string, unknown>;
  event_seq?: number | undefined;
}
export interface ModlogFrame {
  type: "modlog";
  entry: ModlogEntry;
}
/** A hidden user's message: only its author and staff receive it. */
export interface HiddenCommentFrame {
  type: "hidden_comment";
  comment: StreamComment;
}

/** What a lockdown turns on (the owner saves it with `lockdown_preset`): the chat modes and slow mode's spacing. */
export interface LockdownPreset extends ChatModes {
  slow_mode_s: number;
}

/** `GET /v1/streams/{id}/chat/modlog?before=&limit=` (staff): newest first; `next_before` pages on (absent at the end). */
export interface ModlogResponse {
  entries: ModlogEntry[];
  next_before?: number | undefined;
}

/**
 * `GET /v1/streams/{id}/chat/users/{user_id}` (staff): one user as moderators see them. `messages`:
 * comments accepted in this stream (held and hidden ones included); `account_created_at` null when
 * the server knows none; `history`: the moderation log entries naming them, newest first.
 */
export interface UserCardResponse {
  user_id: string;
  username: string | null;
  role: Role;
  messages: number;
  first_message_at: string | null;
  account_created_at: string | null;
  banned: boolean;
  muted_until: string | null;
  hidden: boolean;
  warning_pending: boolean;
  history: ModlogEntry[];
}

/**
 * The second frame. Fresh join (`recovered: false`): the latest comments in their current state.
 * Resume (`recovered: true`): the missed comments as broadcast, and in `events` every other missed
 * sequenced frame; merged by `seq` they replay exactly what happened.
 */
export interface HistoryFrame {
  type: "history";
  comments: SeqComment[];
  recovered: boolean;
  events?: RoomEvent[] | undefined;
}

/** The server's answer to a command that carried a `client_msg_id`. */
export interface AckFrame {
  type: "ack";
  client_msg_id: string;
  /** The comment created or acted on, when there is one. */
  id?: string | undefined;
  /** The seq of the (first) event the command produced; absent when it produced none. */
  seq?: number | undefined;
}

// -- commands (client → server) ------------------------------------------------------------------

/** Edit own comment (author only, within EDIT_WINDOW_S, 300 s by default). */
export interface EditFrame {
  type: "edit";
  id: string;
  text: string;
  client_msg_id?: string | undefined;
}
/** Delete a comment: the author's own, or any as owner/moderator. */
export interface DeleteFrame {
  type: "delete";
  id: string;
  client_msg_id?: string | undefined;
}
/** Pin a comment (owner/moderator); replaces the pinned one. */
export interface PinFrame {
  type: "pin";
  id: string;
  client_msg_id?: string | undefined;
}
export interface UnpinFrame {
  type: "unpin";
  client_msg_id?: string | undefined;
}
/** Time a user out for 10 … 86,400 s (owner/moderator). */
export interface TimeoutFrame {
  type: "timeout";
  user_id: string;
  seconds: number;
  reason?: string | undefined;
  client_msg_id?: string | undefined;
}
export interface BanFrame {
  type: "ban";
  user_id: string;
  reason?: string | undefined;
  client_msg_id?: string | undefined;
}
export interface UnbanFrame {
  type: "unban";
  user_id: string;
  client_msg_id?: string | undefined;
}
/** Slow mode spacing 0 … 3,600 s (0 = off), owner/moderator. */
export interface SlowModeFrame {
  type: "slow_mode";
  seconds: number;
  client_msg_id?: string | undefined;
}
/** Add/remove blocked terms (case-insensitive); not broadcast, only acknowledged. */
export interface BlockedTermsFrame {
  type: "blocked_terms";
  add?: string[] | undefined;
  /** What the added terms do: refuse the message (`block`, default) or hold it for review. */
  action?: "block" | "hold" | undefined;
  remove?: string[] | undefined;
  client_msg_id?: string | undefined;
}
/** Make a user a moderator or a viewer again (owner only). */
export interface RoleFrame {
  type: "role";
  user_id: string;
  role: "moderator" | "viewer";
  client_msg_id?: string | undefined;
}
/** Turn a chat mode on or off (owner/moderator). */
export interface ChatModeFrame {
  type: "chat_mode";
  mode: ChatMode;
  on: boolean;
  /** unique: the window; account_age: the minimum age. Seconds. */
  seconds?: number | undefined;
  client_msg_id?: string | undefined;
}
/** Allow or deny a held message (owner/moderator); the first decision wins. */
export interface ReviewFrame {
  type: "review";
  id: string;
  decision: "allow" | "deny";
  client_msg_id?: string | undefined;
}
/** Warn a user: they must acknowledge before sending again. */
export interface WarnFrame {
  type: "warn";
  user_id: string;
  reason: string;
  client_msg_id?: string | undefined;
}
export interface AcknowledgeWarningFrame {
  type: "acknowledge_warning";
  client_msg_id?: string | undefined;
}
/** Shadow-hide a user's new messages from everyone but themselves and staff. */
export interface HideUserFrame {
  type: "hide_user";
  user_id: string;
  client_msg_id?: string | undefined;
}
export interface UnhideUserFrame {
  type: "unhide_user";
  user_id: string;
  client_msg_id?: string | undefined;
}
/** Apply (on) or lift (off) the owner's lockdown preset. */
export interface LockdownFrame {
  type: "lockdown";
  on: boolean;
  client_msg_id?: string | undefined;
}
/** The owner's lockdown preset (not broadcast). */
export interface LockdownPresetFrame {
  type: "lockdown_preset";
  preset: {
    emote_only: boolean;
    unique_s: number;
    members_only: boolean;
    account_age_s: number;
    first_time_hold: boolean;
    slow_mode_s: number;
  };
  client_msg_id?: string | undefined;
}
/** Remove every recent message containing `phrase`, optionally timing out or banning the authors. */
export interface PurgeFrame {
  type: "purge";
  phrase: string;
  seconds: number;
  then?: "timeout" | "ban" | undefined;
  timeout_s?: number | undefined;
  reason?: string | undefined;
  client_msg_id?: string | undefined;
}
/** Set the stream's title (owner/moderator; "" clears it). */
export interface TitleFrame {
  type: "title";
  title: string;
  client_msg_id?: string | undefined;
}
/** Everything a client sends that changes the room. */
export type Command =
  | MessageFrame
  | EditFrame
  | DeleteFrame
  | PinFrame
  | UnpinFrame
  | TimeoutFrame
  | BanFrame
  | UnbanFrame
  | SlowModeFrame
  | BlockedTermsFrame
  | RoleFrame
  | ChatModeFrame
  | ReviewFrame
  | WarnFrame
  | AcknowledgeWarningFrame
  | HideUserFrame
  | UnhideUserFrame
  | LockdownFrame
  | LockdownPresetFrame
  | PurgeFrame
  | TitleFrame;

// ---------------------------------------------------------------------------------------------
// Compile-time proof that the copies above equal the protocol's schemas (no runtime code).
// "Type 'false' does not satisfy the constraint 'true'" on a line below means src/protocol.ts
// changed that shape: make the same change above (the SDK's users must see it too).
// ---------------------------------------------------------------------------------------------

type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
type _ProtocolChecks = [
  Assert<Same<Entity, P.Entity>>,
  Assert<Same<ReplyRef, P.ReplyRef>>,
  Assert<Same<Attachment, P.Attachment>>,
  Assert<Same<StreamComment, P.StreamComment>>,
  Assert<Same<SeqComment, P.SeqComment>>,
  Assert<Same<ChatUser, P.WelcomeFrame["user"]>>,
  Assert<Same<ChatLimits, NonNullable<P.WelcomeFrame["limits"]>>>,
  Assert<Same<MessageFrame, P.MessageFrame>>,
  Assert<Same<Role, P.Role>>,
  Assert<Same<ModerationAction, P.ModerationAction>>,
  Assert<Same<CommentFrame, P.CommentFrame>>,
  Assert<Same<CommentEditedFrame, P.CommentEditedFrame>>,
  Assert<Same<CommentDeletedFrame, P.CommentDeletedFrame>>,
  Assert<Same<PinnedFrame, P.PinnedFrame>>,
  Assert<Same<ModerationFrame, P.ModerationFrame>>,
  Assert<Same<RoomEvent, P.RoomEvent>>,
  Assert<Same<WelcomeFrame, P.WelcomeFrame>>,
  Assert<Same<HistoryFrame, P.HistoryFrame>>,
  Assert<Same<AckFrame, P.AckFrame>>,
  Assert<Same<Command, P.Command>>,
  Assert<Same<ErrorCode, P.ErrorCode>>,
  Assert<Same<ChatModes, P.ChatModes>>,
  Assert<Same<HeldItem, P.HeldItem>>,
  Assert<Same<HeldFrame, P.HeldFrame>>,
  Assert<Same<ReviewQueueFrame, P.ReviewQueueFrame>>,
  Assert<Same<ModlogEntry, P.ModlogEntry>>,
  Assert<Same<ModlogFrame, P.ModlogFrame>>,
  Assert<Same<HiddenCommentFrame, P.HiddenCommentFrame>>,
  Assert<Same<LockdownPreset, P.LockdownPreset>>,
  Assert<Same<LockdownPresetFrame["preset"], P.LockdownPreset>>,
  Assert<Same<ModlogResponse, P.ModlogResponse>>,
  Assert<Same<UserCardResponse, P.UserCardResponse>>,
];
