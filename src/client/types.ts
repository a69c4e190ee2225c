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

/** An image attached to a comment. `size` in bytes. */
export interface Attachment {
  upload_id: string;
  url: string;
  content_type: string;
  size: number;
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
  | "internal_error";

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
  Assert<Same<ErrorCode, P.ErrorCode>>,
];
