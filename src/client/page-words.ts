/**
 * The demo page's words: connection states, errors and waits as plain sentences (page.ts and
 * page-moderation.ts say the same things the same way). Pure: no DOM, no globals.
 */
import { MAX_MESSAGE_CODE_POINTS } from "../protocol.js";
import { ChatError, DEFAULT_MAX_UPLOAD_BYTES, MAX_IMAGE_FRAMES, MAX_IMAGE_SIDE_PX, type StateChange } from "./index.js";

/** The connection state in words, for the status line. */
export function describeState(s: StateChange): string {
  switch (s.state) {
    case "idle":
      return "Not connected";
    case "connecting":
      return s.previous === "reconnecting" ? "Reconnecting…" : "Connecting…";
    case "open":
      return "Connected";
    case "closed":
      return s.reason === "too_many_sockets" ? "Closed — the chat is open in too many other tabs" : "Not connected";
    case "reconnecting":
      if (s.reason === "policy_violation") return `Disconnected by the server — retrying in ${Math.max(1, Math.round((s.retryInMs ?? 0) / 1000))} s`;
      if (s.reason === "server_busy") return `The chat is busy — joining in ${Math.max(1, Math.round((s.retryInMs ?? 0) / 1000))} s`;
      if (s.reason === "slow_consumer") return "This page fell behind the chat — catching up…";
      if (s.reason === "offline") return "Offline — waiting for the network";
      if (!s.retryInMs) return "Reconnecting…";
      return `Connection lost — retrying in ${Math.max(1, Math.round(s.retryInMs / 1000))} s`;
  }
}

/** Hours and minutes in the reader's locale. */
export const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
/** Whole seconds of a wait, at least 1 (1 s when unknown). */
export const seconds = (ms: number | undefined) => Math.max(1, Math.ceil((ms ?? 1000) / 1000));
/** `3 messages`, `1 message`. */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * An error in a plain sentence for the page: every ChatError code (the switch is exhaustive over
 * ChatErrorCode), a TypeError as "could not reach the server". `maxUploadBytes` is the limit the
 * client knows (`chat.maxUploadBytes`), for `upload_too_large`.
 */
export function errorText(err: unknown, maxUploadBytes: number = DEFAULT_MAX_UPLOAD_BYTES): string {
  if (!(err instanceof ChatError)) {
    if (err instanceof TypeError) return "Could not reach the server. Check your connection and try again.";
    return err instanceof Error ? err.message : String(err);
  }
  switch (err.code) {
    case "rate_limited":
      return `You are sending messages too quickly. Wait ${plural(seconds(err.retryAfterMs), "second")} and try again.`;
    case "message_too_long":
      return `That message is too long: the limit is ${MAX_MESSAGE_CODE_POINTS} characters.`;
    case "frame_too_large":
      return "That message is too large to send.";
    case "room_busy":
      return `The chat is very busy right now. Wait ${plural(seconds(err.retryAfterMs), "second")} and try again.`;
    case "empty_message":
      return "Type a message first.";
    case "outbox_full":
      return "Too many messages are waiting to be sent. Wait until the connection is back.";
    case "closed":
      return "You left the chat before this message was delivered.";
    case "unauthorized":
      return "The server did not accept your sign-in. Signing in again…";
    case "auth_failed":
      return "Could not sign in to the chat. Retrying…";
    case "policy_violation":
      return "The server closed the connection because this page sent too much. It will reconnect in a little while.";
    case "too_many_sockets":
      return "This chat is open in too many tabs or devices, so the server closed it here. Close some of them and reload this page to chat here.";
    case "internal_error":
      return "The server had a problem. Try again in a moment.";
    case "forbidden":
      return "You are not allowed to do that in this chat.";
    case "not_found":
      return "That message is gone (deleted, or too old to act on).";
    case "edit_window_passed":
      return "That message can no longer be edited: messages can be edited for 5 minutes after sending.";
    case "muted":
      return err.until && Date.parse(err.until) > 0
        ? `You are timed out until ${clock.format(new Date(err.until))}. You can read the chat, but not send messages yet.`
        : "You are timed out. You can read the chat, but not send messages yet.";
    case "banned":
      return "You are banned from this chat. You can still read it.";
    case "slow_mode":
      return `Slow mode is on. You can send your next message in ${plural(seconds(err.retryAfterMs), "second")}.`;
    case "blocked_term":
      return "Your message contains a word this chat does not allow. Change it and try again.";
    case "invalid_text":
      return "Your message contains characters that cannot be sent (control characters or too many accents on one letter).";
    case "limit_reached":
      return "This chat has reached one of its limits (bans, timeouts, moderators or blocked terms).";
    case "target_restricted":
      return "This user is banned or timed out. Unban them first, then make them a moderator.";
    case "invalid_attachment":
      return "One of the attached images can no longer be sent (it was already sent, expired, or is not yours). Remove it and attach it again.";
    case "upload_too_large":
      return `That image is too large: the limit is ${megabytes(maxUploadBytes)}.`;
    case "unsupported_media_type":
      return "Only PNG, JPEG, GIF and WebP images can be shared.";
    case "empty_upload":
      return "That file is empty.";
    case "image_too_large":
      return `That image is too large to share: at most ${MAX_IMAGE_SIDE_PX} pixels on a side, 40 megapixels, and for an animation ${MAX_IMAGE_FRAMES} frames and 100 million pixels over all its frames.`;
    case "invalid_image":
      return "That image file is damaged or incomplete, so it cannot be shared.";
    case "too_many_uploads":
      return `You have uploaded too many images without sending them. Try again in ${waitText(err.retryAfterMs)}.`;
    case "upload_failed":
      return "The image could not be stored right now. Try again in a moment.";
    case "network_error":
      return "The image could not be uploaded. Check your connection and try again.";
    case "aborted":
      return "The upload was cancelled.";
    case "invalid_json":
    case "invalid_frame":
    case "unsupported_binary":
    case "protocol_error":
      return "This page and the server did not understand each other. If it keeps happening, reload the page.";
    // issue 18: chat modes, review, warnings (src/client/page-staff.ts shows the rest)
    case "emote_only":
      return "Emote-only mode is on: messages may only contain emoji.";
    case "not_unique":
      return "Unique-chat mode is on: this message was already sent recently. Say something new.";
    case "members_only":
      return "Members-only mode is on: only members of this stream can chat right now.";
    case "account_too_new":
      return "Your account is too new to chat here right now.";
    case "warning_pending":
      return "A moderator warned you. Read the warning and press “I understand” to chat again.";
    case "already_reviewed":
      return "That held message was already reviewed (or has expired).";
    case "review_queue_full":
      return "Too many messages are waiting for review. Try again shortly.";
    case "review_denied":
      return "Not approved by a moderator.";
    case "review_expired":
      return "No moderator reviewed this message in time.";
    case "request_failed":
      return "The server could not answer that request. Try again in a moment.";
  }
}

/** Words for an error of chat.upload(): the codes it shares with messages, said about images. */
export function uploadErrorText(err: unknown, maxUploadBytes?: number): string {
  if (err instanceof ChatError) {
    if (err.code === "rate_limited") return `You are sharing images too quickly. Wait ${plural(seconds(err.retryAfterMs), "second")} and try again.`;
    if (err.code === "banned") return "You are banned from this chat: you cannot share images.";
    if (err.code === "unauthorized") return "Your sign-in expired. Try attaching the image again.";
    if (err.code === "closed") return "You left the chat before the image was uploaded.";
  }
  return errorText(err, maxUploadBytes);
}

/** `5242880` → "5 MB" (MiB, as the limit is configured). */
export function megabytes(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
}

/** A wait in words: seconds, minutes or hours. */
export function waitText(ms: number | undefined): string {
  const s = seconds(ms);
  if (s < 120) return plural(s, "second");
  if (s < 7200) return plural(Math.ceil(s / 60), "minute");
  return plural(Math.ceil(s / 3600), "hour");
}


/**
 * The one notice every page shows for a purge (whatever its size): the authors by name up to three
 * (`null` = a name the page never saw), else how many. A raid of twenty gets one line, not twenty.
 */
export function purgeNotice(authors: ReadonlyArray<string | null>): string {
  const named = authors.filter((a): a is string => a !== null);
  if (authors.length === 0) return "Messages were removed by a moderator.";
  if (authors.length > 3 || named.length < authors.length) return `Messages from ${authors.length} ${authors.length === 1 ? "user" : "users"} were removed by a moderator.`;
  const list = named.length === 1 ? named[0] : `${named.slice(0, -1).join(", ")} and ${named[named.length - 1]}`;
  return `Messages from ${list} were removed by a moderator.`;
}
