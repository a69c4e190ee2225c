/**
 * ChatClient: one viewer's connection to one stream's chat, in a browser or in Node ≥ 20.
 *
 * Life of a connection (one "attempt"):
 *   credentials() ─▶ ticket (POST /v1/streams/{id}/chat/tickets, unless the provider gave one)
 *   ─▶ WebSocket /ws/streams/{id}/chat?ticket=…[&since=…&epoch=…][&batch=1]
 *   ─▶ welcome ─▶ history ─▶ state "open": outbox resent, live comments, heartbeat.
 * Images go over HTTP beside it (upload(): POST /v1/streams/{id}/chat/uploads with the same
 * credentials), then their ids ride on a message (`send(text, { attachments })`); so do staff's
 * reads of the moderation log and user cards (fetchModlog(), fetchUserCard(): src/client/http.ts).
 * Anything that ends it (server close, connect timeout, missed pong, the browser going offline,
 * a hole in the sequence that does not fill) tears it down completely and schedules the next
 * attempt with full-jitter backoff. The SequenceTracker makes the app see every comment once,
 * in order, across all of that; the Outbox makes sends survive it.
 *
 * Everything time-based is a timer owned by this object, and close() clears them all: a closed
 * client keeps no process alive and sends nothing.
 */
import { exhaustive } from "../rules/never.js";
import { CLOSE_SLOW_CONSUMER, seenReportDelay } from "../rules/consumers.js";
import { prepareText } from "../rules/text.js";
import {
  CLOSE_POLICY_VIOLATION,
  CLOSE_TOO_MANY_SOCKETS,
  Command as CommandSchema,
  ERROR_MESSAGES,
  MAX_CLIENT_MSG_ID,
  MAX_MESSAGE_CODE_POINTS,
  PING_FRAME,
  ServerFrame,
  TicketResponse,
  codePointLength,
  isUuid,
  type ClientFrame,
  type SingleServerFrame,
} from "../protocol.js";
import { Backoff, type BackoffOptions } from "./backoff.js";
import { advisedDelay, CLOSE_GOING_AWAY, CLOSE_SERVICE_RESTART, CLOSE_TRY_AGAIN_LATER, DEFAULT_RESTART_SPREAD_MS, restartDelay } from "./reconnect.js";
import { Emitter } from "./emitter.js";
import { ChatError } from "./errors.js";
import { RESPONSE_SCHEMAS, getChecked, modlogPath, userCardPath, type ModlogQuery } from "./http.js";
import { isRetryable } from "./recovery.js";
import { DEFAULT_OUTBOX_LIMIT, Outbox, type ActionResult, type CommandInput, type OutboxEntry, type SendResult } from "./outbox.js";
import { DEFAULT_SEND_RATE_PER_SEC, SendPacer } from "./pacer.js";
import { SequenceTracker, type ResumePoint } from "./sequence.js";
import {
  DEFAULT_MAX_COMMENTS,
  addHiddenComment,
  addModlogEntry,
  applyEvents,
  applyHeld,
  emptyView,
  expireHeld,
  historyFrames,
  nextHeldExpiry,
  resetView,
  setReviewQueue,
  setViewers,
  welcomeView,
  type OwnHeldMessage,
  type PendingWarning,
  type RoomView,
} from "./store.js";
import type {
  ChatLimits,
  ChatMode,
  ChatModes,
  ChatUser,
  HeldFrame,
  HeldItem,
  HiddenCommentFrame,
  LockdownPreset,
  ModlogEntry,
  ModlogFrame,
  ModlogResponse,
  ReviewQueueFrame,
  Role,
  RoomEvent,
  SeqComment,
  StreamComment,
  UserCardResponse,
  WelcomeFrame,
} from "./types.js";
import {
  DEFAULT_MAX_UPLOAD_BYTES,
  UPLOAD_RATE_LIMIT_RETRIES,
  UPLOAD_RETRY_MAX_WAIT_MS,
  parseUploadResponse,
  prepareUpload,
  resolveFrameUrls,
  resolveUrl,
  uploadHttpError,
  type HttpErrorBody,
  type UploadBody,
  type UploadOptions,
  type UploadResult,
} from "./uploads.js";
import { uuid } from "./uuid.js";

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/**
 * The part of a WebSocket the client uses. The browser's WebSocket, Node 22's global one
 * (undici) and the `ws` package's class all fit.
 */
export interface WebSocketLike {
  readonly readyState: number;
  // `any` on purpose: each implementation types its own event objects; we read only
  // `data` (message) and `code`/`reason` (close).
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/**
 * How one connection attempt authenticates:
 * - `{ ticket }`: a one-time ticket the app fetched itself; goes into `?ticket=`.
 * - `{ token }`: a JWT; the client exchanges it for a ticket at
 *   `POST /v1/streams/{id}/chat/tickets` (works in browsers, which cannot set headers on an
 *   upgrade, and in Node alike).
 */
export type Credentials = { ticket: string } | { token: string };

export interface CredentialsContext {
  streamId: string;
  /** Failed attempts in a row before this one (0 for the first). */
  attempt: number;
  /** Aborted when the attempt is abandoned (timeout, close()). */
  signal: AbortSignal;
}

/**
 * Called before every (re)connect, so it can refresh an expiring token. Throw a ChatError to
 * report a problem to the app (`error` event); a TypeError (what fetch throws when the network
 * is down) is treated as a transient failure and retried silently.
 */
export type CredentialsProvider = (ctx: CredentialsContext) => Credentials | Promise<Credentials>;

/** Tells the client when the device goes offline / online (browsers: window events). */
export interface NetworkMonitor {
  isOnline(): boolean;
  subscribe(onChange: (online: boolean) => void): () => void;
}

export interface ChatClientOptions {
  /** Where the worker lives, e.g. `https://chat.example.com` or `location.origin`. */
  baseUrl: string | URL;
  streamId: string;
  credentials: CredentialsProvider;
  /** WebSocket implementation; default the global one (browsers, Node ≥ 22). Node 20: `ws`. */
  WebSocket?: WebSocketConstructor;
  /** fetch implementation for the ticket and upload requests; default the global one. */
  fetch?: typeof fetch;
  /** Ask the server for batched delivery (`?batch=1`). Default true. */
  batch?: boolean;
  /**
   * Report what we have read (`?seen=1` and `{"type":"seen","seq":N}` after 50 events and at least
   * 1 s apart), so the server can close this socket with 4408 when it falls too far behind instead
   * of queueing for it without bound (README "Slow consumers"); the client then resumes with
   * `since`. Default true.
   */
  reportSeen?: boolean;
  /** From attempt start to the socket open, and again from open to history received (each: this long). Default 10 s. */
  connectTimeoutMs?: number;
  /** Ping after this long without any frame from the server. Default 20 s. */
  heartbeatIntervalMs?: number;
  /** Reconnect when the pong (or any frame) does not come within this. Default 10 s. */
  heartbeatTimeoutMs?: number;
  /** Reconnect delays. Default 250 ms doubling up to 15 s, full jitter. */
  backoff?: BackoffOptions;
  /** A connection that lasted this long resets the backoff. Default 5 s. */
  stableAfterMs?: number;
  /**
   * After the server closes with 1001 (going away) or 1012 (service restart), the first reconnect is
   * uniform over [0, this] ms, so an audience dropped at once does not return at once. Default 3 s
   * (DEFAULT_RESTART_SPREAD_MS). A 1013 close waits the server's hint instead (src/client/reconnect.ts).
   */
  restartSpreadMs?: number;
  /** Max messages waiting for an ack. Default 100. */
  outboxLimit?: number;
  /**
   * How many times one message is resent after the server throttled it (`rate_limited` or
   * `room_busy`, each time after its `retry_after_ms`) or failed it with `internal_error` (after
   * 1 s) before send() rejects with that error. Default 10.
   */
  throttleRetries?: number;
  /** How long a hole in the sequence may stay open before the client resyncs. Default 2 s. */
  gapTimeoutMs?: number;
  /**
   * Offline/online signal. Default: the browser's `online`/`offline` events when present, none
   * in Node. `false` disables it.
   */
  network?: NetworkMonitor | false;
  /** Comments the state store (`chat.comments`) keeps; the oldest are dropped first. Default 500. */
  maxComments?: number;
  /**
   * The largest image upload() sends, bytes: larger ones are refused locally with
   * `upload_too_large`. Default 5 MiB, the server's default `MAX_UPLOAD_BYTES`; set it when your
   * server is configured otherwise. A 413 from the server replaces it with the server's `max_bytes`.
   */
  maxUploadBytes?: number;
}

export type ConnectionState =
  /** Created, connect() not called yet. */
  | "idle"
  /** An attempt is in progress (credentials, ticket, socket, welcome, history). */
  | "connecting"
  /** History received; live. */
  | "open"
  /** Waiting before the next attempt (see `retryInMs`; none while the device is offline). */
  | "reconnecting"
  /**
   * Final: close() was called, or the server closed the socket with 4429 (too many sockets for
   * this user and stream: `reason` "too_many_sockets"), after which reconnecting would only
   * close another of the user's tabs.
   */
  | "closed";

export type DisconnectReason =
  | "connect_timeout"
  | "heartbeat_timeout"
  /** The socket closed (server restart, deploy, network). See `closeCode`. */
  | "connection_lost"
  /** The network request for credentials or the ticket failed. */
  | "network_error"
  | "unauthorized"
  | "auth_failed"
  /** The device is offline (browser `offline` event). */
  | "offline"
  /** A hole in the sequence did not fill in time; reconnecting with `since` fills it. */
  | "gap"
  /**
   * The server closed with 1008 (this socket kept exceeding its frame budget or sent too many
   * rejected frames). Reconnects no sooner than the backoff's ceiling (15 s by default), so a
   * misbehaving client cannot hammer the room.
   */
  | "policy_violation"
  /**
   * The server closed with 1013: the room admits joins at a bounded rate and this one came while it
   * was busy (reason `{"error":"joins_busy","retry_after_ms":N}`). Reconnects after N plus jitter
   * in [0, N] (src/client/reconnect.ts advisedDelay).
   */
  | "server_busy"
  /** The server closed with 4429: the user has too many sockets on this stream. Final ("closed"). */
  | "too_many_sockets"
  /**
   * The server closed with 4408: this socket fell more than the server's bound behind what it
   * reported reading (the app or the device stopped reading, e.g. a frozen tab). Reconnects with
   * the usual backoff and resumes from the last seq read.
   */
  | "slow_consumer"
  /** reconnect() or close() was called. */
  | "manual";

export interface StateChange {
  state: ConnectionState;
  previous: ConnectionState;
  /** Failed attempts in a row. */
  attempt: number;
  /** For "reconnecting": the delay before the next attempt; absent while offline. */
  retryInMs?: number;
  /** Why the previous connection or attempt ended. */
  reason?: DisconnectReason;
  /** The WebSocket close code, when the socket was closed by the other side. */
  closeCode?: number;
  /** Diagnostic text for the reason (an exception's message, the close reason), for logs. */
  detail?: string;
}

export interface ChatClientEvents {
  state: StateChange;
  /** Every connection's welcome: who we are, and the stream's position. */
  welcome: { streamId: string; user: ChatUser; seq: number; epoch: string; role: Role };
  /**
   * On every connection: the comments the app has not seen yet, in seq order (first
   * connection: the recent backlog; reconnect: what was missed). Not repeated as `comment`.
   * `events` are all the sequenced frames delivered with it, comments included, in seq order
   * (a resume's missed edits, deletions, pins and moderation). Not repeated as `event`.
   */
  history: { comments: SeqComment[]; events: RoomEvent[]; recovered: boolean; resumed: boolean };
  /**
   * Instead of `history`, when a reconnect could not resume (the server answered
   * `recovered: false` and its backlog does not reach back to our last comment, or the
   * stream's epoch changed): drop everything shown and render `comments` instead.
   */
  reset: { comments: SeqComment[]; epoch: string };
  /** One live comment, after every sequenced frame before it (also emitted as `event`). */
  comment: SeqComment;
  /** One live sequenced frame (comment, edit, deletion, pin, moderation), in seq order, once. */
  event: RoomEvent;
  /**
   * The state store changed (`chat.room`; also `chat.comments`, `chat.pinned`, …): after each
   * history, each live sequenced frame, each viewer count, and each `held`, `review_queue`,
   * `modlog` or `hidden_comment` frame that changed something (and a held message expiring). Render from this and no reducer of
   * your own is needed. The view is immutable: compare objects to find what changed.
   */
  change: RoomView;
  /**
   * Errors the app may want to show that are not the rejection of a send(): server errors not
   * tied to a message, unauthorized/auth_failed, protocol_error, policy_violation,
   * too_many_sockets.
   */
  error: ChatError;
}

/** What purge() does to the authors of the messages it removes (absent: nothing). */
export interface PurgeOptions extends ActionOptions {
  then?: "timeout" | "ban";
  /** With `then: "timeout"`: its length, 10 … 86,400 s (the server's default: 600). */
  timeoutS?: number;
  /** Shown in the log and to the authors' moderation history; at most 200 characters. */
  reason?: string;
}

/** Options of every command method. */
export interface ActionOptions {
  /** Idempotency key (≤ 64 chars). Default a random UUID. Pass your own to track a pending row. */
  clientMsgId?: string;
}

export interface SendOptions extends ActionOptions {
  /** Id of the comment this message replies to (the server quotes it; `not_found` when gone). */
  replyTo?: string;
  /**
   * Upload ids from upload() (`uploadId`), at most 4 (more: `invalid_frame` locally). With at least
   * one, the text may be empty: an image alone is a message. The server checks each is the
   * sender's upload to this stream, not attached yet (`invalid_attachment`).
   */
  attachments?: string[];
}

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 20_000;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 10_000;
export const DEFAULT_STABLE_AFTER_MS = 5_000;
export const DEFAULT_GAP_TIMEOUT_MS = 2_000;
export const DEFAULT_THROTTLE_RETRIES = 10;

const WS_OPEN = 1;
/** Application close code (4000–4999 is ours) for connections the client abandons. */
const CLOSE_ABANDONED = 4000;
const noop = (): void => {};

type Timer = ReturnType<typeof setTimeout>;

/** One connection attempt and everything that belongs to it. */
interface Connection {
  readonly abort: AbortController;
  ws: WebSocketLike | null;
  synced: boolean;
  syncedAt: number;
  lastFrameAt: number;
  connectTimer?: Timer;
  heartbeatTimer?: Timer;
  pongTimer?: Timer;
  gapTimer?: Timer;
  /** Wakes the send pump when the pacer allows the next message. */
  pumpTimer?: Timer;
  /** Unsequenced staff/author frames (held, review_queue, modlog, hidden_comment) that came before the history: applied after it. */
  early: UnsequencedFrame[];
  /** The last seq reported read (`seen`), or where the history left us; when (ms). */
  seenSeq: number;
  seenAt: number;
  /** Sends the next `seen` report when the cadence allows it (src/rules/consumers.ts seenReportDelay). */
  seenTimer?: Timer;
}

/** The server frames of issue 18 that carry no seq (README "Client SDK": moderation under a raid). */
type UnsequencedFrame = HeldFrame | ReviewQueueFrame | ModlogFrame | HiddenCommentFrame;

/** One of our messages held for review: its send() settles when a moderator decides. */
interface HeldWait {
  clientMsgId: string;
  resolve(r: ActionResult): void;
  reject(e: ChatError): void;
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/** How long the client waits before resending a message the server answered with `internal_error` (ms). */
export const INTERNAL_ERROR_RETRY_MS = 1_000;
/**
 * A held message counts as expired this long after its `expires_at` (ms): `expires_at` is the
 * server's clock, and a decision made just before it may still be on its way.
 */
export const HELD_EXPIRY_GRACE_MS = 5_000;

export class ChatClient extends Emitter<ChatClientEvents> {
  readonly streamId: string;
  readonly #httpBase: URL;
  readonly #wsBase: URL;
  readonly #credentials: CredentialsProvider;
  readonly #WebSocket: WebSocketConstructor;
  readonly #fetch: typeof fetch;
  readonly #batch: boolean;
  readonly #reportSeen: boolean;
  readonly #connectTimeoutMs: number;
  readonly #heartbeatIntervalMs: number;
  readonly #heartbeatTimeoutMs: number;
  readonly #stableAfterMs: number;
  readonly #gapTimeoutMs: number;
  readonly #network: NetworkMonitor | null;

  readonly #backoff: Backoff;
  /** The randomness of the reconnect delays (options.backoff.random, else Math.random). */
  readonly #random: () => number;
  readonly #restartSpreadMs: number;
  readonly #outbox: Outbox;
  readonly #pacer = new SendPacer();
  readonly #throttleRetries: number;
  readonly #tracker = new SequenceTracker<RoomEvent>();
  readonly #maxComments: number;
  #view: RoomView = emptyView();
  /** This connection's welcome, applied with its history. */
  #welcome: WelcomeFrame | null = null;

  #state: ConnectionState = "idle";
  #conn: Connection | null = null;
  #reconnectTimer: Timer | undefined;
  #unsubscribeNetwork: () => void = noop;
  #user: ChatUser | null = null;
  #maxUploadBytes: number;
  /** Uploads in flight; close() aborts them. */
  readonly #uploads = new Set<AbortController>();
  /** Our messages held for review, by held comment id. */
  readonly #held = new Map<string, HeldWait>();
  /** Fires at the next held message's (or review queue item's) expiry. */
  #heldTimer: Timer | undefined;

  constructor(options: ChatClientOptions) {
    super();
    if (!isUuid(options.streamId)) throw new TypeError(`streamId must be a UUID, got ${JSON.stringify(options.streamId)}`);
    this.streamId = options.streamId.toLowerCase();
    const base = new URL(String(options.baseUrl));
    if (!["http:", "https:", "ws:", "wss:"].includes(base.protocol)) {
      throw new TypeError(`baseUrl must be http(s) or ws(s), got ${base.protocol}`);
    }
    // Routes are resolved relative to the base, so a worker mounted under a path prefix works.
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    const secure = base.protocol === "https:" || base.protocol === "wss:";
    this.#httpBase = new URL(base);
    this.#httpBase.protocol = secure ? "https:" : "http:";
    this.#wsBase = new URL(base);
    this.#wsBase.protocol = secure ? "wss:" : "ws:";

    const WS = options.WebSocket ?? (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new TypeError("no global WebSocket (Node < 22): pass the `ws` package's WebSocket as options.WebSocket");
    this.#WebSocket = WS;
    if (!options.fetch && typeof globalThis.fetch !== "function") throw new TypeError("no global fetch: pass options.fetch");
    // Called through a wrapper: browsers throw "Illegal invocation" when fetch's `this` is not the window.
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#credentials = options.credentials;
    this.#batch = options.batch ?? true;
    this.#reportSeen = options.reportSeen ?? true;
    this.#connectTimeoutMs = positive("connectTimeoutMs", options.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS);
    this.#heartbeatIntervalMs = positive("heartbeatIntervalMs", options.heartbeatIntervalMs, DEFAULT_HEARTBEAT_INTERVAL_MS);
    this.#heartbeatTimeoutMs = positive("heartbeatTimeoutMs", options.heartbeatTimeoutMs, DEFAULT_HEARTBEAT_TIMEOUT_MS);
    this.#stableAfterMs = positive("stableAfterMs", options.stableAfterMs, DEFAULT_STABLE_AFTER_MS);
    this.#gapTimeoutMs = positive("gapTimeoutMs", options.gapTimeoutMs, DEFAULT_GAP_TIMEOUT_MS);
    this.#backoff = new Backoff(options.backoff);
    this.#random = options.backoff?.random ?? Math.random;
    this.#restartSpreadMs = positive("restartSpreadMs", options.restartSpreadMs, DEFAULT_RESTART_SPREAD_MS);
    this.#outbox = new Outbox(options.outboxLimit ?? DEFAULT_OUTBOX_LIMIT);
    const retries = options.throttleRetries ?? DEFAULT_THROTTLE_RETRIES;
    if (!Number.isInteger(retries) || retries < 0) throw new RangeError(`throttleRetries must be an integer ≥ 0, got ${retries}`);
    this.#throttleRetries = retries;
    this.#network = options.network === false ? null : (options.network ?? browserNetwork());
    const maxComments = options.maxComments ?? DEFAULT_MAX_COMMENTS;
    if (!Number.isInteger(maxComments) || maxComments < 1) throw new RangeError(`maxComments must be a positive integer, got ${maxComments}`);
    this.#maxComments = maxComments;
    const maxUpload = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
    if (!Number.isSafeInteger(maxUpload) || maxUpload < 1) throw new RangeError(`maxUploadBytes must be a positive integer, got ${maxUpload}`);
    this.#maxUploadBytes = maxUpload;
  }

  // -- read-only views ------------------------------------------------------------------------

  get state(): ConnectionState {
    return this.#state;
  }

  /** Who the server says we are (from the last welcome), or null before the first one. */
  get user(): ChatUser | null {
    return this.#user;
  }

  /** The last delivered position (what the next connection resumes from), or null. */
  get position(): ResumePoint | null {
    return this.#tracker.resumePoint();
  }

  /** Commands sent but not acknowledged yet, oldest first. */
  get pending(): OutboxEntry[] {
    return this.#outbox.entries();
  }

  // -- the state store (src/client/store.ts), updated before every `change` event -----------------

  /** The whole room view (immutable; a new object after every change). */
  get room(): RoomView {
    return this.#view;
  }

  /** Current comments in seq order: edits applied, deleted and banned users' ones gone. */
  get comments(): readonly SeqComment[] {
    return this.#view.comments;
  }

  /** The pinned comment (current text), or null. */
  get pinned(): StreamComment | null {
    return this.#view.pinned;
  }

  /** Slow mode spacing in seconds, 0 = off. */
  get slowModeS(): number {
    return this.#view.slowModeS;
  }

  /** Users connected to the stream, or null before the first welcome. */
  get viewers(): number | null {
    return this.#view.viewers;
  }

  /** Our role in the stream, or null before the first welcome. */
  get role(): Role | null {
    return this.#view.role;
  }

  /** End of our timeout (RFC 3339; may be past, see `isMuted` in the store), or null. */
  get mutedUntil(): string | null {
    return this.#view.mutedUntil;
  }

  /** True while we are banned from this stream (we can still read). */
  get banned(): boolean {
    return this.#view.banned;
  }

  /** The chat modes in force (all off before the first welcome). */
  get modes(): ChatModes {
    return this.#view.modes;
  }

  /** The stream's title, or null when none is set. */
  get title(): string | null {
    return this.#view.title;
  }

  /** Our warning waiting for acknowledgeWarning(), or null. */
  get warning(): PendingWarning | null {
    return this.#view.warning;
  }

  /** Our own messages held for review (and denied or expired ones), oldest first. */
  get held(): readonly OwnHeldMessage[] {
    return this.#view.held;
  }

  /** Staff: messages waiting for review, oldest first. */
  get reviewQueue(): readonly HeldItem[] {
    return this.#view.reviewQueue;
  }

  /** Staff: moderation log entries received live on this client, oldest first. */
  get modlog(): readonly ModlogEntry[] {
    return this.#view.modlog;
  }

  /** The largest image upload() sends, bytes (the option, or the server's `max_bytes` after a 413). */
  get maxUploadBytes(): number {
    return this.#maxUploadBytes;
  }

  /**
   * A URL the chat server gave as a path (an attachment's `url` in the HTTP history API, say) as
   * an absolute URL on the chat server. Comments the client delivers already carry absolute URLs.
   */
  resolveUrl(url: string): string {
    return resolveUrl(url, this.#httpBase);
  }

  // -- commands -------------------------------------------------------------------------------

  /** Starts connecting (once; later calls do nothing). */
  connect(): void {
    if (this.#state !== "idle") return;
    this.#unsubscribeNetwork = this.#network?.subscribe((online) => this.#onNetwork(online)) ?? noop;
    this.#attempt();
  }

  /** Resolves the next time the client is open (now if it is); rejects if it gets closed. */
  ready(): Promise<void> {
    if (this.#state === "open") return Promise.resolve();
    if (this.#state === "closed") return Promise.reject(new ChatError("closed", "the chat client is closed"));
    return new Promise((resolve, reject) => {
      const off = this.on("state", ({ state }) => {
        if (state === "open") {
          off();
          resolve();
        } else if (state === "closed") {
          off();
          reject(new ChatError("closed", "the chat client was closed"));
        }
      });
    });
  }

  /**
   * Sends a message. Resolves with the server's ack; rejects with a ChatError whose `code` is
   * the server's (`message_too_long`, `muted` with `until`, `banned`, `slow_mode` with
   * `retryAfterMs`, `blocked_term`, `not_found` for a reply to a gone comment, …; `rate_limited` /
   * `room_busy` with `retryAfterMs` only after `throttleRetries` resends) or the client's
   * (`empty_message`, `outbox_full`, `closed`, `too_many_sockets`). While disconnected the message
   * waits in the outbox and goes out on the next connection. Messages leave at the server's rate
   * (`welcome.limits`, default 10/s, burst of the same size), oldest first; a throttled one is
   * resent after the server's retry_after_ms. `replyTo` makes it a reply; `attachments` are
   * upload ids from upload() (then `text` may be empty; otherwise an empty text is `empty_message`).
   * Chat modes refuse with `emote_only`, `not_unique`, `members_only`, `account_too_new`; a pending
   * warning with `warning_pending`.
   *
   * Held for review (a `hold` blocked term, or first-time hold): the room answers `held` instead of
   * an ack. The message leaves the outbox (it is not resent), shows in `chat.held` / `room.held` as
   * `held` with its `expiresAt`, and the promise stays pending until a moderator decides: allowed,
   * it resolves with the comment's id and seq when the comment arrives; denied, it rejects with
   * `review_denied`; undecided past `expires_at` (plus HELD_EXPIRY_GRACE_MS), with `review_expired`.
   * A shadow-hidden sender's message takes no seq (the room sends it only to them and staff): the
   * result's `seq` is then the stream position it was shown at.
   */
  send(text: string, options: SendOptions = {}): Promise<SendResult> {
    const clientMsgId = options.clientMsgId ?? uuid();
    const checked = checkText(text, clientMsgId, (options.attachments?.length ?? 0) > 0);
    if (checked) return Promise.reject(checked);
    const command: CommandInput = { type: "message", text };
    if (options.replyTo !== undefined) command.reply_to = options.replyTo;
    if (options.attachments !== undefined) command.attachments = options.attachments;
    return this.#command(command, clientMsgId).then((ack) => {
      if (ack.id === undefined) {
        // The room acks a text it found visually empty without creating a comment.
        throw new ChatError("empty_message", "The server found nothing to post in the message", { clientMsgId });
      }
      if (ack.seq === undefined) {
        // A shadow-hidden sender's comment (issue 18 §4): delivered to them and staff only, unsequenced.
        const shown = this.#view.comments.find((c) => c.comment.id === ack.id);
        return { clientMsgId: ack.clientMsgId, id: ack.id, seq: shown?.seq ?? this.#view.seq };
      }
      return { clientMsgId: ack.clientMsgId, id: ack.id, seq: ack.seq };
    });
  }

  /** Sends a reply to comment `replyToId` (same as `send(text, { replyTo })`). */
  reply(replyToId: string, text: string, options: ActionOptions = {}): Promise<SendResult> {
    return this.send(text, { ...options, replyTo: replyToId });
  }

  /**
   * Edits one of our comments (within EDIT_WINDOW_S of posting, 300 s by default). Rejects with
   * `forbidden` (not ours), `not_found`, `edit_window_passed`, `muted`, `banned`, the text errors
   * of send(), or `empty_message` locally (an edit cannot empty a comment: delete it instead).
   */
  edit(id: string, text: string, options: ActionOptions = {}): Promise<ActionResult> {
    const clientMsgId = options.clientMsgId ?? uuid();
    const checked = checkText(text, clientMsgId);
    if (checked) return Promise.reject(checked);
    return this.#command({ type: "edit", id, text }, clientMsgId);
  }

  /** Deletes a comment: our own, or anyone's as owner/moderator (`forbidden`, `not_found`). */
  delete(id: string, options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "delete", id }, options.clientMsgId);
  }

  /** Pins a comment (owner/moderator), replacing the pinned one. */
  pin(id: string, options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "pin", id }, options.clientMsgId);
  }

  /** Unpins (owner/moderator). Resolves without `seq` when nothing was pinned. */
  unpin(options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "unpin" }, options.clientMsgId);
  }

  /**
   * Times a user out for `seconds` (10 … 86,400), owner/moderator. A moderator cannot act on the
   * owner or another moderator (`forbidden`). `reason`: at most 200 characters, shown to nobody
   * but the event's readers.
   */
  timeout(userId: string, seconds: number, reason?: string, options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "timeout", user_id: userId, seconds, ...(reason !== undefined ? { reason } : {}) }, options.clientMsgId);
  }

  /** Bans a user (owner/moderator): they stay connected as a reader; their recent comments are deleted. */
  ban(userId: string, reason?: string, options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "ban", user_id: userId, ...(reason !== undefined ? { reason } : {}) }, options.clientMsgId);
  }

  /**
   * Lifts a ban and a running timeout (owner/moderator; a banned moderator's, the owner only): the
   * event's `lifted` says which. Resolves without `seq` when the user was neither banned nor timed out.
   */
  unban(userId: string, options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "unban", user_id: userId }, options.clientMsgId);
  }

  /** Slow mode: viewers may send one message per `seconds` (0 … 3,600; 0 = off). Owner/moderator. */
  slowMode(seconds: number, options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "slow_mode", seconds }, options.clientMsgId);
  }

  /**
   * Adds and removes blocked terms (case-insensitive; at most 100 per call, 500 per stream).
   * `action` is what the added terms do: `block` (refuse the message with `blocked_term`, the
   * default) or `hold` (hold it for review); adding a term again changes its action.
   * Not broadcast: resolves with an ack that has no `seq`.
   */
  blockTerms(terms: { add?: string[]; remove?: string[]; action?: "block" | "hold" }, options: ActionOptions = {}): Promise<ActionResult> {
    const command: CommandInput = { type: "blocked_terms" };
    if (terms.add !== undefined) command.add = terms.add;
    if (terms.action !== undefined) command.action = terms.action;
    if (terms.remove !== undefined) command.remove = terms.remove;
    return this.#command(command, options.clientMsgId);
  }

  /** Makes a user a moderator, or a viewer again (owner only). A banned or timed-out user: `target_restricted`, unban first. */
  setRole(userId: string, role: "moderator" | "viewer", options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "role", user_id: userId, role }, options.clientMsgId);
  }

  // -- issue 18: modes, review, warnings, shadow hide, lockdown, purge, title ------------------

  /**
   * Turns a chat mode on or off (owner/moderator): `emote_only`, `members_only`, `first_time_hold`,
   * `unique` (`seconds`: the window, 1 … 86,400, default 600) or `account_age` (`seconds`: the
   * minimum account age, 1 … 7,776,000, default 86,400). One `moderation` `chat_mode` event; the
   * modes are in `chat.modes`.
   */
  setChatMode(mode: ChatMode, on: boolean, seconds?: number, options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "chat_mode", mode, on, ...(seconds !== undefined ? { seconds } : {}) }, options.clientMsgId);
  }

  /**
   * Decides a held message (owner/moderator; ids from `chat.reviewQueue`). Allow posts it as a
   * comment with a new seq; deny drops it and tells its author. The first decision wins: a second
   * rejects with `already_reviewed` (so does an expired one).
   */
  review(id: string, decision: "allow" | "deny", options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "review", id, decision }, options.clientMsgId);
  }

  /**
   * Warns a user (owner/moderator) with a reason (1 … 200 characters) they are shown: their sends are
   * refused with `warning_pending` until they acknowledge it.
   */
  warn(userId: string, reason: string, options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "warn", user_id: userId, reason }, options.clientMsgId);
  }

  /** Acknowledges our pending warning (`chat.warning`), so we can chat again. */
  acknowledgeWarning(options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "acknowledge_warning" }, options.clientMsgId);
  }

  /**
   * Shadow-hides a user (owner/moderator): their new messages reach only themselves and staff (who
   * see them marked `hidden`); nobody else, Redis history or Kafka's public view gets them.
   */
  hideUser(userId: string, options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "hide_user", user_id: userId }, options.clientMsgId);
  }

  /** Lifts a shadow hide (owner/moderator): the user's messages after this are public again. */
  unhideUser(userId: string, options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "unhide_user", user_id: userId }, options.clientMsgId);
  }

  /**
   * Turns lockdown on (owner/moderator): the owner's preset (setLockdownPreset) replaces the chat
   * modes and slow mode in one event; off restores what was in force before. `room.lockdown`.
   */
  lockdown(on: boolean, options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "lockdown", on }, options.clientMsgId);
  }

  /** Saves what lockdown turns on (owner only): every mode and slow mode's spacing. Not broadcast. */
  setLockdownPreset(preset: LockdownPreset, options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "lockdown_preset", preset: { ...preset } }, options.clientMsgId);
  }

  /**
   * Removes every message of the last `seconds` (1 … 3,600) that contains `phrase` (1 … 100
   * characters, compared case- and space-insensitively by the server), and optionally times out
   * (`then: "timeout"`, `timeoutS`) or bans their authors — one `moderation` `purge` event that
   * lists the removed comments (`deleted`) and the authors (`users`). Owner/moderator.
   */
  purge(phrase: string, seconds: number, options: PurgeOptions = {}): Promise<ActionResult> {
    const command: CommandInput = { type: "purge", phrase, seconds };
    if (options.then !== undefined) command.then = options.then;
    if (options.timeoutS !== undefined) command.timeout_s = options.timeoutS;
    if (options.reason !== undefined) command.reason = options.reason;
    return this.#command(command, options.clientMsgId);
  }

  /** Sets the stream's title (owner/moderator; at most 140 characters; "" clears it). `chat.title`. */
  setTitle(title: string, options: ActionOptions = {}): Promise<ActionResult> {
    return this.#command({ type: "title", title }, options.clientMsgId);
  }

  /**
   * Staff: one page of the moderation log, newest first (`GET /v1/streams/{id}/chat/modlog`). Pass
   * the answer's `next_before` as `before` for the next older page; it is absent at the end. Uses
   * the credentials provider's `token` (a ticket-only provider: `unauthorized`); a viewer's token:
   * `forbidden`. Other errors: `network_error`, `rate_limited`, `request_failed`, `aborted`.
   */
  async fetchModlog(query: ModlogQuery = {}): Promise<ModlogResponse> {
    if (this.#state === "closed") throw new ChatError("closed", "the chat client is closed");
    const url = new URL(modlogPath(this.streamId, query), this.#httpBase);
    const token = await this.#bearerToken(query.signal ?? new AbortController().signal);
    return (await getChecked(this.#fetch, url, token, RESPONSE_SCHEMAS.modlog, query.signal)) as ModlogResponse;
  }

  /**
   * Staff: a user's card in this stream (`GET /v1/streams/{id}/chat/users/{user_id}`): message
   * count, account age, role, restrictions, and the log entries naming them (timeouts, bans,
   * warnings with reasons and who). Errors as fetchModlog(); an unknown user may be `not_found`.
   */
  async fetchUserCard(userId: string, options: { signal?: AbortSignal } = {}): Promise<UserCardResponse> {
    if (this.#state === "closed") throw new ChatError("closed", "the chat client is closed");
    const url = new URL(userCardPath(this.streamId, userId), this.#httpBase);
    const token = await this.#bearerToken(options.signal ?? new AbortController().signal);
    return (await getChecked(this.#fetch, url, token, RESPONSE_SCHEMAS.userCard, options.signal)) as UserCardResponse;
  }

  /**
   * Queues one command in the outbox (same pacing, resend and throttle handling as messages).
   * The frame is checked against the protocol first, so a bad argument is refused here with
   * `invalid_frame` and a reason, instead of costing the socket a rejected frame.
   */
  #command(command: CommandInput, clientMsgIdOption: string | undefined): Promise<ActionResult> {
    const clientMsgId = clientMsgIdOption ?? uuid();
    const fail = (code: ChatError["code"], message: string) => Promise.reject(new ChatError(code, message, { clientMsgId }));
    if (this.#state === "closed") return fail("closed", "the chat client is closed");
    if (clientMsgId.length === 0 || clientMsgId.length > MAX_CLIENT_MSG_ID) {
      return fail("invalid_frame", `clientMsgId must be 1–${MAX_CLIENT_MSG_ID} characters`);
    }
    const parsed = CommandSchema.safeParse({ ...command, client_msg_id: clientMsgId });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
      return fail("invalid_frame", `Invalid ${command.type} command: ${where}${issue?.message ?? "malformed"}`);
    }
    let result: Promise<ActionResult>;
    try {
      result = this.#outbox.add(clientMsgId, command);
    } catch (err) {
      return Promise.reject(err);
    }
    const conn = this.#conn;
    if (conn?.synced) this.#pump(conn);
    return result;
  }

  /** Drops the current connection (if any) and connects again now, resuming where it was. */
  reconnect(): void {
    if (this.#state === "idle" || this.#state === "closed") return;
    if (this.#conn) this.#drop(this.#conn, "manual", { immediate: true });
    else this.#retryNow();
  }

  /** Stops for good: closes the socket, clears every timer, rejects pending sends. */
  close(): void {
    this.#shutdown({ reason: "manual" }, (clientMsgId) => new ChatError("closed", "The chat was closed before the message was delivered", { clientMsgId }));
  }

  // -- images ---------------------------------------------------------------------------------

  /**
   * Uploads one image for a later `send(text, { attachments: [uploadId] })`, with the client's
   * credentials (the provider's `token` as a Bearer token; a provider that gives only tickets
   * cannot upload: `unauthorized`). Works in any state but "closed", connected or not.
   *
   * Checked here first, refusing what the server would (see prepareUpload): `empty_upload`,
   * `upload_too_large` (over `maxUploadBytes`), `unsupported_media_type` (the first bytes are not
   * PNG, JPEG, GIF or WebP, or `contentType` says otherwise), `image_too_large` (its header declares
   * a side over 8,192 px, over 40 MP or over 500 frames: MAX_IMAGE_* ), `invalid_image` (a broken or
   * self-contradicting header). The declared Content-Type is the one
   * the bytes show. The server's refusals map to the same codes, plus `rate_limited` /
   * `too_many_uploads` (with `retryAfterMs`), `banned`, `unauthorized`, `upload_failed` (storage
   * down, HTTP 5xx); a request that does not complete is `network_error`; `signal` → `aborted`;
   * close() → `closed`.
   *
   * Retried automatically only when that is safe and soon: a `rate_limited` answer (nothing was
   * stored) that asks to wait ≤ 10 s, at most twice. Nothing else is retried — after a network
   * error the image may be stored already, and another copy would count against the user's
   * 50 unattached uploads.
   */
  async upload(file: UploadBody, options: UploadOptions = {}): Promise<UploadResult> {
    if (this.#state === "closed") throw new ChatError("closed", "the chat client is closed");
    const abort = new AbortController();
    const userSignal = options.signal;
    const onAbort = () => abort.abort(new ChatError("aborted", "The upload was aborted", { cause: userSignal?.reason }));
    if (userSignal?.aborted) onAbort();
    userSignal?.addEventListener("abort", onAbort, { once: true });
    this.#uploads.add(abort);
    try {
      const stopped = () => (abort.signal.aborted ? (abort.signal.reason as ChatError) : null);
      const prepared = await prepareUpload(file, options, this.#maxUploadBytes);
      const url = new URL(`v1/streams/${this.streamId}/chat/uploads`, this.#httpBase);
      for (let retries = 0; ; retries++) {
        const stop = stopped();
        if (stop) throw stop;
        const token = await this.#bearerToken(abort.signal, "upload()");
        let res: Response;
        try {
          res = await this.#fetch(url, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": prepared.contentType },
            body: prepared.body,
            signal: abort.signal,
          });
        } catch (err) {
          throw stopped() ?? new ChatError("network_error", `The upload did not complete: ${describe(err)}`, { cause: err });
        }
        if (res.ok) {
          const result = parseUploadResponse(await res.json().catch(() => null), this.#httpBase);
          if (!result) throw new ChatError("upload_failed", "The server answered the upload with something that is not an upload");
          return result;
        }
        const body = (await res.json().catch(() => null)) as HttpErrorBody | null;
        const err = uploadHttpError(res.status, body, res.headers.get("retry-after"));
        if (err.code === "upload_too_large" && typeof body?.max_bytes === "number" && Number.isSafeInteger(body.max_bytes) && body.max_bytes > 0) {
          this.#maxUploadBytes = body.max_bytes; // the server's real limit: refuse locally from now on
        }
        const wait = err.retryAfterMs ?? Infinity;
        if (err.code === "rate_limited" && retries < UPLOAD_RATE_LIMIT_RETRIES && wait <= UPLOAD_RETRY_MAX_WAIT_MS) {
          await sleep(wait, abort.signal);
          continue;
        }
        throw err;
      }
    } catch (err) {
      // Whatever was in progress when the signal fired (reading the file, credentials, the
      // response), the caller sees why it stopped.
      if (abort.signal.aborted) throw abort.signal.reason as ChatError;
      throw err;
    } finally {
      this.#uploads.delete(abort);
      userSignal?.removeEventListener("abort", onAbort);
    }
  }

  /** The bearer token for an HTTP request (upload, staff reads), from the credentials provider (errors as in #open). */
  async #bearerToken(signal: AbortSignal, what = "This request"): Promise<string> {
    let creds: Credentials;
    try {
      creds = await this.#credentials({ streamId: this.streamId, attempt: 0, signal });
    } catch (err) {
      if (err instanceof ChatError) throw err;
      if (err instanceof TypeError) throw new ChatError("network_error", `Could not get credentials: ${err.message}`, { cause: err });
      throw new ChatError("auth_failed", `Could not get credentials: ${describe(err)}`, { cause: err });
    }
    if (!("token" in creds) || typeof creds.token !== "string") {
      throw new ChatError("unauthorized", `${what} needs a token: the credentials provider gave a ticket, which only opens the chat socket`);
    }
    return creds.token;
  }

  #shutdown(why: { reason: DisconnectReason; closeCode?: number; detail?: string }, sendError: (clientMsgId: string) => ChatError): void {
    if (this.#state === "closed") return;
    const conn = this.#conn;
    this.#conn = null;
    if (conn) this.#teardown(conn, 1000, "client closed");
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#unsubscribeNetwork();
    this.#unsubscribeNetwork = noop;
    this.#outbox.failAll(sendError);
    clearTimeout(this.#heldTimer);
    this.#heldTimer = undefined;
    const held = [...this.#held.values()];
    this.#held.clear();
    for (const h of held) h.reject(sendError(h.clientMsgId));
    for (const upload of this.#uploads) upload.abort(new ChatError("closed", "The chat was closed during the upload"));
    this.#uploads.clear();
    this.#setState("closed", why);
  }

  // -- connection attempts --------------------------------------------------------------------

  #attempt(opts: { ignoreNetwork?: boolean } = {}): void {
    if (this.#state === "closed" || this.#conn) return;
    if (!opts.ignoreNetwork && this.#network && !this.#network.isOnline()) {
      this.#waitForNetwork();
      return;
    }
    const conn: Connection = { abort: new AbortController(), ws: null, synced: false, syncedAt: 0, lastFrameAt: 0, early: [], seenSeq: 0, seenAt: 0 };
    this.#conn = conn;
    this.#welcome = null;
    this.#tracker.beginConnection();
    this.#setState("connecting");
    conn.connectTimer = setTimeout(() => this.#drop(conn, "connect_timeout"), this.#connectTimeoutMs);
    void this.#open(conn);
  }

  async #open(conn: Connection): Promise<void> {
    let ticket: string;
    try {
      const creds = await this.#credentials({ streamId: this.streamId, attempt: this.#backoff.attempt, signal: conn.abort.signal });
      if (this.#conn !== conn) return;
      ticket = "ticket" in creds ? creds.ticket : await this.#fetchTicket(creds.token, conn.abort.signal);
    } catch (err) {
      if (this.#conn !== conn) return; // abandoned meanwhile (timeout, close): not an error
      if (err instanceof ChatError) {
        this.emit("error", err);
        this.#drop(conn, err.code === "unauthorized" ? "unauthorized" : "auth_failed");
      } else if (err instanceof TypeError) {
        this.#drop(conn, "network_error", { detail: err.message });
      } else {
        this.emit("error", new ChatError("auth_failed", `Could not get credentials: ${describe(err)}`, { cause: err }));
        this.#drop(conn, "auth_failed");
      }
      return;
    }
    if (this.#conn !== conn) return;

    let ws: WebSocketLike;
    try {
      ws = new this.#WebSocket(this.#socketUrl(ticket));
    } catch (err) {
      this.emit("error", new ChatError("protocol_error", `Could not open a WebSocket: ${describe(err)}`, { cause: err }));
      this.#drop(conn, "network_error");
      return;
    }
    conn.ws = ws;
    ws.onopen = () => {
      if (this.#conn !== conn || conn.synced) return;
      // Admitted: the room has our socket and its welcome and history are on the way. A busy link
      // or client gets a fresh connect timeout for them instead of dropping a socket the room has
      // already served — after a redeploy, a crowd timing out its own joins redid them (issue 19 §2).
      clearTimeout(conn.connectTimer);
      conn.connectTimer = setTimeout(() => this.#drop(conn, "connect_timeout"), this.#connectTimeoutMs);
    };
    ws.onmessage = (ev: { data: unknown }) => {
      if (this.#conn === conn) this.#onData(conn, ev.data);
    };
    ws.onclose = (ev: { code?: number; reason?: string }) => {
      if (this.#conn !== conn) return;
      const detail = ev.reason || undefined;
      if (ev.code === CLOSE_TOO_MANY_SOCKETS) {
        // The room closed this, the user's oldest socket, to admit a newer one (another tab):
        // reconnecting would close that one in turn. Stop, and say why.
        const message = `You have the chat open in too many places; this one was closed (${ev.reason || "too many sockets"})`;
        this.emit("error", new ChatError("too_many_sockets", message));
        this.#shutdown({ reason: "too_many_sockets", closeCode: ev.code, detail }, (clientMsgId) => new ChatError("too_many_sockets", message, { clientMsgId }));
        return;
      }
      if (ev.code === CLOSE_TRY_AGAIN_LATER) {
        this.#drop(conn, "server_busy", { closeCode: ev.code, detail, delayMs: advisedDelay(ev.reason, this.#random) });
        return;
      }
      if (ev.code === CLOSE_GOING_AWAY || ev.code === CLOSE_SERVICE_RESTART) {
        // The server is restarting: spread the audience's first reconnect (later ones back off as usual).
        this.#drop(conn, "connection_lost", { closeCode: ev.code, detail, delayMs: restartDelay(this.#random, this.#restartSpreadMs) });
        return;
      }
      if (ev.code === CLOSE_SLOW_CONSUMER) {
        // We fell behind (the socket was not read): reconnect and resume from what we did read.
        this.#drop(conn, "slow_consumer", { closeCode: ev.code, detail });
        return;
      }
      if (ev.code === CLOSE_POLICY_VIOLATION) {
        this.emit("error", new ChatError("policy_violation", `The server closed the chat: ${ev.reason || "policy violation"}`));
        this.#drop(conn, "policy_violation", { closeCode: ev.code, detail, slow: true });
        return;
      }
      this.#drop(conn, "connection_lost", { closeCode: ev.code, detail });
    };
    // An error is always followed by a close event, which does the work. The handler must stay
    // set even so: the `ws` package throws on an 'error' event nobody listens to.
    ws.onerror = noop;
  }

  async #fetchTicket(token: string, signal: AbortSignal): Promise<string> {
    const url = new URL(`v1/streams/${this.streamId}/chat/tickets`, this.#httpBase);
    const res = await this.#fetch(url, { method: "POST", headers: { authorization: `Bearer ${token}` }, signal });
    if (res.status === 401 || res.status === 403) {
      throw new ChatError("unauthorized", `The server refused our credentials (${await errorMessage(res)})`);
    }
    if (!res.ok) throw new ChatError("auth_failed", `Getting a chat ticket failed (HTTP ${res.status}: ${await errorMessage(res)})`);
    const body = TicketResponse.safeParse(await res.json().catch(() => null));
    if (!body.success) throw new ChatError("auth_failed", "The ticket endpoint answered something that is not a ticket");
    return body.data.ticket;
  }

  #socketUrl(ticket: string): string {
    const url = new URL(`ws/streams/${this.streamId}/chat`, this.#wsBase);
    url.searchParams.set("ticket", ticket);
    const resume = this.#tracker.resumePoint();
    if (resume) {
      url.searchParams.set("since", String(resume.since));
      url.searchParams.set("epoch", resume.epoch);
    }
    if (this.#batch) url.searchParams.set("batch", "1");
    if (this.#reportSeen) url.searchParams.set("seen", "1");
    return url.toString();
  }

  /**
   * Ends a connection or attempt and schedules the next one. Idempotent per connection: the
   * first cause wins, later ones (e.g. the close event that follows our own close()) are ignored.
   */
  #drop(conn: Connection, reason: DisconnectReason, opts: { immediate?: boolean; slow?: boolean; delayMs?: number; closeCode?: number; detail?: string } = {}): void {
    if (this.#conn !== conn) return;
    this.#conn = null;
    this.#teardown(conn, CLOSE_ABANDONED, reason);
    // `slow` (a 1008 close): the connection was long enough, but it ended for cause; it must not
    // earn a fast retry.
    if (!opts.slow && conn.synced && Date.now() - conn.syncedAt >= this.#stableAfterMs) this.#backoff.reset();
    const why = { reason, closeCode: opts.closeCode, detail: opts.detail };
    if (opts.immediate) {
      this.#setState("reconnecting", { ...why, retryInMs: 0 });
      this.#attempt();
    } else {
      this.#scheduleRetry(why, opts.slow ? this.#backoff.maxMs : 0, opts.delayMs);
    }
  }

  #teardown(conn: Connection, code: number, reason: string): void {
    clearTimeout(conn.connectTimer);
    clearTimeout(conn.heartbeatTimer);
    clearTimeout(conn.pongTimer);
    clearTimeout(conn.gapTimer);
    clearTimeout(conn.pumpTimer);
    clearTimeout(conn.seenTimer);
    conn.abort.abort();
    const ws = conn.ws;
    if (!ws) return;
    ws.onopen = noop;
    ws.onmessage = noop;
    ws.onclose = noop;
    ws.onerror = noop;
    try {
      ws.close(code, reason.slice(0, 120));
    } catch {
      // Already closing or closed: nothing more to do.
    }
  }

  /**
   * Next attempt after the backoff's delay, plus `extraMs` (a 1008 close waits the ceiling on top);
   * or after `fixedMs` when the server said when (1013, 1001/1012: src/client/reconnect.ts) — the
   * attempt still counts, so a refusal after that backs off from a higher ceiling.
   */
  #scheduleRetry(why: { reason: DisconnectReason; closeCode?: number; detail?: string }, extraMs = 0, fixedMs?: number): void {
    if (this.#state === "closed") return;
    if (this.#network && !this.#network.isOnline()) {
      this.#waitForNetwork();
      return;
    }
    const backoff = this.#backoff.next();
    const delay = fixedMs ?? extraMs + backoff;
    this.#setState("reconnecting", { ...why, retryInMs: delay });
    this.#reconnectTimer = setTimeout(() => this.#retryNow(), delay);
  }

  #retryNow(): void {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#attempt();
  }

  /**
   * Offline: no point in burning attempts. Wait for the `online` event — but also retry at the
   * backoff ceiling, because `navigator.onLine === false` is occasionally wrong (VPNs, some
   * virtual interfaces) and a client must never wait forever.
   */
  #waitForNetwork(): void {
    clearTimeout(this.#reconnectTimer);
    this.#setState("reconnecting", { reason: "offline" });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#attempt({ ignoreNetwork: true });
    }, OFFLINE_RETRY_MS);
  }

  #onNetwork(online: boolean): void {
    if (this.#state === "closed") return;
    if (!online) {
      if (this.#conn) this.#drop(this.#conn, "offline");
      else if (this.#state === "reconnecting") this.#waitForNetwork();
      return;
    }
    // Back online: whatever we were waiting for, try now.
    if (this.#state === "reconnecting" && !this.#conn) this.#retryNow();
  }

  // -- frames ---------------------------------------------------------------------------------

  #onData(conn: Connection, data: unknown): void {
    conn.lastFrameAt = Date.now();
    if (conn.pongTimer !== undefined) {
      // Anything from the server proves the connection is alive, not only the pong.
      clearTimeout(conn.pongTimer);
      conn.pongTimer = undefined;
    }
    if (typeof data !== "string") {
      this.emit("error", new ChatError("protocol_error", "The server sent a binary frame"));
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      this.emit("error", new ChatError("protocol_error", "The server sent a frame that is not JSON"));
      return;
    }
    // A batch is unpacked before validation so one unknown frame inside does not drop the rest.
    const raw = isBatch(json) ? json.frames : [json];
    for (const item of raw) {
      const parsed = ServerFrame.safeParse(item);
      if (!parsed.success || parsed.data.type === "batch") {
        const type = typeof item === "object" && item !== null && "type" in item ? String(item.type) : "?";
        this.emit("error", new ChatError("protocol_error", `The server sent an unexpected frame (type ${type})`));
        continue;
      }
      // Attachment URLs are paths on the chat server: made absolute here, before the store and
      // the app see the frame, so an app can put them straight into an <img>.
      this.#onFrame(conn, resolveFrameUrls(parsed.data, this.#httpBase));
      if (this.#conn !== conn) return; // a frame ended the connection (e.g. a resync)
    }
    if (this.#reportSeen && conn.synced) this.#reportSeenSoon(conn);
  }

  /**
   * The `seen` cadence (src/rules/consumers.ts seenReportDelay): after 50 unreported events and at
   * least 1 s after the last report, one frame with the last seq delivered in order; none while
   * fewer are unreported. A timer covers a burst that ends within the second.
   */
  #reportSeenSoon(conn: Connection): void {
    if (conn.seenTimer !== undefined) return;
    const delay = seenReportDelay(this.#tracker.lastSeq, conn.seenSeq, conn.seenAt, Date.now());
    if (delay === null) return;
    if (delay === 0) this.#sendSeen(conn);
    else
      conn.seenTimer = setTimeout(() => {
        conn.seenTimer = undefined;
        if (this.#conn === conn) this.#sendSeen(conn);
      }, delay);
  }

  #sendSeen(conn: Connection): void {
    const seq = this.#tracker.lastSeq;
    if (!conn.ws || conn.ws.readyState !== WS_OPEN || seq <= conn.seenSeq) return;
    try {
      conn.ws.send(`{"type":"seen","seq":${seq}}`);
    } catch {
      return; // closing: the close event does the rest
    }
    conn.seenSeq = seq;
    conn.seenAt = Date.now();
  }

  #onFrame(conn: Connection, frame: SingleServerFrame): void {
    switch (frame.type) {
      case "welcome":
        this.#user = frame.user;
        this.#welcome = frame;
        this.#pacer.setRate(sendRate(frame.limits));
        this.#tracker.welcome(frame.epoch, frame.seq);
        this.emit("welcome", { streamId: frame.stream_id, user: frame.user, seq: frame.seq, epoch: frame.epoch, role: frame.role ?? "viewer" });
        return;
      case "history":
        this.#onHistory(conn, historyFrames(frame.comments, frame.events), frame.recovered);
        return;
      case "comment":
      case "comment_edited":
      case "comment_deleted":
      case "pinned":
      case "moderation": {
        const ready = this.#tracker.live(frame);
        if (ready.length > 0) {
          this.#view = applyEvents(this.#view, ready, this.#maxComments);
          this.#settleHeld(ready);
          for (const e of ready) {
            if (e.type === "comment") this.emit("comment", { seq: e.seq, comment: e.comment });
            this.emit("event", e);
          }
          this.emit("change", this.#view);
        }
        if (this.#conn === conn) this.#watchGap(conn);
        return;
      }
      case "held":
      case "review_queue":
      case "modlog":
      case "hidden_comment":
        // Not sequenced: they bypass the tracker (no seq, so no hole to open). Before the history
        // the view is about to be rebuilt from it, so they wait for it.
        if (!conn.synced) conn.early.push(frame);
        else this.#onUnsequenced(frame);
        return;
      case "viewers": {
        const view = setViewers(this.#view, frame.count);
        if (view !== this.#view) {
          this.#view = view;
          this.emit("change", view);
        }
        return;
      }
      case "ack":
        this.#outbox.ack(frame);
        return;
      case "error": {
        const err = new ChatError(frame.code, frame.message, {
          retryAfterMs: frame.retry_after_ms,
          clientMsgId: frame.client_msg_id,
          until: frame.until,
        });
        if (isRetryable(frame.code)) {
          // Transient (./recovery.ts: rate_limited, room_busy, review_queue_full, internal_error). Throttled: nothing
          // goes out before the server's time; the message itself is resent then (same
          // client_msg_id), unless it has been throttled too often already. An
          // `internal_error` (e.g. a fan-out shard that could not reach the room in time) may or may
          // not have been applied: resending the same client_msg_id is safe, the room answers a
          // repeat with its first ack and never applies it twice.
          const wait = frame.retry_after_ms ?? (frame.code === "internal_error" ? INTERNAL_ERROR_RETRY_MS : Math.ceil(1000 / this.#pacer.rate));
          this.#pacer.hold(wait);
          const id = frame.client_msg_id;
          if (id !== undefined) {
            const times = this.#outbox.throttled(id);
            if (times > this.#throttleRetries) this.#outbox.fail(id, err);
            if (times > 0) {
              this.#pump(conn);
              return;
            }
          }
        } else if (frame.client_msg_id !== undefined && this.#outbox.fail(frame.client_msg_id, err)) {
          return;
        }
        this.emit("error", err);
        return;
      }
      case "pong":
        return;
      default:
        exhaustive(frame);
    }
  }

  #onHistory(conn: Connection, frames: RoomEvent[], recovered: boolean): void {
    const outcome = this.#tracker.history(frames, recovered);
    const firstSync = !conn.synced;
    conn.synced = true;
    if (firstSync) {
      conn.syncedAt = Date.now();
      // The server counts this socket from its first delivery after the history: so do we.
      conn.seenSeq = this.#tracker.lastSeq;
      conn.seenAt = conn.syncedAt;
      clearTimeout(conn.connectTimer);
      conn.connectTimer = undefined;
    }
    // The store: a first join or a lost resume starts over from the backlog and the welcome; a
    // resume applies the missed frames in order (the welcome adds only our role and the viewers).
    const w = this.#welcome;
    const items = outcome.items;
    if (w && (outcome.kind === "reset" || !outcome.resumed)) this.#view = resetView(this.#view, w, items, this.#maxComments);
    else this.#view = applyEvents(w ? welcomeView(this.#view, w) : this.#view, items, this.#maxComments);
    const comments = items.flatMap((e) => (e.type === "comment" ? [{ seq: e.seq, comment: e.comment }] : []));
    this.#settleHeld(items);
    if (outcome.kind === "reset") this.emit("reset", { comments, epoch: this.#tracker.epoch ?? "" });
    else this.emit("history", { comments, events: items, recovered: outcome.recovered, resumed: outcome.resumed });
    if (this.#conn !== conn) return; // a listener closed or reconnected
    this.emit("change", this.#view);
    if (this.#conn !== conn) return;
    const early = conn.early.splice(0);
    for (const f of early) {
      this.#onUnsequenced(f);
      if (this.#conn !== conn) return;
    }
    this.#setState("open");
    if (!firstSync) return;
    this.#armHeartbeat(conn);
    // Resend everything unacknowledged, paced; the room dedupes by client_msg_id.
    this.#outbox.requeueAll();
    this.#pump(conn);
    this.#watchGap(conn);
  }

  /** A `held`, `review_queue`, `modlog` or `hidden_comment` frame, once the history is in. */
  #onUnsequenced(frame: UnsequencedFrame): void {
    const before = this.#view;
    switch (frame.type) {
      case "held":
        this.#onHeld(frame);
        break;
      case "review_queue":
        this.#view = setReviewQueue(this.#view, frame.items);
        break;
      case "modlog":
        this.#view = addModlogEntry(this.#view, frame.entry);
        break;
      case "hidden_comment":
        this.#view = addHiddenComment(this.#view, frame.comment, this.#maxComments);
        break;
      default:
        exhaustive(frame);
        return;
    }
    if (this.#view === before) return;
    this.#armHeldTimer();
    this.emit("change", this.#view);
  }

  /**
   * Held for review. To staff (with `comment`): a queue item. To us, the sender: the message leaves
   * the outbox (a resend would only be held again) and its send() waits for the decision.
   */
  #onHeld(frame: HeldFrame): void {
    let text: string | null = null;
    if (!frame.comment && frame.client_msg_id !== undefined && !this.#held.has(frame.id)) {
      const entry = this.#outbox.detach(frame.client_msg_id);
      if (entry) {
        if (entry.command.type === "message") text = entry.command.text;
        this.#held.set(frame.id, { clientMsgId: entry.clientMsgId, resolve: entry.resolve, reject: entry.reject });
      }
    }
    this.#view = applyHeld(this.#view, frame, text);
  }

  /** Settles the send() of each held message of ours that these frames decided (allowed: its comment; denied: the review). */
  #settleHeld(frames: readonly RoomEvent[]): void {
    if (this.#held.size === 0) return;
    for (const f of frames) {
      if (f.type === "comment") {
        const h = this.#held.get(f.comment.id);
        if (!h) continue;
        this.#held.delete(f.comment.id);
        h.resolve({ clientMsgId: h.clientMsgId, id: f.comment.id, seq: f.seq });
      } else if (f.type === "moderation" && f.action === "review" && f.decision === "deny" && f.id !== undefined) {
        const h = this.#held.get(f.id);
        if (!h) continue;
        this.#held.delete(f.id);
        h.reject(new ChatError("review_denied", "A moderator did not approve this message", { clientMsgId: h.clientMsgId }));
      }
    }
    this.#armHeldTimer();
  }

  /**
   * One timer for the next expiry among our held messages and the review queue (server time, plus
   * HELD_EXPIRY_GRACE_MS). When it fires, expired items leave the queue, ours become `expired` and
   * their send() rejects with `review_expired`.
   */
  #armHeldTimer(): void {
    clearTimeout(this.#heldTimer);
    this.#heldTimer = undefined;
    if (this.#state === "closed") return;
    const at = nextHeldExpiry(this.#view);
    if (at === null) return;
    this.#heldTimer = setTimeout(() => {
      this.#heldTimer = undefined;
      const view = expireHeld(this.#view, Date.now() - HELD_EXPIRY_GRACE_MS);
      if (view !== this.#view) {
        this.#view = view;
        for (const m of view.held) {
          const h = m.status === "expired" ? this.#held.get(m.id) : undefined;
          if (!h) continue;
          this.#held.delete(m.id);
          h.reject(new ChatError("review_expired", "No moderator reviewed this message in time", { clientMsgId: h.clientMsgId }));
        }
        this.emit("change", view);
      }
      this.#armHeldTimer();
    }, Math.max(0, at + HELD_EXPIRY_GRACE_MS - Date.now()));
  }

  /**
   * Sends queued messages, oldest first, as fast as the pacer allows; when it says wait, sets a
   * timer to come back. One pump per connection (a running timer means one is already waiting).
   */
  #pump(conn: Connection): void {
    if (this.#conn !== conn || !conn.synced || conn.pumpTimer !== undefined) return;
    for (;;) {
      const frame = this.#outbox.nextQueued();
      if (!frame) return;
      const wait = this.#pacer.delay();
      if (wait > 0) {
        conn.pumpTimer = setTimeout(() => {
          conn.pumpTimer = undefined;
          this.#pump(conn);
        }, wait);
        return;
      }
      if (conn.ws?.readyState !== WS_OPEN) return; // the close event follows; the outbox keeps it
      this.#pacer.take();
      this.#outbox.markSent(frame.client_msg_id!);
      this.#sendFrame(conn, frame);
    }
  }

  #sendFrame(conn: Connection, frame: ClientFrame | string): void {
    const ws = conn.ws;
    if (!ws || ws.readyState !== WS_OPEN) return; // the outbox keeps it for the next connection
    try {
      ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
    } catch {
      // The socket died between the check and the send; its close event follows.
    }
  }

  // -- heartbeat and gaps ---------------------------------------------------------------------

  /**
   * Idle-based heartbeat: every interval, if nothing came from the server during it, send the
   * exact ping string (the room answers it without waking up) and expect any frame within
   * the timeout. Busy connections never ping.
   */
  #armHeartbeat(conn: Connection): void {
    conn.heartbeatTimer = setTimeout(() => {
      if (this.#conn !== conn) return;
      if (Date.now() - conn.lastFrameAt >= this.#heartbeatIntervalMs && conn.pongTimer === undefined) {
        this.#sendFrame(conn, PING_FRAME);
        conn.pongTimer = setTimeout(() => this.#drop(conn, "heartbeat_timeout"), this.#heartbeatTimeoutMs);
      }
      this.#armHeartbeat(conn);
    }, this.#heartbeatIntervalMs);
  }

  #watchGap(conn: Connection): void {
    if (this.#tracker.pendingCount > this.#tracker.maxPending) {
      this.#drop(conn, "gap", { immediate: true });
      return;
    }
    if (!this.#tracker.hasGap) {
      clearTimeout(conn.gapTimer);
      conn.gapTimer = undefined;
    } else if (conn.gapTimer === undefined) {
      conn.gapTimer = setTimeout(() => this.#drop(conn, "gap", { immediate: true }), this.#gapTimeoutMs);
    }
  }

  #setState(state: ConnectionState, extra: Omit<StateChange, "state" | "previous" | "attempt"> = {}): void {
    const previous = this.#state;
    if (previous === state && state !== "reconnecting") return;
    this.#state = state;
    const change: StateChange = { state, previous, attempt: this.#backoff.attempt };
    if (extra.retryInMs !== undefined) change.retryInMs = extra.retryInMs;
    if (extra.reason !== undefined) change.reason = extra.reason;
    if (extra.closeCode !== undefined) change.closeCode = extra.closeCode;
    if (extra.detail !== undefined) change.detail = extra.detail;
    this.emit("state", change);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** While offline, retry this often anyway (see #waitForNetwork). */
const OFFLINE_RETRY_MS = 15_000;

/** The message rate to pace sends at: the server's (both of its limits bind a message), or the default. */
function sendRate(limits: ChatLimits | undefined): number {
  if (!limits) return DEFAULT_SEND_RATE_PER_SEC;
  return Math.min(limits.messages_per_sec, limits.frames_per_sec);
}

/**
 * The local checks of a message or edit text (the server's rules are authoritative). An empty
 * text is allowed only with attachments (`withImages`): an image alone is a message.
 */
function checkText(text: string, clientMsgId: string, withImages = false): ChatError | null {
  const trimmed = text.trim();
  // The room's own rule (src/rules/text.ts): only zero-width or invisible characters is empty too.
  if (!withImages && (trimmed.length === 0 || prepareText(trimmed, Number.MAX_SAFE_INTEGER).kind === "empty")) {
    return new ChatError("empty_message", "The message is empty", { clientMsgId });
  }
  if (codePointLength(trimmed) > MAX_MESSAGE_CODE_POINTS) return new ChatError("message_too_long", ERROR_MESSAGES.message_too_long, { clientMsgId });
  return null;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

function isBatch(json: unknown): json is { type: "batch"; frames: unknown[] } {
  return typeof json === "object" && json !== null && (json as { type?: unknown }).type === "batch" && Array.isArray((json as { frames?: unknown }).frames);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function errorMessage(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { message?: unknown; error?: unknown };
    if (typeof body.message === "string") return body.message;
    if (typeof body.error === "string") return body.error;
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return text.slice(0, 200) || res.statusText || `HTTP ${res.status}`;
}

/** The browser's online/offline events, when this runtime has them (not Node). */
function browserNetwork(): NetworkMonitor | null {
  const g = globalThis as unknown as {
    addEventListener?: (type: string, fn: () => void) => void;
    removeEventListener?: (type: string, fn: () => void) => void;
    navigator?: { onLine?: unknown };
  };
  const add = g.addEventListener;
  const remove = g.removeEventListener;
  if (typeof add !== "function" || typeof remove !== "function" || typeof g.navigator?.onLine !== "boolean") return null;
  return {
    isOnline: () => g.navigator?.onLine !== false,
    subscribe(onChange) {
      const online = () => onChange(true);
      const offline = () => onChange(false);
      add.call(globalThis, "online", online);
      add.call(globalThis, "offline", offline);
      return () => {
        remove.call(globalThis, "online", online);
        remove.call(globalThis, "offline", offline);
      };
    },
  };
}
